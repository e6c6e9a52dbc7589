"""Every model family end to end through the CLI, on a lender's data and pack (not HMDA):
letters from a .skops pipeline, an ONNX tree model, an ONNX black box and a scorecard (YAML and CSV);
counterfactuals and audit for the skops and scorecard models."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import _lender as L

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning",
                                        "ignore::UserWarning")
ROOT = Path(__file__).resolve().parent.parent


def cli(*args):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "xai_reports", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=ROOT)


@pytest.fixture(scope="module")
def lender(tmp_path_factory):
    import onnx
    import skops.io as sio
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    d = tmp_path_factory.mktemp("lender")
    df = L.credit_frame()
    train, apps = L.split(df, n_train=2500, n_apps=40, seed=11)
    _, labelled = L.split(df, n_train=2500, n_apps=300, seed=11)
    ref = train.iloc[:400]
    ref[["app_id"] + L.FEATURES].to_csv(d / "reference.csv", index=False)
    apps[["app_id"] + L.FEATURES].to_csv(d / "apps.csv", index=False)
    lab = labelled[["app_id"] + L.FEATURES + ["deny"]].copy()
    lab["approve"] = 1 - lab["deny"]
    lab.to_csv(d / "labelled.csv", index=False)

    def encoder():
        return ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore"), L.CATEGORICAL),
                                  ("num", StandardScaler(), L.NUMERIC)])

    logit = make_pipeline(encoder(), LogisticRegression(max_iter=2000)).fit(train[L.FEATURES], train.deny)
    sio.dump(logit, d / "logit.skops")
    gb = GradientBoostingClassifier(n_estimators=40, max_depth=3, random_state=0).fit(
        train[L.NUMERIC].to_numpy(np.float32), train.deny)
    m = to_onnx(gb, train[L.NUMERIC].to_numpy(np.float32)[:1], options={"zipmap": False})
    onnx.helper.set_model_props(m, {"feature_names": json.dumps(L.NUMERIC)})
    onnx.save(m, d / "gb.onnx")
    mlp = make_pipeline(encoder(), MLPClassifier((12,), max_iter=400, random_state=0)).fit(
        train[L.FEATURES], train.deny)
    init = [(c, StringTensorType([None, 1]) if c in L.CATEGORICAL else FloatTensorType([None, 1]))
            for c in L.FEATURES]
    onnx.save(to_onnx(mlp, initial_types=init, options={id(mlp): {"zipmap": False}}), d / "mlp.onnx")
    L.write_scorecard_yaml(d / "card.yaml")
    L.write_scorecard_csv(d / "card.csv")
    return {"dir": d, "apps": apps, "ref": ref, "pack": L.write_pack(d),
            "pack_sc": L.write_pack(d, L.SCORECARD_PACK_EXTRA, "lender_sc.yaml"),
            "p_deny": {"logit.skops": logit.predict_proba(apps[L.FEATURES])[:, 1],
                       "gb.onnx": gb.predict_proba(apps[L.NUMERIC].to_numpy(np.float32))[:, 1],
                       "mlp.onnx": mlp.predict_proba(apps[L.FEATURES])[:, 1]}}


def _scorecard_p_deny(apps):
    """P(deny) from the points table by hand (independent of the adapter)."""
    total = np.zeros(len(apps))
    for f, b, p in L.SCORECARD_ROWS:
        if f in ("seniority", "income", "amount"):
            x = apps[f].to_numpy(float)
            if b == "Missing":
                total += np.where(np.isnan(x), p, 0)
                continue
            lo, hi = (float(v.strip(" [)")) for v in b.split(","))
            total += np.where((x >= lo) & (x < hi), p, 0)
        else:
            cats = [c.strip() for c in b.strip("[]").split(",")]
            total += np.where(apps[f].astype(str).isin(cats), p, 0)
    factor = 20 / np.log(2)
    margin = (total - (200 - factor * np.log(4))) / factor
    return 1 - 1 / (1 + np.exp(-margin))


@pytest.mark.parametrize("model,method,pack,reference,formats", [
    ("logit.skops", "linear", "pack", True, "pdf,json"),
    ("gb.onnx", "tree_shap", "pack", True, "html,json"),
    ("mlp.onnx", "shapley", "pack", True, "html,json"),
    ("card.yaml", "scorecard", "pack_sc", False, "html,json"),
    ("card.csv", "scorecard", "pack_sc", True, "pdf,json"),
])
def test_letters_from_a_model_file(lender, tmp_path, model, method, pack, reference, formats):
    d = lender["dir"]
    args = ["letters", "--pack", lender[pack], "--model", d / model, "--data", d / "apps.csv", "--out", tmp_path,
            "--date", "2026-12-01", "--format", formats, "--quiet"]
    if reference:
        args += ["--reference", d / "reference.csv"]
    r = cli(*args)
    assert r.returncode == 0, r.stderr
    p_deny = lender["p_deny"][model] if model in lender["p_deny"] else _scorecard_p_deny(lender["apps"])
    denied = set(lender["apps"].app_id[p_deny >= 0.5])
    records = {p.stem.removeprefix("letter_"): json.loads(p.read_text()) for p in tmp_path.glob("letter_*.json")}
    assert set(records) == denied and len(denied) >= 2
    doc_ext = formats.split(",")[0]
    for i, rec in records.items():
        ex = rec["explanation"]
        assert ex["method"] == method, ex
        assert rec["prediction"]["p_deny"] == pytest.approx(p_deny[lender["apps"].app_id == i][0], abs=1e-5)
        total = sum(ex["attributions"].values()) + ex["base_value"]
        assert abs(total - rec["prediction"]["margin"]) < 1e-3 or ex["output"] != "margin"
        if rec["reasons"]["flagged_for_review"]:
            continue
        assert (tmp_path / f"letter_{i}.{doc_ext}").exists()
        chosen = rec["reasons"]["chosen"]
        assert 1 <= len(chosen) <= 4
        scores = [c["score"] for c in chosen]
        assert scores == sorted(scores, reverse=True) and scores[0] == max(rec["reasons"]["factor_scores"].values())
    if method == "scorecard" and not reference:
        rec = next(iter(records.values()))
        assert rec["explanation"]["params"]["reference"] == "max_points"


def test_counterfactuals_and_audit_skops(lender, tmp_path):
    d = lender["dir"]
    r = cli("counterfactuals", "--pack", lender["pack"], "--model", d / "logit.skops", "--data", d / "apps.csv",
            "--reference", d / "reference.csv", "--out", tmp_path / "cf", "--quiet")
    assert r.returncode == 0, r.stderr
    status = pd.read_csv(tmp_path / "cf" / "status.csv")
    cfs = pd.read_csv(tmp_path / "cf" / "counterfactuals.csv")
    assert set(status.status) <= {"found", "none", "not_needed"} and (status.status != "not_needed").sum() >= 2
    if len(cfs):
        from xai_reports import load_model

        adapter = load_model(d / "logit.skops")
        X = L.typed(cfs)
        assert (adapter.predict_proba(X) < 0.5).all()          # each counterfactual is approved by the model
        orig = lender["apps"].set_index("app_id").loc[cfs.id]
        assert (cfs.amount.to_numpy() <= orig.amount.to_numpy() + 1e-9).all()   # decrease_only held
    out = tmp_path / "audit.html"
    r = cli("audit", "--pack", lender["pack"], "--model", d / "logit.skops", "--data", d / "labelled.csv",
            "--target", "deny", "--reference", d / "reference.csv", "--out", out, "--date", "2026-12-01",
            "--json", tmp_path / "audit.json", "--quiet")
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    assert "mean |linear attribution|" in text and "failed" not in text


def test_counterfactuals_and_audit_scorecard(lender, tmp_path):
    d = lender["dir"]
    r = cli("counterfactuals", "--pack", lender["pack_sc"], "--model", d / "card.yaml", "--data", d / "apps.csv",
            "--reference", d / "reference.csv", "--out", tmp_path / "cf", "--quiet")
    assert r.returncode == 0, r.stderr
    summary = json.loads((tmp_path / "cf" / "summary.json").read_text())
    assert summary["quality"]["violations"] == 0
    cfs = pd.read_csv(tmp_path / "cf" / "counterfactuals.csv")
    if len(cfs):
        assert (_scorecard_p_deny(cfs) < 0.5).all()
    out = tmp_path / "audit.html"
    r = cli("audit", "--pack", lender["pack_sc"], "--model", d / "card.csv", "--data", d / "labelled.csv",
            "--target", "approve", "--reference", d / "reference.csv", "--out", out, "--date", "2026-12-01", "--quiet")
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    assert "mean |scorecard attribution|" in text and "failed" not in text and "scorecard (Scorecard)" in text


def test_bad_scorecard_row_is_one_line_exit_2(lender, tmp_path):
    bad = tmp_path / "card.csv"
    bad.write_text("Variable,Bin,Points\nseniority,\"[0, 5)\",10\nseniority,\"[3, 8)\",5\n", encoding="utf-8")
    out = tmp_path / "out"
    r = cli("letters", "--pack", lender["pack_sc"], "--model", bad, "--data", lender["dir"] / "apps.csv",
            "--out", out, "--quiet")
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "Traceback" not in r.stderr
    assert f"{bad}: row 2, field 'bin'" in r.stderr
    assert not out.exists() or not any(out.iterdir())


def test_linear_model_without_reference_is_refused_cleanly(lender, tmp_path):
    d = lender["dir"]
    r = cli("letters", "--pack", lender["pack"], "--model", d / "logit.skops", "--data", d / "apps.csv",
            "--out", tmp_path / "o", "--quiet")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "'linear' explains against a reference population" in r.stderr and "--reference" in r.stderr


def test_shapley_and_kernel_shap_use_the_reference_population(lender, tmp_path):
    """issue 17 item 9: `shapley` explains against --reference (base value = the reference's mean output);
    `kernel_shap` states its error in the record."""
    from xai_reports import generate_letters, load_model
    from xai_reports.io.tabular import encode_like_pack

    d = lender["dir"]
    adapter = load_model(d / "mlp.onnx")
    pack = _with_method(tmp_path, "shapley")
    generate_letters(d / "mlp.onnx", d / "apps.csv", pack, tmp_path / "s", reference=d / "reference.csv",
                     formats=("json",), decision_date="2026-12-01", workers=0)
    recs = [json.loads(p.read_text()) for p in (tmp_path / "s").glob("letter_*.json")]
    assert recs
    ref = encode_like_pack(lender["ref"][L.FEATURES], pack, L.FEATURES)
    idx = np.unique(np.linspace(0, len(ref) - 1, 100).round().astype(int))
    expected_base = adapter.predict(ref.iloc[idx]).mean()
    for rec in recs:
        assert rec["explanation"]["method"] == "shapley"
        assert rec["explanation"]["base_value"] == pytest.approx(expected_base, abs=1e-9)
        assert rec["explanation"]["params"]["background_rows"] == 100
    # kernel_shap: an estimate, with its standard error in the record
    kpack = _with_method(tmp_path, "kernel_shap", "  options: {n_samples: 64}\n")
    generate_letters(d / "mlp.onnx", d / "apps.csv", kpack, tmp_path / "k", reference=d / "reference.csv",
                     formats=("json",), decision_date="2026-12-01", workers=0)
    recs = [json.loads(p.read_text()) for p in (tmp_path / "k").glob("letter_*.json")]
    assert recs and all(r["explanation"]["method"] == "kernel_shap" for r in recs)
    assert all(r["explanation"]["estimated_std_max"] >= 0 for r in recs)


def _with_method(folder, method, options=""):
    text = L.PACK.replace("  method: auto\n", f"  method: {method}\n{options}")
    p = folder / f"pack_{method}.yaml"
    p.write_text(L.pack_text(text), encoding="utf-8")
    from xai_reports import load_pack

    return load_pack(p)
