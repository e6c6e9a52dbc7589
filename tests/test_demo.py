"""The demo runs on the real HMDA data and is reproducible; it lives in examples/, outside the library."""

import json
import re
from pathlib import Path

from examples.demo import run_demo
from examples.finance_hmda import train_model

ROOT = Path(__file__).resolve().parent.parent


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
    # and an explorer of the letters' applications, with the model running in the page
    page = (tmp_path / "explorer.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "Content-Security-Policy" in page and res["explorer"]
    assert '"model":{"feature"' in page
    assert res["audit"] == [str(tmp_path / "audit" / "audit_report.pdf"), str(tmp_path / "audit" / "audit_report.html")]
    # and writes case-review sheets for both healthcare models, in both print profiles
    hc = res["healthcare"]
    assert hc["wdbc"]["auc_test"] > 0.97 and hc["lesion"]["accuracy_test"] > 0.93
    for key in ("wdbc/treatment", "wdbc/research", "lesion/treatment", "lesion/research", "dicom/treatment",
                "dicom/research"):
        assert hc["summaries"][key].sheets > 0 and not hc["summaries"][key].errors
        assert list((tmp_path / "healthcare" / "sheets" / key).glob("case_*.pdf"))
    # the DICOM study's SYNTHETIC identity: printed on the treatment sheet only
    from examples.healthcare.dicom_demo import DEMO_IDENTITY

    sheets = tmp_path / "healthcare" / "sheets" / "dicom"
    treat = (sheets / "treatment" / "case_DCM-0001.json").read_text()
    # figures are base64 pixels (a short value can occur in them by chance): left out of the search
    research = re.sub(r"data:[A-Za-z0-9.+/-]+;base64,[A-Za-z0-9+/=]+", "data:",
                      (sheets / "research" / "case_DCM-0001.json").read_text())
    assert DEMO_IDENTITY["AccessionNumber"] in treat and DEMO_IDENTITY["PatientID"] in treat
    for v in DEMO_IDENTITY.values():
        assert v not in research


def test_training_is_deterministic(hmda, finance_pack):
    a = train_model(hmda.iloc[:800], finance_pack).get_booster().save_raw("json")
    b = train_model(hmda.iloc[:800], finance_pack).get_booster().save_raw("json")
    assert bytes(a) == bytes(b)


def test_the_library_never_imports_the_examples():
    """Only the demo command reaches examples/ (a wheel has none); no module of the package imports it."""
    pattern = re.compile(r"^\s*(from|import)\s+examples\b", re.M)
    importers = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "xai_reports").rglob("*.py")
                       if pattern.search(p.read_text(encoding="utf-8")))
    assert importers == ["xai_reports/commands/demo.py"]


def test_demo_command_finds_the_checkout():
    from xai_reports.commands.demo import examples_root

    assert examples_root() == ROOT


def test_demo_command_without_examples_exits_2_with_one_line(monkeypatch, tmp_path, capsys):
    """An installed wheel has no examples/: the command says the demo runs from a source checkout."""
    from xai_reports.cli import main
    from xai_reports.commands import demo

    monkeypatch.setattr(demo, "examples_root", lambda: None)
    assert main(["demo", "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("xai-reports: error: ") and "source checkout" in err
    assert not (tmp_path / "out").exists()
