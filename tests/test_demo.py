"""The demo runs on the real HMDA data and is reproducible."""

import json

from xai_reports.demo import run_demo, train_model


def test_demo_writes_letters(tmp_path):
    res = run_demo(tmp_path, n_applications=60, progress=False)
    assert 0.75 < res["auc_holdout"] < 1.0
    s = res["summary"]
    assert s.denied > 0 and s.letters + len(s.flagged) == s.denied and not s.errors
    letters = tmp_path / "letters"
    assert len(list(letters.glob("letter_*.pdf"))) == s.letters
    rec = json.loads(next(letters.glob("letter_*.json")).read_text())
    assert rec["decision_date"] == "2026-11-20"
    assert "afam" not in rec["model"]["feature_names"] and "single" not in rec["model"]["feature_names"]
    # the demo also audits the model; race is used only by the fair-lending section
    assert (tmp_path / "audit" / "audit_report.pdf").stat().st_size > 0
    assert (tmp_path / "audit" / "audit_report.html").read_text().startswith("<!DOCTYPE html>")
    # and writes case-review sheets for both healthcare models, in both print profiles
    hc = res["healthcare"]
    assert hc["wdbc"]["auc_test"] > 0.97 and hc["lesion"]["accuracy_test"] > 0.93
    for key in ("wdbc/treatment", "wdbc/research", "lesion/treatment", "lesion/research"):
        assert hc["summaries"][key].sheets > 0 and not hc["summaries"][key].errors
        assert list((tmp_path / "healthcare" / "sheets" / key).glob("case_*.pdf"))


def test_training_is_deterministic(hmda, finance_pack):
    a = train_model(hmda.iloc[:800], finance_pack).get_booster().save_raw("json")
    b = train_model(hmda.iloc[:800], finance_pack).get_booster().save_raw("json")
    assert bytes(a) == bytes(b)
