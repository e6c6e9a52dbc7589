"""A test stand-in for the PDF engine: small, valid, deterministic PDFs without WeasyPrint.

:class:`MockRenderer` implements :class:`~xai_reports.render.backend.Renderer`
in pure Python (no WeasyPrint, Pango or fonts). Template tests run the real
template path (pack, Jinja sandbox, self-containment and accessibility checks)
and inspect the result as they would a real PDF:

* the page text is the HTML's visible text (``<head>``, ``<style>`` and
  ``<script>`` left out; one line per block element; Helvetica, WinAnsi,
  so ``pypdf`` extracts it, accents included; characters outside Windows-1252
  become ``?``). What CSS adds or hides (``@page`` counters, ``::before``,
  ``display: none``) is not applied, so page footers ("Page 1 of 2") are
  absent: assert those on a real render;
* the attachments are embedded as WeasyPrint embeds them (names tree,
  ``/AF``, relationship ``Data``), so
  :func:`xai_reports.integrity.embedded_record` and ``pikepdf`` read the JSON
  record back;
* the catalog carries the HTML ``lang`` (``/Lang``);
* every call is kept in :attr:`MockRenderer.calls` (the HTML and the options),
  for assertions on what a pipeline asked for.

A mock PDF can never pass for a real one: its second line is the comment
:data:`MOCK_MARKER` (:func:`is_mock_pdf`), its first line of text and its
``/Producer`` say "mock renderer", and a record made while the mock is selected
names it (``software.renderer = "mock"``, ``software.font_subsetter =``
:data:`MOCK_FONT_SUBSETTER`), which WeasyPrint refuses to re-render.

Examples::

    >>> from datetime import datetime
    >>> from xai_reports.render import MockRenderer, html_to_pdf, use_renderer
    >>> with use_renderer(MockRenderer()) as mock:
    ...     pdf = html_to_pdf('<html lang="en"><title>T</title><p>Hello</p></html>', base_dir=".",
    ...                       created=datetime(2026, 1, 2), attachments=[("record.json", b"{}", "Record")])
    >>> is_mock_pdf(pdf), mock.calls[0].html.endswith("</html>")
    (True, True)
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import datetime, timezone
from html.parser import HTMLParser

from ..errors import RenderError
from .backend import DEFAULT_VARIANT, Renderer
from .safety import accessibility_problems, external_resources

__all__ = ["MockRenderer", "MockCall", "is_mock_pdf", "MOCK_MARKER", "MOCK_FONT_SUBSETTER", "MOCK_BANNER"]

MOCK_MARKER = b"%xai-reports-mock-renderer: not a real document"
MOCK_FONT_SUBSETTER = "none (xai-reports mock renderer)"
MOCK_BANNER = "[xai-reports mock renderer: test output, not a real document]"
_TAGGED = {"pdf/a-1a", "pdf/a-2a", "pdf/a-3a", "pdf/ua-1", "pdf/ua-2"}
_BLOCKS = {"address", "article", "aside", "blockquote", "br", "caption", "dd", "div", "dl", "dt", "figcaption",
           "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav",
           "ol", "p", "pre", "section", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul"}
_HIDDEN = {"head", "style", "script", "template", "noscript"}
_LINE_CHARS = 95
_LINES_PER_PAGE = 60


def is_mock_pdf(data: bytes) -> bool:
    """Whether ``data`` is a PDF made by :class:`MockRenderer` (its marker comment opens the file)."""
    return MOCK_MARKER in bytes(data[:128])


@dataclass(frozen=True)
class MockCall:
    """One :meth:`MockRenderer.html_to_pdf` call: the HTML and the options a pipeline passed."""

    html: str
    base_dir: str
    allowed_dirs: tuple[str, ...]
    attachments: tuple[tuple[str, bytes, str], ...]
    created: datetime
    variant: str
    pdf_ua: bool | None
    title: str | None
    font_subsetter: str | None

    def replay(self, renderer: Renderer) -> bytes:
        """Make the same request of another renderer (e.g. ``WeasyPrintRenderer()`` for one real PDF of what a
        pipeline asked the mock for); a font subsetter the mock itself recorded is not passed on."""
        subsetter = None if self.font_subsetter == MOCK_FONT_SUBSETTER else self.font_subsetter
        return renderer.html_to_pdf(self.html, base_dir=self.base_dir, allowed_dirs=self.allowed_dirs,
                                    attachments=self.attachments, created=self.created, variant=self.variant,
                                    pdf_ua=self.pdf_ua, title=self.title, font_subsetter=subsetter)


class _TextExtractor(HTMLParser):
    """The visible text of an HTML document, one line per block element; plus its ``lang`` and ``<title>``."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.current: list[str] = []
        self.hidden = 0
        self.lang = None
        self.in_title = False
        self.title = ""

    def _break(self):
        line = " ".join("".join(self.current).split())
        if line:
            self.lines.append(line)
        self.current = []

    def handle_starttag(self, tag, attrs):
        if tag == "html" and self.lang is None:
            self.lang = dict(attrs).get("lang")
        if tag == "title" and not self.in_title and not self.title:
            self.in_title = True
        if tag in _HIDDEN:
            self.hidden += 1
        elif tag in _BLOCKS:
            self._break()

    def handle_startendtag(self, tag, attrs):
        if tag in _BLOCKS:
            self._break()

    def handle_endtag(self, tag):
        if tag == "title":
            self.in_title = False
        if tag in _HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in _BLOCKS:
            self._break()

    def handle_data(self, data):
        if self.in_title:
            self.title += data
        elif not self.hidden:
            self.current.append(data)

    def close(self):
        super().close()
        self._break()


def _wrap(line: str) -> list[str]:
    out, cur = [], ""
    for word in line.split(" "):
        if cur and len(cur) + 1 + len(word) > _LINE_CHARS:
            out.append(cur)
            cur = word
        else:
            cur = f"{cur} {word}" if cur else word
    return out + [cur] if cur else out


def _literal(text: str) -> bytes:
    """A PDF literal string in WinAnsi (Windows-1252) encoding; other characters become ``?``."""
    raw = text.encode("cp1252", errors="replace")
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)").replace(b"\r", b"\\r") + b")"


def _text_string(text: str) -> bytes:
    """A PDF text string (UTF-16BE with BOM, hex), for names and metadata."""
    return b"<" + ("\ufeff" + text).encode("utf-16-be").hex().upper().encode("ascii") + b">"


def _pdf_date(dt: datetime) -> bytes:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return b"(D:" + dt.astimezone(timezone.utc).strftime("%Y%m%d%H%M%S").encode() + b"Z)"


class _Writer:
    """A minimal PDF writer: numbered objects, a cross-reference table, a trailer."""

    def __init__(self):
        self.objects: list[bytes] = []

    def reserve(self) -> int:
        self.objects.append(b"")
        return len(self.objects)

    def set(self, num: int, body: bytes) -> int:
        self.objects[num - 1] = body
        return num

    def add(self, body: bytes) -> int:
        return self.set(self.reserve(), body)

    def stream(self, data: bytes, extra: bytes = b"") -> int:
        return self.add(b"<< " + extra + b" /Length " + str(len(data)).encode() + b" >>\nstream\n" + data
                        + b"\nendstream")

    def bytes(self, root: int, info: int) -> bytes:
        out = bytearray(b"%PDF-1.7\n" + MOCK_MARKER + b"\n")
        offsets = []
        for i, body in enumerate(self.objects, start=1):
            offsets.append(len(out))
            out += f"{i} 0 obj\n".encode() + body + b"\nendobj\n"
        xref = len(out)
        out += f"xref\n0 {len(self.objects) + 1}\n0000000000 65535 f \n".encode()
        out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
        out += (f"trailer\n<< /Size {len(self.objects) + 1} /Root {root} 0 R /Info {info} 0 R >>\n"
                f"startxref\n{xref}\n%%EOF\n").encode()
        return bytes(out)


def _ref(num: int) -> bytes:
    return f"{num} 0 R".encode()


class MockRenderer(Renderer):
    """A :class:`~xai_reports.render.backend.Renderer` for tests: no WeasyPrint, deterministic bytes.

    It makes the checks the real renderer makes on the HTML before rendering
    (no attachments through markup, nothing loaded from outside the document,
    ``lang``/``<title>``/``alt`` for tagged variants, PDF/UA only when tagged),
    so a template that would fail for real fails here too, with a
    :class:`~xai_reports.errors.RenderError`. See the module docstring for what
    the PDF holds.

    Attributes:
        calls: every :meth:`html_to_pdf` call, in order (:class:`MockCall`).

    Examples::

        >>> with use_renderer(MockRenderer()) as mock:      # doctest: +SKIP
        ...     generate_letters(model, apps, "finance_hmda_example", out, formats=("pdf", "json"))
        >>> "Principal reason" in mock.calls[0].html         # doctest: +SKIP
        True
    """

    name = "mock"

    def __init__(self):
        self.calls: list[MockCall] = []

    def font_subsetter(self) -> str:
        """:data:`MOCK_FONT_SUBSETTER`: no fonts are embedded (recorded, so WeasyPrint refuses to re-render)."""
        return MOCK_FONT_SUBSETTER

    def html_to_pdf(self, html: str, *, base_dir, allowed_dirs=(), attachments=(), created: datetime,
                    variant: str = DEFAULT_VARIANT, pdf_ua: bool | None = None, title: str | None = None,
                    font_subsetter: str | None = None) -> bytes:
        """A small PDF of ``html``'s text with ``attachments`` embedded (arguments: :meth:`Renderer.html_to_pdf`).

        Raises:
            RenderError: the checks the real renderer makes fail (markup attachments,
                resources from outside the document, missing lang/title/alt, PDF/UA untagged).
        """
        attachments = tuple((str(n), bytes(d), str(desc)) for n, d, desc in attachments)
        self.calls.append(MockCall(html, str(base_dir), tuple(map(str, allowed_dirs)), attachments, created, variant,
                                   pdf_ua, title, font_subsetter))
        tagged = variant in _TAGGED
        ua = tagged if pdf_ua is None else bool(pdf_ua)
        if ua and not tagged:
            raise RenderError(f"PDF/UA needs a tagged variant (pdf/a-3a); {variant!r} is untagged")
        loads = external_resources(html)
        links = [r for r in loads if r.startswith("<link rel=attachment>")]
        if links:
            raise RenderError(f"documents may not attach files through markup: {links[0]}")
        if loads:
            raise RenderError("the document references resources outside the template folders "
                              f"(refused, nothing read): {', '.join(u[:120] for u in loads)}")
        if tagged or ua:
            problems = accessibility_problems(html)
            if problems:
                raise RenderError("not an accessible document (PDF/UA-1): " + "; ".join(problems))
        text = _TextExtractor()
        text.feed(html)
        text.close()
        lines = [MOCK_BANNER] + [w for line in text.lines for w in _wrap(line)]
        return _pdf(lines, lang=text.lang, title=title or text.title.strip(), created=created,
                    attachments=attachments)


def _pdf(lines: list[str], *, lang: str | None, title: str, created: datetime, attachments) -> bytes:
    w = _Writer()
    catalog, pages = w.reserve(), w.reserve()
    font = w.add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    kids = []
    for start in range(0, len(lines), _LINES_PER_PAGE):
        ops = [b"BT /F1 10 Tf 12 TL 40 800 Td"]
        ops += [_literal(line) + b" '" for line in lines[start:start + _LINES_PER_PAGE]]
        ops.append(b"ET")
        content = w.stream(b"\n".join(ops))
        kids.append(w.add(b"<< /Type /Page /Parent " + _ref(pages) + b" /MediaBox [0 0 595 842] /Resources "
                          b"<< /Font << /F1 " + _ref(font) + b" >> >> /Contents " + _ref(content) + b" >>"))
    w.set(pages, b"<< /Type /Pages /Kids [" + b" ".join(map(_ref, kids)) + b"] /Count "
          + str(len(kids)).encode() + b" >>")
    date = _pdf_date(created)
    specs = []
    for name, data, desc in sorted(attachments):
        packed = zlib.compress(data, 9)
        ef = w.stream(packed, b"/Type /EmbeddedFile /Subtype /application#2Foctet-stream /Filter /FlateDecode "
                              b"/Params << /Size " + str(len(data)).encode() + b" /CreationDate " + date
                      + b" /ModDate " + date + b" >>")
        specs.append((name, w.add(b"<< /Type /Filespec /F " + _text_string(name) + b" /UF " + _text_string(name)
                                  + b" /Desc " + _text_string(desc) + b" /AFRelationship /Data /EF << /F "
                                  + _ref(ef) + b" >> >>")))
    extra = b""
    if specs:
        names = b" ".join(_text_string(n) + b" " + _ref(s) for n, s in specs)
        extra += (b" /Names << /EmbeddedFiles << /Names [" + names + b"] >> >> /AF ["
                  + b" ".join(_ref(s) for _, s in specs) + b"]")
    if lang:
        extra += b" /Lang " + _text_string(lang)
    w.set(catalog, b"<< /Type /Catalog /Pages " + _ref(pages) + extra + b" >>")
    info = w.add(b"<< /Producer " + _text_string("xai-reports mock renderer (not a real document)") + b" /Title "
                 + _text_string(title) + b" /CreationDate " + date + b" /ModDate " + date + b" >>")
    return w.bytes(catalog, info)
