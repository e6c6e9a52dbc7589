"""The sector's words in the audit: lending words for lending packs only.

The audit runs on any pack. Words that belong to one sector (fair *lending*,
*credit* factors, Regulation B, *applicants*) are printed only where they are
true of the pack:

* lending words (``Fair-lending metrics``, ``credit factor``, Regulation B and
  12 CFR 1002 citations) for a pack that says ``audit.vocabulary: lending``
  (the shipped ``finance`` pack does);
* ``applicants`` (people who applied and were decided on) for ``applicants``, the
  default of a pack that writes letters (e.g. tenant screening);
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

    ``audit.vocabulary`` chooses; without it, ``applicants`` for a pack that writes
    letters and neutral words otherwise. No sector name is looked at.
    """
    asec = spec.section("audit")
    vocabulary = asec.vocabulary if asec is not None and asec.vocabulary else (
        "applicants" if spec.has_kind("letter") else "neutral")
    if vocabulary == "lending":
        return AuditWording(lending=True, fairness_title="Fair-lending metrics", decision_factor="credit factor",
                            subjects="applicants", adverse_subjects="denied applicants")
    if vocabulary == "applicants":
        return AuditWording(lending=False, fairness_title="Fairness metrics", decision_factor="decision factor",
                            subjects="applicants", adverse_subjects="applicants with an adverse decision")
    return AuditWording(lending=False, fairness_title="Fairness metrics", decision_factor="decision factor",
                        subjects="rows", adverse_subjects="rows with an adverse decision")
