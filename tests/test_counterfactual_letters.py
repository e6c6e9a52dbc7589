"""'What could change the decision' in letters and records, and the pack's counterfactual settings."""

from __future__ import annotations

import json
import re
import textwrap

import numpy as np
import pandas as pd
import pytest
from pypdf import PdfReader

from xai_reports import generate_letters, load_pack
from xai_reports.errors import PackError


def pdf_text(path) -> str:
    return re.sub(r"\s+", " ", " ".join(p.extract_text() for p in PdfReader(path).pages))


@pytest.fixture(scope="module")
def letters(tmp_path_factory):
    """Letters for 60 held-out HMDA applications, with the training rows as the reference population."""
    from examples.finance_hmda import FEATURES, PROTECTED, load_hmda, train_model

    pack = load_pack("finance_hmda_example")
    df = load_hmda()
    d = tmp_path_factory.mktemp("cf_letters")
    model = train_model(df.iloc[:1900], pack)
    model.get_booster().save_model(str(d / "model.json"))
    cols = ["applicant_id"] + FEATURES + PROTECTED
    df.iloc[:1900][cols].to_csv(d / "reference.csv", index=False)
    apps = df.iloc[1900:][cols].iloc[:60].copy()
    apps.insert(1, "decision_date", "2026-11-02")
    apps.to_csv(d / "applications.csv", index=False)
    summary = generate_letters(d / "model.json", d / "applications.csv", pack, d / "out",
                               reference=d / "reference.csv")
    return {"dir": d / "out", "summary": summary, "pack": pack, "model": model, "features": FEATURES}


def _statement(text: str) -> str:
    i = text.index("What could change the decision")
    j = text.index("Information from a consumer reporting agency", i)
    return text[i:j]


def test_denied_applicant_letter_states_what_could_change(letters):
    pack = letters["pack"]
    stated = 0
    for pdf in sorted(letters["dir"].glob("letter_*.pdf")):
        record = json.loads(pdf.with_suffix(".json").read_text())
        cf = record["counterfactuals"]
        text = pdf_text(pdf)
        if not cf["stated_in_letter"]:
            assert "What could change the decision" not in text
            continue
        stated += 1
        part = _statement(text)
        assert "our decision could have been different if" in part
        assert "This does not guarantee approval; a new application would be evaluated on all information at that " \
               "time." in part
        assert "approved" not in part.replace("approval", "")   # no promise
        # every stated change is one of the recorded counterfactuals, worded by the pack, value as printed
        for rank in cf["stated_in_letter"]:
            item = next(c for c in cf["counterfactuals"] if c["rank"] == rank)
            assert item["range_checked"]
            for f, ch in item["changes"].items():
                fs = pack.features[f]
                assert fs.actionable and not fs.protected
                assert fs.action_text.format(value=f"{ch['to'] * 100:.0f}%") in part
        # never a protected or immutable feature, never a column name
        for f, fs in pack.features.items():
            if not fs.actionable:
                assert fs.label not in part, f
                assert f not in part.split(), f
        for word in ("African American", "single", "marital", "race", "pirat", "lvrat", "hirat"):
            assert word not in part
    assert stated >= 2


def test_record_carries_counterfactuals_and_status(letters):
    features = letters["features"]
    model = letters["model"]
    pack = letters["pack"]
    seen = set()
    for f in sorted(letters["dir"].glob("letter_*.json")):
        rec = json.loads(f.read_text())
        cf = rec["counterfactuals"]
        seen.add(cf["status"])
        assert cf["desired"] == "approval: P(deny) < 0.5"
        assert cf["method"]["background"] == "the reference population"
        assert "afam" not in cf["constraints"]["features"]     # protected: not even a model input
        assert cf["constraints"]["features"]["chist"] == {"mutable": False, "why": "not actionable in pack 'finance_hmda_example'"}
        assert cf["constraints"]["features"]["pirat"]["direction"] == "decrease_only"
        if cf["status"] == "none":
            assert cf["reason"] and not cf["counterfactuals"]
        for item in cf["counterfactuals"]:
            # re-run the model on the recorded counterfactual
            row = {k: v for k, v in rec["inputs"].items() if k in features}
            for feat, ch in item["changes"].items():
                assert str(row[feat]) == str(ch["from"]) or float(row[feat]) == pytest.approx(ch["from"])
                row[feat] = ch["to"]
                assert pack.features[feat].actionable
            from xai_reports.io.tabular import encode_like_pack

            X = encode_like_pack(pd.DataFrame([row]), pack, features)
            p = float(model.predict_proba(X)[0, 1])
            assert p < 0.5 and p == pytest.approx(item["prediction"], rel=1e-6)
    assert "found" in seen


def test_regenerated_letter_keeps_the_statement(letters, tmp_path):
    from xai_reports import regenerate

    pdf = next(p for p in sorted(letters["dir"].glob("letter_*.pdf"))
               if json.loads(p.with_suffix(".json").read_text())["counterfactuals"]["stated_in_letter"])
    out = regenerate(pdf.with_suffix(".json"), tmp_path, formats=("html",))
    html = out[0].read_text()
    rec = json.loads(pdf.with_suffix(".json").read_text())
    assert rec["document"]["content"]["counterfactual"]["caveat"] in html


def test_spanish_statement_and_range_check():
    from xai_reports.counterfactuals.statements import letter_counterfactuals
    from xai_reports import wrap_model

    pack = load_pack("finance_hmda_example")

    class Rule:
        """A non-monotone toy model: approve only when 0.30 <= pirat <= 0.35, or when lvrat <= 0.5."""

        classes_ = np.array([0, 1])

        def fit(self, X, y):
            return self

        def predict_proba(self, X):
            ok = ((X["pirat"] >= 0.30) & (X["pirat"] <= 0.35)) | (X["lvrat"] <= 0.5)
            p = np.where(ok, 0.2, 0.8)
            return np.column_stack([1 - p, p])

    feats = ["pirat", "hirat", "lvrat"]
    model = wrap_model(Rule(), feature_names=feats)
    rng = np.random.default_rng(0)
    bg = pd.DataFrame({"pirat": rng.uniform(0.1, 0.6, 300), "hirat": rng.uniform(0.1, 0.4, 300),
                       "lvrat": rng.uniform(0.3, 1.2, 300)})
    X = pd.DataFrame({"pirat": [0.45], "hirat": [0.3], "lvrat": [0.9]})
    lc = letter_counterfactuals(model, X, pack, background=bg)
    rec = lc.record(0)
    assert rec["status"] == "found"
    by_feature = {tuple(c["changes"]): c for c in rec["counterfactuals"]}
    # pirat 35% is valid, but 'pirat 35% or less' is not true (below 30% the model denies): never stated
    assert by_feature[("pirat",)]["range_checked"] is False
    assert by_feature[("lvrat",)]["range_checked"] is True
    en = lc.content(0, "en")
    assert en["text"] == ("Based on the information in your application, our decision could have been different "
                          "if the loan amount were 50% of the property's value or less (for example, with a larger "
                          "down payment), with everything else unchanged.")
    es = lc.content(0, "es")
    assert "nuestra decisión podría haber sido diferente si el monto del préstamo fuera el 50 % del valor" in es["text"]
    assert es["caveat"].startswith("Esto no garantiza la aprobación")
    assert "35%" not in en["text"] + es["text"]


def _pack_file(tmp_path, body: str):
    p = tmp_path / "pack.yaml"
    p.write_text("extends: finance_hmda_example\nname: custom\nversion: '1'\n" + textwrap.dedent(body))
    return p


def test_pack_counterfactual_settings_are_strict(tmp_path):
    with pytest.raises(PackError, match=r"features\.afam: .*protected attribute can never be changed"):
        load_pack(_pack_file(tmp_path, """
            features:
              afam: {actionable: true}
        """))
    with pytest.raises(PackError, match=r"features\.unemp\.action_text: an actionable feature needs 'action_text'"):
        load_pack(_pack_file(tmp_path, """
            features:
              unemp: {actionable: true}
        """))
    with pytest.raises(PackError, match=r"features\.pirat\.action_text: .*needs \['\{value\}'\]"):
        load_pack(_pack_file(tmp_path, """
            features:
              pirat: {action_text: "your debt were lower"}
        """))
    with pytest.raises(PackError, match=r"counterfactuals\.statement: .*unknown placeholder"):
        load_pack(_pack_file(tmp_path, """
            counterfactuals:
              statement: {en: "If {conditions} then {outcome}."}
        """))
    with pytest.raises(PackError, match=r"counterfactuals\.max_changes"):
        load_pack(_pack_file(tmp_path, """
            counterfactuals: {max_changes: 0}
        """))
    ok = load_pack(_pack_file(tmp_path, """
        counterfactuals:
          enabled: false
        features:
          unemp: {actionable: true, direction: increase_only}
    """))
    assert ok.counterfactuals.enabled is False


def test_cli_counterfactuals(letters, tmp_path, capsys):
    from xai_reports.cli import main

    d = letters["dir"].parent
    rc = main(["counterfactuals", "--pack", "finance_hmda_example", "--model", str(d / "model.json"), "--data",
               str(d / "applications.csv"), "--reference", str(d / "reference.csv"), "--out", str(tmp_path / "cf"),
               "--quiet"])
    assert rc == 0
    cfs = pd.read_csv(tmp_path / "cf" / "counterfactuals.csv")
    status = pd.read_csv(tmp_path / "cf" / "status.csv")
    assert set(status.status) >= {"not_needed", "found"}
    assert set(cfs.id) <= set(status.id[status.status == "found"])
    assert (cfs.prediction < 0.5).all()
    summary = json.loads((tmp_path / "cf" / "summary.json").read_text())
    assert summary["quality"]["violations"] == 0
    (tmp_path / "c.yaml").write_text("decrease_only: [chist]\n")
    rc = main(["counterfactuals", "--pack", "finance_hmda_example", "--model", str(d / "model.json"), "--data",
               str(d / "applications.csv"), "--out", str(tmp_path / "cf2"), "--constraints", str(tmp_path / "c.yaml")])
    assert rc == 2
    assert "'chist' cannot change (not actionable in pack 'finance_hmda_example')" in capsys.readouterr().err
    assert not (tmp_path / "cf2" / "counterfactuals.csv").exists()


def test_spanish_letter_states_what_could_change(letters, tmp_path):
    d = letters["dir"].parent
    apps = pd.read_csv(d / "applications.csv", dtype=str, keep_default_na=False)
    denied_ids = [p.stem.removeprefix("letter_") for p in sorted(letters["dir"].glob("letter_*.pdf"))
                  if json.loads(p.with_suffix(".json").read_text())["counterfactuals"]["stated_in_letter"]][:2]
    apps[apps.applicant_id.isin(denied_ids)].to_csv(tmp_path / "apps.csv", index=False)
    generate_letters(d / "model.json", tmp_path / "apps.csv", "finance_hmda_example", tmp_path / "es",
                     reference=d / "reference.csv", language="es", formats=("pdf", "json"))
    for i in denied_ids:
        text = pdf_text(tmp_path / "es" / f"letter_{i}.pdf")
        assert "Qué podría cambiar la decisión" in text
        assert "nuestra decisión podría haber sido diferente si" in text
        assert "Esto no garantiza la aprobación" in text
        assert "could have been different" not in text


def test_a_language_without_wording_gets_no_statement(tmp_path):
    """A Spanish action_text missing: Spanish letters make no statement (never half English); the record says why."""
    from xai_reports import wrap_model
    from xai_reports.counterfactuals.statements import letter_counterfactuals

    pack = load_pack(_pack_file(tmp_path, """
        features:
          lvrat: {translations: {es: {action_text: null}}}
    """))

    class LowLTV:
        classes_ = np.array([0, 1])

        def fit(self, X, y):
            return self

        def predict_proba(self, X):
            p = np.where(X["lvrat"] <= 0.5, 0.2, 0.8)
            return np.column_stack([1 - p, p])

    model = wrap_model(LowLTV(), feature_names=["pirat", "hirat", "lvrat"])
    X = pd.DataFrame({"pirat": [0.45], "hirat": [0.3], "lvrat": [0.9]})
    bg = pd.DataFrame({"pirat": [0.2, 0.5], "hirat": [0.1, 0.4], "lvrat": [0.3, 1.1]})
    lc = letter_counterfactuals(model, X, pack, background=bg)
    assert "if the loan amount were 50%" in lc.content(0, "en")["text"]
    assert lc.content(0, "es") is None
    assert lc.record(0)["no_statement_in"] == {"es": "missing features.lvrat.translations.es.action_text"}
