"""The finance demo: train the HMDA model, write letters for denied applicants and audit the model.

Everything is seeded, so every run writes identical files.
"""

from __future__ import annotations

from pathlib import Path

from .data import FEATURES, PROTECTED, SEED, load_hmda
from .train import train_model

DEMO_DATE = "2026-11-20"  # the notice date printed on demo letters (fixed: identical output on every run)

__all__ = ["DEMO_DATE", "run_finance_demo", "run_audit_demo", "run_explorer_demo"]


def run_finance_demo(out, *, progress: bool = True, n_applications: int = 300) -> dict:
    """Train the HMDA model, write letters for the denied applicants among ``n_applications`` and audit it.

    Writes ``model/hmda_xgb.json``, ``data/reference.csv`` (training applicants),
    ``data/applications.csv`` (held-out applicants), ``data/holdout_labelled.csv``
    (every held-out applicant with the observed outcome), ``letters/``, ``audit/`` and ``explorer.html``.

    Returns:
        ``{"auc_holdout", "model", "letters_dir", "summary", "audit"}`` (``audit``: the audit files).
    """
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    from xai_reports.documents.letter import generate_letters
    from xai_reports.packs import load_pack
    from xai_reports.io.tabular import encode_like_pack

    out = Path(out)
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
    audit_files = run_audit_demo(out, report_date=DEMO_DATE, progress=progress)["files"]
    explorer = run_explorer_demo(out)
    return {"auc_holdout": auc, "model": str(model_path), "letters_dir": str(out / "letters"),
            "summary": summary, "audit": audit_files, "explorer": str(explorer)}


def run_explorer_demo(out_dir) -> Path:
    """The interactive explorer of the demo's applications (the decisions the letters explain):
    ``explorer.html``, one offline file with the what-if panel running the model in the page."""
    from xai_reports.documents.explorer import explorer_data, write_explorer

    out = Path(out_dir)
    data = explorer_data(out / "model" / "hmda_xgb.json", out / "data" / "applications.csv", "finance_hmda_example",
                         reference=out / "data" / "reference.csv",
                         title="Decision explorer: HMDA demo applications (Boston, 1990)")
    return write_explorer(out / "explorer.html", data)


def run_audit_demo(out_dir, *, model_path=None, data_path=None, reference_path=None, report_date: str | None = None,
                   formats=("pdf", "html"), progress: bool = False) -> dict:
    """Audit the demo's HMDA model on its labelled held-out applications.

    Race (``afam``) and marital status (``single``) are not model inputs; they
    feed the subgroup and fair-lending sections.

    Args:
        out_dir: the demo folder (holding ``model/hmda_xgb.json`` and ``data/``).
        model_path, data_path, reference_path: override the demo's files.
        report_date: ISO date of the report (default: the demo's fixed date).
        formats: ``"pdf"`` and/or ``"html"`` (and ``"json"``).

    Returns:
        ``{"report": AuditReport, "files": [paths]}``.

    Examples::

        >>> run_audit_demo("xai-reports-demo")["files"]
        ['xai-reports-demo/audit/audit_report.pdf', 'xai-reports-demo/audit/audit_report.html']
    """
    from xai_reports.documents.audit import audit

    out = Path(out_dir)
    report = audit(model_path or out / "model" / "hmda_xgb.json", data_path or out / "data" / "holdout_labelled.csv",
                   "finance_hmda_example", target="deny", protected=["afam", "single"],
                   reference=reference_path or out / "data" / "reference.csv",
                   report_date=report_date or DEMO_DATE, progress=progress)
    files = []
    (out / "audit").mkdir(parents=True, exist_ok=True)
    for ext in formats:
        files.append(str(report.save(out / "audit" / f"audit_report.{ext}")))
    report.write_manifest(files)
    return {"report": report, "files": files}
