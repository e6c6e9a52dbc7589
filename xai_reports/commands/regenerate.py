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
    p.add_argument("record", help="the document's JSON record (letter_<id>.json, ...); a path or a URL")
    p.add_argument("--out", required=True, help="output folder (a path or a URL such as s3://bucket/prefix)")
    p.add_argument("--pack", help="pack (default: the one named in the record)")
    p.add_argument("--format", default="pdf,html")
    p.add_argument("--templates", action="append", metavar="DIR", help="template folder used at generation")
    p.set_defaults(func=run)
    return p


def run(args):
    from ..documents.regenerate import regenerate
    from ..io.staging import Staging

    with Staging() as staging:  # URLs: the record copied, the files written locally then committed
        paths = regenerate(staging.input(args.record), staging.output_folder(args.out), pack=args.pack,
                           formats=[f.strip() for f in args.format.split(",") if f.strip()],
                           templates=args.templates)
        staging.commit()
        for path in paths:
            print(staging.show(path))
    return 0
