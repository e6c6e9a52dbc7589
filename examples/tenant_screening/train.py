"""Train the SYNTHETIC tenant-screening example model and write its files (seconds).

    python -m examples.tenant_screening.train --out tenant-screening-example

writes, under ``--out``:

* ``model/tenant_screening_xgb.json``: a seeded XGBoost classifier of P(deny)
  (XGBoost JSON; load it with ``--model``);
* ``data/synthetic_reference.csv``: the training applicants (the reference
  population of the notices' reasons);
* ``data/synthetic_applications.csv``: held-out applications, without the label,
  for ``xai-reports letters``;
* ``data/synthetic_holdout_labelled.csv``: the same held-out rows with
  ``screening_denied``, for ``xai-reports audit``.

Then, for example::

    xai-reports letters --pack domains/tenant_screening --model OUT/model/tenant_screening_xgb.json \\
        --data OUT/data/synthetic_applications.csv --reference OUT/data/synthetic_reference.csv --out OUT/notices
    xai-reports audit --pack domains/tenant_screening --model OUT/model/tenant_screening_xgb.json \\
        --data OUT/data/synthetic_holdout_labelled.csv --target screening_denied --out OUT/audit.pdf

The inputs are typed by the pack (``encode_like_pack``), so the model takes its
categories in the order the pack declares them. All data are SYNTHETIC.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

if __package__:
    from .data import FEATURES, NOTICE_COLUMNS, PROTECTED, SEED, SYNTHETIC, TARGET, make_applications
else:  # run as a script: python examples/tenant_screening/train.py
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from data import FEATURES, NOTICE_COLUMNS, PROTECTED, SEED, SYNTHETIC, TARGET, make_applications

PACK = Path(__file__).resolve().parents[2] / "domains" / "tenant_screening"
MODEL_FILE = "tenant_screening_xgb.json"


def train(out_dir, *, pack=PACK, n: int = 2400, n_applications: int = 120) -> dict:
    """Generate the SYNTHETIC data, train the model and write the files; returns their paths and the hold-out AUC.

    Args:
        out_dir: folder to write ``model/`` and ``data/`` into.
        pack: the pack (name, folder or loaded pack) whose feature types encode the inputs.
        n: applications generated (80% train, 20% hold-out).
        n_applications: hold-out rows written to ``synthetic_applications.csv``.
    """
    import xgboost as xgb
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    from xai_reports.packs import load_pack
    from xai_reports.io.tabular import encode_like_pack

    pack = load_pack(pack)
    df = make_applications(n, seed=SEED)
    train_df, test_df = train_test_split(df, test_size=0.2, random_state=0, stratify=df[TARGET])
    train_df = train_df.sort_values("application_id")
    test_df = test_df.sort_values("application_id")
    X_train = encode_like_pack(train_df[FEATURES], pack, FEATURES)
    model = xgb.XGBClassifier(n_estimators=150, max_depth=3, learning_rate=0.1, subsample=1.0,
                              enable_categorical=True, tree_method="hist", max_cat_to_onehot=8,
                              random_state=0, n_jobs=1, eval_metric="logloss")
    model.fit(X_train, train_df[TARGET].to_numpy())
    p_test = model.predict_proba(encode_like_pack(test_df[FEATURES], pack, FEATURES))[:, 1]
    auc = float(roc_auc_score(test_df[TARGET], p_test))

    out = Path(out_dir)
    (out / "model").mkdir(parents=True, exist_ok=True)
    (out / "data").mkdir(parents=True, exist_ok=True)
    model_path = out / "model" / MODEL_FILE
    model.get_booster().save_model(str(model_path))
    ref_cols = ["application_id"] + FEATURES + PROTECTED + ["data_origin"]
    files = {
        "model": model_path,
        "reference": out / "data" / "synthetic_reference.csv",
        "applications": out / "data" / "synthetic_applications.csv",
        "holdout_labelled": out / "data" / "synthetic_holdout_labelled.csv",
    }
    train_df[ref_cols].to_csv(files["reference"], index=False)
    app_cols = NOTICE_COLUMNS + FEATURES + PROTECTED
    test_df[app_cols].head(n_applications).to_csv(files["applications"], index=False)
    test_df[["decision_date"] + ref_cols + [TARGET]].to_csv(files["holdout_labelled"], index=False)
    return {"files": {k: str(v) for k, v in files.items()}, "auc_holdout": auc,
            "rows": {"train": len(train_df), "holdout": len(test_df),
                     "applications": min(n_applications, len(test_df))},
            "denial_rate_train": float(train_df[TARGET].mean()), "data": SYNTHETIC}


def main(argv=None) -> int:
    """Command line: ``--out DIR`` (required), ``--pack`` (default: domains/tenant_screening)."""
    ap = argparse.ArgumentParser(description="Train the SYNTHETIC tenant-screening example model and write its files.")
    ap.add_argument("--out", required=True, help="output folder (model/ and data/ are written into it)")
    ap.add_argument("--pack", default=str(PACK), help="pack whose feature types encode the inputs")
    ap.add_argument("--applications", type=int, default=120, help="hold-out rows in synthetic_applications.csv")
    args = ap.parse_args(argv)
    result = train(args.out, pack=args.pack, n_applications=args.applications)
    print(f"SYNTHETIC tenant-screening example: {result['rows']['train']} training and {result['rows']['holdout']} "
          f"hold-out applications (SYNTHETIC data), hold-out AUC {result['auc_holdout']:.3f}")
    print(json.dumps(result["files"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
