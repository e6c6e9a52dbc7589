"""The PDF renderer interface and the choice of renderer for the current context.

A document pipeline turns its record into HTML with Jinja (:mod:`.env`), then
asks a :class:`Renderer` for the PDF. Today's renderer is WeasyPrint
(:class:`~xai_reports.render.pdf.WeasyPrintRenderer`, the default, which makes
the archival PDF/A-3a + PDF/UA-1 files); tests can swap in
:class:`~xai_reports.render.mock.MockRenderer`, which needs no WeasyPrint.

The choice is made in Python, never on the command line, and never by changing
a pipeline's signature: :func:`use_renderer` sets the renderer for the current
context (this thread, or this ``asyncio`` task) until the ``with`` block ends,
and every module-level function of :mod:`xai_reports.render.pdf`
(``html_to_pdf``, ``font_subsetter``, ...) asks
:func:`~xai_reports.render.pdf.get_renderer` which renderer to use. Threads
started inside the block (and worker processes of a batch pool) do not see
the choice: they render with the default. A record made with a renderer other
than the default says so (``software.renderer``, see :meth:`Renderer.software`).

Examples::

    >>> from xai_reports.render import MockRenderer, get_renderer, use_renderer
    >>> with use_renderer(MockRenderer()) as mock:
    ...     get_renderer() is mock
    True
    >>> get_renderer().name
    'weasyprint'
"""

from __future__ import annotations

import contextlib
import contextvars
from abc import ABC, abstractmethod
from collections.abc import Iterator
from datetime import datetime

__all__ = ["Renderer", "use_renderer", "selected_renderer", "DEFAULT_VARIANT", "DEFAULT_RENDERER_NAME"]

DEFAULT_VARIANT = "pdf/a-3a"
DEFAULT_RENDERER_NAME = "weasyprint"

_SELECTED: contextvars.ContextVar[Renderer | None] = contextvars.ContextVar("xai_reports_renderer", default=None)


class Renderer(ABC):
    """What the document pipelines need from a PDF engine: complete HTML in, PDF bytes out.

    A renderer is stateless from the pipelines' point of view: the same
    arguments give the same bytes (a record's PDF is re-rendered by ``verify``
    and compared byte for byte). Implementations: ``WeasyPrintRenderer`` (the
    default) and ``MockRenderer`` (tests).

    Attributes:
        name: short identifier; recorded as ``software.renderer`` in every record
            a renderer other than the default makes.
    """

    name: str = ""

    @abstractmethod
    def html_to_pdf(self, html: str, *, base_dir, allowed_dirs=(), attachments=(), created: datetime,
                    variant: str = DEFAULT_VARIANT, pdf_ua: bool | None = None, title: str | None = None,
                    font_subsetter: str | None = None) -> bytes:
        """Render ``html`` to PDF bytes.

        Args:
            html: the complete document (``<html lang>`` and ``<title>`` required for
                tagged variants; every ``<img>`` needs ``alt``).
            base_dir: folder relative URLs resolve against (a template folder).
            allowed_dirs: other folders whose files the document may read; nothing
                outside ``base_dir`` and these is read.
            attachments: ``(name, bytes, description)`` files embedded with
                relationship ``Data`` (the JSON record).
            created: the document date (from the record, never the clock).
            variant: PDF variant (default ``"pdf/a-3a"``, tagged).
            pdf_ua: also claim PDF/UA-1 (default: whenever ``variant`` is tagged).
            title: document title; default the HTML ``<title>``.
            font_subsetter: the subsetter a record names (``software.font_subsetter``),
                so a re-render can match its bytes; ``None``: this renderer's own.

        Returns:
            The PDF as ``bytes``.

        Raises:
            RenderError: the HTML is not self-contained or accessible, or the
                engine fails.
        """

    @abstractmethod
    def font_subsetter(self) -> str:
        """The font subsetter this renderer uses (``"<name> <version>"``), recorded as
        ``software.font_subsetter``."""

    def software(self) -> dict:
        """The fields this renderer adds to a record's ``software`` block.

        ``{"font_subsetter": ...}``, plus ``{"renderer": name}`` when this is not the
        default renderer, so a record (and ``verify``) can tell a mock-made document
        from a real one while the default's records stay as they are.
        """
        out = {"font_subsetter": self.font_subsetter()}
        if self.name != DEFAULT_RENDERER_NAME:
            out["renderer"] = self.name
        return out

    def warn_setup(self, *, stacklevel: int = 2) -> str | None:
        """Warn (once per process) about a setup that changes the output, and return the message;
        ``None`` when there is nothing to say (the default)."""
        return None


@contextlib.contextmanager
def use_renderer(renderer: Renderer) -> Iterator[Renderer]:
    """Render with ``renderer`` in the current context until the ``with`` block ends.

    Context-local (a ``contextvars.ContextVar``): other threads, ``asyncio`` tasks
    started before the block, and worker processes keep the default. Blocks nest;
    the previous choice comes back on exit, also after an exception.

    Args:
        renderer: a :class:`Renderer` instance.

    Yields:
        ``renderer``.

    Raises:
        TypeError: ``renderer`` is not a :class:`Renderer`.
    """
    if not isinstance(renderer, Renderer):
        raise TypeError(f"use_renderer() needs a Renderer instance, not {type(renderer).__name__}")
    token = _SELECTED.set(renderer)
    try:
        yield renderer
    finally:
        _SELECTED.reset(token)


def selected_renderer() -> Renderer | None:
    """The renderer chosen with :func:`use_renderer` in this context, or ``None`` (the default applies)."""
    return _SELECTED.get()
