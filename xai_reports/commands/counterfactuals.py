"""``xai-reports counterfactuals``: what would change each decision, within the pack's constraints."""

from __future__ import annotations

import sys


def add_parser(sub, name):
    p = sub.add_parser(name, help="find counterfactuals (what would change each decision) within actionability constraints",
                       description="For each row the model does not give the desired outcome (for a pack with a letter section: "
                                   "approval), find up to k counterfactuals that change only actionable features "
                                   "within their declared direction and bounds, or report that none exists and why. "
                                   "Writes counterfactuals.csv, status.csv and summary.json to --out.")
    p.add_argument("--pack", required=True, help="pack name (e.g. finance_hmda_example, tenant_screening) or path to a pack.yaml / folder")
    p.add_argument("--model", required=True,
                   help="model file (recognised by content): XGBoost .json/.ubj, LightGBM .txt/JSON dump, "
                        "CatBoost .cbm/JSON, scikit-learn .skops, .onnx, scorecard .yaml/.csv, "
                        "torch .pt/.pt2 (see the README's table of formats)")
    p.add_argument("--data", required=True, help="rows to explain, CSV or Parquet")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--reference", help="reference rows (e.g. the training data): MAD scales, ranges, plausibility")
    p.add_argument("--constraints", help="YAML/JSON file of extra constraints (immutable, increase_only, "
                                         "decrease_only, bounds, integer, categories, forbidden_transitions, "
                                         "max_changes, costs, steps)")
    p.add_argument("--k", type=int, default=3, help="counterfactuals per row (default 3)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--id-column", help="column with row ids (default: the pack's columns.id)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def run(args):
    from ..io.staging import Staging

    with Staging() as staging:  # --out may be a URL: written locally, then committed object by object
        return _run(args, staging)


def _run(args, staging):
    import yaml

    from ..adapters import load_model
    from ..counterfactuals import counterfactuals
    from ..errors import InputError
    from ..io.outputs import atomic_write, canonical_json
    from ..packs import load_pack
    from ..io.tabular import check_frame, check_model_types, read_table

    from ..io.outputs import check_writable_dir
    from ..io.remote import read_input_text
    from ..io.storage import scrub

    out = staging.output_folder(args.out)
    check_writable_dir(out)
    pack = load_pack(args.pack)
    adapter = load_model(args.model)
    features = list(adapter.feature_names or [])
    if not features:
        raise InputError("the model does not carry feature names", file=scrub(args.model))
    undeclared = [f for f in features if f not in pack.features]
    if undeclared:
        raise InputError(f"the model uses feature(s) {undeclared} that pack '{pack.name}' does not declare",
                         file=scrub(args.model), column=undeclared[0])
    check_model_types(adapter, pack, features, model_file=scrub(args.model))
    constraints = None
    if args.constraints:  # a path or a URL
        text = read_input_text(args.constraints)
        try:
            constraints = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise InputError(f"cannot read constraints ({type(exc).__name__})", file=scrub(args.constraints)) from None
        if not isinstance(constraints, dict):
            raise InputError("constraints file must hold a mapping", file=scrub(args.constraints))
    df = read_table(args.data)
    checked = check_frame(df, pack, features, source=scrub(args.data), id_column=args.id_column)
    if checked.errors:
        raise checked.errors[0]
    X = checked.X.copy()
    X.index = checked.ids
    background = None
    if args.reference:
        ref = read_table(args.reference)
        rc = check_frame(ref, pack, features, source=scrub(args.reference),
                         allowed_extra=[c for c in ref.columns if c not in pack.features])
        if rc.errors:
            raise rc.errors[0]
        background = rc.X.reset_index(drop=True)
    res = counterfactuals(adapter, X, pack=pack, constraints=constraints, k=args.k, background=background,
                          random_state=args.seed, progress=not args.quiet and sys.stderr.isatty())
    out.mkdir(parents=True, exist_ok=True)
    cfs = res.counterfactuals.rename(columns={"row": "id"})
    atomic_write(out / "counterfactuals.csv", cfs.to_csv(index=False))
    atomic_write(out / "status.csv", res.status.rename_axis("id").reset_index().to_csv(index=False))
    from ..counterfactuals import _plain

    quality = {k: _plain(v) for k, v in res.quality.items()}   # NaN (nothing to average) -> null
    atomic_write(out / "summary.json", canonical_json({"desired": res.desired, "quality": quality,
                                                       "constraints": res.constraints.describe()}))
    staging.commit()
    print(res.summary())
    shown = [staging.show(out / n) for n in ("counterfactuals.csv", "status.csv", "summary.json")]
    print(f"wrote {', '.join(shown)}")
    return 0
