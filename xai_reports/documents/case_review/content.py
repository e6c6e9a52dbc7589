"""The clinician case-review sheet as a plain content tree (no HTML, no PDF engine).

Sections follow REGULATORY.md 3.2: identification under a print profile (1, 11),
model and intended use (2-3), inputs with data-quality and out-of-scope flags
(4), output with threshold and uncertainty (5), evidence map with caveat (6),
top contributing findings (7), similar reference cases, a counterfactual
statement, performance context (8), clinician review block (9), audit metadata
(10), the FDA CDS / not-a-diagnosis caveat and the "does not certify
compliance" disclaimer.
"""

from __future__ import annotations

REVIEW_OPTIONS = ["Agree with the model output", "Disagree with the model output",
                  "Override: my finding is recorded below"]


def case_review_content(*, pack, model_id: str, case_id: str, date_text: str, patient: dict, model: dict,
                        inputs: dict, output: dict, evidence: dict | None, findings: dict | None,
                        similar: dict, counterfactual: dict, performance: dict, audit: dict,
                        synthetic: str | None) -> dict:
    """Everything the case-review template prints, as plain data.

    Args:
        pack: the loaded pack (with a case_review section).
        model_id: key of the model under ``case_review.models``.
        case_id: the pseudonymous case id.
        date_text: the sheet date as the profile prints it.
        patient: :func:`xai_reports.documents.case_review.privacy.patient_section`.
        model, inputs, output, evidence, findings, similar, counterfactual,
        performance, audit: the sections, already computed (see
        :mod:`xai_reports.documents.case_review.sections`).
        synthetic: the synthetic-data notice, or ``None`` for real data.

    Returns:
        A JSON-serialisable dict (``doc`` in the template).
    """
    hc = pack.spec.section("case_review")
    spec = hc.models[model_id]
    return {
        "lang": pack.spec.language,
        "title": "Clinician case-review sheet",
        "case_id": case_id,
        "date": date_text,
        "site": hc.site,
        "synthetic": synthetic,
        "patient": patient,
        "model": model,
        "inputs": inputs,
        "output": output,
        "evidence": evidence,
        "findings": findings,
        "similar": similar,
        "counterfactual": counterfactual,
        "performance": performance,
        "review": {"options": REVIEW_OPTIONS, "classes": list(spec.classes)},
        "audit": audit,
        "caveats": {"cds": hc.cds_caveat, "not_a_diagnosis": hc.not_a_diagnosis, "saliency": hc.saliency_caveat},
        "disclaimer": pack.spec.disclaimer,
    }


__all__ = ["case_review_content", "REVIEW_OPTIONS"]
