"""Text case-review sheets: a report's words that carried a text classifier's finding.

The report text is de-identified under the print profile *before* the model reads
it, so the words explained are the words printed: names (titled names and the
row's own identifier values), dates and ids become ``[NAME]``, ``[DATE]``, ``[ID]``
under a ``safe_harbor`` profile (a treatment profile prints the text as given).
:func:`text_case_record` explains the de-identified text (integrated gradients on
the token embeddings by default, summed per word), keeps the method's self-check,
and :func:`render_text_sheet` prints it readable without colour: the evidence words
are underlined (solid: for the finding, dashed: against) with bold weight for the
strongest, marked with ``[+n]``/``[-n]`` ranks, and listed in a ranked table.
:func:`~.privacy.leak_check`-style search runs on the HTML and the record before
anything is returned: an identifier left in either raises :class:`PrivacyError`.
"""

from __future__ import annotations

import json
import re

import numpy as np

from ...errors import PrivacyError

_MONTHS = ("January|February|March|April|May|June|July|August|September|October|November|December|"
           "Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec")
PATTERNS = (
    ("DATE", re.compile(r"\b\d{4}-\d{1,2}-\d{1,2}\b|\b\d{1,2}[/.]\d{1,2}[/.]\d{2,4}\b|"
                        rf"\b(?:{_MONTHS})\.? \d{{1,2}}(?:st|nd|rd|th)?,? \d{{4}}\b|"
                        rf"\b\d{{1,2}} (?:{_MONTHS})\.? \d{{4}}\b")),
    ("ID", re.compile(r"\b(?:MRN|ID|Acc(?:ession)?|No)\.?[:#]?\s*[A-Z0-9-]*\d[A-Z0-9-]*\b|\b[A-Z]{0,3}\d{5,}\b",
                      re.IGNORECASE)),
    ("NAME", re.compile(r"\b(?:Dr|Mr|Mrs|Ms|Miss|Prof)\.? [A-Z][a-zA-Z'-]+(?: [A-Z][a-zA-Z'-]+)?")),
)


def _safe_harbor(profile) -> bool:
    if isinstance(profile, str):
        if profile not in ("safe_harbor", "treatment"):
            raise ValueError(f"text profile must be 'safe_harbor' or 'treatment' (or a pack print profile), "
                             f"got {profile!r}")
        return profile == "safe_harbor"
    return getattr(profile, "deidentification", None) == "safe_harbor"


def deidentify_text(text: str, profile="safe_harbor", *, identifiers=()) -> tuple[str, list[dict]]:
    """``text`` with names, dates and ids replaced under ``profile``, and what was removed (categories, counts).

    Args:
        profile: ``"safe_harbor"``, ``"treatment"`` or a pack ``PrintProfile``.
        identifiers: the case's own identifier values (patient name, MRN ...), removed wherever they occur.
    """
    if not _safe_harbor(profile):
        return text, []
    counts: dict[str, int] = {}
    for value in sorted({str(v).strip() for v in identifiers if str(v).strip()}, key=len, reverse=True):
        text, k = re.subn(re.escape(value), "[NAME]" if not any(c.isdigit() for c in value) else "[ID]", text,
                          flags=re.IGNORECASE)
        if k:
            counts["identifier"] = counts.get("identifier", 0) + k
    for label, pat in PATTERNS:
        text, k = pat.subn(f"[{label}]", text)
        if k:
            counts[label.lower()] = counts.get(label.lower(), 0) + k
    return text, [{"category": c, "count": n} for c, n in sorted(counts.items())]


def _leaks(original: str, identifiers, texts: dict[str, str]) -> None:
    found = [m.group(0) for _, pat in PATTERNS for m in pat.finditer(original)]
    found += [str(v) for v in identifiers if str(v).strip()]
    for where, body in texts.items():
        low = body.lower()
        for value in found:
            if value.lower() in low:
                raise PrivacyError(f"the de-identified {where} would contain an identifier ({len(value)} characters); "
                                   "nothing written")


def text_case_record(adapter, text: str, *, case_id: str, profile="safe_harbor", identifiers=(),
                     method: str = "text_integrated_gradients", top_k: int = 6, **options) -> dict:
    """The JSON record of one text case: de-identified text, finding, word evidence, the method's self-check."""
    from ...attribution import explain

    clean, removed = deidentify_text(text, profile, identifiers=identifiers)
    attr = explain(adapter, [clean], method=method, **options)
    probs = adapter.predict([clean], output="probability")[0]
    k = int(attr.extras["target_per_row"][0]) if "target_per_row" in attr.extras else int(np.argmax(probs))
    words = attr.extras["words"][0]
    scale = max((abs(w["value"]) for w in words), default=0.0) or 1.0
    ranked = sorted(range(len(words)), key=lambda i: (-abs(words[i]["value"]), i))[:top_k]
    evidence = []
    for rank, i in enumerate(ranked, 1):
        w = words[i]
        evidence.append({"rank": rank, "word": w["word"], "start": w["start"], "end": w["end"],
                         "value": round(float(w["value"]), 6), "share": round(abs(w["value"]) / scale, 4),
                         "direction": "for" if w["value"] > 0 else "against"})
    check = {k2: (v.tolist() if isinstance(v, np.ndarray) else v) for k2, v in attr.self_check.items()}
    record = {"case_id": case_id, "kind": "case_review_text", "text": clean, "removed": removed,
              "profile": profile if isinstance(profile, str) else getattr(profile, "purpose", "profile"),
              "finding": adapter.labels[k], "probability": round(float(probs[k]), 6),
              "method": attr.method, "params": {p: v for p, v in attr.params.items() if isinstance(v, (int, float, str))},
              "self_check": check, "evidence": evidence,
              "truncated": bool(attr.extras["truncated"][0]), "synthetic": None}
    if _safe_harbor(profile):
        _leaks(text, identifiers, {"record": json.dumps(record)})
    return record


def _marked_text(text: str, evidence: list[dict]) -> list[dict]:
    """The text cut into plain and marked pieces (evidence words, in text order)."""
    pieces, pos = [], 0
    for e in sorted(evidence, key=lambda e: e["start"]):
        if e["start"] < pos:
            continue
        pieces.append({"text": text[pos:e["start"]], "mark": None})
        pieces.append({"text": text[e["start"]:e["end"]], "mark": e})
        pos = e["end"]
    pieces.append({"text": text[pos:], "mark": None})
    return pieces


_SHEET = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Case review {{ r.case_id }}</title>
<style>
body { font-family: serif; max-width: 40em; margin: 2em auto; color: #000; }
.for { text-decoration: underline solid 2px; }
.against { text-decoration: underline dashed 2px; }
.strong { font-weight: 700; }
sup { font-size: 70%; }
table { border-collapse: collapse; } td, th { border: 1px solid #000; padding: 2px 6px; }
</style></head><body>
{% if r.synthetic %}<p><strong>SYNTHETIC</strong>: {{ r.synthetic }}</p>{% endif %}
<h1>Case review {{ r.case_id }}</h1>
<p>Model finding: <strong>{{ r.finding }}</strong> (probability {{ '%.3f' % r.probability }}).</p>
<p>Print profile: {{ r.profile }}.{% if r.removed %} Removed from the text before the model read it:
{% for x in r.removed %}{{ x.count }} {{ x.category }}{% if not loop.last %}, {% endif %}{% endfor %}.{% endif %}</p>
<h2>Report text, evidence marked</h2>
<p>Solid underline: the word supports the finding; dashed underline: it speaks against it; bold: among the
strongest (at least half the largest); [+n]/[-n]: its rank and direction.</p>
<blockquote>{% for p in pieces %}{% if p.mark %}<span class="{{ 'for' if p.mark.direction == 'for' else 'against' }}{{ ' strong' if p.mark.share >= 0.5 else '' }}">{{ p.text }}</span><sup>[{{ '+' if p.mark.direction == 'for' else '-' }}{{ p.mark.rank }}]</sup>{% else %}{{ p.text }}{% endif %}{% endfor %}</blockquote>
<h2>Words ranked by evidence</h2>
<table><tr><th>Rank</th><th>Word</th><th>Direction</th><th>Value (logit)</th><th>Relative size</th></tr>
{% for e in r.evidence %}<tr><td>{{ e.rank }}</td><td>{{ e.word }}</td><td>{{ e.direction }}</td><td>{{ '%+.4f' % e.value }}</td><td>{{ '%.0f' % (100 * e.share) }}%</td></tr>
{% endfor %}</table>
<p>Method: {{ r.method }}. Self-check ({{ r.self_check.kind }}): {{ 'passed' if r.self_check.passed else 'FAILED' }},
largest error {{ '%.2g' % r.self_check.max_abs_error }} (tolerance {{ '%.2g' % r.self_check.tolerance }}).</p>
</body></html>
"""


def render_text_sheet(record: dict, *, identifiers=(), original: str | None = None) -> str:
    """The sheet's HTML (Jinja sandbox, autoescaped); with ``original``, refused if an identifier would print."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(autoescape=True)
    html = env.from_string(_SHEET).render(r=record, pieces=_marked_text(record["text"], record["evidence"]))
    if original is not None and record["removed"] is not None and record["profile"] != "treatment":
        _leaks(original, identifiers, {"sheet": html})
    return html


__all__ = ["PATTERNS", "deidentify_text", "render_text_sheet", "text_case_record"]
