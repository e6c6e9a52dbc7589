"""Interventional TreeSHAP on ONNX-exported tree models vs shap.TreeExplainer on the original models.

Four models on the HMDA data (13 numeric predictors), each exported to ONNX
(skl2onnx for scikit-learn, onnxmltools for XGBoost and LightGBM):
RandomForest (100 trees, depth 6), GradientBoosting (200 trees, depth 4),
XGBoost (200 trees, depth 4), LightGBM (200 trees, 15 leaves). xai_reports
reads the ONNX file (load_model) and parses its tree node; shap explains the
original in-memory model (shap cannot read ONNX). Same rows, same 100-row
reference, same process; values compared row by row. Times are CPU seconds of
the process, best of ``--repeat`` runs for both sides, shap's and ours
interleaved (shap's single run used to swing the ratio by 20%).

``--dataset breast_cancer`` runs scikit-learn's breast cancer data instead (569
rows, 30 features; random forests of depth 8 and 10, GradientBoosting depth 4):
no whole-model brute force there (2**30 coalitions); GradientBoosting is checked by
enumeration tree by tree (each depth-4 tree reads at most 15 features).

    python benchmarks/bench_onnx_tree_shap.py [--rows 2380] [--shap-rows 200] [--repeat 3]
                                              [--dataset hmda|breast_cancer] [--only RandomForest]
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


def breast_cancer_models(X, y):
    import onnx
    from skl2onnx import to_onnx
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier

    Xf = X.to_numpy(np.float32)
    out = []
    for depth in (8, 10):
        rf = RandomForestClassifier(100, max_depth=depth, random_state=0, n_jobs=1).fit(Xf, y)
        out.append((f"RandomForest 100x d{depth} (skl2onnx)", rf, to_onnx(rf, Xf[:1], options={"zipmap": False})))
    gb = GradientBoostingClassifier(n_estimators=200, max_depth=4, random_state=0).fit(Xf, y)
    out.append(("GradientBoosting 200x d4 (skl2onnx)", gb, to_onnx(gb, Xf[:1], options={"zipmap": False})))
    return out, onnx


def per_tree_brute_force(est, x, ref, max_features: int = 14):
    """Exact interventional values of a scikit-learn GradientBoosting model by enumeration, tree by tree: the
    ensemble's game is the sum of its trees' games, and each tree's is over the features it splits on, so
    2**k coalitions per tree (k <= 15 at depth 4) replace the 2**30 of the whole model. ``None`` when a tree
    reads more than ``max_features`` features, or for other models."""
    import itertools
    import math

    if not hasattr(est, "estimators_") or not hasattr(est, "learning_rate"):
        return None
    trees = [t for t in np.ravel(est.estimators_)]
    feats_of = [sorted(set(t.tree_.feature[t.tree_.feature >= 0].tolist())) for t in trees]
    if max(len(f) for f in feats_of) > max_features:
        return None
    x = np.asarray(x, dtype=np.float32)
    phi = np.zeros(ref.shape[1])
    for t, feats in zip(trees, feats_of):
        k = len(feats)
        coal = list(itertools.product([0, 1], repeat=k))
        H = np.repeat(ref[None], len(coal), 0)
        for c, mask in enumerate(coal):
            for on, f in zip(mask, feats):
                if on:
                    H[c, :, f] = x[f]
        v = t.predict(H.reshape(-1, ref.shape[1])).reshape(len(coal), len(ref)).mean(axis=1) * est.learning_rate
        vd = dict(zip(coal, v))
        for a, f in enumerate(feats):
            for c in coal:
                if not c[a]:
                    s_ = sum(c)
                    w = math.factorial(s_) * math.factorial(k - s_ - 1) / math.factorial(k)
                    phi[f] += w * (vd[c[:a] + (1,) + c[a + 1:]] - vd[c])
    return phi


def interleaved_best(fns, repeat: int):
    """Best CPU seconds (``time.process_time``) and last result of each function, called in turn ``repeat``
    times (so both sides see the same machine)."""
    import time

    best, res = [np.inf] * len(fns), [None] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            t = time.process_time()
            res[i] = fn()
            best[i] = min(best[i], time.process_time() - t)
    return best, res


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
    ap.add_argument("--repeat", type=int, default=3, help="timed runs of each side (best kept)")
    ap.add_argument("--dataset", default="hmda", choices=["hmda", "breast_cancer"])
    ap.add_argument("--only", default="", help="run only the models whose name contains this")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")

    import shap

    from xai_reports import explain, load_model

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "attribution"))
    from _shap_oracles import brute_force_interventional

    print(f"machine at start: {machine_note()}", flush=True)
    if args.dataset == "hmda":
        X, y = hmda_numeric()
    else:
        import pandas as pd
        from sklearn.datasets import load_breast_cancer

        data = load_breast_cancer()
        X, y = pd.DataFrame(data.data, columns=data.feature_names), data.target
        args.rows = min(args.rows, len(X))
    Xf = X.to_numpy(np.float32)
    rng = np.random.default_rng(0)
    ref = Xf[np.sort(rng.choice(len(Xf), args.background, replace=False))]
    rows, srows = Xf[:args.rows], Xf[:args.shap_rows]
    built, onnx = models(X, y) if args.dataset == "hmda" else breast_cancer_models(X, y)
    built = [b for b in built if args.only in b[0]]
    brute = X.shape[1] <= 16
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
            (t_shap, t_small), (sv, a_small) = interleaved_best(
                [lambda: sx.shap_values(srows.astype(np.float64)),
                 lambda: explain(adapter, srows, method="tree_shap", background=ref, device=args.device)],
                args.repeat)
            sv = np.asarray(sv)
            sv = sv[..., 1] if sv.ndim == 3 else sv

            def cold():
                return explain(load_model(path), srows, method="tree_shap", background=ref, device=args.device)

            t_cold, _ = best_of(cold, repeat=max(2, args.repeat - 1))
            t_all, a_all = best_of(lambda: explain(adapter, rows, method="tree_shap", background=ref,
                                                   device=args.device), repeat=max(2, args.repeat - 1))
            # how far the export itself is from the original
            orig = _raw(est, srows)
            export_diff = np.abs(adapter.predict(srows) - orig).max()
            # the independent truth: coalition enumeration (2**13 coalitions x the reference) on the
            # original model's own predictions, for the rows where ours and shap differ most
            if brute:
                worst = np.argsort(-np.abs(a_small.values - sv).max(axis=1))[:args.brute_rows]
                bf = np.stack([brute_force_interventional(lambda Z: _raw(est, Z), srows[i], ref)[0] for i in worst])
                bf_ours = f"{np.abs(bf - a_small.values[worst]).max():.1e}"
                bf_shap = f"{np.abs(bf - sv[worst]).max():.1e}"
            else:                    # 2**30 coalitions: tree by tree where the trees are narrow enough
                worst = np.argsort(-np.abs(a_small.values - sv).max(axis=1))[:args.brute_rows]
                bf = [per_tree_brute_force(est, srows[i], ref) for i in worst]
                if any(b is None for b in bf):
                    bf_ours = bf_shap = "-"
                else:
                    bf = np.stack(bf)
                    bf_ours = f"{np.abs(bf - a_small.values[worst]).max():.1e} (per tree)"
                    bf_shap = f"{np.abs(bf - sv[worst]).max():.1e} (per tree)"
            r_shap = args.shap_rows / t_shap
            diff = np.abs(a_small.values - sv).max()
            out.append([name, "shap on the original", args.shap_rows, f"{t_shap:.2f}", f"{r_shap:,.0f}", "1.0x",
                        "-", bf_shap, "-", f"{export_diff:.1e}"])
            out.append(["", "xai_reports on the .onnx", args.shap_rows, f"{t_small:.3f}",
                        f"{args.shap_rows / t_small:,.0f}", f"{args.shap_rows / t_small / r_shap:.1f}x",
                        f"{diff:.1e}", bf_ours, f"{a_small.self_check['max_abs_error']:.1e}", "-"])
            out.append(["", "  same, load + parse included", args.shap_rows, f"{t_cold:.3f}",
                        f"{args.shap_rows / t_cold:,.0f}", f"{args.shap_rows / t_cold / r_shap:.1f}x", "-", "-", "-", "-"])
            out.append(["", "xai_reports on the .onnx", args.rows, f"{t_all:.3f}", f"{args.rows / t_all:,.0f}",
                        f"{args.rows / t_all / r_shap:.1f}x", "-", "-", f"{a_all.self_check['max_abs_error']:.1e}", "-"])
    print(f"Interventional TreeSHAP on ONNX exports, {args.dataset} {X.shape[1]} features, {len(ref)}-row reference, "
          f"device {args.device}")
    print(f"machine at end: {machine_note()}; CPU seconds, best of {args.repeat} (shap and ours interleaved)")
    print(table(out, ["model", "explainer", "rows", "seconds", "rows/s", "vs shap", "max |diff| vs shap",
                      f"max |diff| vs brute force ({args.brute_rows} rows)", "additivity error (vs onnxruntime)",
                      "max |ONNX - original| output"]))


if __name__ == "__main__":
    main()
