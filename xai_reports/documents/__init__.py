"""Document kinds: one package per kind, each producing a plain content tree, and their registry.

The built-in kinds are registered here with strings only (see
:mod:`xai_reports.documents.base`), so importing this package stays light.
"""

from .base import DocumentKind, get_kind, kind_of_record, register_kind, registered_kinds

__all__ = ["DocumentKind", "register_kind", "get_kind", "registered_kinds", "kind_of_record"]

register_kind(DocumentKind(
    name="letter", title="adverse-action letter", plural="letters",
    section="letter", schema="xai_reports.packs.sections.letter:LetterSection",
    legacy_sections=("finance",),
    template_key="letter", default_template="finance/adverse_action_letter.html.j2",
    build="xai_reports.documents.letter.content:letter_content",
    rerender="xai_reports.documents.letter.render:rerender_letter",
    batch_job="xai_reports.documents.letter.job:LetterJob",
    command="letters", record_kinds=("adverse_action_letter",),
    manifest_kind="adverse_action_letters", file_prefix="letter_", summary_field="letters_written",
    section_use="adverse-action letters need it (decision, institution, ...)"))

register_kind(DocumentKind(
    name="audit", title="model validation and compliance audit report", plural="audit reports",
    section="audit", schema="xai_reports.packs.sections.audit:AuditSection",
    template_key="audit", default_template="audit/audit_report.html.j2",
    build="xai_reports.documents.audit.pipeline:audit",
    rerender="xai_reports.documents.audit.report:rerender_audit",
    command="audit", record_kinds=("audit_report",), record_schemas=("xai-reports/audit-record/1",),
    manifest_kind="audit_report",
    section_use="audit reports need it (model inventory facts, fairness settings, ...)"))

register_kind(DocumentKind(
    name="case_review", title="clinician case-review sheet", plural="case-review sheets",
    section="case_review", schema="xai_reports.packs.sections.case_review:CaseReviewSection",
    legacy_sections=("healthcare",),
    template_key="case_review", default_template="healthcare/case_review.html.j2",
    build="xai_reports.documents.case_review.content:case_review_content",
    rerender="xai_reports.documents.case_review.job:rerender_case_review",
    batch_job="xai_reports.documents.case_review.job:CaseReviewJob",
    command="case-review", record_kinds=("case_review",),
    manifest_kind="case_reviews", file_prefix="case_", summary_field="sheets_written",
    section_use="case-review sheets need it (profiles, models, ...)"))

register_kind(DocumentKind(
    name="incident", title="incident report", plural="incident reports",
    section="incident", schema="xai_reports.packs.sections.incident:IncidentSection",
    legacy_sections=("autonomous_driving",),
    template_key="incident", default_template="autonomous_driving/incident_report.html.j2",
    build="xai_reports.documents.incident.content:incident_content",
    rerender="xai_reports.documents.incident.report:rerender_incident",
    command="incident", record_kinds=("incident_report",), manifest_kind="incident_report",
    section_use="incident reports need it (decision_model, odd, ...)"))

register_kind(DocumentKind(
    name="explorer", title="interactive decision explorer", plural="explorers",
    build="xai_reports.documents.explorer.data:explorer_data",
    command="explore", manifest_kind="decision_explorer"))
