"""The whole demo: the finance, healthcare and driving examples, one after the other.

``xai-reports demo`` runs :func:`run_demo` from a source checkout (the
``examples/`` folder is not part of the installed package).
"""

from __future__ import annotations

from pathlib import Path

from .driving_synthetic.demo import run_driving_demo
from .finance_hmda.demo import run_finance_demo
from .healthcare.demo import run_healthcare_demo

__all__ = ["run_demo"]


def run_demo(out_dir="xai-reports-demo", *, n_applications: int = 300, progress: bool = True) -> dict:
    """Run every example into ``out_dir``.

    The finance example (HMDA model, letters for the denied applicants among
    ``n_applications``, the audit report) writes ``model/``, ``data/``, ``letters/``
    and ``audit/``; the healthcare example writes ``healthcare/``; the synthetic
    driving clip writes its incident report.

    Returns:
        ``{"auc_holdout", "model", "letters_dir", "summary", "audit", "healthcare", "incident_report"}``.
    """
    out = Path(out_dir)
    finance = run_finance_demo(out, progress=progress, n_applications=n_applications)
    healthcare = run_healthcare_demo(out / "healthcare", progress=progress)
    driving = run_driving_demo(out, progress=progress)
    return {**finance, "healthcare": healthcare, "incident_report": str(driving["report"])}
