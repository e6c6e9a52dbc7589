"""``xai-reports validate-pack``: check a pack file and say what is wrong, where."""

from __future__ import annotations


def add_parser(sub, name):
    p = sub.add_parser(name, help="validate a domain pack", description="Validate a domain pack (and the packs it extends).")
    p.add_argument("pack", help="pack name or path to a pack.yaml / folder")
    p.set_defaults(func=run)
    return p


def run(args):
    from ..packs import load_pack

    pack = load_pack(args.pack)
    chain = " <- ".join(str(f) for f in pack.files)
    print(f"ok: pack '{pack.name}' {pack.version} ({pack.spec.domain}), {len(pack.features)} features, "
          f"{len(pack.reasons)} reasons; files: {chain}")
    for lang in pack.languages:
        missing = pack.spec.missing_translations(lang)
        if missing:
            print(f"  warning: language '{lang}' is incomplete, its letters are refused until these are "
                  f"translated: {', '.join(missing)}")
    return 0
