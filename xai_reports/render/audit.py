"""Rendering the audit report's content tree to one self-contained HTML file or a PDF.

The content tree (:class:`xai_reports.documents.audit.AuditReport`) holds only
data; here figure specs become inline SVG / PNG ``data:`` URIs and the tree goes
through the pack's audit template. The PDF carries the JSON record as an
attachment (``audit_record.json``), as the letters do.
"""

from __future__ import annotations

from datetime import datetime, timezone

from ..io.outputs import canonical_json
from .charts import render_figure
from .env import render_template
from .pdf import html_to_pdf

DEFAULT_TEMPLATE = "audit/audit_report.html.j2"
ATTACHMENT_NAME = "audit_record.json"


def _template(report) -> str:
    return report.pack.spec.templates.get("audit", DEFAULT_TEMPLATE)


def _html(report, *, for_print: bool) -> str:
    figures = {fid: render_figure(spec) for fid, spec in report.figures.items()}
    record = report.record()
    doc = {"lang": report.pack.spec.language, "title": report.title, "date": report.date,
           "disclaimer": report.pack.spec.disclaimer,
           "guidance": getattr(report.pack.spec.section("audit"), "guidance", None),
           "model_name": report.results.get("identification", {}).get("model_name", ""),
           "model_id": report.results.get("identification", {}).get("model_id") or "",
           "sections": report.sections}
    ctx = {"doc": doc, "figures": figures, "for_print": for_print,
           "record": None if for_print else record}
    return render_template(_template(report), ctx, report.pack.template_dirs())


def render_audit_html(report) -> str:
    """The report as a single HTML file: inline CSS, a small inline table sorter, images as data URIs,
    the JSON record in a ``<script type="application/json" id="audit-record">`` element."""
    return _html(report, for_print=False)


def render_audit_pdf(report) -> bytes:
    """The report as PDF bytes with ``audit_record.json`` attached."""
    html = _html(report, for_print=True)
    dirs = report.pack.template_dirs()
    created = datetime.fromisoformat(report.date).replace(tzinfo=timezone.utc)
    record_json = canonical_json(report.record()).encode("utf-8")
    software = (report.provenance or {}).get("software") or {}
    return html_to_pdf(html, base_dir=dirs[-1], allowed_dirs=dirs, created=created,
                       attachments=[(ATTACHMENT_NAME, record_json, "Audit record (JSON): every figure of this report")],
                       font_subsetter=software.get("font_subsetter"))
