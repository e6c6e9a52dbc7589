"""Counterfactual explanations with actionability constraints.

``counterfactuals(model, X, pack=...)`` answers, for each row, "what is the
smallest change, within what this person can actually change, that gives the
desired decision?" -- or says that no such change exists, and why.

Modules: :mod:`.constraints` (what may change), :mod:`.targets` (the desired
outcome), :mod:`.search` (the batched search), :mod:`.quality` (sparsity,
distance, plausibility, diversity), :mod:`.statements` (the sentence a letter
prints and the JSON record).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from .constraints import DICT_KEYS, Constraints
from .encoding import Codec
from .quality import diversity, feature_diversity, l1_distance, mad_scale, n_changed, nearest_distance
from .rules import FeatureRule
from .search import STRATEGIES, Engine, SearchConfig
from .targets import resolve_target

__all__ = ["counterfactuals", "CounterfactualResult", "Constraints", "FeatureRule", "SearchConfig",
           "DICT_KEYS", "STRATEGIES"]

STATUS_FOUND = "found"
STATUS_NONE = "none"
STATUS_NOT_NEEDED = "not_needed"


def _plain(v):
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and (np.isnan(v) or np.isinf(v)):
        return None
    return v


@dataclass
class CounterfactualResult:
    """Counterfactuals for a set of rows.

    Attributes:
        counterfactuals: one row per counterfactual: ``row`` (the original row's
            index label), ``rank`` (0 = cheapest), every model feature (the
            counterfactual's values, same dtypes as ``X``), ``prediction`` (the
            model's output on it: P(deny) for a finance pack, the desired class's
            probability, or the value), ``n_changed``, ``distance`` (MAD-normalised
            L1), ``cost`` (the same with the features' costs), ``plausibility``
            (MAD-L1 distance to the nearest background row) and ``source`` (the
            generator that found it).
        status: one row per input row (same index): ``status`` (``found``,
            ``none`` or ``not_needed``), ``n_found``, ``reason`` and ``prediction``
            (the model's output on the original row).
        quality: summary metrics: ``rows``, ``rows_needing_change``,
            ``rows_with_counterfactual``, ``coverage``, ``n_counterfactuals``,
            ``validity`` (share of the search's results the model, re-run through the
            adapter, confirms; anything else is dropped and counted in
            ``dropped_in_final_check``), ``violations`` (constraints broken before that
            drop; 0), ``mean_features_changed``, ``mean_distance`` (MAD-L1),
            ``mean_cost``, ``mean_plausibility``, ``mean_diversity`` (pairwise MAD-L1
            among a row's counterfactuals), ``mean_feature_diversity``,
            ``model_evaluations``, ``seconds``, ``seconds_per_row``.
        constraints: the resolved :class:`Constraints`.
        desired: the desired outcome, in words.
        original: the original rows (model features).
    """

    counterfactuals: pd.DataFrame
    status: pd.DataFrame
    quality: dict
    constraints: Constraints
    desired: str
    original: pd.DataFrame
    features: list[str] = field(default_factory=list)

    def _positions(self) -> dict:
        """Row label -> positions of its counterfactuals in :attr:`counterfactuals` (built once)."""
        if getattr(self, "_pos_cache", None) is None:
            cache: dict = {}
            for i, r in enumerate(self.counterfactuals["row"].tolist()):
                cache.setdefault(r, []).append(i)
            self._pos_cache = cache
        return self._pos_cache

    def for_row(self, row) -> pd.DataFrame:
        """The counterfactuals of one row (by index label), cheapest first."""
        return self.counterfactuals.iloc[self._positions().get(row, [])]

    def items(self, row) -> list[dict]:
        """The counterfactuals of one row as plain dicts (feature values, ``rank``, ``prediction``, ...)."""
        pos = self._positions().get(row, [])
        if not pos:
            return []
        if getattr(self, "_records_cache", None) is None:
            self._records_cache = self.counterfactuals.to_dict("records")
        return [self._records_cache[i] for i in pos]

    def _original(self, row) -> dict:
        if getattr(self, "_orig_cache", None) is None:
            self._orig_cache = dict(zip(self.original.index, self.original.to_dict("records")))
        return self._orig_cache[row]

    def changes(self, row=None) -> pd.DataFrame:
        """A long table of what changes: ``row, rank, feature, original, counterfactual``.

        Examples::

            >>> result.changes(row=17)
               row  rank feature  original  counterfactual
            0   17     0   pirat      0.45            0.33
        """
        cfs = self.counterfactuals if row is None else self.for_row(row)
        out = []
        for _, cf in cfs.iterrows():
            orig = self.original.loc[cf["row"]]
            for f in self.features:
                a, b = orig[f], cf[f]
                if _differs(a, b):
                    out.append({"row": cf["row"], "rank": int(cf["rank"]), "feature": f,
                                "original": _plain(a), "counterfactual": _plain(b)})
        return pd.DataFrame(out, columns=["row", "rank", "feature", "original", "counterfactual"])

    def _status_of(self, row) -> tuple:
        """``(status, reason, prediction)`` of one row (by index label), from a per-row cache."""
        if getattr(self, "_status_cache", None) is None:
            st = self.status
            self._status_cache = dict(zip(st.index, zip(st["status"].tolist(), st["reason"].tolist(),
                                                        st["prediction"].tolist())))
        return self._status_cache[row]

    def changed_features(self, row) -> list[list[str]]:
        """Per counterfactual of ``row`` (cheapest first), the features it changes (feature order)."""
        if getattr(self, "_changed_cache", None) is None:
            cfs = self.counterfactuals
            mask = np.zeros((len(cfs), len(self.features)), dtype=bool)
            if len(cfs):
                orig = self.original.loc[cfs["row"].tolist(), self.features]
                for j, f in enumerate(self.features):
                    a, b = orig[f].to_numpy(dtype=object), cfs[f].to_numpy(dtype=object)
                    mask[:, j] = [_differs(x, y) for x, y in zip(a, b)]
            self._changed_cache = [[f for f, m in zip(self.features, r) if m] for r in mask]
        return [self._changed_cache[i] for i in self._positions().get(row, [])]

    def record(self, row) -> dict:
        """The JSON-ready record of one row: status, reason, desired outcome and each counterfactual's changes."""
        status, reason, prediction = self._status_of(row)
        items = []
        orig = self._original(row)
        for cf, changed in zip(self.items(row), self.changed_features(row)):
            items.append({
                "rank": int(cf["rank"]),
                "changes": {f: {"from": _plain(orig[f]), "to": _plain(cf[f])} for f in changed},
                "prediction": float(cf["prediction"]),
                "n_changed": int(cf["n_changed"]),
                "distance": float(cf["distance"]),
                "plausibility": _plain(float(cf["plausibility"])),
            })
        return {"status": str(status), "reason": str(reason) or None,
                "desired": self.desired, "prediction": float(prediction),
                "counterfactuals": items}

    def summary(self) -> str:
        """A few lines for people: coverage, validity, sparsity, distance, speed."""
        q = self.quality
        return (f"{q['rows_with_counterfactual']}/{q['rows_needing_change']} rows with a counterfactual "
                f"({q['n_counterfactuals']} in all; desired: {self.desired}); validity {q['validity']:.0%}, "
                f"{q['violations']} constraint violations; mean features changed {q['mean_features_changed']:.2f}, "
                f"mean MAD-L1 {q['mean_distance']:.3f}, mean distance to nearest real row "
                f"{q['mean_plausibility']:.3f}; {q['seconds']:.2f} s")

    def __repr__(self) -> str:
        return f"<CounterfactualResult: {self.summary()}>"


def _differs(a, b) -> bool:
    a_na = a is None or (isinstance(a, float) and np.isnan(a))
    b_na = b is None or (isinstance(b, float) and np.isnan(b))
    if a_na or b_na:
        return a_na != b_na
    try:
        return abs(float(a) - float(b)) > 1e-9 * max(1.0, abs(float(a)))
    except (TypeError, ValueError):
        return str(a) != str(b)


def _as_frame(X, features, pack, what: str) -> pd.DataFrame:
    """``X`` as a DataFrame of the model features, typed as the pack says (categoricals as categoricals)."""
    if isinstance(X, (str, Path)):
        from ..io.tabular import read_table

        X = read_table(X)
    if not isinstance(X, pd.DataFrame):
        arr = np.asarray(X)
        if arr.ndim != 2 or arr.shape[1] != len(features):
            raise InputError(f"{what}: expected a 2-D array with {len(features)} columns, got shape {arr.shape}")
        X = pd.DataFrame(arr, columns=features)
    missing = [f for f in features if f not in X.columns]
    if missing:
        raise InputError(f"{what}: missing column(s) {missing} that the model uses", column=missing[0])
    if pack is not None:
        spec = pack.spec
        typed = True
        for f in features:
            fs = spec.features.get(f)
            if fs is None:
                continue
            col = X[f]
            if fs.type in ("categorical", "binary"):
                if not (isinstance(col.dtype, pd.CategoricalDtype)
                        and [str(c) for c in col.cat.categories] == [str(c) for c in fs.categories]):
                    typed = False
            elif not pd.api.types.is_numeric_dtype(col.dtype):
                typed = False
        if not typed:
            from ..io.tabular import encode_like_pack

            X = encode_like_pack(X, pack, features)
    if not X.index.is_unique:
        raise InputError(f"{what}: the index has duplicate labels; counterfactuals name rows by index "
                         "(call .reset_index(drop=True) first)")
    return X[features]


def counterfactuals(model, X, *, pack=None, constraints: dict | None = None, desired=None, k: int = 3,
                    background=None, random_state: int = 0, output: str | None = None,
                    n_candidates: int = 64, strategies="auto", batch_size: int = 256,
                    config: SearchConfig | None = None, progress: bool = False) -> CounterfactualResult:
    """Find up to ``k`` counterfactuals per row, within actionability constraints.

    A counterfactual is a changed copy of a row that the model, re-run on it,
    gives the desired outcome, changing only what may change, in the allowed
    direction and range. When no such change is found, the row's status says
    ``none`` and why; a point that breaks a constraint is never returned.

    Args:
        model: a model or adapter (see :func:`~xai_reports.wrap_model`), or a model file.
        X: rows to explain, ``(n, d)``: a DataFrame (categorical features as pandas
            categoricals, or raw values the pack can type) or an array.
        pack: a pack (name, path or loaded) whose feature declarations give the
            constraints (protected and non-actionable features are immutable) and,
            for finance packs, the desired decision (approval).
        constraints: a dict with keys among ``immutable``, ``increase_only``,
            ``decrease_only``, ``bounds``, ``integer``, ``categories``,
            ``forbidden_transitions``, ``max_changes``, ``costs``, ``steps``,
            ``one_hot`` (``{group: [0/1 indicator columns]}``: searched as one
            categorical, a change of category counts as one feature); with a
            pack it tightens the pack's constraints.
        desired: ``None`` (a finance pack's approval; else the other class of a
            binary classifier), ``"approve"``, a class label or index, or an output
            range ``(lo, hi)`` (``None`` for an open end) in ``output`` space.
        k: counterfactuals per row (the cheapest mutually non-redundant ones).
        background: reference rows (typically the training data), ``(m, d)``: MAD
            scales, the search range of features without declared bounds, donor
            rows and plausibility. Default: ``X`` itself.
        random_state: seed; the same seed gives identical results, and a row gets
            the same counterfactuals alone or in any batch.
        output: output space of a ``desired`` range (default: probability for
            classifiers, the model's own output otherwise).
        n_candidates: random candidates per row per round.
        strategies: ``"auto"`` or a subset of ``("line", "random", "donor", "gradient")``.
        batch_size: rows searched together (bounds memory).
        config: a :class:`SearchConfig` overriding all search sizes.
        progress: show a progress bar.

    Returns:
        :class:`CounterfactualResult` with ``.counterfactuals`` (DataFrame: ``row``,
        ``rank``, the features, ``prediction``, quality columns), ``.status`` (per
        row) and ``.quality`` (summary metrics).

    Raises:
        InputError: bad rows, constraints or ``desired``.

    Examples::

        >>> res = counterfactuals(xgb_model, X_denied, pack="finance", background=X_train, k=3)
        >>> res.status.status.value_counts()
        found    187
        none      13
        >>> res.counterfactuals.head(3)[["row", "pirat", "lvrat", "prediction"]]
    """
    from ..adapters import load_model, wrap_model
    from ..packs import load_pack

    t0 = time.perf_counter()
    adapter = load_model(model) if isinstance(model, (str, Path)) else wrap_model(model)
    pack = load_pack(pack) if pack is not None else None
    features = list(adapter.feature_names or (X.columns if isinstance(X, pd.DataFrame) else []))
    if not features:
        n = np.asarray(X).shape[1]
        features = [f"x{j}" for j in range(n)]
        adapter.feature_names = features
    if k < 1:
        raise InputError(f"k must be >= 1, got {k}")
    Xf = _as_frame(X, features, pack, "X")
    Bf = Xf if background is None else _as_frame(background, features, pack, "background")
    cons = Constraints.build(Xf, pack=pack, constraints=constraints, features=features)
    # (an empty X: probe the model's output shape on a background row instead)
    target = resolve_target(adapter, Xf if len(Xf) else Bf.head(1), desired, pack, output)
    codec = Codec(Xf, features)
    Z = codec.encode(Xf)
    Zb = codec.encode(Bf)
    scale = mad_scale(Zb, codec.numeric)

    cfg = config or SearchConfig(n_candidates=n_candidates, batch_size=batch_size)
    if strategies == "auto":
        use = set(STRATEGIES)
    else:
        use = set([strategies] if isinstance(strategies, str) else strategies)
        unknown = use - set(STRATEGIES)
        if unknown:
            raise InputError(f"unknown strategies {sorted(unknown)}; choose from {list(STRATEGIES)}")
    engine = Engine(adapter, codec, cons, target, Zb, scale, cfg, random_state)

    n = len(Z)
    positions = np.arange(n)
    engine.pos = positions
    engine.enable_fast_path(np.concatenate([Z[:256], Zb[:256]]))
    pred0, valid0, _ = engine.evaluate(Z, positions) if n else (np.empty(0), np.empty(0, bool), None)
    todo = np.flatnonzero(~valid0)
    results: dict[int, object] = {}
    chunks = [todo[s:s + cfg.batch_size] for s in range(0, len(todo), cfg.batch_size)]
    prog = None
    if progress and chunks:
        from rich.progress import Progress

        prog = Progress(transient=True)
        prog.start()
        task = prog.add_task("counterfactuals", total=len(todo))
    try:
        for ch in chunks:
            for pos, res in zip(ch, engine.run(Z[ch], k, use, positions=ch)):
                results[int(pos)] = res
            if prog is not None:
                prog.advance(task, len(ch))
    finally:
        if prog is not None:
            prog.stop()

    # -- assemble --------------------------------------------------------------
    labels = list(Xf.index)
    cf_Z, cf_owner, cf_cost, cf_src = [], [], [], []
    for pos in np.flatnonzero(~valid0):
        res = results[int(pos)]
        cf_Z.extend(res.Z)
        cf_owner.extend([int(pos)] * len(res.Z))
        cf_cost.extend(res.cost)
        cf_src.extend(res.source)
    Zc = np.array(cf_Z, dtype=np.float64).reshape(-1, len(features))
    owner = np.array(cf_owner, dtype=int)
    cf_cost = np.array(cf_cost, dtype=float)
    cf_src = np.array(cf_src, dtype=object)
    # The guarantee, checked once more outside the search: the model re-run through the adapter
    # on the rows exactly as returned, and every constraint. Anything failing is dropped.
    dropped = 0
    if len(Zc):
        frame = codec.decode(Zc, index=pd.RangeIndex(len(Zc)))
        pred_check, valid_check, _ = target.evaluate(adapter, frame, owner)
        viol = cons.violation_matrix(Z[owner], Zc)
        bad = np.zeros(len(Zc), dtype=bool)
        for mat in viol.values():
            bad |= mat if mat.ndim == 1 else mat.any(axis=1)
        keep = valid_check & ~bad
        dropped = int((~keep).sum())
        Zc, owner, cf_cost, cf_src, pred_check = Zc[keep], owner[keep], cf_cost[keep], cf_src[keep], pred_check[keep]
        validity_before = float(valid_check.mean())
        n_viol = int(bad.sum())
    else:
        pred_check, validity_before, n_viol = np.empty(0), float("nan"), 0
    frame = codec.decode(Zc, index=pd.RangeIndex(len(Zc)))
    rank = np.zeros(len(Zc), dtype=int)
    for pos in np.unique(owner):
        idx = np.flatnonzero(owner == pos)
        rank[idx] = np.arange(len(idx))
    n_per_row = np.bincount(owner, minlength=n) if n else np.zeros(0, int)
    status_rows = []
    for pos in range(n):
        if valid0[pos]:
            status_rows.append((STATUS_NOT_NEEDED, 0, f"already {target.describe()}", pred0[pos]))
            continue
        res = results[pos]
        got = int(n_per_row[pos])
        if got == 0:
            reason = res.reason or "every candidate failed the final re-check"
            status_rows.append((STATUS_NONE, 0, reason, pred0[pos]))
        else:
            reason = "" if got >= k else f"{got} distinct alternative(s) found (k={k})"
            status_rows.append((STATUS_FOUND, got, reason, pred0[pos]))
    # quality in search terms: a one-hot group is one categorical feature (a change counts once)
    if cons.groups:
        sidx = cons.search_index()
        q_num = np.array([not isinstance(it, tuple) and bool(codec.numeric[it]) for it in sidx])
        q_scale = np.array([1.0 if isinstance(it, tuple) else scale[it] for it in sidx])
        qZ, qZc, qZb = cons.reduce(Z), cons.reduce(Zc), cons.reduce(Zb)
    else:
        q_num, q_scale, qZ, qZc, qZb = codec.numeric, scale, Z, Zc, Zb
    dist = l1_distance(qZ[owner], qZc, q_scale, q_num) if len(Zc) else np.empty(0)
    plaus = nearest_distance(qZc, qZb, q_scale, q_num) if len(Zc) else np.empty(0)
    nch = n_changed(qZ[owner], qZc) if len(Zc) else np.empty(0, int)
    cf_df = pd.concat([pd.DataFrame({"row": [labels[p] for p in owner], "rank": rank}),
                       frame.reset_index(drop=True) if isinstance(frame, pd.DataFrame)
                       else pd.DataFrame(frame, columns=features),
                       pd.DataFrame({"prediction": pred_check, "n_changed": nch.astype(int), "distance": dist,
                                     "cost": cf_cost, "plausibility": plaus, "source": list(cf_src)})], axis=1)
    status = pd.DataFrame(status_rows, columns=["status", "n_found", "reason", "prediction"], index=Xf.index)

    divs, fdivs = [], []
    for pos in np.unique(owner):
        sel = owner == pos
        if sel.sum() >= 2:
            divs.append(diversity(qZc[sel], q_scale, q_num))
            fdivs.append(feature_diversity(qZ[pos], qZc[sel]))
    seconds = time.perf_counter() - t0
    needing = int((~valid0).sum())
    found = int((status["status"] == STATUS_FOUND).sum())

    def mean(a):
        return float(np.mean(a)) if len(a) else float("nan")

    quality = {
        "rows": n, "rows_needing_change": needing, "rows_with_counterfactual": found,
        "rows_without_counterfactual": needing - found,
        "coverage": found / needing if needing else float("nan"),
        "n_counterfactuals": int(len(Zc)),
        "validity": validity_before, "violations": n_viol, "dropped_in_final_check": dropped,
        "mean_features_changed": mean(nch), "mean_distance": mean(dist),
        "mean_cost": mean(cf_cost), "mean_plausibility": mean(plaus),
        "mean_diversity": mean(divs), "mean_feature_diversity": mean(fdivs),
        "model_evaluations": int(engine.n_predictions), "seconds": seconds,
        "seconds_per_row": seconds / needing if needing else float("nan"),
    }
    return CounterfactualResult(counterfactuals=cf_df, status=status, quality=quality, constraints=cons,
                                desired=target.describe(), original=Xf, features=features)
