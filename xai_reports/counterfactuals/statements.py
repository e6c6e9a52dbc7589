"""'What could change the decision': the sentence a letter prints, and the record.

A statement is built only from counterfactuals the search returned (valid, within
every constraint), so it names actionable features only -- never a protected
attribute or anything the pack keeps fixed. Each changed feature is worded with
the pack's ``action_text`` (``"your total debt payments were {value} of your
income or less"``; ``translations.<lang>.action_text`` in other languages), its
value formatted as the letter formats values.

Before a counterfactual is stated, its wording is checked against the model:
``action_text`` for a decrease-only feature says "{value} ... or less", so the
statement covers every value from the feature's limit up to the printed value
(rounded toward the safe side), and every combination of the stated features.
Tree ensembles are checked exactly (one point per piece between split
thresholds); levels, categories along the pack's order and integers one by
one; other models on a dense grid, recorded as such (``statement_check`` in the
record). Only counterfactuals that hold over that whole range are stated. The statement never promises
approval: the pack's caveat follows it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..format import format_value
from . import CounterfactualResult, counterfactuals
from .encoding import Codec
from .targets import resolve_target

MAX_EXACT_PROBES = 40_000   # probes of one counterfactual's exact check (product of pieces)
DENSE_PROBES = 4_096        # probes of one counterfactual's dense check (models that are not tree ensembles)
MAX_INTEGER_POINTS = 512    # an integer feature's range is checked value by value up to this many values


def _display_round(x: float, fs, mode: str) -> float:
    """``x`` rounded to the precision the letter prints it with (``floor``, ``ceil`` or ``round``),
    so the stated number is the number checked."""
    if fs is None:
        return x
    if fs.format == "integer" or fs.integer:
        scale = 1.0
    elif fs.format == "percent":
        scale = 100.0 * 10 ** fs.decimals
    else:
        scale = 10.0 ** fs.decimals
    v = x * scale
    r = np.floor(v + 1e-9) if mode == "floor" else np.ceil(v - 1e-9) if mode == "ceil" else np.round(v)
    return float(r / scale)


def _tree_splits(adapter, features):
    """``(ensemble, {feature name: sorted thresholds})`` when the model is a tree ensemble this package
    parses (any family parsed into :class:`~xai_reports.attribution._trees.TreeEnsemble`), else ``(None, None)``."""
    from ..attribution._trees import feature_thresholds, parse_ensemble

    try:
        ens = parse_ensemble(adapter)
    except Exception:  # noqa: BLE001 - not a tree model (or several outputs): checked densely instead
        return None, None
    names = list(adapter.feature_names or features)
    thr = feature_thresholds(ens)
    return ens, {names[j]: v for j, v in thr.items() if j < len(names)}


def _output_bounds(ens, lo: np.ndarray, hi: np.ndarray) -> tuple[float, float]:
    """Lower and upper bounds of the ensemble's summed leaf values over the box ``lo <= x <= hi``.

    A leaf is reachable when every split on its path can go its way for some
    value in the box; each tree contributes its smallest / largest reachable
    leaf. The bounds are sound (the output over the box lies between them), so
    a decision that holds at both bounds holds over the whole box.
    """
    f, t = ens.feature, ens.threshold
    xl, xh = lo[f], hi[f]
    fixed = (xl == xh) | (np.isnan(xl) & np.isnan(xh))
    exact = ens.go_left(lo[None, :])[:-1, 0]
    with np.errstate(invalid="ignore"):
        cl, cr = ((xl < t), (xh >= t)) if ens.strict else ((xl <= t), (xh > t))
    cl = np.append(np.where(fixed, exact, cl), True)
    cr = np.append(np.where(fixed, ~exact, cr), True)
    reach = np.where(ens.path_left, cl[ens.path_node], cr[ens.path_node]).all(axis=1)
    T = int(ens.leaf_tree.max()) + 1 if len(ens.leaf_tree) else 0
    mx, mn = np.full(T, -np.inf), np.full(T, np.inf)
    np.maximum.at(mx, ens.leaf_tree[reach], ens.value[reach])
    np.minimum.at(mn, ens.leaf_tree[reach], ens.value[reach])
    return float(mn.sum()), float(mx.sum())


def _plan_checks(result: CounterfactualResult, pack, codec, Zo, Zc, Zb, splits):
    """For each counterfactual: the values each changed feature is checked at, and what is stated.

    Returns ``[(row, rank, owner position, {j: probe values}, check record, stated values)]``.
    """
    spec = pack.spec if pack is not None else None
    cfs = result.counterfactuals
    features = result.features
    pos_of = {lab: i for i, lab in enumerate(result.original.index)}
    row_list, rank_list = cfs["row"].tolist(), [int(v) for v in cfs["rank"]]
    plans = []
    for r in range(len(cfs)):
        row = row_list[r]
        z0, z = Zo[pos_of[row]], Zc[r]
        axes: dict[int, np.ndarray] = {}
        how: dict[str, dict] = {}
        stated: dict[str, object] = {}
        dense: list[int] = []
        for j, f in enumerate(features):
            same = (np.isnan(z[j]) and np.isnan(z0[j])) or abs(z[j] - z0[j]) <= 1e-12
            if same:
                continue
            rule = result.constraints.rules[f]
            fs = spec.features.get(f) if spec is not None else None
            if not codec.numeric[j]:            # a category: the pack's category order
                code = int(z[j])
                cats = list(codec.categories[j])
                stated[f] = cats[code]
                if rule.direction == "any":
                    axes[j] = np.array([float(code)])
                    how[f] = {"kind": "point", "values": [_plain(cats[code])]}
                else:
                    codes = range(code, len(cats)) if rule.direction == "increase_only" else range(0, code + 1)
                    axes[j] = np.array([float(c) for c in codes])
                    how[f] = {"kind": "every_category", "values": [_plain(cats[c]) for c in codes]}
                continue
            mode = {"decrease_only": "floor", "increase_only": "ceil"}.get(rule.direction, "round")
            v = z[j] if rule.levels is not None else _display_round(float(z[j]), fs, mode)
            stated[f] = v
            if rule.direction == "any":
                axes[j] = np.array([v])
                how[f] = {"kind": "point", "values": [float(v)]}
                continue
            down = rule.direction == "decrease_only"
            # a tree ensemble that never splits on f is constant in f: no threshold, one piece
            ts = splits.get(f, np.empty(0)) if splits is not None else None
            if rule.bounds is not None:
                lim = rule.bounds[0] if down else rule.bounds[1]
                open_end = False
            elif ts is not None:
                lim = None           # a tree is constant beyond its outermost threshold: the range is unbounded
                open_end = True
            else:
                lim = np.nanmin(Zb[:, j]) if (down and len(Zb)) else np.nanmax(Zb[:, j]) if len(Zb) else v
                open_end = False
            if lim is not None:
                lim = min(lim, v) if down else max(lim, v)
            lo, hi = (lim, v) if down else (v, lim)
            rng_rec = [None if lo is None else float(lo), None if hi is None else float(hi)]
            if rule.levels is not None:          # ordinal levels: every level in the range
                lv = rule.levels
                pts = lv[((lo is None) | (lv >= (lo if lo is not None else -np.inf)))
                         & (lv <= (hi if hi is not None else np.inf))]
                axes[j] = np.unique(np.append(pts, v))
                how[f] = {"kind": "every_level", "range": rng_rec, "points": int(axes[j].size)}
            elif ts is not None:                  # a tree ensemble: one point per piece between thresholds
                lo_f = lo if lo is not None else (float(ts[0]) - 1.0 if ts.size else v - 1.0)
                hi_f = hi if hi is not None else (float(ts[-1]) + 1.0 if ts.size else v + 1.0)
                lo_f, hi_f = min(lo_f, v), max(hi_f, v)
                inside = ts[(ts >= lo_f) & (ts <= hi_f)]
                axes[j] = np.unique(np.concatenate([[lo_f, hi_f, v], inside]))
                how[f] = {"kind": "exact_tree_pieces", "range": rng_rec, "points": int(axes[j].size),
                          "thresholds_in_range": int(inside.size)}
            elif (fs is not None and (fs.integer or fs.format == "integer") and lo is not None and hi is not None
                  and np.isfinite(lo) and np.isfinite(hi) and np.ceil(hi) - np.floor(lo) <= MAX_INTEGER_POINTS):
                axes[j] = np.unique(np.concatenate([np.arange(np.ceil(lo), np.floor(hi) + 1), [lo, hi]]))
                how[f] = {"kind": "every_integer", "range": rng_rec, "points": int(axes[j].size)}
            else:
                dense.append(j)
                axes[j] = np.array([lo, hi])
                how[f] = {"kind": "dense", "range": rng_rec}
            if open_end:
                how[f]["unbounded"] = "below" if down else "above"
        if dense:   # models read point by point: a dense grid within the probe budget
            fixed = int(np.prod([axes[j].size for j in axes if j not in dense])) if len(axes) > len(dense) else 1
            per = max(3, int((DENSE_PROBES / max(fixed, 1)) ** (1.0 / len(dense))))
            for j in dense:
                lo, hi = axes[j]
                axes[j] = np.unique(np.concatenate([np.linspace(lo, hi, per), [stated[features[j]]]]))
                how[features[j]]["points"] = int(axes[j].size)
        plans.append((row, rank_list[r], pos_of[row], axes, how, stated))
    return plans


def _plain(v):
    return v.item() if isinstance(v, np.generic) else v


def _check_ranges(adapter, result: CounterfactualResult, engine_target, pack, background: pd.DataFrame):
    """``{(row, rank): check}``: whether the model keeps the desired outcome over every value the
    statement covers.

    A statement "X were 7,979 or less" covers every value from the feature's
    limit (its declared bound; for a tree ensemble without bounds, everything
    beyond its outermost split) up to the stated (printed) number, and with
    several features, every combination. Tree ensembles are checked exactly:
    their output is constant between a feature's consecutive split
    thresholds, so one point per piece (every threshold in the range and both
    ends) covers the range, and the product of the pieces covers the
    combinations. Ordinal levels, categories along the pack's order and
    integer values are checked one by one (exact for any model). Other
    numeric ranges of other models are checked on a dense grid and the record
    says so (``kind: dense``, the range and the number of points).

    Each check is ``{"ok", "kind", "features": {f: {...}}, "probes", "stated": {f: value}}``.
    """
    cfs = result.counterfactuals
    if not len(cfs):
        return {}
    features = result.features
    codec = Codec(result.original, features)
    Zo = codec.encode(result.original)
    Zc = codec.encode(cfs)
    Zb = codec.encode(background) if background is not None and len(background) else np.empty((0, len(features)))
    ens, splits = _tree_splits(adapter, features)
    plans = _plan_checks(result, pack, codec, Zo, Zc, Zb, splits)
    proven = _prove_by_bounds(adapter, ens, engine_target, codec, features, plans, Zc, cfs) if ens is not None else {}
    blocks, owners, out = [], [], {}
    n = 0
    # probes: the counterfactual with its changed features over the product of their check points
    pos = {(r_, k_): i for i, (r_, k_) in enumerate(zip(cfs["row"].tolist(), [int(v) for v in cfs["rank"]]))}
    spans = []
    for row, rank, owner, axes, how, stated in plans:
        base = Zc[pos[(row, rank)]].copy()
        for j, f in enumerate(features):
            if f in stated and codec.numeric[j]:
                base[j] = stated[f]
        size = int(np.prod([a.size for a in axes.values()])) if axes else 1
        kinds = {h["kind"] for h in how.values()}
        kind = ("dense" if "dense" in kinds else "exact") if kinds - {"point"} else "point"
        rec = {"kind": kind, "features": how, "probes": size,
               "stated": {f: _plain(v) for f, v in stated.items()}}
        if kind == "exact" and splits is not None:
            rec["model"] = "tree ensemble: output constant between consecutive split thresholds"
        if (row, rank) in proven:
            rec.update(ok=True, probes=0, method="bounds of the trees' output over the stated box")
            out[(row, rank)] = rec
            spans.append(None)
            continue
        if size > MAX_EXACT_PROBES:
            rec.update(ok=False, why=f"{size:,} combinations to check, more than {MAX_EXACT_PROBES:,}: not stated")
            out[(row, rank)] = rec
            spans.append(None)
            continue
        grids = np.meshgrid(*[axes[j] for j in sorted(axes)], indexing="ij") if axes else []
        P = np.repeat(base[None, :], size, axis=0)
        for j, g in zip(sorted(axes), grids):
            P[:, j] = g.ravel()
        blocks.append(P)
        owners.append(np.full(size, owner))
        spans.append((n, n + size))
        n += size
        out[(row, rank)] = rec
    if blocks:
        frame = codec.decode(np.concatenate(blocks))
        _, valid, _ = engine_target.evaluate(adapter, frame, np.concatenate(owners))
        valid = np.asarray(valid, dtype=bool)
    for (row, rank, *_), span in zip(plans, spans):
        if span is None:
            continue
        ok = bool(valid[span[0]:span[1]].all())
        out[(row, rank)]["ok"] = ok
        if not ok:
            out[(row, rank)]["why"] = "the model does not keep the decision over the whole stated range: not stated"
    return out


def _prove_by_bounds(adapter, ens, target, codec, features, plans, Zc, cfs) -> set:
    """The ``(row, rank)`` whose whole stated box provably keeps the desired decision, from sound
    bounds of the tree ensemble's output over the box (no enumeration needed for them)."""
    if ens.leaf_tree is None or not hasattr(target, "from_output"):
        return set()
    pos = {(r_, k_): i for i, (r_, k_) in enumerate(zip(cfs["row"].tolist(), [int(v) for v in cfs["rank"]]))}
    lo_rows, hi_rows, base_rows, owners_of = [], [], [], []
    spans = []
    for row, rank, owner, axes, how, stated in plans:
        base = Zc[pos[(row, rank)]].copy()
        for j, f in enumerate(features):
            if f in stated and codec.numeric[j]:
                base[j] = stated[f]
        cat_axes = [j for j in sorted(axes) if not codec.numeric[j]]
        combos = np.array(np.meshgrid(*[axes[j] for j in cat_axes], indexing="ij")).reshape(len(cat_axes), -1).T \
            if cat_axes else np.empty((1, 0))
        if len(combos) > 64:
            spans.append(None)
            continue
        start = len(lo_rows)
        for combo in combos:
            lo, hi = base.copy(), base.copy()
            for j, v in zip(cat_axes, combo):
                lo[j] = hi[j] = v
            for j in axes:
                if codec.numeric[j]:
                    lo[j], hi[j] = float(np.min(axes[j])), float(np.max(axes[j]))
            lo_rows.append(lo)
            hi_rows.append(hi)
        spans.append((start, len(lo_rows), len(base_rows)))
        base_rows.append(base)
        owners_of.append(owner)
    if not lo_rows:
        return set()
    cols = list(features)
    LO = ens.encode(codec.decode(np.array(lo_rows)), columns=cols)
    HI = ens.encode(codec.decode(np.array(hi_rows)), columns=cols)
    B = codec.decode(np.array(base_rows))
    space = ens.output if ens.output in ("margin", "probability", "value") else adapter.output_space
    try:
        offset = np.asarray(adapter.predict(B, output=space), dtype=float) - ens.predict(ens.encode(B, columns=cols))
    except Exception:  # noqa: BLE001 - the output cannot be reproduced from the trees: enumerate instead
        return set()
    proven = set()
    for (row, rank, *_), span in zip(plans, spans):
        if span is None:
            continue
        a, b, k = span
        mn, mx = np.inf, -np.inf
        for i in range(a, b):
            lo_b, hi_b = _output_bounds(ens, LO[i], HI[i])
            mn, mx = min(mn, lo_b), max(mx, hi_b)
        ends = np.array([mn, mx]) + (ens.offset or 0.0) + offset[k]
        try:
            out = adapter.convert(ends, space, target.output)
            _, valid, _ = target.from_output(out, np.array([owners_of[k]] * 2))
        except Exception:  # noqa: BLE001
            continue
        if bool(np.all(valid)):
            proven.add((row, rank))
    return proven


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
        ranks = [int(c["rank"]) for c in self.result.items(row) if self._ok(row, int(c["rank"]))]
        return ranks[:n]

    def _ok(self, row, rank) -> bool:
        chk = self.checks.get((row, rank))
        return bool(chk.get("ok")) if isinstance(chk, dict) else bool(chk)

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
            item["range_checked"] = self._ok(row, item["rank"])
            chk = self.checks.get((row, item["rank"]))
            if isinstance(chk, dict):
                item["statement_check"] = chk
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
                chk = self.checks.get((row, rank))
                value = chk["stated"][f] if isinstance(chk, dict) and f in chk.get("stated", {}) else cf[f]
                value = value.item() if isinstance(value, np.generic) else value
                shown = format_value(value, fs, language=language, currency=spec.currency)
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
    target = resolve_target(adapter, X, None, pack)
    checks = _check_ranges(adapter, res, target, pack, background if background is not None else X)
    return LetterCounterfactuals(res, pack, checks, background_label if background is not None else "this batch",
                                 random_state)
