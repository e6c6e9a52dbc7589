"""Where the shipped templates and domain packs live.

In a wheel they are copied into ``xai_reports/_data``; in a source checkout
(editable install, or running from the repository) they are the top-level
``templates/`` and ``domains/`` folders next to the package.
"""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent


def _root(kind: str) -> Path:
    packaged = _PKG / "_data" / kind
    if packaged.is_dir():
        return packaged
    return _PKG.parent / kind


def templates_dir() -> Path:
    """Folder of the shipped Jinja templates."""
    return _root("templates")


def domains_dir() -> Path:
    """Folder of the shipped domain packs (one sub-folder per pack)."""
    return _root("domains")
