"""Interventional TreeSHAP on ONNX-exported tree models vs shap.TreeExplainer on the original models.

Four models on the HMDA data (13 numeric predictors), each exported to ONNX
(skl2onnx for scikit-learn, onnxmltools for XGBoost and LightGBM):
RandomForest (100 trees, depth 6), GradientBoosting (200 trees, depth 4),
XGBoost (200 trees, depth 4), LightGBM (200 trees, 15 leaves). xai_reports
reads the ONNX file (load_model) and parses its tree node; shap explains the
original in-memory model (shap cannot read ONNX). Same rows, same 100-row
reference, same process; values compared row by row.

    python benchmarks/bench_onnx_tree_shap.py [--rows 2380] [--shap-rows 200]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")   # one thread for every library: CPU time compares like with like

import argparse  # noqa: E402
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

from _hmda import cpu_best_of as best_of, hmda_numeric, machine_note, table


def models(X, y):
    import lightgbm as lgb
    import onnx
    import xgboost as xgb
    from onnxmltools import convert_lightgbm, convert_xgboost
    from onnxmltools.convert.common.data_types import FloatTensorType
    from skl2onnx import to_onnx
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier

    Xf = X.to_numpy(np.float32)
    d = Xf.shape[1]
    out = []
    rf = RandomForestClassifier(100, max_depth=6, random_state=0, n_jobs=1).fit(Xf, y)
    out.append(("RandomForest 100x d6 (skl2onnx)", rf, to_onnx(rf, Xf[:1], options={"zipmap": False})))
    gb = GradientBoostingClassifier(n_estimators=200, max_depth=4, random_state=0).fit(Xf, y)
    out.append(("GradientBoosting 200x d4 (skl2onnx)", gb, to_onnx(gb, Xf[:1], options={"zipmap": False})))
    xm = xgb.XGBClassifier(n_estimators=200, max_depth=4, learning_rate=0.1, random_state=0, n_jobs=1).fit(Xf, y)
    out.append(("XGBoost 200x d4 (onnxmltools)", xm,
                convert_xgboost(xm, initial_types=[("input", FloatTensorType([None, d]))], target_opset=15)))
    lm = lgb.LGBMClassifier(n_estimators=200, num_leaves=15, random_state=0, n_jobs=1, verbose=-1).fit(Xf, y)
    out.append(("LightGBM 200x 15 leaves (onnxmltools)", lm,
                convert_lightgbm(lm, initial_types=[("input", FloatTensorType([None, d]))], target_opset=15,
                                 zipmap=False)))
    return out, onnx


def _raw(est, Z):
    """The original model's raw output (the space both explainers explain)."""
    Z = np.asarray(Z, dtype=np.float32)
    if hasattr(est, "get_booster"):
        return est.predict(Z, output_margin=True)
    if hasattr(est, "booster_"):
        return est.predict(Z, raw_score=True)
    if hasattr(est, "decision_function") and not hasattr(est, "estimators_samples_"):
        return est.decision_function(Z)
    return est.predict_proba(Z)[:, 1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2380, help="rows explained by xai_reports")
    ap.add_argument("--shap-rows", type=int, default=200, help="rows explained by shap (it is slower)")
    ap.add_argument("--background", type=int, default=100)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--brute-rows", type=int, default=2, help="rows checked by brute-force enumeration")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")

    import shap

    from xai_reports import explain, load_model

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "attribution"))
    from _shap_oracles import brute_force_interventional

    X, y = hmda_numeric()
    Xf = X.to_numpy(np.float32)
    rng = np.random.default_rng(0)
    ref = Xf[np.sort(rng.choice(len(Xf), args.background, replace=False))]
    rows, srows = Xf[:args.rows], Xf[:args.shap_rows]
    built, onnx = models(X, y)
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, est, proto in built:
            path = Path(tmp) / "model.onnx"
            onnx.save(proto, path)
            adapter = load_model(path)
            explain(adapter, srows[:5], method="tree_shap", background=ref, device=args.device)   # warm up
            sx = shap.TreeExplainer(est, ref.astype(np.float64), feature_perturbation="interventional",
                                    model_output="raw")
            sx.shap_values(srows[:5].astype(np.float64))
            t_shap, sv = best_of(lambda: sx.shap_values(srows.astype(np.float64)), repeat=1)
            sv = np.asarray(sv)
            sv = sv[..., 1] if sv.ndim == 3 else sv
            t_small, a_small = best_of(lambda: explain(adapter, srows, method="tree_shap", background=ref,
                                                       device=args.device))

            def cold():
                return explain(load_model(path), srows, method="tree_shap", background=ref, device=args.device)

            t_cold, _ = best_of(cold, repeat=2)
            t_all, a_all = best_of(lambda: explain(adapter, rows, method="tree_shap", background=ref,
                                                   device=args.device), repeat=2)
            # how far the export itself is from the original
            orig = _raw(est, srows)
            export_diff = np.abs(adapter.predict(srows) - orig).max()
            # the independent truth: coalition enumeration (2**13 coalitions x the reference) on the
            # original model's own predictions, for the rows where ours and shap differ most
            worst = np.argsort(-np.abs(a_small.values - sv).max(axis=1))[:args.brute_rows]
            bf = np.stack([brute_force_interventional(lambda Z: _raw(est, Z), srows[i], ref)[0] for i in worst])
            bf_ours = np.abs(bf - a_small.values[worst]).max()
            bf_shap = np.abs(bf - sv[worst]).max()
            r_shap = args.shap_rows / t_shap
            diff = np.abs(a_small.values - sv).max()
            out.append([name, "shap on the original", args.shap_rows, f"{t_shap:.2f}", f"{r_shap:,.0f}", "1.0x",
                        "-", f"{bf_shap:.1e}", "-", f"{export_diff:.1e}"])
            out.append(["", "xai_reports on the .onnx", args.shap_rows, f"{t_small:.3f}",
                        f"{args.shap_rows / t_small:,.0f}", f"{args.shap_rows / t_small / r_shap:.1f}x",
                        f"{diff:.1e}", f"{bf_ours:.1e}", f"{a_small.self_check['max_abs_error']:.1e}", "-"])
            out.append(["", "  same, load + parse included", args.shap_rows, f"{t_cold:.3f}",
                        f"{args.shap_rows / t_cold:,.0f}", f"{args.shap_rows / t_cold / r_shap:.1f}x", "-", "-", "-", "-"])
            out.append(["", "xai_reports on the .onnx", args.rows, f"{t_all:.3f}", f"{args.rows / t_all:,.0f}",
                        f"{args.rows / t_all / r_shap:.1f}x", "-", "-", f"{a_all.self_check['max_abs_error']:.1e}", "-"])
    print(f"Interventional TreeSHAP on ONNX exports, HMDA {X.shape[1]} features, {len(ref)}-row reference, "
          f"device {args.device}")
    print(f"machine: {machine_note()}")
    print(table(out, ["model", "explainer", "rows", "seconds", "rows/s", "vs shap", "max |diff| vs shap",
                      f"max |diff| vs brute force ({args.brute_rows} rows)", "additivity error (vs onnxruntime)",
                      "max |ONNX - original| output"]))


if __name__ == "__main__":
    main()
