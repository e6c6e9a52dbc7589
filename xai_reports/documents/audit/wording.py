"""The sector's words in the audit: lending words for lending packs only.

The audit runs on any pack. Words that belong to one sector (fair *lending*,
*credit* factors, Regulation B, *applicants*) are printed only where they are
true of the pack:

* lending words (``Fair-lending metrics``, ``credit factor``, Regulation B and
  12 CFR 1002 citations) for a pack whose ``domain`` is ``finance``;
* ``applicants`` (people who applied and were decided on) for a pack with a
  decision letter (a ``letter`` / ``finance`` section), e.g. tenant screening;
* neutral words otherwise (a clinic's audit speaks of rows and decision factors).

Everything else sector-specific comes from the pack itself (``audit.fairness.legal_basis``,
``jurisdiction``, ``audit.not_reviewed``, ``audit.limitations``, reason statements, ...).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["AuditWording", "audit_wording"]


@dataclass(frozen=True)
class AuditWording:
    """Sector words the audit's sections print (see :func:`audit_wording`)."""

    lending: bool
    """The pack is a lending pack: Regulation B / 12 CFR 1002 citations apply."""
    fairness_title: str
    """Title of the fairness section, and the name the findings give it."""
    decision_factor: str
    """What one model input is (``credit factor``)."""
    subjects: str
    """The people or rows decided on, plural (``applicants``)."""
    adverse_subjects: str
    """Those with an adverse decision (``denied applicants``)."""

    def fairness_section_name(self) -> str:
        """The fairness section as a sentence names it (``the fair-lending section``)."""
        return "the " + self.fairness_title.removesuffix(" metrics").lower() + " section"


def audit_wording(spec) -> AuditWording:
    """The words for pack ``spec`` (a validated pack).

    Lending words when ``spec.domain == "finance"``; ``applicants`` when the pack has a
    decision-letter section; neutral words otherwise.
    """
    lending = getattr(spec, "domain", None) == "finance"
    letters = getattr(spec, "finance", None) is not None
    if lending:
        return AuditWording(lending=True, fairness_title="Fair-lending metrics", decision_factor="credit factor",
                            subjects="applicants", adverse_subjects="denied applicants")
    if letters:
        return AuditWording(lending=False, fairness_title="Fairness metrics", decision_factor="decision factor",
                            subjects="applicants", adverse_subjects="applicants with an adverse decision")
    return AuditWording(lending=False, fairness_title="Fairness metrics", decision_factor="decision factor",
                        subjects="rows", adverse_subjects="rows with an adverse decision")
