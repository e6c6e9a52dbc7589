"""``xai-reports regenerate``: re-render a letter from its JSON record."""

from __future__ import annotations


def add_parser(sub, name):
    p = sub.add_parser(name, help="re-render a letter from its JSON record",
                       description="Re-render a letter exactly from its JSON decision record (Reg B 1002.12(b)).")
    p.add_argument("record", help="letter_<id>.json")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--pack", help="pack (default: the one named in the record)")
    p.add_argument("--format", default="pdf,html")
    p.add_argument("--templates", action="append", metavar="DIR", help="template folder used at generation")
    p.set_defaults(func=run)
    return p


def run(args):
    from ..letters import regenerate

    for path in regenerate(args.record, args.out, pack=args.pack,
                           formats=[f.strip() for f in args.format.split(",") if f.strip()],
                           templates=args.templates):
        print(path)
    return 0
