"""HTML to PDF: the module-level entry points, and WeasyPrint, the default renderer.

The functions here (:func:`html_to_pdf`, :func:`font_subsetter`,
:func:`renderer_software`, :func:`warn_if_no_harfbuzz`) are what the document
pipelines call; each asks :func:`get_renderer` for the renderer of the current
context (:func:`~xai_reports.render.backend.use_renderer`; the interface is
:class:`~xai_reports.render.backend.Renderer`) and delegates to it. By default
that is :class:`WeasyPrintRenderer`, which is archival (PDF/A-3), accessible
(PDF/UA-1), reproducible and confined. :func:`safe_fetcher` is WeasyPrint's
own and always available.

Every document the project writes goes through :func:`html_to_pdf`; with
WeasyPrint it

* produces **PDF/A-3a** (tagged) by default, also claiming **PDF/UA-1**, with
  the machine-readable record embedded as an associated file
  (``/AFRelationship /Data``); ``variant="pdf/a-3b"`` gives an untagged file;
* applies the WeasyPrint 70 conformance fixes: the XMP packet is stored
  uncompressed and, for PDF/UA, carries ``pdfuaid:part`` with its
  ``pdfaExtension`` schema (a finisher); images are never interpolated
  (``image-rendering: crisp-edges``, set in ``templates/base.html.j2`` and
  enforced here with an extra stylesheet);
* is **deterministic**: document and attachment dates come from ``created``
  (the decision date), never from the clock, so the same HTML gives the same
  bytes in any process, timezone and locale. That includes the embedded font
  subsets: WeasyPrint subsets fonts with HarfBuzz-Subset when the system
  library is installed (Debian: ``libharfbuzz-subset0``), else with fontTools,
  whose ``head.modified`` stamp would come from the clock (or
  ``$SOURCE_DATE_EPOCH``); here it is ``created``, set for this thread's
  render only (no environment variable is touched). The two subsetters give
  different bytes, so every record names the one used (:func:`font_subsetter`)
  and a re-render uses the recorded one (``font_subsetter=``). Without
  HarfBuzz-Subset a :class:`FontSubsetterWarning` is issued once per process;
* is **fast in batches**: one WeasyPrint ``FontConfiguration`` (Fontconfig's
  font list, Pango's font map and layout caches) serves every document a
  thread renders, which takes about 14% off each letter; a document whose styles
  declare ``@font-face`` fonts gets a fresh one, and so does every document
  after it, so fonts never carry over from one document to the next (the
  bytes are those of a fresh configuration either way: tested);
* is **confined**: :class:`SafeURLFetcher` lets WeasyPrint read ``data:`` URLs
  and files that really resolve (symlinks, ``..`` and ``%2e%2e`` included)
  inside the allowed folders, nothing else: no other ``file://`` path, no
  ``file://host/``, no network. Any refused URL fails the render with the URL
  named, so a template cannot silently lose (or leak) a resource.

Examples::

    >>> from datetime import datetime, timezone
    >>> pdf = html_to_pdf('<html lang="en"><title>T</title><p>Hello</p></html>',
    ...                   base_dir="templates", created=datetime(2026, 1, 2, tzinfo=timezone.utc),
    ...                   attachments=[("record.json", b"{}", "Decision record")])
    >>> pdf[:8]
    b'%PDF-1.7'
"""

from __future__ import annotations

import mimetypes
import os
import threading
import warnings
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ..errors import RenderError
from .backend import DEFAULT_RENDERER_NAME, DEFAULT_VARIANT, Renderer, selected_renderer
from .mock import MOCK_FONT_SUBSETTER
from .safety import accessibility_problems, external_resources

__all__ = ["html_to_pdf", "safe_fetcher", "font_subsetter", "FontSubsetterWarning", "DEFAULT_VARIANT",
           "PDF_UA_PART", "HARFBUZZ", "FONTTOOLS", "SUBSETTER_INSTALL_HINT", "WeasyPrintRenderer", "get_renderer",
           "renderer_software", "warn_if_no_harfbuzz"]

PDF_UA_PART = 1
_TAGGED = {"pdf/a-1a", "pdf/a-2a", "pdf/a-3a", "pdf/ua-1", "pdf/ua-2"}
# print-only fixes every document needs, whatever its template says
_PRINT_CSS = "img, svg { image-rendering: crisp-edges; }"

_WEASY = None
_FONTS = threading.local()   # .config: this thread's shared FontConfiguration (see _font_config)
# this thread's render: .fonttools (force the fontTools subsetter), .timestamp (font head.modified)
_RENDER = threading.local()

HARFBUZZ = "harfbuzz-subset"
FONTTOOLS = "fonttools"
SUBSETTER_INSTALL_HINT = ("install HarfBuzz-Subset >= 4.1: apt-get install libharfbuzz-subset0 (Debian, Ubuntu), "
                          "dnf install harfbuzz (Fedora), brew install harfbuzz (macOS)")
_SUBSET_WARNED = False


class FontSubsetterWarning(UserWarning):
    """HarfBuzz-Subset is missing: fonts are subset with fontTools (slower, other bytes)."""


class _SubsetLibrary:
    """Stands in for WeasyPrint's ``harfbuzz_subset`` library: false in a thread rendering with fontTools.

    WeasyPrint picks its subsetter with ``if harfbuzz_subset and ...``; this
    makes that choice per thread (a re-render uses the subsetter its record
    names) without touching other threads' renders.
    """

    def __init__(self, lib):
        self._lib = lib

    def __bool__(self):
        return not getattr(_RENDER, "fonttools", False)

    def __getattr__(self, name):
        return getattr(self._lib, name)


def _patch_subsetter(wp_fonts) -> None:
    lib = getattr(wp_fonts, "harfbuzz_subset", None)
    if lib is not None and not isinstance(lib, _SubsetLibrary):
        wp_fonts.harfbuzz_subset = _SubsetLibrary(lib)


def _patch_font_timestamps() -> None:
    """fontTools stamps a saved font's ``head.modified`` with the clock: use this thread's render date."""
    from fontTools.misc import timeTools
    from fontTools.ttLib.tables import _h_e_a_d

    for mod in (_h_e_a_d, timeTools):
        original = getattr(mod, "timestampNow", None)
        if original is None or getattr(original, "_xai_reports", False):
            continue

        def timestamp_now(_original=original):
            stamp = getattr(_RENDER, "timestamp", None)
            return _original() if stamp is None else stamp

        timestamp_now._xai_reports = True
        mod.timestampNow = timestamp_now


def _font_timestamp(created: datetime) -> int:
    """``created`` as a font timestamp (seconds since 1904-01-01 UTC)."""
    from fontTools.misc.timeTools import epoch_diff

    if created.tzinfo is None:
        created = created.replace(tzinfo=timezone.utc)
    return int(created.timestamp()) - epoch_diff


_HB_VERSION = None


def _harfbuzz_version() -> str:
    global _HB_VERSION
    if _HB_VERSION is None:
        _HB_VERSION = "unknown"
        try:
            import cffi

            ffi = cffi.FFI()
            ffi.cdef("const char *hb_version_string (void);")
            for name in ("libharfbuzz-0", "harfbuzz", "harfbuzz-0.0", "libharfbuzz.so.0", "libharfbuzz.0.dylib",
                         "libharfbuzz-0.dll"):
                try:
                    lib = ffi.dlopen(name)
                except OSError:
                    continue
                _HB_VERSION = ffi.string(lib.hb_version_string()).decode("ascii")
                break
        except Exception:  # noqa: BLE001 - the version is informative only
            pass
    return _HB_VERSION


def _harfbuzz_subset_available() -> bool:
    wp = _weasyprint()
    fonts = wp.pdf.fonts
    lib = getattr(fonts, "harfbuzz_subset", None)
    if isinstance(lib, _SubsetLibrary):
        lib = lib._lib
    return lib is not None and bool(fonts.harfbuzz.hb_version_atleast(4, 1, 0))


def _weasyprint_font_subsetter() -> str:
    """The font subsetter WeasyPrint uses here: ``"harfbuzz-subset <version>"`` or ``"fonttools <version>"``.

    Recorded in every document's record (``software.font_subsetter``): the two
    give different bytes for the same document.

    Examples::

        >>> _weasyprint_font_subsetter().split()[0] in ("harfbuzz-subset", "fonttools")
        True
    """
    if _harfbuzz_subset_available():
        return f"{HARFBUZZ} {_harfbuzz_version()}"
    import fontTools

    return f"{FONTTOOLS} {fontTools.version}"


def _fallback_message() -> str:
    return ("HarfBuzz-Subset is not installed: fonts are subset with fontTools, about 4x slower, and documents "
            "differ in bytes from those made where it is installed; " + SUBSETTER_INSTALL_HINT)


def _warn_if_no_harfbuzz(*, stacklevel: int = 2) -> str | None:
    """Issue :class:`FontSubsetterWarning` (once per process) when HarfBuzz-Subset is missing; its text, or ``None``."""
    global _SUBSET_WARNED
    if _SUBSET_WARNED or _harfbuzz_subset_available():
        return None
    _SUBSET_WARNED = True
    msg = _fallback_message()
    warnings.warn(msg, FontSubsetterWarning, stacklevel=stacklevel + 1)
    return msg


def _patch_stream_eol() -> None:
    """Make pydyf end a stream whose data ends in CR with a CRLF end-of-line marker.

    pydyf writes ``data + "\n" + "endstream"``. When (compressed) data happens to
    end with a CR byte (about one stream in 256), readers and validators see
    ``CR LF`` as the end-of-line marker and find ``/Length`` one byte too long:
    PDF/A validation fails at random. A CRLF marker after such data is exact.
    Deterministic, and a no-op for every other stream.
    """
    import pydyf

    if getattr(pydyf.Stream, "_xai_reports_eol_fix", False):
        return
    original = pydyf.Stream.data.fget

    def data(self):
        out = original(self)
        if out.endswith(b"\r\nendstream"):
            out = out[: -len(b"\nendstream")] + b"\r\nendstream"
        return out

    pydyf.Stream.data = property(data)
    pydyf.Stream._xai_reports_eol_fix = True


def _weasyprint():
    global _WEASY
    if _WEASY is None:
        import weasyprint
        import weasyprint.pdf.fonts

        _patch_stream_eol()
        _patch_subsetter(weasyprint.pdf.fonts)
        _patch_font_timestamps()
        _WEASY = weasyprint
    return _WEASY


def _font_config():
    """This thread's shared ``FontConfiguration``; a new one once a document added ``@font-face`` fonts.

    One per thread, not per process: Pango's font map is not safe to share between
    threads (a Dask worker may run several renders at once)."""
    fonts = getattr(_FONTS, "config", None)
    if fonts is None or fonts.document_fonts:
        base = _weasyprint().text.fonts.FontConfiguration

        class _TrackedFontConfiguration(base):
            """Remembers whether a document added its own fonts (then it is not shared further)."""

            document_fonts = False

            def add_font_face(self, rule_descriptors, url_fetcher):
                self.document_fonts = True
                return super().add_font_face(rule_descriptors, url_fetcher)

        fonts = _FONTS.config = _TrackedFontConfiguration()
    return fonts


class _SafeFetcherMixin:
    """``data:`` URLs and files under the allowed folders; everything else is refused and recorded."""

    def _setup(self, allowed_dirs):
        self.allowed = [Path(os.path.realpath(d)) for d in allowed_dirs]
        self.refused: list[str] = []

    def resolve_file(self, url: str) -> Path | None:
        """The real path a ``file:`` URL names if it lies inside an allowed folder, else ``None``."""
        parts = urlsplit(url)
        if parts.scheme.lower() != "file" or parts.netloc.lower() not in ("", "localhost"):
            return None
        raw = unquote(parts.path)
        if "\x00" in raw or not raw.startswith("/") or raw.startswith("//") or "\\" in raw:
            return None
        real = Path(os.path.realpath(raw))
        if not any(real == d or d in real.parents for d in self.allowed):
            return None
        return real if real.is_file() else None

    def fetch(self, url, headers=None):
        scheme = url.split(":", 1)[0].strip().lower() if ":" in url else ""
        if scheme == "data":
            return super().fetch(url, headers)
        if scheme == "file":
            real = self.resolve_file(url)
            if real is not None:
                # Read the checked path ourselves: nothing re-parses the URL after the check.
                body = real.read_bytes()
                ctype = mimetypes.guess_type(real.name)[0] or "application/octet-stream"
                return _weasyprint().urls.URLFetcherResponse(real.as_uri(), body, {"Content-Type": ctype})
        self.refused.append(url)
        raise ValueError(f"xai-reports refused to fetch {url[:120]!r} (only data: URLs and files in the "
                         "template folders)")


def safe_fetcher(allowed_dirs=()):
    """A WeasyPrint ``URLFetcher`` that allows ``data:`` and files under ``allowed_dirs`` only.

    Args:
        allowed_dirs: folders whose files may be read (templates, fonts, logos).

    Returns:
        A ``weasyprint.urls.URLFetcher`` subclass instance; its ``refused``
        attribute lists every URL it turned down.

    Examples::

        >>> f = safe_fetcher(["templates"])
        >>> f.resolve_file("file:///etc/hostname") is None
        True
    """
    base = _weasyprint().urls.URLFetcher
    cls = type("SafeURLFetcher", (_SafeFetcherMixin, base), {})
    fetcher = cls(timeout=1, allowed_protocols={"data", "file"}, allow_redirects=False)
    fetcher._setup(allowed_dirs)
    return fetcher


# --------------------------------------------------------------------------- XMP finisher
_PDFUA_EXTENSION = (
    '<rdf:Description xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" rdf:about="" '
    'xmlns:pdfaExtension="http://www.aiim.org/pdfa/ns/extension/" '
    'xmlns:pdfaSchema="http://www.aiim.org/pdfa/ns/schema#" '
    'xmlns:pdfaProperty="http://www.aiim.org/pdfa/ns/property#">'
    "<pdfaExtension:schemas><rdf:Bag><rdf:li rdf:parseType=\"Resource\">"
    "<pdfaSchema:schema>PDF/UA Universal Accessibility Schema</pdfaSchema:schema>"
    "<pdfaSchema:namespaceURI>http://www.aiim.org/pdfua/ns/id/</pdfaSchema:namespaceURI>"
    "<pdfaSchema:prefix>pdfuaid</pdfaSchema:prefix>"
    "<pdfaSchema:property><rdf:Seq><rdf:li rdf:parseType=\"Resource\">"
    "<pdfaProperty:name>part</pdfaProperty:name>"
    "<pdfaProperty:valueType>Integer</pdfaProperty:valueType>"
    "<pdfaProperty:category>internal</pdfaProperty:category>"
    "<pdfaProperty:description>Indicates which part of ISO 14289 standard is followed</pdfaProperty:description>"
    "</rdf:li></rdf:Seq></pdfaSchema:property></rdf:li></rdf:Bag></pdfaExtension:schemas></rdf:Description>"
    '<rdf:Description xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" rdf:about="" '
    'xmlns:pdfuaid="http://www.aiim.org/pdfua/ns/id/"><pdfuaid:part>{part}</pdfuaid:part></rdf:Description>'
)


def _finisher(ua_part: int | None):
    """Store the catalog XMP uncompressed (PDF/A) and add the PDF/UA identification to it."""

    def finish(document, pdf):
        import pydyf  # WeasyPrint's PDF writer

        af = pdf.catalog.get("AF")
        if af is not None:
            # WeasyPrint 70 lists each associated file twice (from the name tree and the filespecs).
            seen, unique = set(), []
            for item in af:
                key = item.decode() if isinstance(item, bytes) else str(item)
                if key not in seen:
                    seen.add(key)
                    unique.append(item)
            pdf.catalog["AF"] = pydyf.Array(unique)
        ref = pdf.catalog.get("Metadata")
        if ref is None:
            return
        if isinstance(ref, bytes):
            ref = ref.decode("ascii")
        stream = pdf.objects[int(str(ref).split()[0])]
        stream.compress = False
        if ua_part:
            content = b"".join(c if isinstance(c, bytes) else str(c).encode() for c in stream.stream)
            close = content.rfind(b"</rdf:RDF>")
            if close < 0:
                raise RenderError("PDF metadata has no rdf:RDF packet to extend with PDF/UA identification")
            extra = _PDFUA_EXTENSION.replace("{part}", str(ua_part)).encode()
            stream.stream = [content[:close] + extra + content[close:]]
            pdf.catalog["ViewerPreferences"] = pydyf.Dictionary({"DisplayDocTitle": "true"})

    return finish


def _w3c(dt: datetime) -> str:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _subsetter_name(value) -> str | None:
    """``"fonttools"`` / ``"harfbuzz-subset"`` from a recorded ``"<name> <version>"`` (``None``: any)."""
    if not value:
        return None
    if str(value) == MOCK_FONT_SUBSETTER:
        raise RenderError("this record was made by the mock renderer (a test stand-in, not a document): "
                          "it has no real PDF to re-render")
    name = str(value).split()[0].lower()
    if name not in (HARFBUZZ, FONTTOOLS):
        raise RenderError(f"unknown font subsetter {value!r} (expected {HARFBUZZ} or {FONTTOOLS})")
    return name


def _render_weasyprint(html: str, *, base_dir, allowed_dirs=(), attachments=(), created: datetime,
                       variant: str = DEFAULT_VARIANT, pdf_ua: bool | None = None, title: str | None = None,
                       font_subsetter: str | None = None) -> bytes:
    """:meth:`WeasyPrintRenderer.html_to_pdf`: today's WeasyPrint pipeline (see :func:`html_to_pdf`)."""
    wp = _weasyprint()
    wanted = _subsetter_name(font_subsetter)
    if wanted == HARFBUZZ and not _harfbuzz_subset_available():
        raise RenderError("this document was made with HarfBuzz-Subset, which is not installed here; "
                          + SUBSETTER_INSTALL_HINT)
    if wanted != FONTTOOLS:
        _warn_if_no_harfbuzz(stacklevel=4)
    if created.tzinfo is None:
        created = created.replace(tzinfo=timezone.utc)
    created = created.astimezone(timezone.utc)
    tagged = variant in _TAGGED
    ua = tagged if pdf_ua is None else bool(pdf_ua)
    if ua and not tagged:
        raise RenderError(f"PDF/UA needs a tagged variant (pdf/a-3a); {variant!r} is untagged")
    links = [r for r in external_resources(html) if r.startswith("<link rel=attachment>")]
    if links:
        raise RenderError(f"documents may not attach files through markup: {links[0]}")
    if tagged or ua:
        problems = accessibility_problems(html)
        if problems:
            raise RenderError("not an accessible document (PDF/UA-1): " + "; ".join(problems))
    fetcher = safe_fetcher([base_dir, *allowed_dirs])
    atts = [wp.Attachment(string=data, name=name, description=desc, relationship="Data",
                          created=created, modified=created, url_fetcher=fetcher)
            for name, data, desc in attachments]
    _RENDER.fonttools, _RENDER.timestamp = wanted == FONTTOOLS, _font_timestamp(created)
    try:
        fonts = _font_config()
        doc = wp.HTML(string=html, base_url=Path(base_dir).resolve().as_uri() + "/", url_fetcher=fetcher)
        rendered = doc.render(stylesheets=[wp.CSS(string=_PRINT_CSS, url_fetcher=fetcher, font_config=fonts)],
                              font_config=fonts)
        meta = rendered.metadata
        meta.created = meta.modified = _w3c(created)
        if title:
            meta.title = title
        meta.attachments = []  # only the files given in code are embedded
        pdf = rendered.write_pdf(pdf_variant=variant, attachments=atts, uncompressed_pdf=False,
                                 finisher=_finisher(PDF_UA_PART if ua else None))
    except RenderError:
        raise
    except Exception as exc:  # noqa: BLE001 - WeasyPrint raises many kinds
        raise RenderError(f"PDF rendering failed: {exc}") from exc
    finally:
        _RENDER.fonttools, _RENDER.timestamp = False, None
    if fetcher.refused:
        raise RenderError("the document references resources outside the template folders "
                          f"(refused, nothing read): {', '.join(u[:120] for u in fetcher.refused)}")
    return pdf


class WeasyPrintRenderer(Renderer):
    """The default renderer: WeasyPrint, archival (PDF/A-3a, PDF/UA-1), reproducible, confined (module docstring).

    Stateless: WeasyPrint itself is imported on the first render, and the font
    configuration it reuses is per thread (:func:`_font_config`).
    """

    name = DEFAULT_RENDERER_NAME

    def html_to_pdf(self, html: str, *, base_dir, allowed_dirs=(), attachments=(), created: datetime,
                    variant: str = DEFAULT_VARIANT, pdf_ua: bool | None = None, title: str | None = None,
                    font_subsetter: str | None = None) -> bytes:
        """Render with WeasyPrint (arguments, result and errors: :func:`html_to_pdf`)."""
        return _render_weasyprint(html, base_dir=base_dir, allowed_dirs=allowed_dirs, attachments=attachments,
                                  created=created, variant=variant, pdf_ua=pdf_ua, title=title,
                                  font_subsetter=font_subsetter)

    def font_subsetter(self) -> str:
        """``"harfbuzz-subset <version>"`` when HarfBuzz-Subset is installed, else ``"fonttools <version>"``."""
        return _weasyprint_font_subsetter()

    def warn_setup(self, *, stacklevel: int = 2) -> str | None:
        """:class:`FontSubsetterWarning` (once per process) when HarfBuzz-Subset is missing."""
        return _warn_if_no_harfbuzz(stacklevel=stacklevel + 1)


_DEFAULT_RENDERER = WeasyPrintRenderer()


def get_renderer() -> Renderer:
    """The renderer for this context: the one set with :func:`~xai_reports.render.use_renderer`, else WeasyPrint.

    Examples::

        >>> get_renderer().name
        'weasyprint'
    """
    chosen = selected_renderer()
    return _DEFAULT_RENDERER if chosen is None else chosen


def font_subsetter() -> str:
    """The font subsetter the current renderer uses: ``"harfbuzz-subset <version>"`` or ``"fonttools <version>"``
    with WeasyPrint.

    Recorded in every document's record (``software.font_subsetter``): the two
    give different bytes for the same document.

    Examples::

        >>> font_subsetter().split()[0] in ("harfbuzz-subset", "fonttools")
        True
    """
    return get_renderer().font_subsetter()


def renderer_software() -> dict:
    """The current renderer's fields for a record's ``software`` block (:meth:`Renderer.software`):
    ``{"font_subsetter": ...}``, plus ``"renderer"`` when it is not WeasyPrint."""
    return get_renderer().software()


def warn_if_no_harfbuzz(*, stacklevel: int = 2) -> str | None:
    """Warn once per process about the current renderer's setup (WeasyPrint: HarfBuzz-Subset missing);
    the message, or ``None``."""
    return get_renderer().warn_setup(stacklevel=stacklevel + 1)



def warm_up(dirs) -> None:
    """Lay out one tiny page with the current renderer, so fonts are loaded before a batch's first
    document (an optimisation of batch workers: a failure here is ignored, the first document reports it)."""
    try:
        html_to_pdf('<html lang="en"><head><title>warm-up</title></head><body><p>warm-up</p></body></html>',
                    base_dir=dirs[-1], allowed_dirs=list(dirs), created=datetime(2000, 1, 1, tzinfo=timezone.utc))
    except Exception:  # noqa: BLE001 - an optimisation; the first document reports real errors
        pass


def html_to_pdf(html: str, *, base_dir, allowed_dirs=(), attachments=(), created: datetime,
                variant: str = DEFAULT_VARIANT, pdf_ua: bool | None = None, title: str | None = None,
                font_subsetter: str | None = None) -> bytes:
    """Render ``html`` to the bytes of an archival, accessible PDF.

    Args:
        html: the complete document (``<html lang>`` and ``<title>`` required
            for tagged variants; every ``<img>`` needs ``alt``).
        base_dir: folder relative URLs resolve against (a template folder).
        allowed_dirs: other folders whose files the document may read
            (templates, fonts). Nothing outside ``base_dir`` and these is read.
        attachments: ``(name, bytes, description)`` files embedded as PDF/A-3
            associated files with relationship ``Data`` (the JSON record).
        created: the document date (from the decision record, not the clock):
            used for the PDF and XMP dates and the attachments' dates, so the
            output is byte-for-byte reproducible.
        variant: WeasyPrint ``pdf_variant``. Default ``"pdf/a-3a"`` (tagged);
            ``"pdf/a-3b"`` for an untagged archival file. PDF/A-3 is the only
            PDF/A part that keeps embedded files.
        pdf_ua: also claim PDF/UA-1 (default: whenever ``variant`` is tagged).
        title: document title; default the HTML ``<title>``.
        font_subsetter: ``"harfbuzz-subset"`` or ``"fonttools"`` (a recorded
            ``"<name> <version>"`` works too; the version is not checked here);
            default: HarfBuzz-Subset when installed. Re-renders pass the
            record's ``software.font_subsetter`` so the bytes can match.

    Returns:
        The PDF as ``bytes``.

    Raises:
        RenderError: the HTML loads a resource that is not inline (named),
            misses what PDF/UA needs (lang, title, alt text), WeasyPrint fails,
            or ``font_subsetter="harfbuzz-subset"`` where it is not installed.

    Examples::

        >>> from datetime import datetime
        >>> pdf = html_to_pdf('<html lang="en"><title>T</title><p>x</p></html>', base_dir=".",
        ...                   created=datetime(2026, 1, 2))
        >>> b"pdfuaid" in pdf
        True
    """
    return get_renderer().html_to_pdf(html, base_dir=base_dir, allowed_dirs=allowed_dirs, attachments=attachments,
                                      created=created, variant=variant, pdf_ua=pdf_ua, title=title,
                                      font_subsetter=font_subsetter)
