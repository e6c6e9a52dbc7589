"""Values formatted for people (letters never show raw column names or codes).

Numbers follow the letter's language: English ``1,234.5``; Spanish ``1234,5``
and ``12.345,5`` (CLDR ``es``: a group separator only from five integer
digits), percent ``12 %``. Amounts (``format: currency``) carry the pack's
currency (``currency: {code, symbol, position}``), before the number in
English and after it in Spanish unless the pack says otherwise. A feature's
``unit`` prints in every format ("24 months"; ``translations.<lang>.unit`` in
other languages).
"""

from __future__ import annotations

import math

# decimal mark, group separator, minimum integer digits before grouping (CLDR)
_NUMBERS = {"en": (".", ",", 4), "es": (",", ".", 5)}


def _number(x: float, decimals: int, language: str) -> str:
    dec, grp, min_group = _NUMBERS.get(language, _NUMBERS["en"])
    s = f"{abs(x):.{decimals}f}"
    int_part, _, frac = s.partition(".")
    if len(int_part) >= min_group:
        groups = []
        while len(int_part) > 3:
            groups.insert(0, int_part[-3:])
            int_part = int_part[:-3]
        groups.insert(0, int_part)
        int_part = grp.join(groups)
    out = int_part + (dec + frac if frac else "")
    negative = x < 0 and any(ch not in "0.," for ch in s)
    return ("-" if negative else "") + out


def format_number(x: float, decimals: int = 0, language: str = "en") -> str:
    """``x`` with ``decimals`` decimals, in ``language``'s number style.

    Examples::

        >>> format_number(7979, 0, "en"), format_number(7979, 0, "es"), format_number(12345.5, 1, "es")
        ('7,979', '7979', '12.345,5')
    """
    return _number(float(x), decimals, language)


def _unit(spec, language: str) -> str | None:
    if language != "en":
        tr = spec.translations.get(language)
        if tr is not None and tr.unit:
            return tr.unit
    return spec.unit


def format_value(value, spec, *, language: str = "en", currency=None) -> str:
    """Format ``value`` as the pack's feature ``spec`` says (percent, currency, units, labels).

    Args:
        value: the raw or typed value.
        spec: the feature's :class:`~xai_reports.packs.schema.FeatureSpec`.
        language: the document's language (number style, translated unit).
        currency: the pack's :class:`~xai_reports.packs.schema.Currency` (default: US dollars, "$").

    Examples::

        >>> from xai_reports.packs.schema import FeatureSpec, Currency
        >>> format_value(24, FeatureSpec(label="Term", type="numeric", format="integer", unit="months"))
        '24 months'
        >>> eur = Currency(code="EUR", symbol="€")
        >>> format_value(7979, FeatureSpec(label="Amount", type="numeric", format="currency", decimals=0), currency=eur)
        '€7,979'
        >>> format_value(7979, FeatureSpec(label="Amount", type="numeric", format="currency", decimals=0),
        ...              language="es", currency=eur)
        '7979 €'
    """
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
    unit = _unit(spec, language)
    if spec.format == "percent":
        s = _number(x * 100, d, language) + ("%" if language == "en" else " %")
        if unit == "%":
            unit = None
    elif spec.format == "currency":
        symbol = currency.symbol if currency is not None else "$"
        position = (currency.position if currency is not None and currency.position else
                    ("after" if language == "es" else "before"))
        num = _number(x, d, language)
        if position == "after":
            s = f"{num} {symbol}"
        elif x < 0 and num.startswith("-"):
            s = f"-{symbol}{num[1:]}"
        else:
            s = f"{symbol}{num}"
    elif spec.format == "integer":
        s = _number(float(round(x)), 0, language)
    else:
        s = _number(x, d, language)
    if unit:
        s += unit if (unit == "%" and language == "en") else f" {unit}"
    return s
