"""``xai-reports verify``: check a run folder or a PDF for tampering."""

from __future__ import annotations

import sys
from pathlib import Path


def add_parser(sub, name):
    p = sub.add_parser(
        name, help="check documents against their manifest and embedded records",
        description="Check a run's output folder (every file against manifest.json, its HMAC signature, "
                    "missing or extra files) or a single PDF (its embedded JSON record against the sibling "
                    ".json and against the document itself, re-rendered from the record). "
                    "Exit 0: nothing tampered with, every document compared (or --quick); 1: tampering or damage "
                    "found; 2: cannot verify (bad arguments, or documents that could not be re-rendered here: "
                    "listed).")
    p.add_argument("path", help="an output folder (with manifest.json) or a PDF; a path or a URL "
                                "(s3://bucket/prefix, copied to a private folder and verified there)")
    p.add_argument("--manifest", help="manifest file (default: manifest.json in the folder / next to the PDF)")
    p.add_argument("--key-file", help="file holding the HMAC signing key")
    p.add_argument("--key-env", help="environment variable holding the HMAC signing key "
                                     "(default: XAI_REPORTS_SIGNING_KEY or XAI_REPORTS_SIGNING_KEY_FILE when set)")
    p.add_argument("--pack", help="pack used to write the documents (default: the one each record names: a shipped "
                                  "pack by name, a custom pack by its recorded path and SHA-256)")
    p.add_argument("--templates", action="append", help="template folder used at generation (repeatable)")
    p.add_argument("--quick", action="store_true", help="hashes and records only; do not re-render documents")
    p.add_argument("--quiet", action="store_true", help="print problems only")
    p.set_defaults(func=run)
    return p


def run(args):
    from ..io.staging import Staging

    with Staging() as staging:  # a URL: the run folder (or the PDF and its siblings) copied, then verified
        return _run(args, staging)


def _localise(staging, path, manifest):
    """The local stand-ins of ``path`` and ``manifest``: a prefix copied whole; a PDF object copied with the
    siblings verify reads (``<stem>.json``, ``<stem>.html``, ``<stem>.manifest.json``, ``manifest.json``)."""
    from ..integrity.manifest import MANIFEST_NAME, STEM_MANIFEST_SUFFIX
    from ..io.remote import parent_url
    from ..io.storage import basename, is_remote

    manifest = staging.input(manifest)
    if not is_remote(path):
        return staging.input(path), manifest        # a plain path as given, a file:// URL as its path
    local = staging.input(path)
    if local.is_file():
        stem, folder = Path(basename(path)).stem, parent_url(path)
        for name in (f"{stem}.json", f"{stem}.html", stem + STEM_MANIFEST_SUFFIX, MANIFEST_NAME):
            if manifest is None or not name.endswith(MANIFEST_NAME):
                staging.optional_input(f"{folder}/{name}", into=local.parent)
    return local, manifest


def _run(args, staging):
    from ..integrity import signing_key, verify

    key = signing_key(key_file=args.key_file, key_env=args.key_env)
    path, manifest = _localise(staging, args.path, args.manifest)
    report = verify(path, manifest=manifest, key=key, rerender=not args.quick, pack=args.pack,
                    templates=args.templates)
    args.path = staging.show(path)   # the scrubbed URL in what is printed
    for f in report.findings:
        if not args.quiet or f.status != "ok":
            print(staging.show(f), file=sys.stdout)
    signature = ""
    if report.signature_checked is False:
        signature = ("; the manifest is signed but its signature was NOT checked (no key given: pass --key-file "
                     "or --key-env)")
    n_fail = len(report.failures)
    if n_fail:
        print(f"TAMPERED OR DAMAGED: {n_fail} problem(s) in {args.path}{signature}")
        return 1
    skipped = report.not_compared
    if skipped:
        print(f"NOT VERIFIED: {len(skipped)} document(s) in {args.path} could not be re-rendered and compared "
              f"(hashes and records checked, no tampering found){signature}:")
        for f in skipped:
            print(staging.show(f"  {f.subject}: {f.message}"))
        print("  pass --pack/--templates used to write them, install the recorded software, or use --quick to "
              "check hashes and records only")
        return 2
    checks = sum(f.status == "ok" for f in report.findings)
    what = "hashes and records only (--quick)" if args.quick else "every document re-rendered and compared"
    print(f"verified: {args.path} ({checks} checks passed; {what}){signature}")
    return 0
