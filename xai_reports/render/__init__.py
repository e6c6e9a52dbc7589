"""Rendering: Jinja templates to HTML, a :class:`Renderer` (WeasyPrint by default) to PDF. Never computes an
explanation.

Tests that need no real PDF select the pure-Python :class:`MockRenderer` with
``with use_renderer(MockRenderer()): ...`` (see :mod:`.backend`)."""

from .env import (TemplateSearchPath, check_recorded_template, environment, localized_template, long_date, render_template,
                  template_fingerprint, template_search_path)
from .backend import Renderer, use_renderer
from .mock import MockRenderer, is_mock_pdf
from .pdf import (DEFAULT_VARIANT, FontSubsetterWarning, WeasyPrintRenderer, font_subsetter, get_renderer, html_to_pdf,
                  renderer_software, safe_fetcher)
from .images import png_bytes, png_data_uri
from .records import render_record_files
from .safety import accessibility_problems, external_resources

__all__ = ["check_recorded_template", "render_record_files", "environment", "render_template", "template_fingerprint", "long_date", "html_to_pdf", "safe_fetcher",
           "font_subsetter", "FontSubsetterWarning",
           "template_search_path", "TemplateSearchPath", "localized_template", "DEFAULT_VARIANT",
           "external_resources", "accessibility_problems", "png_bytes", "png_data_uri",
           "Renderer", "WeasyPrintRenderer", "MockRenderer", "use_renderer", "get_renderer", "renderer_software",
           "is_mock_pdf"]
