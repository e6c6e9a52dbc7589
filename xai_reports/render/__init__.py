"""Rendering: Jinja templates to HTML, WeasyPrint to PDF. Never computes an explanation."""

from .env import environment, long_date, render_template, template_fingerprint
from .pdf import html_to_pdf, safe_fetcher

__all__ = ["environment", "render_template", "template_fingerprint", "long_date", "html_to_pdf", "safe_fetcher"]
