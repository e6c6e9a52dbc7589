"""The registry of document kinds.

A *document kind* (an adverse-action letter, an audit report, a case-review
sheet, an incident report, or one a third party adds) registers itself here
with strings only: the pack section it owns and that section's schema, its
template, and the functions that build, re-render and batch it, each as
``"module:name"`` imported when first used. The pack schema, ``verify``,
``regenerate`` and the CLI look kinds up instead of naming sectors, so a new
kind is one :func:`register_kind` call, and importing this module (or
:mod:`xai_reports.documents`) imports neither torch nor WeasyPrint.

Examples::

    >>> from xai_reports.documents import get_kind
    >>> get_kind("letter").section
    'letter'
    >>> get_kind("letter").legacy_sections
    ('finance',)
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from ..errors import PackError

__all__ = ["DocumentKind", "register_kind", "get_kind", "registered_kinds", "kind_of_record",
           "kind_for_section", "registry_version", "resolve"]


def resolve(target: str):
    """The object a ``"module:name"`` string names (``name`` may be dotted)."""
    mod, sep, attr = target.partition(":")
    if not sep or not mod or not attr:
        raise ValueError(f"expected 'module:name', got {target!r}")
    obj = importlib.import_module(mod)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


@dataclass(frozen=True)
class DocumentKind:
    """One kind of document, as the pack schema, the CLI, ``verify`` and ``regenerate`` see it.

    Every callable is a ``"module:name"`` string, imported only when used.

    Attributes:
        name: the kind's name, as packs list it under ``kinds:`` (``"letter"``).
        title: what people call the document (``"adverse-action letter"``).
        plural: what messages call several of them (``"letters"``).
        section: the pack section the kind owns (``letter:``); ``None`` for a kind without one.
        schema: ``"module:Class"`` of that section's pydantic model. The model may define
            ``check_pack(self, pack)``, called with the validated pack, for checks across sections
            (raise :class:`~xai_reports.errors.KeyedError` to name the key).
        legacy_sections: older names of the section (``("finance",)``), still read with a
            ``DeprecationWarning``.
        template_key: the key under the pack's ``templates:`` naming the kind's template.
        default_template: the shipped template a pack usually names there.
        build: ``"module:function"`` building the document's content tree.
        rerender: ``"module:function(record, *, pack=None, templates=None, formats=("pdf",))
            -> {format: bytes}"``: the files a stored record renders to now (``verify``, ``regenerate``).
        batch_job: ``"module:Class"`` of the kind's :class:`~xai_reports.batch.BatchJob`, if it has one.
        command: the CLI command writing this kind (``"letters"``).
        record_kinds: the ``document.kind`` values its records carry (``"adverse_action_letter"``).
        record_schemas: record ``schema`` values that mean this kind when a record has no ``document.kind``.
        manifest_kind: the ``kind`` of the run manifests it writes.
        file_prefix: the prefix of its output files (``"letter_"``).
        summary_field: the ``summary.json`` field counting its documents (batch kinds).
        section_use: why the kind needs its section (completes "the pack has no 'x' section: ...").
    """

    name: str
    title: str
    plural: str = ""
    section: str | None = None
    schema: str | None = None
    legacy_sections: tuple[str, ...] = ()
    template_key: str | None = None
    default_template: str | None = None
    build: str | None = None
    rerender: str | None = None
    batch_job: str | None = None
    command: str | None = None
    record_kinds: tuple[str, ...] = ()
    record_schemas: tuple[str, ...] = ()
    manifest_kind: str | None = None
    file_prefix: str | None = None
    summary_field: str | None = None
    section_use: str = "it is required"

    def __post_init__(self):
        if not self.name.isidentifier() or self.name != self.name.lower():
            raise ValueError(f"a document kind's name is a lowercase identifier, got {self.name!r}")

    def section_schema(self):
        """The pydantic model of the kind's pack section (``None`` when it has none)."""
        return None if self.schema is None else resolve(self.schema)

    def rerenderer(self):
        """The kind's re-render function (``None`` when its documents cannot be re-rendered)."""
        return None if self.rerender is None else resolve(self.rerender)

    def builder(self):
        """The kind's content builder (``None`` when it declares none)."""
        return None if self.build is None else resolve(self.build)

    def job(self):
        """The kind's batch job class (``None`` when it is not a batch kind)."""
        return None if self.batch_job is None else resolve(self.batch_job)


_KINDS: dict[str, DocumentKind] = {}
_VERSION = [0]


def register_kind(kind: DocumentKind, *, replace: bool = False) -> DocumentKind:
    """Register ``kind`` (the pack schema gains its section; ``verify`` can re-render it).

    Args:
        kind: the kind to add.
        replace: allow replacing a kind of the same name (else a ``ValueError``).

    Returns:
        ``kind``.

    Raises:
        ValueError: the name, its section or a legacy section name is taken by another kind.
    """
    if not isinstance(kind, DocumentKind):
        raise TypeError(f"expected a DocumentKind, got {type(kind).__name__}")
    if kind.name in _KINDS and not replace:
        raise ValueError(f"document kind {kind.name!r} is already registered")
    mine = {kind.section, *kind.legacy_sections} - {None}
    for other in _KINDS.values():
        if other.name == kind.name:
            continue
        clash = mine & ({other.section, *other.legacy_sections} - {None})
        if clash:
            raise ValueError(f"pack section {sorted(clash)[0]!r} of kind {kind.name!r} is already kind "
                             f"{other.name!r}'s")
    _KINDS[kind.name] = kind
    _VERSION[0] += 1
    return kind


def unregister_kind(name: str) -> None:
    """Remove a registered kind (tests and plug-ins that register one temporarily)."""
    if _KINDS.pop(name, None) is not None:
        _VERSION[0] += 1


def registry_version() -> int:
    """A number that changes whenever a kind is registered or removed (caches key on it)."""
    return _VERSION[0]


def get_kind(name: str) -> DocumentKind:
    """The registered kind ``name``.

    Raises:
        PackError: no such kind (the message lists the known ones).
    """
    kind = _KINDS.get(name)
    if kind is None:
        raise PackError(f"unknown document kind {name!r} (registered kinds: {', '.join(sorted(_KINDS))})")
    return kind


def registered_kinds() -> list[DocumentKind]:
    """Every registered kind, in registration order."""
    return list(_KINDS.values())


def kind_for_section(key: str) -> tuple[DocumentKind, bool] | None:
    """``(kind, legacy)`` of the kind owning pack section ``key`` (``legacy``: ``key`` is an old name)."""
    for kind in _KINDS.values():
        if kind.section == key:
            return kind, False
        if key in kind.legacy_sections:
            return kind, True
    return None


def kind_of_record(record) -> DocumentKind | None:
    """The kind a stored record is a document of: by its ``document.kind``, else by its ``schema``."""
    if not isinstance(record, dict):
        return None
    doc = record.get("document")
    rkind = doc.get("kind") if isinstance(doc, dict) else None
    for kind in _KINDS.values():
        if rkind and rkind in kind.record_kinds:
            return kind
    if not rkind:
        for kind in _KINDS.values():
            if record.get("schema") in kind.record_schemas:
                return kind
    return None
