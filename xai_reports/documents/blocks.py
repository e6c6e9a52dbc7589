"""The content-tree vocabulary of documents: blocks as plain data, and number formatting.

A document's content is a list of sections, each a list of blocks. A block is a
plain ``dict`` with a ``"type"`` the templates know how to print:

============  =====================================  ==========================
type          built by                               holds
============  =====================================  ==========================
``p``         :func:`paragraph`, :func:`not_computed`  ``text``, ``class``
``ul``        :func:`bullet_list`                    ``items``
``kv``        :func:`key_value_table`                ``rows`` of two strings
``table``     :func:`table` (cells: :func:`cell`)    ``columns``, ``rows``, ...
``details``   :func:`collapsible`                    ``summary``, ``blocks``
``figure``    :func:`figure`                         ``figure`` (an id), ...
``h3``        :func:`subheading`                     ``text``
``grid``      :func:`grid`                           ``blocks`` side by side
============  =====================================  ==========================

Nothing here produces HTML: the tree is data (it goes into the JSON record as
it is) and the renderer turns it into HTML or PDF through the pack's template.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

NOT_COMPUTED = "not computed in this run: "

__all__ = ["NOT_COMPUTED", "is_nan", "fixed", "percent", "p_value_text", "p_value_phrase", "bounded_list",
           "cell", "table", "paragraph", "bullet_list", "key_value_table", "collapsible", "figure", "subheading",
           "grid", "not_computed", "jsonable"]


# ----------------------------------------------------------------------------- numbers as text
def is_nan(x) -> bool:
    """``True`` for ``None`` and for a float NaN (a number the run could not compute)."""
    return x is None or (isinstance(x, (float, np.floating)) and math.isnan(float(x)))


def fixed(x, digits: int = 3) -> str:
    """A number with ``digits`` decimals and thousands separators (``1,234.568``), or ``n/a``."""
    return "n/a" if is_nan(x) else f"{float(x):,.{digits}f}"


def percent(x, digits: int = 1) -> str:
    """A share as a percentage (``0.1234`` -> ``12.3%``), or ``n/a``."""
    return "n/a" if is_nan(x) else f"{100 * float(x):.{digits}f}%"


def p_value_text(p) -> str:
    """A p-value for a table cell: ``<0.001`` or ``0.013`` (``n/a`` when missing)."""
    if is_nan(p):
        return "n/a"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def p_value_phrase(p) -> str:
    """A p-value for a sentence: ``p < 0.001`` or ``p = 0.013`` (``p n/a`` when missing)."""
    if is_nan(p):
        return "p n/a"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def bounded_list(items: list[str], limit: int = 6) -> str:
    """``a, b, c and 4 more``: at most ``limit`` items joined by commas (for a finding's evidence)."""
    head = ", ".join(items[:limit])
    return head + (f" and {len(items) - limit} more" if len(items) > limit else "")


# ----------------------------------------------------------------------------- blocks
def cell(text, value=None, *, title=None, flag: str | None = None) -> dict:
    """A table cell: the display ``text``, a sortable ``value`` (numbers as floats), a hover ``title``
    (default: the full-precision value of a float) and an optional ``flag`` CSS class."""
    c = {"text": str(text)}
    if value is not None and not is_nan(value):
        c["value"] = float(value) if isinstance(value, (int, float, np.number)) and not isinstance(value, bool) else value
    if title is not None:
        c["title"] = str(title)
    elif value is not None and isinstance(value, (float, np.floating)) and not is_nan(value):
        c["title"] = repr(float(value))
    if flag:
        c["flag"] = flag
    return c


def table(columns, rows, *, caption=None, sortable=True, id=None, numeric=None) -> dict:
    """A table: column headings, rows of :func:`cell` dicts, a caption, whether the reader may sort it,
    an HTML id, and the indices of the numeric (right-aligned) columns."""
    return {"type": "table", "columns": list(columns), "rows": rows, "caption": caption,
            "sortable": sortable, "id": id, "numeric": list(numeric or [])}


def paragraph(text, cls=None) -> dict:
    """A paragraph, with an optional CSS class (``warning``, ``legal``, ...)."""
    return {"type": "p", "text": str(text), "class": cls}


def bullet_list(items) -> dict:
    """A bulleted list of strings."""
    return {"type": "ul", "items": [str(i) for i in items]}


def key_value_table(rows) -> dict:
    """A two-column table of ``(label, value)`` pairs, both printed as strings."""
    return {"type": "kv", "rows": [[str(a), str(b)] for a, b in rows]}


def collapsible(summary, blocks) -> dict:
    """Blocks folded under a one-line ``summary`` (an HTML ``<details>``; expanded in print)."""
    return {"type": "details", "summary": str(summary), "blocks": blocks}


def figure(fig_id, caption, alt) -> dict:
    """A figure by id (its spec lives in the document's ``figures``), with a caption and alt text."""
    return {"type": "figure", "figure": fig_id, "caption": caption, "alt": alt}


def subheading(text) -> dict:
    """A heading inside a section."""
    return {"type": "h3", "text": text}


def grid(blocks) -> dict:
    """Blocks (usually figures) laid out side by side."""
    return {"type": "grid", "blocks": blocks}


def not_computed(why: str) -> dict:
    """The paragraph that says a part of the document was not computed in this run, and why."""
    return {"type": "p", "text": NOT_COMPUTED + why, "class": "not-computed"}


def jsonable(o):
    """``o`` with numpy scalars and arrays, tuples and DataFrames made JSON-ready; NaN and infinity become
    ``None``."""
    if isinstance(o, dict):
        return {str(k): jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [jsonable(v) for v in o]
    if isinstance(o, np.ndarray):
        return [jsonable(v) for v in o.tolist()]
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating, float)):
        f = float(o)
        return None if math.isnan(f) or math.isinf(f) else f
    if isinstance(o, np.bool_):
        return bool(o)
    if isinstance(o, pd.DataFrame):
        return jsonable(o.to_dict(orient="records"))
    return o
