"""issue 18: ``case-review`` works with every model family, from its model file.

Tiny models on the WDBC measurements (the healthcare pack's ``wdbc_xgb`` inputs), each saved in its own
format: LightGBM text, CatBoost ``.cbm``, a scikit-learn HistGradientBoosting and a Pipeline through
skops, a GradientBoosting exported to ONNX, and a points-table scorecard (YAML). Each gets a model card
whose Platt scaling is fitted on the model's own output in the space its attributions add up in (the
margin; a decision tree's probability); the pack derives from the shipped healthcare pack with ``method: auto``.
One case per family through the CLI, checked against the model's own output (calibration applied by
hand) and against additivity of the recorded attributions; PDF text for one family.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning",
                                        "ignore::UserWarning")
ROOT = Path(__file__).resolve().parent.parent

PACK = """\
extends: healthcare
name: healthcare_any_model
explanation:
  method: auto
  additivity_tolerance: 0.001
"""


def cli(*args):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "xai_reports", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=ROOT)


def _scorecard(path, train, features):
    """A points table over the 30 measurements: two bins at the training median, points by class balance."""
    import yaml

    rows = []
    for f in features:
        m = float(np.round(train[f].median(), 6))
        hi = float(train.loc[train[f] >= m, "diagnosis"].mean())
        lo = float(train.loc[train[f] < m, "diagnosis"].mean())
        # margin = log-odds of the *positive* (malignant) class: more points, more malignant
        rows += [{"feature": f, "bin": f"[-inf, {m})", "points": int(round(10 * lo))},
                 {"feature": f, "bin": f"[{m}, inf)", "points": int(round(10 * hi))}]
    doc = {"name": "WDBC points table (made up for tests)", "scaling": {"base_score": 150, "base_odds": 1, "pdo": 40},
           "points": rows}
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")


def _space(path):
    """The output a sheet explains (what the card calibrates): margins, but a single tree's probabilities."""
    return "probability" if path.name == "pipe.skops" else "margin"


def _card(path, train, cal, test, features):
    """The model card of ``path``, with Platt scaling fitted on the adapter's own scores."""
    from xai_reports import load_model
    from xai_reports.documents.case_review.card import write_card
    from xai_reports.documents.case_review.uncertainty import PlattCalibrator

    adapter = load_model(path)
    space = _space(path)
    calib = PlattCalibrator(random_state=0).fit(adapter.predict(cal[features], output=space),
                                                cal["diagnosis"].to_numpy())
    p_test = calib.predict(adapter.predict(test[features], output=space))
    ref = pd.concat([train, cal])
    card = {"pack_model": "wdbc_xgb", "kind": "tabular", "classes": ["benign", "malignant"],
            "trained": {"on": "2026-01-15", "seed": 0, "data": "WDBC", "split": "60/20/20",
                        "n_train": len(train), "n_calibration": len(cal), "n_test": len(test),
                        "algorithm": f"{adapter.family} (tiny, for tests)"},
            "score": f"{adapter.family} output ({space})",
            "calibration": calib.to_dict(),
            "calibration_set": {"p": np.round(calib.predict(adapter.predict(cal[features], output=space)),
                                                       10).tolist(),
                                "y": cal["diagnosis"].astype(int).tolist()},
            "holdout": {"p": np.round(p_test, 10).tolist(), "y": test["diagnosis"].astype(int).tolist(),
                        "ids": test["case_ref"].tolist(), "description": "held-out WDBC test split"},
            "training_ranges": {f: [float(train[f].min()), float(train[f].max())] for f in features},
            "feature_scale": {f: [float(train[f].mean()), float(train[f].std(ddof=0))] for f in features},
            "class_medians": {c: {f: float(train.loc[train.diagnosis == k, f].median()) for f in features}
                              for k, c in enumerate(["benign", "malignant"])}}
    reference = {"X": ref[features].to_numpy(np.float64), "y": ref["diagnosis"].to_numpy(np.int64),
                 "ids": np.asarray(ref["case_ref"].tolist(), dtype="U16"),
                 "features": np.asarray(features, dtype="U32")}
    write_card(path, card, reference)
    return calib


@pytest.fixture(scope="module")
def family_models(tmp_path_factory):
    import catboost
    import lightgbm as lgb
    import onnx
    import skops.io as sio
    from skl2onnx import to_onnx
    from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    from examples.healthcare.demo import wdbc_demo_cases
    from examples.healthcare.wdbc import FEATURES, load_wdbc, split_wdbc

    d = tmp_path_factory.mktemp("families")
    train, cal, test = split_wdbc(load_wdbc(), 0)
    X, y = train[FEATURES], train["diagnosis"].to_numpy()
    booster = lgb.train({"objective": "binary", "num_leaves": 7, "learning_rate": 0.3, "verbose": -1,
                         "min_data_in_leaf": 5, "seed": 0}, lgb.Dataset(X, y), num_boost_round=8)
    booster.save_model(str(d / "lgbm.txt"))
    cb = catboost.CatBoostClassifier(iterations=8, depth=3, random_seed=0, verbose=False,
                                     allow_writing_files=False, thread_count=1).fit(X, y)
    cb.save_model(str(d / "cat.cbm"))
    sio.dump(HistGradientBoostingClassifier(max_iter=8, max_leaf_nodes=7, random_state=0).fit(X, y),
             d / "hgb.skops")
    sio.dump(make_pipeline(StandardScaler(), DecisionTreeClassifier(max_depth=4, random_state=0)).fit(X, y),
             d / "pipe.skops")
    gb = GradientBoostingClassifier(n_estimators=8, max_depth=3, random_state=0).fit(X.to_numpy(np.float32), y)
    m = to_onnx(gb, X.to_numpy(np.float32)[:1], options={"zipmap": False})
    onnx.helper.set_model_props(m, {"feature_names": json.dumps(FEATURES)})
    onnx.save(m, d / "gb.onnx")
    _scorecard(d / "card.yaml", train, FEATURES)
    calib = {name: _card(d / name, train, cal, test, FEATURES)
             for name in ("lgbm.txt", "cat.cbm", "hgb.skops", "pipe.skops", "gb.onnx", "card.yaml")}
    cases = wdbc_demo_cases(1)
    cases.to_csv(d / "cases.csv", index=False)
    (d / "pack.yaml").write_text(PACK, encoding="utf-8")
    from xai_reports import load_pack

    labels = {f: spec.label for f, spec in load_pack(d / "pack.yaml").spec.features.items()}
    return {"dir": d, "calib": calib, "cases": cases, "features": FEATURES, "labels": labels,
            "reference": pd.concat([train, cal])}


def _library_shap(path, X):
    """The library's own path-dependent SHAP (an oracle independent of this package), or None."""
    if path.suffix == ".txt":
        import lightgbm as lgb

        return lgb.Booster(model_file=str(path)).predict(X, pred_contrib=True)[:, :-1]
    if path.suffix == ".cbm":
        import catboost

        m = catboost.CatBoost()
        m.load_model(str(path))
        return m.get_feature_importance(catboost.Pool(X), type="ShapValues")[:, :-1]
    return None


def _scorecard_phi(path, x, ref):
    """Points earned minus the reference's average points, per feature, on the margin's scale (by hand)."""
    import yaml

    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    factor = doc["scaling"]["pdo"] / np.log(2)
    phi = {}
    for row in doc["points"]:
        f = row["feature"]
        lo, hi = (float(v.strip(" [)")) for v in row["bin"].split(","))

        def pts(v):
            return np.where((v >= lo) & (v < hi), row["points"], 0)

        phi[f] = phi.get(f, 0.0) + (float(pts(np.float64(x[f]))) - float(pts(ref[f].to_numpy(float)).mean())) / factor
    return phi


@pytest.mark.parametrize("model,method,form", [
    ("lgbm.txt", "tree_shap", "path_dependent"),
    ("cat.cbm", "tree_shap", "path_dependent"),
    ("hgb.skops", "tree_shap", "path_dependent"),
    ("pipe.skops", "tree_shap", "path_dependent"),
    ("gb.onnx", "tree_shap", "interventional"),   # ONNX records no covers: against the card's reference cases
    ("card.yaml", "scorecard", None),
])
def test_case_review_from_a_model_file(family_models, tmp_path, model, method, form):
    """One case per family, in process (HTML and JSON): the sheet's score is the model's own output, its
    probability the card's calibration of it, the attributions add up to it and equal an independent oracle
    where there is one (LightGBM pred_contrib, CatBoost ShapValues, scorecard points by hand)."""
    from xai_reports import load_model
    from xai_reports.documents.case_review import generate_case_reviews

    d = family_models["dir"]
    s = generate_case_reviews(d / model, d / "cases.csv", d / "pack.yaml", tmp_path, formats=("html", "json"),
                              profile="research", workers=0)
    assert s.exit_code == 0 and s.sheets == 1, s.errors
    feats = family_models["features"]
    X = family_models["cases"][feats].astype(float)
    score = float(load_model(d / model).predict(X, output=_space(d / model))[0])
    rec = json.loads(next(tmp_path.glob("case_*.json")).read_text(encoding="utf-8"))
    pred, ex = rec["prediction"], rec["explanation"]
    assert pred["score"] == pytest.approx(score, abs=1e-6)
    assert pred["probability"] == pytest.approx(float(family_models["calib"][model].predict([score])[0]), abs=1e-9)
    assert ex["method"] == method and ex["params"].get("form") == form
    phi = np.array([ex["attributions"][f] for f in feats])
    assert abs(phi.sum() + ex["base_value"] - score) < 1e-6
    assert np.abs(phi).max() > 1e-3                      # something was attributed
    oracle = _library_shap(d / model, X)
    if oracle is not None:
        np.testing.assert_allclose(phi, oracle[0], atol=1e-6)
    if method == "scorecard":
        want = _scorecard_phi(d / model, X.iloc[0], family_models["reference"])
        np.testing.assert_allclose(phi, [want[f] for f in feats], atol=1e-9)
    html = next(tmp_path.glob("case_*.html")).read_text(encoding="utf-8")
    top = max(feats, key=lambda f: abs(ex["attributions"][f]))
    label = family_models["labels"][top]
    assert label in html                                   # the top finding is on the sheet
    words = "Scorecard points" if method == "scorecard" else f"TreeSHAP (exact, {form.replace('_', '-')}"
    assert words in html and "additivity error" in html


def test_case_review_cli_pdf_lightgbm(family_models, tmp_path):
    """The CLI writes a LightGBM text model's sheet as a PDF whose text names the method and the top finding
    and whose software list names LightGBM."""
    from pypdf import PdfReader

    d = family_models["dir"]
    r = cli("case-review", "--pack", d / "pack.yaml", "--model", d / "lgbm.txt", "--data", d / "cases.csv",
            "--out", tmp_path, "--format", "pdf,json", "--profile", "research", "--quiet")
    assert r.returncode == 0, r.stderr
    rec = json.loads(next(tmp_path.glob("case_*.json")).read_text(encoding="utf-8"))
    text = " ".join(" ".join(p.extract_text() for p in PdfReader(str(next(tmp_path.glob("case_*.pdf")))).pages)
                    .split())
    feats = family_models["features"]
    top = max(feats, key=lambda f: abs(rec["explanation"]["attributions"][f]))
    assert "TreeSHAP (exact, path-dependent)" in text
    assert family_models["labels"][top] in text
    assert "lightgbm" in rec["audit"]["software"]
