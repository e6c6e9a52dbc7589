"""``xai-reports validate-pack``: check a pack file and say what is wrong, where."""

from __future__ import annotations


def add_parser(sub, name):
    p = sub.add_parser(name, help="validate a domain pack", description="Validate a domain pack (and the packs it extends).")
    p.add_argument("pack", help="pack name or path to a pack.yaml / folder")
    p.set_defaults(func=run)
    return p


def run(args):
    import warnings

    from ..errors import PackError
    from ..packs import load_pack

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # said once below, one line per old key
        pack = load_pack(args.pack)
    for message in dict.fromkeys(pack.deprecations):
        print(f"  warning: {message}")
    gaps = [g for doc in pack.spec.kinds for g in pack.spec.completeness_gaps(doc)]
    if gaps:
        more = f" (and {len(gaps) - 1} more: {', '.join(k for k, _ in gaps[1:])})" if len(gaps) > 1 else ""
        raise PackError(f"not set: {gaps[0][1]}; the lender sets it in its own pack (extends: {pack.name}){more}",
                        file=pack.files[-1], key_path=gaps[0][0])
    chain = " <- ".join(str(f) for f in pack.files)
    print(f"ok: pack '{pack.name}' {pack.version} ({pack.spec.domain}: {', '.join(pack.spec.kinds)}), "
          f"{len(pack.features)} features, "
          f"{len(pack.reasons)} reasons; files: {chain}")
    for lang in pack.languages:
        missing = pack.spec.missing_translations(lang)
        if missing:
            print(f"  warning: language '{lang}' is incomplete, its letters are refused until these are "
                  f"translated: {', '.join(missing)} (or set languages: [en] to offer English only)")
    _print_category_orders(pack)
    return 0


def _print_category_orders(pack) -> None:
    """Say how counterfactual ``direction`` reads on categorical features: the pack's category order."""
    for name, f in pack.features.items():
        if f.actionable and f.direction != "any" and f.type in ("categorical", "ordinal", "binary") and f.categories:
            order = " < ".join(str(c) for c in f.categories)
            print(f"  note: '{name}' {f.direction} follows the pack's category order: {order}")
