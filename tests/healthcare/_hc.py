"""Helpers for the healthcare tests: PDF text and embedded record."""

from __future__ import annotations


def pdf_text(path) -> str:
    from pypdf import PdfReader

    return "\n".join(p.extract_text() for p in PdfReader(str(path)).pages)


def pdf_record(path) -> bytes:
    """The embedded record.json of a PDF."""
    from pypdf import PdfReader

    att = PdfReader(str(path)).attachments
    assert "record.json" in att, f"no record.json in {sorted(att)}"
    return att["record.json"][0]
