"""A third-party library's error message, shortened for the one-line errors adapters raise."""

from __future__ import annotations

import re

from ..errors import brief


def library_reason(exc: BaseException, limit: int = 120) -> str:
    """A library's error as a short clause for a one-line message: its first line, without XGBoost's
    ``[12:00:00] /src/file.cc:27:`` prefix, cut to ``limit`` characters (libraries quote the
    offending input, which can be a whole file)."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    first = re.sub(r"^\[\d{2}:\d{2}:\d{2}\]\s*\S+:\d+:\s*", "", first)
    return brief(first or type(exc).__name__, limit)
