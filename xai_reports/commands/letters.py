"""``xai-reports letters``: an adverse-action letter for each denied row."""

from __future__ import annotations

import sys

from ..batch.cli import INTERRUPTED, add_batch_arguments, batch_kwargs, print_batch_summary


def add_parser(sub, name):
    p = sub.add_parser(name, help="write adverse-action letters for the rows the model denies",
                       description="Write an adverse-action letter (PDF, HTML, JSON record) for each row "
                                   "the model denies, and summary.json. Exit 0: every row handled; "
                                   "3: some rows had bad values (listed); 2: nothing written (bad file, pack or model).")
    p.add_argument("--pack", required=True, help="pack name (e.g. finance_hmda_example, tenant_screening) or path to a pack.yaml / folder")
    p.add_argument("--model", required=True,
                   help="model file (recognised by content): XGBoost .json/.ubj, LightGBM .txt/JSON dump, "
                        "CatBoost .cbm/JSON, scikit-learn .skops, .onnx, scorecard .yaml/.csv, "
                        "torch .pt/.pt2 (see the README's table of formats)")
    p.add_argument("--data", required=True, help="applications, CSV or Parquet")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--id-column", help="column with application ids (default: the pack's columns.id)")
    p.add_argument("--format", default="pdf,html,json", help="comma-separated: pdf,html,json (default: all)")
    p.add_argument("--reference", help="reference population data (CSV/Parquet) for the reasons")
    p.add_argument("--date", help="notice date YYYY-MM-DD when the data has no decision date column "
                                  "(default: the day the batch started; a resumed batch keeps it)")
    p.add_argument("--language", help="letter language for every row (default: the row's or the pack's)")
    p.add_argument("--templates", action="append", metavar="DIR",
                   help="folder of templates overriding the pack's (one block or a whole template; repeatable)")
    p.add_argument("--key-file", help="sign manifest.json with the HMAC key in this file "
                                      "(default: $XAI_REPORTS_SIGNING_KEY / $XAI_REPORTS_SIGNING_KEY_FILE)")
    p.add_argument("--key-env", help="sign manifest.json with the HMAC key in this environment variable")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_batch_arguments(p)
    from .explore import add_explorer_arguments

    add_explorer_arguments(p)
    p.set_defaults(func=run)
    return p


def print_summary(summary, out, stream=None):
    print_batch_summary(summary, f"{summary.rows} rows: {summary.denied} denied, {summary.approved} approved; "
                                 f"{summary.letters} letters written to {out}",
                        [f"flagged for human review: {f['id']}: {f['reason']}" for f in summary.flagged], stream)


def run(args):
    from ..io.staging import Staging

    with Staging() as staging:  # --explorer may be a URL: written locally, then committed as one object
        return _run(args, staging)


def _run(args, staging):
    from ..integrity import signing_key
    from ..documents.letter import generate_letters
    from ..io.outputs import check_writable_dir

    from ..io.storage import is_remote, scrub

    if not is_remote(args.out):  # a bucket is probed by the engine
        check_writable_dir(args.out)
    explorer = None
    if args.explorer:   # built (and every input checked) before any letter is written
        from .explore import build_from_args

        explorer_file = staging.output_file(args.explorer)
        explorer = build_from_args(args, explorer_file)
    try:
        summary = generate_letters(args.model, args.data, args.pack, args.out, reference=args.reference,
                                   id_column=args.id_column,
                                   formats=[f.strip() for f in args.format.split(",") if f.strip()],
                                   decision_date=args.date, language=args.language, templates=args.templates,
                                   key=signing_key(key_file=args.key_file, key_env=args.key_env),
                                   progress=not args.quiet and sys.stderr.isatty(), **batch_kwargs(args))
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        return 130
    print_summary(summary, scrub(args.out))
    if explorer is not None:
        from ..io.staging import shown
        from .explore import write_built

        line = write_built(explorer, explorer_file, shown=shown(args.explorer))
        staging.commit()
        print(line)
    return summary.exit_code
