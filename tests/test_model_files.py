"""LightGBM and CatBoost model FILES: recognised by content, loaded without pickle, used end to end by the CLI.

Models are trained here with seeds and families unlike the demo's XGBoost model (LightGBM with
categorical splits; CatBoost with one-hot categorical splits) on the pack's encoding of HMDA.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from xai_reports import ModelLoadError, load_model

lgb = pytest.importorskip("lightgbm")
catboost = pytest.importorskip("catboost")
CLI = [sys.executable, "-m", "xai_reports"]


@pytest.fixture(scope="module")
def files(hmda, finance_pack, hmda_files, tmp_path_factory):
    from examples.finance_hmda import FEATURES
    from xai_reports.io.tabular import encode_like_pack

    d = tmp_path_factory.mktemp("families")
    train = hmda.iloc[:1900]
    X = encode_like_pack(train[["applicant_id"] + FEATURES], finance_pack, FEATURES)
    y = train["deny"].to_numpy()
    m_lgb = lgb.LGBMClassifier(n_estimators=80, num_leaves=10, learning_rate=0.07, min_data_per_group=10,
                               random_state=41, verbose=-1, n_jobs=1).fit(X, y)
    m_lgb.booster_.save_model(str(d / "model.txt"))
    (d / "lgb_dump.json").write_text(json.dumps(m_lgb.booster_.dump_model()))
    cats = [c for c in FEATURES if isinstance(X[c].dtype, pd.CategoricalDtype)]
    Xc = X.assign(**{c: X[c].astype(str) for c in cats})
    m_cb = catboost.CatBoostClassifier(iterations=120, depth=4, learning_rate=0.08, cat_features=cats,
                                       one_hot_max_size=4, random_seed=43, verbose=0, thread_count=1,
                                       allow_writing_files=False).fit(Xc, y)
    m_cb.save_model(str(d / "model.cbm"))
    m_cb.save_model(str(d / "catboost.json"), format="json")
    return {"dir": d, "lgb": m_lgb, "cb": m_cb, "X": X, "Xc": Xc, "hmda": hmda_files}


def test_files_are_recognised_by_content(files, tmp_path):
    d, X = files["dir"], files["X"]
    ref_lgb = files["lgb"].booster_.predict(X, raw_score=True)
    ref_cb = files["cb"].predict(files["Xc"], prediction_type="RawFormulaVal")
    for name, ref, family in (("model.txt", ref_lgb, "lightgbm"), ("lgb_dump.json", ref_lgb, "lightgbm"),
                              ("model.cbm", ref_cb, "catboost"), ("catboost.json", ref_cb, "catboost")):
        ad = load_model(d / name)
        assert ad.family == family and ad.is_tree_ensemble and ad.output_space == "margin", name
        np.testing.assert_allclose(ad.predict(X), ref, atol=1e-9, err_msg=name)
        # the suffix does not matter: the content decides
        renamed = tmp_path / f"{name}.model"
        renamed.write_bytes((d / name).read_bytes())
        assert load_model(renamed).family == family


def test_unrecognised_files_are_refused(tmp_path):
    other = tmp_path / "config.json"
    other.write_text(json.dumps({"name": "not a model", "layers": [1, 2]}))
    with pytest.raises(ModelLoadError, match=r"config\.json: JSON that is not a model this tool reads"):
        load_model(other)
    text = tmp_path / "notes.txt"
    text.write_text("tree planting schedule\nversion 2\n")
    with pytest.raises(ModelLoadError, match=r"notes\.txt: unknown model format \.txt"):
        load_model(text)
    broken = tmp_path / "broken.txt"
    broken.write_text("tree\nversion=v4\nnum_class=1\nTree=0\nnum_leaves=3\n")
    with pytest.raises(ModelLoadError, match=r"broken\.txt: not a valid LightGBM text model"):
        load_model(broken)
    cbm = tmp_path / "bad.cbm"
    cbm.write_bytes(b"CBM1" + b"\x00" * 40)
    with pytest.raises(ModelLoadError, match=r"bad\.cbm: not a valid CatBoost \.cbm model"):
        load_model(cbm)


def _run(*args):
    return subprocess.run(CLI + [str(a) for a in args], capture_output=True, text=True)


@pytest.mark.parametrize("model_file,family", [("model.txt", "lightgbm"), ("model.cbm", "catboost")])
def test_letters_counterfactuals_and_audit_from_a_model_file(files, model_file, family, tmp_path):
    h = files["hmda"]
    model = files["dir"] / model_file
    out = tmp_path / "letters"
    res = _run("letters", "--pack", "finance_hmda_example", "--model", model, "--data", h["applications"], "--out", out,
               "--reference", h["reference"], "--format", "pdf,json", "--quiet")
    assert res.returncode == 0, res.stderr
    records = sorted(out.glob("*.json"))
    records = [json.loads(p.read_text()) for p in records if p.name not in ("summary.json", "manifest.json")]
    assert records and sorted(out.glob("*.pdf"))
    text = json.dumps(records[0])
    assert family in text and "tree_shap" in text
    # the reasons are the model's: the letters' attributions add up to its own output
    ad = load_model(model)
    assert ad.family == family

    cf = tmp_path / "cf"
    res = _run("counterfactuals", "--pack", "finance_hmda_example", "--model", model, "--data", h["applications"],
               "--reference", h["reference"], "--out", cf, "--quiet")
    assert res.returncode == 0, res.stderr
    assert (cf / "counterfactuals.csv").exists() and (cf / "status.csv").exists()

    held = pd.read_csv(h["reference"]).iloc[:300]
    from examples.finance_hmda import load_hmda

    held = held.assign(deny=load_hmda().iloc[:300]["deny"].to_numpy())
    data = tmp_path / "labelled.csv"
    held.to_csv(data, index=False)
    report = tmp_path / "audit.html"
    res = _run("audit", "--pack", "finance_hmda_example", "--model", model, "--data", data, "--target", "deny",
               "--protected", "afam", "--date", "2026-11-30", "--out", report, "--quiet")
    assert res.returncode == 0, res.stderr
    html = report.read_text()
    assert html.startswith("<!DOCTYPE html>") and family in html.lower()
