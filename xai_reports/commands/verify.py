"""``xai-reports verify``: check a run folder or a PDF for tampering."""

from __future__ import annotations

import sys


def add_parser(sub, name):
    p = sub.add_parser(
        name, help="check documents against their manifest and embedded records",
        description="Check a run's output folder (every file against manifest.json, its HMAC signature, "
                    "missing or extra files) or a single PDF (its embedded JSON record against the sibling "
                    ".json and against the document itself, re-rendered from the record). "
                    "Exit 0: nothing tampered with; 1: tampering or damage found; 2: cannot verify.")
    p.add_argument("path", help="an output folder (with manifest.json) or a PDF")
    p.add_argument("--manifest", help="manifest file (default: manifest.json in the folder / next to the PDF)")
    p.add_argument("--key-file", help="file holding the HMAC signing key")
    p.add_argument("--key-env", help="environment variable holding the HMAC signing key "
                                     "(default: XAI_REPORTS_SIGNING_KEY or XAI_REPORTS_SIGNING_KEY_FILE when set)")
    p.add_argument("--pack", help="pack used to write the documents (default: the one each record names)")
    p.add_argument("--templates", action="append", help="template folder used at generation (repeatable)")
    p.add_argument("--quick", action="store_true", help="hashes and records only; do not re-render documents")
    p.add_argument("--quiet", action="store_true", help="print problems only")
    p.set_defaults(func=run)
    return p


def run(args):
    from ..integrity import signing_key, verify

    key = signing_key(key_file=args.key_file, key_env=args.key_env)
    report = verify(args.path, manifest=args.manifest, key=key, rerender=not args.quick, pack=args.pack,
                    templates=args.templates)
    for f in report.findings:
        if not args.quiet or f.status != "ok":
            print(f, file=sys.stdout if f.status != "FAIL" else sys.stdout)
    n_fail = len(report.failures)
    if n_fail:
        print(f"TAMPERED OR DAMAGED: {n_fail} problem(s) in {args.path}")
        return 1
    print(f"verified: {args.path} ({sum(f.status == 'ok' for f in report.findings)} checks passed)")
    return 0
