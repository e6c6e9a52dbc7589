"""HTML to PDF with WeasyPrint, confined: no network, no local file outside the template folders.

WeasyPrint reads any local file and fetches any URL a document references by
default; :class:`SafeURLFetcher` allows ``data:`` URLs and ``file:`` URLs that
resolve (symlinks and ``..`` included) inside the allowed folders, and refuses
everything else.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ..errors import RenderError

_WEASY = None


def _weasyprint():
    global _WEASY
    if _WEASY is None:
        import weasyprint

        _WEASY = weasyprint
    return _WEASY


def _fetcher_base():
    return _weasyprint().urls.URLFetcher


class _SafeFetcherMixin:
    def _setup(self, allowed_dirs):
        self.allowed = [Path(os.path.realpath(d)) for d in allowed_dirs]
        self.refused: list[str] = []

    def _allowed_file(self, url: str) -> bool:
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            return False
        raw = unquote(parts.path)
        if "\x00" in raw or raw.startswith("//"):
            return False
        real = Path(os.path.realpath(raw))
        return any(real == d or d in real.parents for d in self.allowed)

    def fetch(self, url, headers=None):
        scheme = url.split(":", 1)[0].lower() if ":" in url else ""
        if scheme == "data" or (scheme == "file" and self._allowed_file(url)):
            return super().fetch(url, headers)
        self.refused.append(url)
        raise ValueError(f"xai-reports refused to fetch {url[:80]!r} (only data: URLs and template files)")


def safe_fetcher(allowed_dirs=()):
    """A WeasyPrint ``URLFetcher`` that allows ``data:`` and files under ``allowed_dirs`` only."""
    base = _fetcher_base()
    cls = type("SafeURLFetcher", (_SafeFetcherMixin, base), {})
    fetcher = cls(timeout=1, allowed_protocols={"data", "file"}, allow_redirects=False)
    fetcher._setup(allowed_dirs)
    return fetcher


def html_to_pdf(html: str, *, base_dir, allowed_dirs=(), attachments=(), created: datetime,
                variant: str = "pdf/a-3b") -> bytes:
    """Render ``html`` to PDF bytes.

    Args:
        html: the document.
        base_dir: folder relative URLs resolve against (a template folder).
        allowed_dirs: folders whose files the document may read (templates, fonts).
        attachments: ``(name, bytes, description)`` files embedded with relationship ``Data``.
        created: the document date, used for attachment dates, so output is reproducible.
        variant: WeasyPrint ``pdf_variant``; PDF/A-3 keeps embedded files.
    """
    wp = _weasyprint()
    fetcher = safe_fetcher([base_dir, *allowed_dirs])
    atts = [wp.Attachment(string=data, name=name, description=desc, relationship="Data",
                          created=created, modified=created, url_fetcher=fetcher)
            for name, data, desc in attachments]
    try:
        doc = wp.HTML(string=html, base_url=Path(base_dir).resolve().as_uri() + "/", url_fetcher=fetcher)
        return doc.write_pdf(pdf_variant=variant, attachments=atts, uncompressed_pdf=False)
    except Exception as exc:  # noqa: BLE001 - WeasyPrint raises many kinds
        raise RenderError(f"PDF rendering failed: {exc}") from exc
