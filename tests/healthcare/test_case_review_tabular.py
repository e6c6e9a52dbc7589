"""WDBC case-review sheets tested as documents: required content, record, numbers against oracles."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _hc import pdf_record, pdf_text


def _record(sheets, prof, case="CASE-0001"):
    return json.loads((sheets[prof]["dir"] / f"case_{case}.json").read_text())


def test_batch_writes_a_sheet_per_case(wdbc_sheets, wdbc_cases):
    for prof in ("treatment", "research"):
        s = wdbc_sheets[prof]["summary"]
        assert s.rows == len(wdbc_cases["frame"]) and s.sheets == s.rows and s.exit_code == 0, s.to_dict()
        d = wdbc_sheets[prof]["dir"]
        assert len(list(d.glob("case_*.pdf"))) == s.rows
        assert json.loads((d / "summary.json").read_text())["sheets_written"] == s.rows


REQUIRED = [
    "Clinician case-review sheet", "CASE-0001", "WDBC nucleus-measurement malignancy classifier", "version 1.0.0+",
    "Intended use", "Intended user", "Regulatory status", "Inputs and data quality",
    "calibrated probability of malignant", "operating threshold 0.3", "90% interval",
    "bootstrap percentile interval", "split conformal prediction set", "Top contributing findings",
    "Reference range", "towards", "Similar reference cases", "Counterfactual", "Performance context",
    "Sensitivity", "Specificity", "AUC", "Subgroup: mean nucleus radius", "Clinician review", "Agree", "Disagree",
    "Override", "Clinician name", "Signature", "Date and time", "Audit metadata", "Log id", "Model hash",
    "Input hash", "Not a diagnosis", "January 2026", "automation bias", "does not certify compliance",
]


def test_pdf_contains_every_required_item(wdbc_sheets):
    text = " ".join(pdf_text(wdbc_sheets["treatment"]["dir"] / "case_CASE-0001.pdf").split())
    missing = [r for r in REQUIRED if r not in text]
    assert not missing, missing


def test_at_most_five_findings_with_value_range_and_direction(wdbc_sheets, hc_pack):
    rec = _record(wdbc_sheets, "treatment")
    items = rec["document"]["content"]["findings"]["items"]
    assert 1 <= len(items) <= 5
    attr = rec["explanation"]["attributions"]
    top = sorted(attr, key=lambda f: -abs(attr[f]))[:5]
    assert [it["feature"] for it in items] == top          # the largest |TreeSHAP| first
    for it in items:
        spec = hc_pack.features[it["feature"]]
        lo, hi = spec.reference_range
        assert it["direction"] == ("towards malignant" if it["contribution"] > 0 else "towards benign")
        expected = "above" if it["value"] > hi else "below" if it["value"] < lo else "within"
        assert it["position"] == expected


def test_recorded_attributions_add_up_to_the_model_margin(wdbc_sheets, wdbc_model):
    import xgboost as xgb

    rec = _record(wdbc_sheets, "treatment")
    b = xgb.Booster()
    b.load_model(str(wdbc_model["model"]))
    x = np.array([[rec["inputs"][f] if rec["inputs"][f] is not None else np.nan for f in b.feature_names]])
    margin = float(b.predict(xgb.DMatrix(x, feature_names=b.feature_names), output_margin=True)[0])
    total = sum(rec["explanation"]["attributions"].values()) + rec["explanation"]["base_value"]
    assert total == pytest.approx(margin, abs=1e-4)
    assert rec["prediction"]["score"] == pytest.approx(margin, abs=1e-5)


def test_output_is_calibrated_and_consistent_with_threshold(wdbc_sheets, wdbc_model):
    card = json.loads(wdbc_model["card"].read_text())
    for case in ("CASE-0001", "CASE-0002", "CASE-0004"):
        rec = _record(wdbc_sheets, "treatment", case)
        pr = rec["prediction"]
        a, b = card["calibration"]["a"], card["calibration"]["b"]
        assert pr["probability"] == pytest.approx(1 / (1 + np.exp(-(a * pr["score"] + b))), rel=1e-9)
        lo, hi = pr["interval"]
        assert 0 <= lo <= hi <= 1
        assert pr["class"] == ("malignant" if pr["probability"] >= 0.3 else "benign")
        assert pr["conformal_set"] and set(pr["conformal_set"]) <= {"benign", "malignant"}


def test_performance_context_matches_sklearn(wdbc_sheets, wdbc_model):
    from sklearn.metrics import confusion_matrix, roc_auc_score

    card = json.loads(wdbc_model["card"].read_text())
    p, y = np.array(card["holdout"]["p"]), np.array(card["holdout"]["y"])
    tn, fp, fn, tp = confusion_matrix(y, (p >= 0.3).astype(int)).ravel()
    perf = _record(wdbc_sheets, "treatment")["document"]["content"]["performance"]["overall"]
    assert perf["sensitivity"] == pytest.approx(tp / (tp + fn))
    assert perf["specificity"] == pytest.approx(tn / (tn + fp))
    assert perf["auc"] == pytest.approx(roc_auc_score(y, p))
    assert perf["n"] == len(y) == 114


def test_wdbc_model_reaches_stated_accuracy(wdbc_model):
    assert wdbc_model["auc_test"] > 0.97
    assert wdbc_model["accuracy_test"] > 0.92


def test_embedded_record_equals_json_record(wdbc_sheets):
    d = wdbc_sheets["treatment"]["dir"]
    assert pdf_record(d / "case_CASE-0001.pdf") == (d / "case_CASE-0001.json").read_bytes()


def test_missing_optional_value_is_flagged_not_fatal(wdbc_sheets):
    rec = _record(wdbc_sheets, "treatment", "CASE-0003")
    flags = rec["document"]["content"]["inputs"]["flags"]
    assert any("Standard error of nucleus symmetry" in f and "missing" in f for f in flags)
    assert rec["inputs"]["symmetry_se"] is None


def test_out_of_range_value_is_flagged_out_of_scope(tmp_path, wdbc_model, wdbc_cases, hc_pack):
    from xai_reports.documents.case_review import generate_case_reviews

    df = wdbc_cases["frame"].head(1).copy()
    df.loc[0, "area_mean"] = 9999.0
    df.to_csv(tmp_path / "c.csv", index=False)
    s = generate_case_reviews(wdbc_model["model"], tmp_path / "c.csv", hc_pack, tmp_path / "o", formats=["json"])
    assert s.flagged_out_of_scope == ["CASE-0001"]
    rec = json.loads((tmp_path / "o" / "case_CASE-0001.json").read_text())
    inp = rec["document"]["content"]["inputs"]
    assert inp["out_of_scope"] and any("Mean nucleus area" in f and "above the range seen in training" in f
                                       for f in inp["flags"])


def test_counterfactual_statement_holds_when_checked(wdbc_sheets, wdbc_model):
    """Re-evaluate the counterfactual with the model itself: it must land on the other side of the threshold."""
    import xgboost as xgb

    card = json.loads(wdbc_model["card"].read_text())
    b = xgb.Booster()
    b.load_model(str(wdbc_model["model"]))
    checked = 0
    for path in sorted(wdbc_sheets["treatment"]["dir"].glob("case_*.json")):
        rec = json.loads(path.read_text())
        cf = rec["document"]["content"]["counterfactual"]
        if "changed" not in cf:
            continue
        x = dict(rec["inputs"])
        for ch in cf["changed"]:
            x[ch["feature"]] = ch["to"]
        row = np.array([[np.nan if x[f] is None else x[f] for f in b.feature_names]])
        m = float(b.predict(xgb.DMatrix(row, feature_names=b.feature_names), output_margin=True)[0])
        p = 1 / (1 + np.exp(-(card["calibration"]["a"] * m + card["calibration"]["b"])))
        assert p == pytest.approx(cf["probability"], abs=1e-6)
        was_above = rec["prediction"]["probability"] >= 0.3
        assert (p >= 0.3) != was_above
        checked += 1
    assert checked >= 1


def test_similar_cases_are_the_nearest_in_standardised_space(wdbc_sheets, wdbc_model):
    """Brute force over the reference set (independent of the sheet's code path)."""
    from examples.healthcare.wdbc import FEATURES, load_wdbc, split_wdbc

    tr, ca, _ = split_wdbc(load_wdbc())
    ref = load_wdbc().loc[tr.index.union(ca.index)]
    rec = _record(wdbc_sheets, "treatment")
    x = np.array([rec["inputs"][f] for f in FEATURES])
    mu, sd = tr[FEATURES].mean().to_numpy(), tr[FEATURES].std(ddof=0).to_numpy()
    d = np.sqrt((((ref[FEATURES].to_numpy() - x) / sd) ** 2).sum(axis=1))
    expected = ref["case_ref"].to_numpy()[np.argsort(d, kind="stable")[:3]].tolist()
    got = [s["ref_id"] for s in rec["document"]["content"]["similar"]["items"]]
    assert got == expected


def test_first_page_renders(wdbc_sheets, tmp_path):
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(wdbc_sheets["treatment"]["dir"] / "case_CASE-0001.pdf"))
    img = pdf[0].render(scale=1.0).to_pil().convert("L")
    arr = np.asarray(img)
    assert arr.shape[0] > 700 and (arr < 128).mean() > 0.01     # text on the page, not blank
    img.save(tmp_path / "page1.png")
