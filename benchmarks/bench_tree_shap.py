"""Interventional TreeSHAP: xai_reports vs shap.TreeExplainer, same XGBoost model, same HMDA data.

Model: XGBoost, 200 trees of depth 4, on the 13 HMDA predictors. Reference
set: 100 applicants. Both libraries explain the margin (log-odds) and are
timed on the same rows in the same process; values are compared row by row.

    python benchmarks/bench_tree_shap.py [--rows 2380] [--shap-rows 400]
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np

from _hmda import best_of, hmda_numeric, machine_note, table


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2380, help="rows explained by xai_reports")
    ap.add_argument("--shap-rows", type=int, default=400, help="rows explained by shap (it is slower)")
    ap.add_argument("--background", type=int, default=100)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")

    import shap
    import xgboost as xgb

    from xai_reports import explain

    X, y = hmda_numeric()
    model = xgb.XGBClassifier(n_estimators=200, max_depth=4, learning_rate=0.1, random_state=0, n_jobs=1,
                              tree_method="hist").fit(X, y)
    rng = np.random.default_rng(0)
    ref = X.iloc[np.sort(rng.choice(len(X), args.background, replace=False))]
    rows = X.iloc[:args.rows]
    srows = X.iloc[:args.shap_rows]

    # warm up both (imports, JIT, parsing)
    explain(model, rows.iloc[:5], method="tree_shap", background=ref, device=args.device)
    shap_exp = shap.TreeExplainer(model, ref, feature_perturbation="interventional")
    shap_exp.shap_values(srows.iloc[:5])

    t_ours, attr = best_of(lambda: explain(model, rows, method="tree_shap", background=ref, device=args.device))
    t_ours_small, attr_small = best_of(lambda: explain(model, srows, method="tree_shap", background=ref,
                                                       device=args.device))
    t_shap, ref_vals = best_of(lambda: shap_exp.shap_values(srows), repeat=1)
    from xai_reports.attribution import _trees

    def cold():
        _trees._CACHE = None          # forget the parsed model: the first call on a model pays this
        return explain(model, srows, method="tree_shap", background=ref, device=args.device)

    t_cold, _ = best_of(cold, repeat=3)
    t_one, _ = best_of(lambda: explain(model, rows.iloc[:1], method="tree_shap", background=ref,
                                       device=args.device), repeat=5)

    diff = np.abs(attr.values[:args.shap_rows] - ref_vals).max()
    shap_add = np.abs(ref_vals.sum(1) + shap_exp.expected_value - attr.predictions[:args.shap_rows]).max()
    r_shap = args.shap_rows / t_shap
    out = [
        ["shap.TreeExplainer (interventional)", args.shap_rows, f"{t_shap:.2f}", f"{r_shap:,.0f}", "1.0x",
         "-", f"{shap_add:.1e}"],
        [f"xai_reports tree_shap ({args.device})", args.shap_rows, f"{t_ours_small:.3f}",
         f"{args.shap_rows / t_ours_small:,.0f}", f"{args.shap_rows / t_ours_small / r_shap:.1f}x",
         f"{diff:.1e}", f"{attr_small.self_check['max_abs_error']:.1e}"],
        [f"xai_reports tree_shap ({args.device}), first call on the model", args.shap_rows, f"{t_cold:.3f}",
         f"{args.shap_rows / t_cold:,.0f}", f"{args.shap_rows / t_cold / r_shap:.1f}x", f"{diff:.1e}", "-"],
        [f"xai_reports tree_shap ({args.device})", args.rows, f"{t_ours:.3f}", f"{args.rows / t_ours:,.0f}",
         f"{args.rows / t_ours / r_shap:.1f}x", f"{diff:.1e}", f"{attr.self_check['max_abs_error']:.1e}"],
        [f"xai_reports tree_shap ({args.device}), 1 row", 1, f"{t_one:.4f}", f"{1 / t_one:,.0f}", "-", "-", "-"],
    ]
    print(f"Interventional TreeSHAP, XGBoost {model.n_estimators} trees depth {model.max_depth}, "
          f"HMDA {X.shape[1]} features, {len(ref)}-row reference")
    print(f"machine: {machine_note()}")
    print(table(out, ["method", "rows", "seconds", "rows/s", "vs shap", "max |diff| vs shap",
                      "additivity error"]))


if __name__ == "__main__":
    main()
