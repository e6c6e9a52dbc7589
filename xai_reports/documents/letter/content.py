"""The adverse-action letter as a plain content tree (no HTML, no PDF engine).

Items follow REGULATORY.md §1.2: date, applicant, action taken, creditor,
principal reasons, ECOA notice with the federal agency (unless the letter
section sets ``ecoa_notice: false``, e.g. tenant screening), FCRA
consumer-report and credit-score blocks where the pack says they apply, and a
contact. Nothing here assumes a sector: it reads the pack's ``letter`` section.
"""

from __future__ import annotations

import math

from ...format import format_value


def _address_lines(value) -> list[str]:
    if value is None or (isinstance(value, float) and math.isnan(value)) or str(value).strip() == "":
        return []
    return [p.strip() for p in str(value).replace("\n", ";").split(";") if p.strip()]


# Short labels printed on letters; long legal wording lives in the templates
# (finance/adverse_action_letter.<lang>.html.j2). A pack adds or changes
# labels with ``translations.<lang>.labels``.
LABELS = {
    "en": {"telephone": "Telephone", "date": "Date", "application_number": "Application number",
           "applicant": "Applicant", "reference": "Reference", "not_provided": "not provided",
           "reasons_list": "Principal reasons, most important first"},
    "es": {"telephone": "Teléfono", "date": "Fecha", "application_number": "Número de solicitud",
           "applicant": "Solicitante", "reference": "Referencia", "not_provided": "no proporcionado",
           "reasons_list": "Razones principales, la más importante primero"},
}


def _text(spec, lang):
    return spec.translations.get(lang, spec.text) if lang != "en" else spec.text


def _pack_text(spec, lang: str, key: str, english):
    tr = spec.translations.get(lang) if lang != "en" else None
    value = getattr(tr, key, None) if tr is not None else None
    return value or english


def _value(raw_value, fs, lang: str, labels: dict, currency=None) -> str:
    if raw_value is None or (isinstance(raw_value, float) and math.isnan(raw_value)):
        return labels["not_provided"]
    tr = fs.translations.get(lang) if lang != "en" else None
    if tr is not None and tr.category_labels:
        key = str(raw_value)
        if isinstance(raw_value, float) and raw_value.is_integer():
            key = str(int(raw_value))
        if key in tr.category_labels:
            return tr.category_labels[key]
    return format_value(raw_value, fs, language=lang, currency=currency)


def letter_labels(pack, language: str) -> dict:
    """The short labels a letter prints in ``language`` (pack overrides applied)."""
    labels = dict(LABELS["en"])
    labels.update(LABELS.get(language, {}))
    tr = pack.spec.translations.get(language)
    if tr is not None:
        labels.update(tr.labels)
    return labels


def letter_content(*, pack, decision_id: str, raw_row: dict, reasons, decision_date: str,
                   language: str = "en", counterfactual: dict | None = None) -> dict:
    """Everything the letter template prints, as plain data.

    Args:
        pack: the loaded pack (with a ``letter`` section).
        decision_id: the application's id.
        raw_row: the row as received (for name, address and displayed values).
        reasons: a :class:`~xai_reports.documents.letter.reasons.ReasonResult` (not flagged).
        decision_date: ISO date of the notice.
        language: ``"en"`` or another language the pack declares.
        counterfactual: ``{"text", "caveat", ...}`` ('what could change the decision',
            see :mod:`xai_reports.counterfactuals.statements`) or ``None``.
    """
    spec = pack.spec
    fin = spec.section("letter")
    cols = spec.columns
    name = raw_row.get(cols.name) if cols.name else None
    labels = letter_labels(pack, language)
    reason_items = []
    for r in reasons.reasons:
        rs = spec.reasons[r["key"]]
        details = []
        for f in r["features"]:
            fs = spec.features[f["name"]]
            tr = fs.translations.get(language) if language != "en" else None
            details.append({"label": (tr.label if tr is not None and tr.label else fs.label),
                            "value": _value(raw_row.get(f["name"]), fs, language, labels, spec.currency)})
        reason_items.append({"text": _text(rs, language), "code": rs.code, "details": details})
    inst = fin.institution
    content = {
        "lang": language,
        "labels": labels,
        "decision_id": decision_id,
        "date": decision_date,
        "applicant": {
            "name": str(name).strip() if name not in (None, "") else None,
            "address": _address_lines(raw_row.get(cols.address)) if cols.address else [],
        },
        "credit_requested": _pack_text(spec, language, "credit_requested", fin.decision.credit_requested),
        "action_taken": _pack_text(spec, language, "action_taken", fin.decision.action_taken),
        "creditor": {
            "name": inst.name, "address": list(inst.address), "phone": inst.phone,
            "email": inst.email, "website": inst.website,
            "contact": _pack_text(spec, language, "contact", inst.contact),
        },
        "reasons": reason_items,
        "agency": ({"name": inst.agency.name, "address": list(inst.agency.address)}
                   if fin.ecoa_notice else None),
        "consumer_report": None,
        "credit_score": None,
        "counterfactual": ({"text": counterfactual["text"], "caveat": counterfactual["caveat"]}
                           if counterfactual else None),
        "disclaimer": _pack_text(spec, language, "disclaimer", spec.disclaimer),
    }
    if fin.consumer_report.used:
        a = fin.consumer_report.agency
        content["consumer_report"] = {"name": a.name, "address": list(a.address), "phone": a.phone}
    cs = fin.credit_score
    if cs.used:
        factors = raw_row.get(cs.key_factors_column) if cs.key_factors_column else None
        factor_list = [f.strip() for f in str(factors).split(";") if f.strip()] if factors else []
        inquiries = any("inquir" in f.lower() for f in factor_list)
        content["credit_score"] = {
            "score": str(raw_row.get(cs.column, "")).strip() or "not available",
            "date": str(raw_row.get(cs.date_column, "")).strip() if cs.date_column else "",
            "range": list(cs.range),
            "key_factors": factor_list[: 5 if inquiries else 4],
            "provider": {"name": cs.provider.name, "address": list(cs.provider.address), "phone": cs.provider.phone},
        }
    return content
