"""Print profiles: what a case-review sheet may show about the patient.

The pack declares the identifier columns (``identifier: true`` with their HIPAA
Safe Harbor category) and the print profiles. A *treatment* profile prints the
identifiers it lists (minimum necessary does not apply to treatment,
45 CFR 164.502(b)(2)(i)); a *safe_harbor* profile (research, QA, teaching)
prints none of the 18 identifier categories of 45 CFR 164.514(b)(2)(i): no
identifier column reaches the sheet, its HTML, PDF or embedded record, dates
are reduced to the year, and the sheet lists what was removed.

:func:`leak_check` is a last line of defence: before a de-identified sheet is
written, its text and record are searched for every identifier value of the
input row (dates in several spellings); a hit refuses the sheet.
"""

from __future__ import annotations

import re
from datetime import date

from ...errors import InputError, PrivacyError
from ...packs.fields import SAFE_HARBOR_CATEGORIES


def resolve_profile(pack, name: str | None):
    """``(name, PrintProfile)`` of the pack's profile ``name`` (default: the pack's default).

    Raises:
        InputError: an unknown profile name (lists those the pack offers).
    """
    hc = pack.spec.section("case_review")
    name = name or hc.default_profile
    if name not in hc.profiles:
        raise InputError(f"unknown print profile {name!r}; pack '{pack.spec.name}' offers: "
                         f"{', '.join(sorted(hc.profiles))}")
    return name, hc.profiles[name]


def format_date(value, profile) -> str:
    """An ISO date as printed under ``profile``: ``March 4, 2026``, or ``2026`` when dates are year-only."""
    d = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
    if profile.dates == "year":
        return str(d.year)
    from ...render import long_date

    return long_date(d, "en")


def _text(v) -> str | None:
    if v is None:
        return None
    if isinstance(v, float) and v != v:
        return None
    s = str(v).strip()
    return s or None


def patient_section(raw_row: dict, pack, profile_name: str, profile) -> dict:
    """The sheet's patient block under ``profile``.

    Returns:
        ``{"profile", "purpose", "description", "deidentified", "shown": [{"label", "value"}],
        "method", "removed_categories", "removed_columns"}``.
    """
    ids = pack.spec.identifier_features()
    shown = []
    if profile.deidentification is None:
        for col in profile.show_identifiers:
            val = _text(raw_row.get(col))
            if col in ids and ids[col].safe_harbor == "dates" and val:
                try:
                    val = format_date(val, profile)
                except ValueError:
                    pass
            shown.append({"label": ids[col].label, "value": val or "not provided"})
    present = [c for c in ids if _text(raw_row.get(c)) is not None]
    removed = [ids[c].label for c in present if c not in profile.show_identifiers]
    section = {
        "profile": profile_name,
        "purpose": profile.purpose,
        "description": profile.description,
        "deidentified": profile.deidentification == "safe_harbor",
        "shown": shown,
        "removed_columns": removed,
        "method": None,
        "removed_categories": [],
    }
    if profile.deidentification == "safe_harbor":
        section["method"] = ("HIPAA Safe Harbor, 45 CFR 164.514(b)(2): all 18 identifier categories are removed "
                             "from this sheet and its embedded record; dates are shown as the year only. "
                             "The case id is a re-identification code (164.514(c)): it is not derived from "
                             "patient information and its key stays with the covered entity. Safe Harbor "
                             "also requires no actual knowledge that the remaining information could identify "
                             "the patient; this software cannot check that, nor burned-in text in images.")
        section["removed_categories"] = list(SAFE_HARBOR_CATEGORIES.values())
    return section


_MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september",
           "october", "november", "december"]


def _variants(value: str, category: str | None) -> list[str]:
    """Spellings of an identifier value worth searching for (dates in common formats)."""
    v = value.strip()
    out = {v}
    if category == "dates":
        try:
            d = date.fromisoformat(v[:10])
        except ValueError:
            d = None
        if d:
            m = _MONTHS[d.month - 1]
            out |= {d.isoformat(), f"{d.month:02d}/{d.day:02d}/{d.year}", f"{d.day:02d}/{d.month:02d}/{d.year}",
                    f"{d.month}/{d.day}/{d.year}", f"{m} {d.day}, {d.year}", f"{d.day} {m} {d.year}",
                    f"{d.year}{d.month:02d}{d.day:02d}", f"{d.day:02d}.{d.month:02d}.{d.year}"}
    return [x for x in out if len(x) >= 4]


def identifier_values(raw_row: dict, pack) -> list[tuple[str, str]]:
    """``(column, spelling)`` for every identifier value of a row (what :func:`leak_check` looks for)."""
    out = []
    for col, spec in pack.spec.identifier_features().items():
        val = _text(raw_row.get(col))
        if val is None:
            continue
        for s in _variants(val, spec.safe_harbor):
            out.append((col, s))
    return out


_DATA_URI = re.compile(r"data:[A-Za-z0-9.+/-]+;base64,[A-Za-z0-9+/=]+")


def leak_check(texts: dict[str, str], raw_row: dict, pack, extra=()) -> None:
    """Refuse a de-identified document that contains any identifier value of ``raw_row``.

    Args:
        texts: ``{"html": ..., "json": ...}`` document texts to search (case-insensitive,
            whitespace-normalised).
        raw_row: the input row.
        pack: the loaded pack.
        extra: further ``(name, value, category)`` to search for (the identifying values of a DICOM
            header, :func:`~xai_reports.documents.case_review.dicom.identifying_values`).

    Raises:
        PrivacyError: naming the identifier column (never its value) and the document part.
    """
    # embedded figures (base64 data URIs) are pixels, not text: short values would match them by chance
    norm = {k: re.sub(r"\s+", " ", _DATA_URI.sub("data:", v)).lower() for k, v in texts.items()}
    needles = identifier_values(raw_row, pack)
    for name, value, category in extra:
        needles += [(f"DICOM header attribute {name}", s) for s in _variants(str(value), category)]
    for col, spelling in needles:
        needle = re.sub(r"\s+", " ", spelling).lower()
        pat = re.compile(r"(?<![0-9a-z])" + re.escape(needle) + r"(?![0-9a-z])")
        for part, text in norm.items():
            if pat.search(text):
                raise PrivacyError(f"the de-identified {part} would contain the value of identifier "
                                   f"{col if col.startswith('DICOM ') else 'column ' + repr(col)}; nothing was written")


__all__ = ["resolve_profile", "patient_section", "format_date", "leak_check", "identifier_values", "PrivacyError"]
