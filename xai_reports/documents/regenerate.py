"""Re-render any document from its JSON record (``xai_reports.regenerate`` and ``xai-reports regenerate``)."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import InputError
from ..io.outputs import atomic_write, inside
from .base import kind_of_record, registered_kinds

__all__ = ["regenerate"]


def regenerate(record_path, out_dir, *, pack=None, formats=("pdf", "html"), templates=None) -> list[Path]:
    """Re-render the document of the record at ``record_path`` into ``out_dir`` (files named like the
    record), exactly as it was written: the record's kind is looked up in the kind registry and its
    ``rerender`` function renders the files with the recorded pack and templates (for a letter, Reg B
    1002.12(b)). Returns the files written.

    Raises:
        InputError: not a record, a flagged decision (no document), or a kind that cannot be re-rendered.
        PackError, TemplateError: the recorded pack or templates are not found here.
    """
    path = Path(record_path)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the record ({exc})", file=path) from None
    if isinstance(record, dict) and "document" in record and record["document"] is None:
        raise InputError("this decision was flagged for human review; it has no document to regenerate", file=path)
    kind = kind_of_record(record)
    if kind is None or kind.rerender is None:
        known = ", ".join(k.name for k in registered_kinds() if k.rerender)
        raise InputError(f"not the record of a document that can be re-rendered (kinds: {known})", file=path)
    files = kind.rerenderer()(record, pack=pack, templates=templates, formats=tuple(formats))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for ext, data in files.items():
        target = inside(out, f"{path.stem}.{ext}")
        atomic_write(target, data)
        written.append(target)
    return written
