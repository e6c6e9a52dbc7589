"""Checks on rendered HTML before it is written or handed to the PDF engine.

Two families, both run centrally (``render_template`` and ``html_to_pdf``) so
every document kind gets them:

* :func:`external_resources`: every URL the page would *load* (``<img src>``,
  ``<link href>``, ``srcset``, ``url()`` and ``@import`` in CSS, ``<script>``,
  ``<iframe>``, SVG ``<image>``/``<use>`` ...) that is not an inline ``data:``
  URL. A self-contained document has none. Navigation links (``<a href>``)
  are not loads and are allowed.
* :func:`accessibility_problems`: what PDF/UA-1 and WCAG need from the markup
  itself: ``<html lang>``, a non-empty ``<title>``, ``alt`` on every image,
  an accessible name on every inline ``<svg>`` chart.

Examples::

    >>> external_resources('<img src="file:///etc/hostname" alt="x">')
    ['<img src>: file:///etc/hostname']
    >>> accessibility_problems('<html><title>t</title><img src="data:,"></html>')
    ['<html> has no lang attribute', '<img> without alt text (src data:,)']
"""

from __future__ import annotations

import re
from functools import lru_cache
from html.parser import HTMLParser

__all__ = ["external_resources", "accessibility_problems", "css_urls"]

_CSS_URL = re.compile(r"""url\(\s*(?:"([^"]*)"|'([^']*)'|([^)\s]*))\s*\)""", re.I)
_CSS_IMPORT = re.compile(r"""@import\s+(?:"([^"]*)"|'([^']*)')""", re.I)
_CSS_ESCAPE = re.compile(r"\\([0-9a-fA-F]{1,6})\s?|\\(.)")

# element -> attributes whose value is a URL the renderer or a browser loads
_LOADING_ATTRS = {
    "img": ("src", "srcset"), "source": ("src", "srcset"), "script": ("src",), "iframe": ("src",),
    "frame": ("src",), "embed": ("src",), "object": ("data",), "video": ("src", "poster"),
    "audio": ("src",), "track": ("src",), "input": ("src",), "image": ("href", "xlink:href"),
    "use": ("href", "xlink:href"), "feimage": ("href", "xlink:href"), "body": ("background",),
    "table": ("background",), "td": ("background",), "th": ("background",),
}


def _css_unescape(text: str) -> str:
    def sub(m):
        if m.group(1):
            try:
                return chr(int(m.group(1), 16))
            except (ValueError, OverflowError):
                return "\ufffd"
        return m.group(2)

    return _CSS_ESCAPE.sub(sub, text)


def css_urls(css: str) -> list[str]:
    """URLs referenced by ``url(...)`` and ``@import "..."`` in a piece of CSS (escapes resolved)."""
    css = _css_unescape(re.sub(r"/\*.*?\*/", "", css, flags=re.S))
    found = [next(g for g in m.groups() if g is not None) for m in _CSS_URL.finditer(css)]
    found += [next(g for g in m.groups() if g is not None) for m in _CSS_IMPORT.finditer(css)]
    return [u.strip() for u in found]


def _is_inline(url: str) -> bool:
    u = url.strip().lower()
    return u.startswith("data:") or u == "" or u.startswith("#")


class _Scanner(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.loads: list[str] = []
        self.lang = None
        self.saw_html = False
        self.title_parts: list[str] | None = None
        self.title = ""
        self.images_without_alt: list[str] = []
        self.svg_depth = 0
        self.unnamed_svgs = 0
        self._svg_stack: list[dict] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        a = {k.lower(): (v or "") for k, v in attrs}
        tag = tag.lower()
        if tag == "html":
            self.saw_html = True
            self.lang = a.get("lang", "").strip() or None
        elif tag == "title" and self.svg_depth == 0:
            self.title_parts = []
        elif tag == "style":
            self._in_style = True
        elif tag == "img" and "alt" not in a:
            self.images_without_alt.append(a.get("src", "")[:60])
        elif tag == "svg":
            if self.svg_depth == 0:
                named = bool(a.get("aria-label", "").strip() or a.get("aria-labelledby", "").strip())
                hidden = a.get("aria-hidden", "").lower() == "true"
                self._svg_stack.append({"named": named or hidden})
            self.svg_depth += 1
        elif tag == "title" and self.svg_depth > 0 and self._svg_stack:
            self._svg_stack[-1]["named"] = True
        if tag == "link":
            rel = a.get("rel", "").lower().split()
            href = a.get("href", "")
            if "attachment" in rel:
                self.loads.append(f"<link rel=attachment>: {href}")
            elif href and not _is_inline(href) and (set(rel) & {"stylesheet", "icon", "preload", "prefetch",
                                                                  "import", "manifest", "modulepreload",
                                                                  "apple-touch-icon", "shortcut"}):
                self.loads.append(f"<link href>: {href}")
        for attr in _LOADING_ATTRS.get(tag, ()):
            value = a.get(attr)
            if value is None:
                continue
            urls = [p.strip().split()[0] for p in value.split(",") if p.strip()] if attr.endswith("srcset") else [value]
            for u in urls:
                if not _is_inline(u):
                    self.loads.append(f"<{tag} {attr}>: {u}")
        if "style" in a:
            for u in css_urls(a["style"]):
                if not _is_inline(u):
                    self.loads.append(f"style url(): {u}")
        if tag == "meta" and a.get("http-equiv", "").lower() == "refresh":
            self.loads.append(f"<meta http-equiv=refresh>: {a.get('content', '')}")
        if tag == "base" and a.get("href"):
            self.loads.append(f"<base href>: {a['href']}")

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag.lower() == "svg":
            self.handle_endtag(tag)

    def handle_endtag(self, tag):
        tag = tag.lower()
        if tag == "title" and self.title_parts is not None and self.svg_depth == 0:
            self.title = "".join(self.title_parts).strip()
            self.title_parts = None
        elif tag == "style":
            self._in_style = False
        elif tag == "svg" and self.svg_depth > 0:
            self.svg_depth -= 1
            if self.svg_depth == 0 and self._svg_stack:
                if not self._svg_stack.pop()["named"]:
                    self.unnamed_svgs += 1

    def handle_data(self, data):
        if self.title_parts is not None:
            self.title_parts.append(data)
        if self._in_style:
            for u in css_urls(data):
                if not _is_inline(u):
                    self.loads.append(f"<style> url()/@import: {u}")


@lru_cache(maxsize=8)
def _scan(html: str) -> _Scanner:
    """One parse per document: ``render_template`` and ``html_to_pdf`` check the same string in turn
    (results are read, never changed, so the cached scanner is shared)."""
    s = _Scanner()
    s.feed(html)
    s.close()
    return s


def external_resources(html: str) -> list[str]:
    """Every resource ``html`` would load that is not an inline ``data:`` URL.

    Args:
        html: a complete HTML document.

    Returns:
        A list of ``"<tag attr>: url"`` strings, empty for a self-contained page.
        ``<link rel="attachment">`` is always listed (documents never pull files
        into a PDF through markup; the record is attached by code).
    """
    return list(_scan(html).loads)


def accessibility_problems(html: str) -> list[str]:
    """What stops ``html`` from becoming a PDF/UA-1 document (and fails WCAG): one string per problem.

    Checks ``<html lang>``, a non-empty ``<title>``, ``alt`` on every ``<img>``
    (``alt=""`` marks a decorative image) and an accessible name
    (``aria-label``, ``aria-labelledby`` or a ``<title>`` child) on every
    top-level inline ``<svg>`` not hidden with ``aria-hidden="true"``.
    """
    s = _scan(html)
    problems = []
    if not s.lang:
        problems.append("<html> has no lang attribute")
    if not s.title:
        problems.append("the document has no <title> (or an empty one)")
    problems += [f"<img> without alt text (src {src})" for src in s.images_without_alt]
    if s.unnamed_svgs:
        problems.append(f"{s.unnamed_svgs} inline <svg> chart(s) without aria-label or <title>")
    return problems
