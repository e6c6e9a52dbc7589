"""``xai-reports regenerate``: re-render a document from its JSON record.

The record's document kind is looked up in the kind registry
(:mod:`xai_reports.documents.base`); its ``rerender`` function renders the
files, which must come from the recorded templates.
"""

from __future__ import annotations


def add_parser(sub, name):
    p = sub.add_parser(name, help="re-render a document (a letter, ...) from its JSON record",
                       description="Re-render a document exactly from its JSON record (for a letter: "
                                   "Reg B 1002.12(b)), with the pack and templates it was written with.")
    p.add_argument("record", help="the document's JSON record (letter_<id>.json, ...)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--pack", help="pack (default: the one named in the record)")
    p.add_argument("--format", default="pdf,html")
    p.add_argument("--templates", action="append", metavar="DIR", help="template folder used at generation")
    p.set_defaults(func=run)
    return p


def regenerate_document(record_path, out_dir, *, pack=None, formats=("pdf", "html"), templates=None) -> list:
    """Re-render the document of the record at ``record_path`` into ``out_dir`` (files named like the record).

    Raises:
        InputError: not a record, a flagged decision (no document), or a kind that cannot be re-rendered.
        PackError, TemplateError: the recorded pack or templates are not found here.
    """
    import json
    from pathlib import Path

    from ..documents import kind_of_record, registered_kinds
    from ..errors import InputError
    from ..io.outputs import atomic_write, inside

    path = Path(record_path)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the record ({exc})", file=path) from None
    if isinstance(record, dict) and "document" in record and record["document"] is None:
        raise InputError("this decision was flagged for human review; it has no document to regenerate", file=path)
    kind = kind_of_record(record)
    if kind is None or kind.rerender is None:
        known = ", ".join(k.name for k in registered_kinds() if k.rerender)
        raise InputError(f"not the record of a document that can be re-rendered (kinds: {known})", file=path)
    files = kind.rerenderer()(record, pack=pack, templates=templates, formats=tuple(formats))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for ext, data in files.items():
        target = inside(out, f"{path.stem}.{ext}")
        atomic_write(target, data)
        written.append(target)
    return written


def run(args):
    for path in regenerate_document(args.record, args.out, pack=args.pack,
                                    formats=[f.strip() for f in args.format.split(",") if f.strip()],
                                    templates=args.templates):
        print(path)
    return 0
