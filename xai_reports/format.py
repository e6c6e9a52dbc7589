"""Values formatted for people (letters never show raw column names or codes)."""

from __future__ import annotations

import math


def format_value(value, spec) -> str:
    """Format ``value`` as the pack's feature ``spec`` says (percent, currency, labels)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "not provided"
    key = str(value)
    if isinstance(value, float) and value.is_integer():
        key = str(int(value))
    if key in spec.category_labels:
        return spec.category_labels[key]
    if spec.type in ("categorical", "binary"):
        return str(value)
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    d = spec.decimals
    if spec.format == "percent":
        s = f"{x * 100:,.{d}f}%"
    elif spec.format == "currency":
        s = f"${x:,.{d}f}"
    elif spec.format == "integer":
        s = f"{int(round(x)):,}"
    else:
        s = f"{x:,.{d}f}"
        if spec.unit:
            s += spec.unit if spec.unit in ("%",) else f" {spec.unit}"
    return s
