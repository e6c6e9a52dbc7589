"""``xai-reports audit``: the model validation / compliance audit report."""

from __future__ import annotations

import sys
from pathlib import Path


def add_parser(sub, name):
    p = sub.add_parser(name, help="write a model validation / compliance audit report (PDF or HTML)",
                       description="Audit a model on labelled data: performance by subgroup, global importance, "
                                   "explanation quality, reason codes, recourse and fair-lending metrics, with "
                                   "identification, monitoring plan and sign-off from the pack. Writes one PDF (with "
                                   "its JSON record attached) or one self-contained HTML file. Exit 0: report written; "
                                   "2: nothing written (bad file, column, pack or model).")
    p.add_argument("--pack", required=True, help="pack name (e.g. finance_hmda_example, tenant_screening) or path to a pack.yaml / folder")
    p.add_argument("--model", required=True,
                   help="model file (recognised by content): XGBoost .json/.ubj, LightGBM .txt/JSON dump, "
                        "CatBoost .cbm/JSON, scikit-learn .skops, .onnx, scorecard .yaml/.csv, "
                        "torch .pt/.pt2 (see the README's table of formats)")
    p.add_argument("--data", required=True, help="labelled data, CSV or Parquet")
    p.add_argument("--target", required=True, help="label column (1/yes/true = the model's positive class)")
    p.add_argument("--out", required=True, help="output file: FILE.pdf or FILE.html (FILE.json: the record only)")
    p.add_argument("--protected", nargs="+", metavar="COL",
                   help="protected-attribute columns (default: the pack's protected features in the data)")
    p.add_argument("--reference", help="reference population data for the reason-code audit (default: the audited data)")
    p.add_argument("--date", help="report date YYYY-MM-DD (default: the data's latest decision date, else the pack's)")
    p.add_argument("--json", dest="json_out", metavar="FILE", help="also write the JSON record here")
    p.add_argument("--key-file", help="sign the manifest (<stem>.manifest.json) with the HMAC key in this file "
                                      "(default: $XAI_REPORTS_SIGNING_KEY / $XAI_REPORTS_SIGNING_KEY_FILE)")
    p.add_argument("--key-env", help="sign the manifest with the HMAC key in this environment variable")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    from .explore import add_explorer_arguments

    add_explorer_arguments(p)
    p.set_defaults(func=run)
    return p


def run(args):
    from ..io.staging import Staging

    with Staging() as staging:  # --out, --json, --explorer may be URLs: written locally, then committed
        return _run(args, staging)


def _run(args, staging):
    from ..documents.audit import audit
    from ..errors import InputError
    from ..integrity import signing_key
    from ..io.staging import shown
    from ..io.storage import basename

    if Path(basename(args.out)).suffix.lower() not in (".pdf", ".html", ".htm", ".json"):
        raise InputError(f"--out must end in .pdf or .html (got '{basename(args.out)}')")
    key = signing_key(key_file=args.key_file, key_env=args.key_env)
    from ..io.outputs import check_writable_file

    out = staging.output_file(args.out)
    check_writable_file(out)
    json_out = None
    if args.json_out:
        json_out = staging.output_file(args.json_out)
        check_writable_file(json_out)
        if not args.json_out.endswith(".json"):
            json_out = json_out.with_suffix(".json")
    protected = None
    if args.protected:
        protected = [c.strip() for item in args.protected for c in item.split(",") if c.strip()]
    explorer = None
    if args.explorer:   # built (and every input checked) before the report is written; the label is no input
        from .explore import build_from_args

        explorer_file = staging.output_file(args.explorer)
        explorer = build_from_args(args, explorer_file, drop=(args.target,))
    report = audit(args.model, args.data, args.pack, target=args.target, protected=protected,
                   reference=args.reference, report_date=args.date,
                   progress=not args.quiet and sys.stderr.isatty())
    written = [report.save(out)]
    if json_out is not None:
        written.append(report.save(json_out))
    report.write_manifest(written, key=key)
    explorer_line = None
    if explorer is not None:
        from .explore import write_built

        explorer_line = write_built(explorer, explorer_file, shown=shown(args.explorer))
    staging.commit()  # URLs: every object, the manifest last
    counts = report.results.get("findings_counts", {})
    print(f"audit report written to {staging.show(out)}: findings {counts.get('high', 0)} high, {counts.get('medium', 0)} medium, "
          f"{counts.get('low', 0)} low")
    for f in report.findings:
        print(f"  {f['id']} [{f['severity']}] {f['title']}")
    if explorer_line is not None:
        print(explorer_line)
    return 0
