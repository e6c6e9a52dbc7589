"""Exact Shapley and KernelSHAP: xai_reports vs shap, the same 13-feature MLP on HMDA.

Model: scikit-learn Pipeline(StandardScaler, MLPClassifier(64, 32)) on the 13
HMDA predictors, explained in probability space by both libraries through the
same function. Background: 50 applicants. Exact: ``shap.explainers.Exact``
with an Independent masker over the same 50 rows (numba JIT warmed up before
timing). Kernel: ``shap.KernelExplainer`` with ``nsamples=2048`` against
``kernel_shap`` with ``n_samples=2048``; errors are measured against the exact
values.

    python benchmarks/bench_shapley.py [--rows 20] [--kernel-rows 10] [--n-samples 2048 512]
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np

from _hmda import best_of, hmda_numeric, machine_note, table


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=20, help="instances explained exactly by both")
    ap.add_argument("--kernel-rows", type=int, default=10, help="instances explained by both KernelSHAPs")
    ap.add_argument("--background", type=int, default=50)
    ap.add_argument("--n-samples", type=int, nargs="+", default=[2048, 512])
    args = ap.parse_args()
    warnings.filterwarnings("ignore")

    import shap
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from xai_reports import explain

    X, y = hmda_numeric()
    Xa = X.to_numpy()
    model = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(64, 32), max_iter=300,
                                                          random_state=0)).fit(Xa, y)
    rng = np.random.default_rng(0)
    bg = Xa[np.sort(rng.choice(len(Xa), args.background, replace=False))]
    rows = Xa[1000:1000 + args.rows]
    krows = rows[:args.kernel_rows]

    def f(M):
        return model.predict_proba(M)[:, 1]

    # -- exact ------------------------------------------------------------------------------
    shap_exact = shap.explainers.Exact(f, shap.maskers.Independent(bg, max_samples=len(bg)))
    shap_exact(rows[:1])                                   # numba JIT compile, not timed
    explain(model, rows[:1], method="shapley", background=bg)
    t_ours, ours = best_of(lambda: explain(model, rows, method="shapley", background=bg), repeat=2)
    t_shap, ref = best_of(lambda: shap_exact(rows, silent=True), repeat=1)
    diff = np.abs(ours.values - ref.values).max()
    evals = ours.extras["model_evaluations"]
    naive = ours.extras["naive_evaluations"]
    exact_rows = [
        ["shap.explainers.Exact", args.rows, f"{t_shap:.2f}", f"{args.rows / t_shap:.2f}", "1.0x", "-",
         f"{naive:,}"],
        ["xai_reports shapley", args.rows, f"{t_ours:.2f}", f"{args.rows / t_ours:.2f}",
         f"{t_shap / t_ours:.1f}x", f"{diff:.1e}", f"{evals:,}"],
    ]

    # -- kernel ---------------------------------------------------------------------------
    truth = ours.values[:args.kernel_rows]
    scale = np.abs(truth).mean()
    shap_kernel = shap.KernelExplainer(f, bg)
    shap_kernel.shap_values(krows[:1], nsamples=64, silent=True)

    def rmse(v):
        return np.sqrt(np.mean((np.asarray(v) - truth) ** 2))

    kernel_tables = []
    for ns in args.n_samples:
        np.random.seed(0)
        t_sk, sk = best_of(lambda: shap_kernel.shap_values(krows, nsamples=ns, silent=True), repeat=1)
        np.random.seed(0)
        t_sk0, sk0 = best_of(lambda: shap_kernel.shap_values(krows, nsamples=ns, silent=True, l1_reg=False),
                             repeat=1)
        t_k, k = best_of(lambda: explain(model, krows, method="kernel_shap", background=bg, n_samples=ns,
                                         random_state=0), repeat=2)
        t_kp, kp = best_of(lambda: explain(model, krows, method="kernel_shap", background=bg, n_samples=ns,
                                           random_state=0, exact_pairs=False), repeat=1)
        n = args.kernel_rows
        rows_ = [
            ["shap.KernelExplainer (default l1_reg)", n, f"{t_sk:.2f}", f"{n / t_sk:.2f}", "1.0x",
             f"{rmse(sk):.2e}", f"{np.abs(np.asarray(sk) - truth).max():.2e}", "-"],
            ["shap.KernelExplainer (l1_reg=False)", n, f"{t_sk0:.2f}", f"{n / t_sk0:.2f}", f"{t_sk / t_sk0:.1f}x",
             f"{rmse(sk0):.2e}", f"{np.abs(np.asarray(sk0) - truth).max():.2e}", "-"],
            ["xai_reports kernel_shap", n, f"{t_k:.2f}", f"{n / t_k:.2f}", f"{t_sk / t_k:.1f}x",
             f"{rmse(k.values):.2e}", f"{np.abs(k.values - truth).max():.2e}",
             f"{np.sqrt(np.mean(k.extras['std'] ** 2)):.2e}"],
            ["xai_reports kernel_shap, exact_pairs=False", n, f"{t_kp:.2f}", f"{n / t_kp:.2f}",
             f"{t_sk / t_kp:.1f}x", f"{rmse(kp.values):.2e}", f"{np.abs(kp.values - truth).max():.2e}",
             f"{np.sqrt(np.mean(kp.extras['std'] ** 2)):.2e}"],
        ]
        kernel_tables.append((ns, k.extras["exact_pair_fraction"], rows_))

    print(f"Shapley values of an MLP (13 HMDA features, probability), {len(bg)}-row background")
    print(f"machine: {machine_note()}")
    print()
    print("Exact")
    print(table(exact_rows, ["method", "instances", "seconds", "instances/s", "speed-up", "max |diff| vs shap",
                             "model evaluations"]))
    print()
    for ns, frac, rows_ in kernel_tables:
        print()
        print(f"KernelSHAP, {ns} coalitions per instance; error vs exact (mean |phi| = {scale:.2e}); "
              f"(row, reference) pairs computed exactly by kernel_shap: {frac:.0%}")
        print(table(rows_, ["method", "instances", "seconds", "instances/s", "speed-up", "RMSE", "max error",
                            "reported std (RMS)"]))

if __name__ == "__main__":
    main()
