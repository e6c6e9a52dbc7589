"""'What could change the decision': the sentence a letter prints, and the record.

A statement is built only from counterfactuals the search returned (valid, within
every constraint), so it names actionable features only -- never a protected
attribute or anything the pack keeps fixed. Each changed feature is worded with
the pack's ``action_text`` (``"your total debt payments were {value} of your
income or less"``; ``translations.<lang>.action_text`` in other languages), its
value formatted as the letter formats values.

Before a counterfactual is stated, its wording is checked against the model:
``action_text`` for a decrease-only feature says "{value} ... or less", so the
model is re-run with the feature at points between the stated value and its
limit (and with every stated feature at its limit at once); only counterfactuals
that hold over that whole range are stated. The statement never promises
approval: the pack's caveat follows it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..format import format_value
from . import CounterfactualResult, counterfactuals

CHECK_POINTS = 8


def _check_ranges(adapter, result: CounterfactualResult, engine_target, pack, background: pd.DataFrame):
    """``{(row, rank): bool}``: the model keeps the desired outcome over each stated range."""
    from .search import Codec

    cfs = result.counterfactuals
    if not len(cfs):
        return {}
    features = result.features
    codec = Codec(result.original, features)
    Zo = codec.encode(result.original)
    Zc = codec.encode(cfs)
    Zb = codec.encode(background) if background is not None and len(background) else np.empty((0, len(features)))
    pos_of = {lab: i for i, lab in enumerate(result.original.index)}
    probes, owners, keys = [], [], []
    row_list, rank_list = cfs["row"].tolist(), [int(v) for v in cfs["rank"]]
    for r in range(len(cfs)):
        row = row_list[r]
        z0, z = Zo[pos_of[row]], Zc[r]
        corner = z.copy()
        for j, f in enumerate(features):
            rule = result.constraints.rules[f]
            if not codec.numeric[j] or rule.direction == "any" or abs(z[j] - z0[j]) <= 1e-12:
                continue
            if rule.direction == "decrease_only":
                lim = rule.bounds[0] if rule.bounds is not None else (np.nanmin(Zb[:, j]) if len(Zb) else z[j])
                lim = min(lim, z[j])
            else:
                lim = rule.bounds[1] if rule.bounds is not None else (np.nanmax(Zb[:, j]) if len(Zb) else z[j])
                lim = max(lim, z[j])
            for t in np.linspace(0, 1, CHECK_POINTS + 1)[1:]:
                p = z.copy()
                p[j] = z[j] + t * (lim - z[j])
                probes.append(p)
                keys.append(r)
            corner[j] = lim
        probes.append(corner)
        keys.append(r)
        owners.extend([pos_of[row]] * (len(keys) - len(owners)))
    P = np.array(probes)
    frame = codec.decode(P)
    _, valid, _ = engine_target.evaluate(adapter, frame, np.array(owners))
    ok: dict = {}
    for r, v in zip(keys, valid):
        ok[r] = ok.get(r, True) and bool(v)
    return {(row_list[r], rank_list[r]): ok.get(r, True) for r in range(len(cfs))}


class LetterCounterfactuals:
    """Counterfactuals of a batch of denied rows, ready for letters and decision records.

    Rows are referred to by their position in the batch (``0 .. n-1``).
    """

    def __init__(self, result: CounterfactualResult, pack, checks: dict, background_label: str,
                 random_state: int):
        self.result = result
        self.pack = pack
        self.checks = checks
        self.background_label = background_label
        self.random_state = random_state

    def _stated(self, row) -> list[int]:
        """Ranks of the counterfactuals a letter states (checked ones, cheapest first)."""
        n = self.pack.spec.counterfactuals.in_letter
        ranks = [int(c["rank"]) for c in self.result.items(row) if self.checks.get((row, int(c["rank"])), False)]
        return ranks[:n]

    def _changed_features(self, row, rank) -> tuple[list[str], dict]:
        """The features counterfactual ``rank`` of ``row`` changes, and the counterfactual."""
        for cf, changed in zip(self.result.items(row), self.result.changed_features(row)):
            if int(cf["rank"]) == rank:
                return changed, cf
        raise KeyError((row, rank))

    def record(self, row) -> dict:
        """The decision record's ``counterfactuals`` section for one row."""
        from .._version import __version__

        rec = self.result.record(row)
        stated = self._stated(row)
        for item in rec["counterfactuals"]:
            item["range_checked"] = bool(self.checks.get((row, item["rank"]), False))
        rec["stated_in_letter"] = stated
        missing = {lang: why for lang in self.pack.spec.languages if (why := self._wording_gap(row, lang))}
        if stated and missing:
            rec["no_statement_in"] = missing   # letters in these languages make no statement
        if rec["status"] == "found" and not stated:
            rec["statement_note"] = ("no counterfactual held over the whole range its wording states, "
                                     "so the letter makes no statement")
        rec["method"] = {
            "engine": "xai_reports.counterfactuals", "version": __version__,
            "k": int(self.pack.spec.counterfactuals.k), "random_state": self.random_state,
            "distance": "L1, numeric changes divided by the background's median absolute deviation",
            "background": self.background_label,
            "validity": "the model re-run on every counterfactual; every constraint re-checked",
        }
        if getattr(self, "_constraints", None) is None:   # the same for every row of the batch
            self._constraints = self.result.constraints.describe()
        rec["constraints"] = self._constraints
        return rec

    def _wording_gap(self, row, language: str) -> str | None:
        """Why a letter in ``language`` cannot word this row's statement (``None``: it can)."""
        spec = self.pack.spec
        if spec.counterfactuals.wording(language) is None:
            return f"no counterfactuals.statement/caveat/conjunctions for '{language}'"
        if language == "en":
            return None
        lacking = []
        for rank in self._stated(row):
            for f in self._changed_features(row, rank)[0]:
                tr = spec.features[f].translations.get(language)
                if tr is None or not tr.action_text:
                    lacking.append(f"features.{f}.translations.{language}.action_text")
        return f"missing {', '.join(sorted(set(lacking)))}" if lacking else None

    def content(self, row, language: str) -> dict | None:
        """``{"text", "caveat", "changes"}`` for the letter, or ``None`` when nothing can be stated."""
        spec = self.pack.spec
        wording = spec.counterfactuals.wording(language)
        stated = self._stated(row)
        if wording is None or not stated or self._wording_gap(row, language):
            return None     # never a statement half in another language
        sentence, caveat, (and_, or_) = wording
        alternatives, changes = [], []
        for rank in stated:
            changed, cf = self._changed_features(row, rank)
            parts = []
            for f in changed:
                fs = spec.features[f]
                if fs.protected or not fs.actionable:   # cannot happen (immutable in the search); never say it
                    parts = None
                    break
                tr = fs.translations.get(language) if language != "en" else None   # base texts are English
                text = fs.action_text if language == "en" else (tr.action_text if tr else None)
                if text is None:
                    parts = None
                    break
                value = cf[f]
                value = value.item() if isinstance(value, np.generic) else value
                shown = format_value(value, fs)
                if tr is not None and tr.category_labels:       # a category's label in this language
                    key = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
                    shown = tr.category_labels.get(key, shown)
                parts.append(text.format(value=shown))
                changes.append({"feature": f, "label": fs.label, "value": shown})
            if parts:
                alternatives.append(_join(parts, and_))
        if not alternatives:
            return None
        conditions = alternatives[0]
        for alt in alternatives[1:]:
            conditions += f", {_euphony(or_, _if(language))} {_if(language)} {alt}"
        return {"text": sentence.format(conditions=conditions), "caveat": caveat, "changes": changes}


def _if(language: str) -> str:
    return {"es": "si"}.get(language, "if")


def _join(parts: list[str], and_: str) -> str:
    if len(parts) == 1:
        return parts[0]
    return ", ".join(parts[:-1]) + f" {_euphony(and_, parts[-1])} " + parts[-1]


def _euphony(word: str, following: str) -> str:
    """Spanish 'y' -> 'e' before an /i/ sound, 'o' -> 'u' before an /o/ sound."""
    nxt = following.lower()
    if word == "y" and (nxt.startswith("i") or nxt.startswith("hi")) and not nxt.startswith(("hie", "hia")):
        return "e"
    if word == "o" and (nxt.startswith("o") or nxt.startswith("ho")):
        return "u"
    return word


def letter_counterfactuals(adapter, X: pd.DataFrame, pack, *, background: pd.DataFrame | None = None,
                           background_label: str = "the reference population", random_state: int = 0,
                           progress: bool = False) -> LetterCounterfactuals | None:
    """Counterfactuals for the denied rows of a letter batch (one batched search).

    Args:
        adapter: the model adapter.
        X: typed model inputs of the denied rows, ``(n, d)``; rows are referred to by position.
        pack: the loaded finance pack (its ``counterfactuals`` settings apply).
        background: reference rows (MAD scales, ranges, donors); default ``X``.
        background_label: what the background is, for the record.

    Returns:
        :class:`LetterCounterfactuals`, or ``None`` when the pack disables them.

    Examples::

        >>> lc = letter_counterfactuals(adapter, X_denied, pack, background=X_ref)
        >>> lc.content(0, "en")["text"]
        'Based on the information in your application, our decision could have been different if ...'
    """
    settings = pack.spec.counterfactuals
    if not settings.enabled or not len(X):
        return None
    X = X.reset_index(drop=True)
    res = counterfactuals(adapter, X, pack=pack, k=settings.k, background=background,
                          random_state=random_state, progress=progress)
    from .targets import resolve_target

    target = resolve_target(adapter, X, None, pack)
    checks = _check_ranges(adapter, res, target, pack, background if background is not None else X)
    return LetterCounterfactuals(res, pack, checks, background_label if background is not None else "this batch",
                                 random_state)
