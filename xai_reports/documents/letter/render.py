"""Rendering adverse-action letters from their records: one record to its files, the
picklable renderer of the batch workers, and the re-render ``regenerate`` and ``verify`` use.

A letter is rendered from ``record["document"]`` alone, so a stored record
regenerates the same letter, byte for byte.
"""

from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

from ...batch.packref import PackHandle
from ...errors import TemplateError
from ...io.outputs import canonical_json
from ...io.storage import is_url
from ...packs import load_recorded_pack
from ...render import (check_recorded_template, localized_template, render_record_files, template_fingerprint,
                       template_search_path)
from ...render.pdf import warm_up

FORMATS = ("pdf", "html", "json")


def render_letter(record: dict, pack, *, formats=FORMATS, templates=None) -> dict[str, bytes]:
    """Render one decision record to its files (``{"html": ..., "pdf": ..., "json": ...}``).

    The letter is rendered from ``record["document"]`` alone, so a stored record
    regenerates the same letter (byte for byte: dates come from the record).

    Args:
        record: a decision record with a ``document`` (not a flagged one).
        pack: the loaded pack.
        formats: any of ``"html"``, ``"pdf"``, ``"json"``.
        templates: user template folder(s) searched before the pack's.

    Returns:
        ``{format: bytes}``. The PDF is PDF/A-3a + PDF/UA-1 with the JSON record
        embedded as ``record.json`` (relationship ``Data``).
    """
    dirs = template_search_path(pack.template_dirs(), templates)
    created = datetime.fromisoformat(record["document"]["content"]["date"]).replace(tzinfo=timezone.utc)
    return render_record_files(record, dirs, formats, created=created, description="Decision record (JSON)")


def letter_template(pack, lang: str, dirs) -> str | None:
    """The letter template for ``lang``: the pack's ``templates["letter.<lang>"]``, else
    ``<letter stem>.<lang>.html.j2`` found in the template folders, else (English) the
    pack's ``letter``. ``None`` when the pack has no template in that language."""
    base = pack.templates.get("letter")
    explicit = pack.templates.get(f"letter.{lang}")
    if explicit:
        return explicit
    if not base:
        return None
    name = localized_template(base, lang, dirs)
    return name if (name != base or lang == "en") else None


def rerender_letter(record: dict, *, pack=None, templates=None, formats=("pdf",)) -> dict[str, bytes]:
    """The files a letter record renders to now (used by ``xai-reports verify``).

    Raises:
        TemplateError: the templates differ from the version the record names.
    """
    pack = load_recorded_pack(record.get("pack"), pack)
    check_recorded_template(record, pack.template_dirs(), templates)
    return render_letter(record, pack, formats=formats, templates=templates)


class LetterRenderer:
    """Picklable ``record -> {suffix: bytes}`` for the batch engine's workers.

    It travels as a reference to its pack (the shipped pack's name, or the pack
    file's path) plus the pack's SHA-256; a worker loads the pack once per
    process, refuses a pack whose content differs from the driver's, and
    checks once per template that its templates are the ones fingerprinted in
    the records, so a worker can never render with other files.

    Args:
        pack: the loaded pack.
        formats: the formats to write.
        templates: user template folder(s) searched before the pack's (the
            workers must see them at the same path).

    Examples::

        >>> files = LetterRenderer(load_pack("finance"), ("pdf", "json"))(record)
        >>> sorted(files)
        ['json', 'pdf']
    """

    def __init__(self, pack, formats=FORMATS, templates=None):
        self.formats = tuple(formats)
        self.templates = None if templates is None else [t if is_url(t) else str(Path(t).resolve()) for t in
                                                         ([templates] if isinstance(templates, (str, Path))
                                                          else templates)]
        self._handle = PackHandle(pack)   # pickles as a reference: workers load (and check) their own

    @property
    def pack(self):
        return self._handle.pack

    def __call__(self, record: dict) -> dict[str, bytes]:
        if record.get("document") is None or not {"pdf", "html"} & set(self.formats):
            # flagged for human review, or records only: the JSON record alone (what render_letter writes)
            return {"json": canonical_json(record).encode("utf-8")} if "json" in self.formats else {}
        tpl = record["document"].get("template")
        if tpl:
            _check_template(tpl["name"], tpl["sha256"], self.pack, self.templates)
        return render_letter(record, self.pack, formats=self.formats, templates=self.templates)

    def warm_up(self) -> None:
        """Import WeasyPrint and lay out a page once, so fonts are loaded before the first letter."""
        if "pdf" in self.formats:
            warm_up(self.pack.template_dirs())


@lru_cache(maxsize=32)
def _template_ok(name: str, sha256: str, pack_dirs: tuple, templates: tuple | None) -> bool:
    dirs = template_search_path(list(pack_dirs), None if templates is None else list(templates))
    return template_fingerprint(name, dirs)["sha256"] == sha256


def _check_template(name, sha256, pack, templates):
    def ok():
        return _template_ok(name, sha256, tuple(map(str, pack.template_dirs())),
                            None if templates is None else tuple(templates))

    if not ok() and templates is not None and any(is_url(t) for t in templates):
        from ...io.remote import forget_trees  # a stale copy of a bucket's templates: copy them again

        forget_trees()
        _template_ok.cache_clear()
    if not ok():
        raise TemplateError(f"template '{name}' here differs from the one recorded (sha256 {sha256[:12]}); "
                            "every worker must have the same templates as the driver")
