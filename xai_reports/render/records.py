"""One decision record to its files: HTML, PDF (record embedded) and JSON."""

from __future__ import annotations

from datetime import datetime

from ..io.outputs import canonical_json
from .env import render_template
from .pdf import html_to_pdf


def recorded_software(record) -> dict:
    """The ``software`` block of a record: ``record["software"]``, else under ``audit`` (case-review
    sheets) or ``provenance`` (audit reports); ``{}`` when there is none."""
    if not isinstance(record, dict):
        return {}
    for holder in (record, record.get("audit"), record.get("provenance")):
        sw = holder.get("software") if isinstance(holder, dict) else None
        if isinstance(sw, dict):
            return sw
    return {}


def render_record_files(record: dict, dirs, formats, *, created: datetime, description: str) -> dict[str, bytes]:
    """Render ``record["document"]`` with its template and return ``{format: bytes}``.

    Args:
        record: a record whose ``document`` holds ``template.name`` and ``content``;
            the template sees them as ``doc`` and ``record``.
        dirs: the template search path (the last folder is the base for relative URLs).
        formats: any of ``"html"``, ``"pdf"``, ``"json"``.
        created: the document's date, from the record (never the clock), for reproducible PDFs.
            The PDF's fonts are subset with the record's ``software.font_subsetter``.
        description: the embedded ``record.json``'s description.

    Returns:
        ``{"html": ..., "pdf": ..., "json": ...}`` for the formats asked; the PDF
        embeds the canonical JSON record as ``record.json`` (relationship ``Data``).
    """
    doc = record["document"]
    out: dict[str, bytes] = {}
    record_json = canonical_json(record).encode("utf-8")
    if "html" in formats or "pdf" in formats:
        html = render_template(doc["template"]["name"], {"doc": doc["content"], "record": record}, dirs)
        if "html" in formats:
            out["html"] = html.encode("utf-8")
        if "pdf" in formats:
            out["pdf"] = html_to_pdf(html, base_dir=dirs[-1], allowed_dirs=list(dirs), created=created,
                                     attachments=[("record.json", record_json, description)],
                                     font_subsetter=recorded_software(record).get("font_subsetter"))
    if "json" in formats:
        out["json"] = record_json
    return out
