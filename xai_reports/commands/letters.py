"""``xai-reports letters``: an adverse-action letter for each denied row."""

from __future__ import annotations

import sys


def add_parser(sub, name):
    p = sub.add_parser(name, help="write adverse-action letters for the rows the model denies",
                       description="Write an adverse-action letter (PDF, HTML, JSON record) for each row "
                                   "the model denies, and summary.json. Exit 0: every row handled; "
                                   "3: some rows had bad values (listed); 2: nothing written (bad file, pack or model).")
    p.add_argument("--pack", required=True, help="pack name (finance) or path to a pack.yaml / folder")
    p.add_argument("--model", required=True, help="model file: XGBoost .json/.ubj")
    p.add_argument("--data", required=True, help="applications, CSV or Parquet")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--id-column", help="column with application ids (default: the pack's columns.id)")
    p.add_argument("--format", default="pdf,html,json", help="comma-separated: pdf,html,json (default: all)")
    p.add_argument("--reference", help="reference population data (CSV/Parquet) for the reasons")
    p.add_argument("--date", help="notice date YYYY-MM-DD when the data has no decision date column (default: today)")
    p.add_argument("--language", help="letter language for every row (default: the row's or the pack's)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_batch_arguments(p)
    p.set_defaults(func=run)
    return p


def _workers(text):
    import argparse

    if text == "auto":
        return text
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'auto', got {text!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError("expected 0 or more")
    return n


def _chunk_size(text):
    import argparse

    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of rows, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError("expected at least 1 row")
    return n


def add_batch_arguments(p):
    """The batch engine's options (shared by every command that writes one document per row)."""
    import argparse

    g = p.add_argument_group("batch", "large inputs, workers, clusters, resuming")
    g.add_argument("--chunk-size", type=_chunk_size, default=1000, metavar="ROWS",
                   help="rows read, checked and explained together; memory grows with it, not with the input "
                        "(default: 1000)")
    g.add_argument("--workers", type=_workers, default="auto", metavar="N",
                   help="warm worker processes rendering documents: 'auto' (one per CPU, at most 8), "
                        "0 (this process), or N; with --scheduler local, the size of the local Dask cluster")
    g.add_argument("--scheduler", metavar="ADDRESS",
                   help="render on a Dask cluster: tcp://HOST:PORT of a running scheduler, or 'local' to start "
                        "a local one with --workers processes")
    g.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                   help="skip documents a previous run of the same command finished (default); "
                        "--no-resume starts the batch over")
    return g


def print_summary(summary, out, stream=sys.stdout):
    print(f"{summary.rows} rows: {summary.denied} denied, {summary.approved} approved; "
          f"{summary.letters} letters written to {out}", file=stream)
    res = getattr(summary, "batch", None)
    if res is not None:
        done = res.rendered + res.resumed
        rate = f" ({res.rendered / res.elapsed_s:,.1f} documents/s)" if res.rendered and res.elapsed_s else ""
        print(f"  {res.rendered} documents written in {res.elapsed_s:,.1f} s{rate}, {res.executor}"
              + (f"; {res.resumed} of {done} already done by an earlier run (resumed)" if res.resumed else "")
              + (f"; {res.restarts} worker restart(s)" if res.restarts else ""), file=stream)
    for f in summary.flagged:
        print(f"  flagged for human review: {f['id']}: {f['reason']}", file=stream)
    for e in summary.errors:
        where = ", ".join(x for x in (e.get("file"), e.get("row") and f"row {e['row']}",
                                      e.get("column") and f"column '{e['column']}'") if x)
        print(f"  row error: {where}: {e['error']}", file=sys.stderr)


def run(args):
    from ..letters import generate_letters

    try:
        summary = generate_letters(args.model, args.data, args.pack, args.out, reference=args.reference,
                                   id_column=args.id_column,
                                   formats=[f.strip() for f in args.format.split(",") if f.strip()],
                                   decision_date=args.date, language=args.language,
                                   progress=not args.quiet and sys.stderr.isatty(),
                                   chunk_size=args.chunk_size, workers=args.workers,
                                   scheduler=args.scheduler, resume=args.resume)
    except KeyboardInterrupt:
        print("xai-reports: interrupted; the letters finished so far are kept. Run the same command again "
              "to finish the batch.", file=sys.stderr)
        return 130
    print_summary(summary, args.out)
    return summary.exit_code
