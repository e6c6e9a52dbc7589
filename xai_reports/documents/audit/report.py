"""The audit report object (:class:`AuditReport`) and re-rendering a recorded audit."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ...errors import InputError
from ..blocks import jsonable

RECORD_SCHEMA = "xai-reports/audit-record/1"
SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2, "info": 3}


# ----------------------------------------------------------------------------- the report object
@dataclass
class AuditReport:
    """The result of :func:`audit`.

    Attributes:
        title: report title.
        date: ISO date of the report (from the run, the data or the pack; never the clock).
        sections: ordered ``[{"id", "title", "blocks": [...]}]`` (plain data).
        results: every computed figure, keyed by section (plain data, JSON-ready).
        findings: ranked ``[{"id", "severity", "title", "evidence", "section", ...}]``.
        figures: figure specs (numbers to plot) by id.
        pack: the loaded pack (for templates and rendering).
    """

    title: str
    date: str
    sections: list
    results: dict
    findings: list
    figures: dict
    pack: object = None
    provenance: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict, repr=False)

    def record(self) -> dict:
        """The JSON record embedded in the PDF (and the HTML): everything but the pack object."""
        return jsonable({"schema": RECORD_SCHEMA, "title": self.title, "date": self.date,
                          "findings": self.findings, "results": self.results,
                          "provenance": self.provenance, "sections": self.sections, "figures": self.figures})

    def section(self, sid: str) -> dict:
        """The section with id ``sid``."""
        for s in self.sections:
            if s["id"] == sid:
                return s
        raise KeyError(sid)

    def to_html(self) -> str:
        """The report as one self-contained HTML file (inline CSS, JS and images)."""
        from ...render.audit import render_audit_html

        return render_audit_html(self)

    def to_pdf(self) -> bytes:
        """The report as PDF bytes, with the JSON record attached (``audit_record.json``)."""
        from ...render.audit import render_audit_pdf

        return render_audit_pdf(self)

    def save(self, path) -> Path:
        """Write ``path`` (``.pdf``, ``.html`` or ``.json``) atomically; returns the path."""
        from ...io.outputs import atomic_write, canonical_json

        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ".pdf":
            data = self.to_pdf()
        elif suffix in (".html", ".htm"):
            data = self.to_html().encode("utf-8")
        elif suffix == ".json":
            data = canonical_json(self.record()).encode("utf-8")
        else:
            raise InputError(f"unknown output type {suffix or '(none)'}: use .pdf, .html or .json", file=path)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, data)
        return path

    def write_manifest(self, files, *, key: bytes | None = None) -> Path:
        """Write ``<stem>.manifest.json`` next to the first of ``files`` (the report files just saved):
        their SHA-256 and those of the model, data, reference and pack; signed when ``key`` is given
        (default: ``signing_key()``)."""
        from ...integrity import signing_key, write_document_manifest

        prov = self.provenance or {}
        inputs = {role: {"sha256": prov[k]} for role, k in (("model", "model_sha256"), ("model_file", "model_file_sha256"),
                                                              ("data", "data_sha256"), ("reference", "reference_sha256"))
                  if prov.get(k)}
        if prov.get("pack"):
            inputs["pack"] = prov["pack"]
        if prov.get("template"):
            inputs["templates"] = {prov["template"]["name"]: prov["template"]}
        return write_document_manifest(files, "audit_report", software=prov.get("software"), inputs=inputs,
                                       key=key if key is not None else signing_key())

    def __repr__(self) -> str:
        counts = {k: sum(f["severity"] == k for f in self.findings) for k in SEVERITY_ORDER}
        return f"<AuditReport {self.date}: {len(self.sections)} sections, findings {counts}>"


def rerender_audit(record: dict, *, pack=None, templates=None, formats=("pdf",)) -> dict[str, bytes]:
    """The files an audit record (``audit_record.json``) renders to now (used by ``xai-reports verify``).

    Raises:
        PackError: the recorded pack is not found (the message names the ``--pack`` to pass).
        TemplateError: the template differs from the recorded version.
        RenderError: a record written before the figures were recorded.
    """
    from ...errors import RenderError, TemplateError
    from ...io.outputs import canonical_json
    from ...packs import load_recorded_pack
    from ...render import check_recorded_template

    prov = record.get("provenance") or {}
    if "figures" not in record:
        raise RenderError("this audit record does not hold its figures (written by an older xai-reports)")
    pack = load_recorded_pack(prov.get("pack"), pack)
    if templates:
        raise TemplateError("audit reports use the pack's templates only; pass --pack instead of --templates")
    if prov.get("template"):
        check_recorded_template({"document": {"template": prov["template"]}}, pack.template_dirs(), None)
    report = AuditReport(title=record["title"], date=record["date"], sections=record["sections"],
                         results=record["results"], findings=record["findings"], figures=record["figures"],
                         pack=pack, provenance=prov)
    out: dict[str, bytes] = {}
    if "pdf" in formats:
        out["pdf"] = report.to_pdf()
    if "html" in formats:
        out["html"] = report.to_html().encode("utf-8")
    if "json" in formats:
        out["json"] = canonical_json(report.record()).encode("utf-8")
    return out
