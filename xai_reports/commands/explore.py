"""``xai-reports explore``: one offline HTML file to explore a model's decisions."""

from __future__ import annotations


def add_parser(sub, name):
    p = sub.add_parser(name, help="write an interactive explorer of the model's decisions (one offline HTML file)",
                       description="Write one self-contained HTML file (no server, no network) with a portfolio "
                                   "overview, a sortable and filterable decision table, each decision's "
                                   "attributions, reasons and counterfactuals, and a what-if panel. "
                                   "Exit 0: written; 2: nothing written (bad file, pack or model).")
    add_explorer_arguments(p, required=True)
    p.add_argument("--pack", required=True, help="pack name or path to a pack.yaml / folder (with a letter section)")
    p.add_argument("--model", required=True, help="model file (recognised by content), as for letters")
    p.add_argument("--data", required=True, help="decisions, CSV or Parquet")
    p.add_argument("--reference", help="reference population data (CSV/Parquet) for the reasons")
    p.add_argument("--id-column", help="column with decision ids (default: the pack's columns.id)")
    p.set_defaults(func=run)
    return p


def add_explorer_arguments(p, *, required=False) -> None:
    """``--out`` (explore) or ``--explorer`` (letters, audit) and the privacy options."""
    if required:
        p.add_argument("--out", required=True, help="the HTML file to write")
    else:
        p.add_argument("--explorer", metavar="PATH", help="also write an interactive explorer (one offline HTML file)")
    p.add_argument("--show-identifiers", action="store_true",
                   help="keep name, address and identifier columns in the explorer (hidden by default)")
    p.add_argument("--deidentify", action="store_true",
                   help="list decisions in the explorer by row number instead of decision id")


def build_from_args(args, out, *, drop=()):
    """Check ``out`` (a local path: a URL's staged file, see :class:`~xai_reports.io.staging.Staging`) and
    build the explorer's data the arguments ask for (before anything is written).

    ``drop``: columns of the data that are not decisions' inputs (the audit's label)."""
    from pathlib import Path

    from ..documents.explorer import explorer_data
    from ..io.outputs import check_writable_file
    from ..io.tabular import read_table

    check_writable_file(Path(out))
    data = args.data
    if drop:
        frame = read_table(data)
        data = frame.drop(columns=[c for c in drop if c in frame.columns])
    return explorer_data(args.model, data, args.pack, reference=args.reference,
                         id_column=getattr(args, "id_column", None), show_identifiers=args.show_identifiers,
                         deidentify=args.deidentify)


def write_built(d, out, shown=None) -> str:
    """Write built explorer data to ``out`` (a local path); returns the line to print, naming ``shown``
    (default ``out``)."""
    from ..documents.explorer import write_explorer

    write_explorer(out, d)
    panel = "runs the model in the page" if d["whatif"]["model"] else "precomputed counterfactuals only"
    return f"explorer of {len(d['rows']['id'])} decisions written to {out if shown is None else shown} (what-if: {panel})"


def run(args):
    from ..io.staging import Staging, shown

    with Staging() as staging:  # --out may be a URL: written locally, then committed as one object
        out = staging.output_file(args.out)
        line = write_built(build_from_args(args, out), out, shown=shown(args.out))
        staging.commit()
    print(line)
    return 0
