"""The counterfactual search: batched over every row and candidate at once.

For a chunk of query rows the engine

1. works out, per row and feature, where a change may go (an interval for a
   numeric feature, after direction, bounds and the search grid; a set of
   target categories for a categorical one, after allowed categories,
   direction and forbidden transitions);
2. generates candidates, all at once:

   * ``line``: each changeable feature alone, on a grid over its whole allowed
     range (and every allowed category);
   * ``random``: growing spheres (Laugel et al. 2018): random subsets of
     features, moved by up to ``r`` MADs, ``r`` growing each round for the rows
     that still lack candidates, plus uniform draws over the allowed range and
     one 'corner' per row (every direction-constrained feature at its limit);
   * ``donor``: values copied from background rows that already have the
     desired outcome (data-driven, so candidates stay near real rows);
   * ``gradient``: for differentiable (torch) models, projected gradient descent
     on a hinge loss plus the weighted L1 distance, inside the allowed box;

3. predicts every candidate in a few large batches and keeps the valid ones;
4. refines the best few per row: greedy sparsification (undo each change, most
   costly first, while the outcome stays desired), then bisection of each
   remaining numeric change back toward the original value;
5. re-checks every constraint on the refined candidates (and re-runs the model
   on them where the search predicted through a fast path; otherwise each was
   already predicted exactly as it is, and ``counterfactuals()`` re-runs the
   adapter on every result anyway),
   and picks the ``k`` cheapest mutually non-redundant ones (an alternative
   that asks for everything another one asks, and more, is dropped).

Every candidate is built inside the constraints and only ever replaced by a
candidate the model confirmed as valid, so a returned counterfactual is valid
and breaks no constraint (both are checked once more at the end anyway).
Random draws come from a generator seeded by ``random_state`` and the row's own
values, so a row gets the same counterfactuals alone or in any batch.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import InputError
from .constraints import Constraints, _changed
from .quality import l1_distance

STRATEGIES = ("line", "random", "donor", "gradient")


class Codec:
    """Model features of a DataFrame as a float matrix (categorical -> codes) and back.

    Args:
        X: a DataFrame (categorical columns as pandas categoricals) or an array.
        features: the model's feature order.
    """

    def __init__(self, X, features: list[str]):
        self.features = list(features)
        self.is_frame = isinstance(X, pd.DataFrame)
        self.categories: dict[int, pd.Index] = {}
        self.ordered: dict[int, bool] = {}
        if self.is_frame:
            for j, f in enumerate(self.features):
                dt = X[f].dtype
                if isinstance(dt, pd.CategoricalDtype):
                    self.categories[j] = dt.categories
                    self.ordered[j] = bool(dt.ordered)
        self.numeric = np.array([j not in self.categories for j in range(len(self.features))])

    def encode(self, df) -> np.ndarray:
        """``(n, d)`` float64: numeric values, category codes (NaN when missing)."""
        if not isinstance(df, pd.DataFrame):
            return np.asarray(df, dtype=np.float64).reshape(-1, len(self.features))
        Z = np.empty((len(df), len(self.features)), dtype=np.float64)
        for j, f in enumerate(self.features):
            col = df[f]
            if j in self.categories:
                cats = self.categories[j]
                if isinstance(col.dtype, pd.CategoricalDtype) and col.cat.categories.equals(cats):
                    codes = col.cat.codes.to_numpy().astype(np.float64)
                else:
                    codes = _codes_of(col, cats, f)
                codes[codes < 0] = np.nan
                Z[:, j] = codes
            else:
                try:
                    Z[:, j] = pd.to_numeric(col, errors="raise").to_numpy(dtype=np.float64)
                except (TypeError, ValueError):
                    raise InputError(f"expected numbers in column '{f}'", column=f) from None
        return Z

    def decode(self, Z: np.ndarray, index=None):
        """The model input for encoded rows: a DataFrame with the original dtypes (or an array)."""
        if not self.is_frame:
            return Z
        if not self.categories:     # all numeric: one float block (much cheaper than a column per feature)
            return pd.DataFrame(np.asarray(Z, dtype=np.float64), columns=self.features, index=index, copy=False)
        cols = {}
        for j, f in enumerate(self.features):
            if j in self.categories:
                codes = np.where(np.isnan(Z[:, j]), -1, Z[:, j]).astype(np.int64)
                cols[f] = pd.Categorical.from_codes(codes, categories=self.categories[j], ordered=self.ordered[j])
            else:
                cols[f] = Z[:, j]
        return pd.DataFrame(cols, index=index)


class _SearchCodec:
    """Names and kinds of the search features (one-hot groups as one categorical each)."""

    def __init__(self, codec: Codec, constraints: Constraints):
        self.features = constraints.search_features
        self.is_frame = codec.is_frame
        self.numeric = np.array([not isinstance(item, tuple) and bool(codec.numeric[item])
                                 for item in constraints.search_index()])


def _codes_of(col: pd.Series, cats: pd.Index, name: str) -> np.ndarray:
    """Codes of values against ``cats``, matching ``"1"`` to ``1``; unknown values raise."""
    lookup = {str(c): i for i, c in enumerate(cats)}
    out = np.empty(len(col), dtype=np.float64)
    for i, v in enumerate(col.tolist()):
        if v is None or (isinstance(v, float) and np.isnan(v)):
            out[i] = -1
            continue
        key = str(v)
        if key not in lookup:
            try:
                key = next(str(c) for c in cats if float(c) == float(v))
            except (StopIteration, TypeError, ValueError):
                raise InputError(f"unknown category {v!r} in column '{name}' "
                                 f"(categories: {[str(c) for c in cats]})", column=name) from None
        out[i] = lookup[key]
    return out


# -- numeric grids --------------------------------------------------------------

class _Grid:
    """Where a numeric feature's values may sit: anywhere, on a step grid, or on levels."""

    def __init__(self, rule):
        self.levels = None if rule.levels is None else np.asarray(rule.levels, dtype=np.float64)
        if self.levels is None and rule.integer:
            self.step = 1.0 if rule.step is None else max(1.0, np.ceil(rule.step))
        else:
            self.step = rule.step if self.levels is None else None
        self.continuous = self.levels is None and self.step is None

    def snap(self, v: np.ndarray, mode: str) -> np.ndarray:
        """Snap values ``down``, ``up`` or to the ``nearest`` allowed value (NaN stays NaN)."""
        v = np.asarray(v, dtype=np.float64)
        if self.continuous:
            return v
        if self.levels is not None:
            L = self.levels
            if len(L) == 0:
                return np.full_like(v, np.nan)
            with np.errstate(invalid="ignore"):
                idx_up = np.searchsorted(L, v - 1e-12, side="left")
                idx_dn = np.searchsorted(L, v + 1e-12, side="right") - 1
            up = np.where(idx_up < len(L), L[np.minimum(idx_up, len(L) - 1)], np.nan)
            dn = np.where(idx_dn >= 0, L[np.maximum(idx_dn, 0)], np.nan)
            if mode == "up":
                out = up
            elif mode == "down":
                out = dn
            else:
                out = np.where(np.isnan(up) | (np.abs(v - dn) <= np.abs(up - v)), dn, up)
                out = np.where(np.isnan(dn), up, out)
            return np.where(np.isnan(v), np.nan, out)
        s = self.step
        q = v / s
        with np.errstate(invalid="ignore"):
            if mode == "up":
                k = np.ceil(q - 1e-9)
            elif mode == "down":
                k = np.floor(q + 1e-9)
            else:
                k = np.round(q)
        return np.round(k * s, 12)


def _xgboost_fast_path(adapter, codec: Codec, output: str):
    """A predictor from encoded rows for XGBoost boosters whose feature types match the codec."""
    if getattr(adapter, "family", None) != "xgboost" or not hasattr(adapter, "booster"):
        return None
    import json

    import xgboost as xgb

    booster = adapter.booster
    names = booster.feature_names
    types = booster.feature_types
    if names is None or list(names) != codec.features or types is None:
        return None
    for j, t in enumerate(types):
        if (t == "c") != (not codec.numeric[j]):
            return None
    try:
        nthread = int(json.loads(booster.save_config())["learner"]["generic_param"].get("nthread", "0"))
    except (KeyError, ValueError, TypeError):
        nthread = 0
    nthread = nthread if nthread > 0 else -1

    def predict(Z):
        Z32 = np.ascontiguousarray(Z, dtype=np.float32)
        try:
            raw = booster.inplace_predict(Z32, predict_type="margin", missing=np.nan)
        except (xgb.core.XGBoostError, TypeError, ValueError):
            dm = xgb.DMatrix(Z32, feature_names=names, feature_types=types, nthread=nthread, missing=np.nan)
            raw = booster.predict(dm, output_margin=True)
        return adapter.convert(np.asarray(raw, dtype=np.float64), adapter.output_space, output)

    return predict


def _lightgbm_fast_path(adapter, codec: Codec, output: str):
    """A predictor from encoded rows for LightGBM scikit-learn models on numeric features (its booster)."""
    if getattr(adapter, "family", None) != "sklearn" or not codec.numeric.all():
        return None
    booster = getattr(adapter.model, "booster_", None)
    if booster is None or type(booster).__module__.split(".")[0] != "lightgbm":
        return None
    try:
        if list(booster.feature_name()) != codec.features:
            return None
    except Exception:  # noqa: BLE001 - any surprise: the adapter's own path
        return None
    space = adapter.output_space
    if space not in ("probability", "margin"):
        return None

    def predict(Z):
        raw = booster.predict(np.ascontiguousarray(Z, dtype=np.float64), raw_score=(space == "margin"))
        return adapter.convert(np.asarray(raw, dtype=np.float64), space, output)

    return predict


# -- the engine -----------------------------------------------------------------

@dataclass
class SearchConfig:
    """Search sizes. The defaults suit tabular models with up to a few dozen features.

    Attributes:
        n_candidates: random candidates per row per round.
        rounds: growing-sphere rounds for rows that still lack ``k`` valid candidates.
        radius: first sphere radius, in MADs (multiplied by 4 each round).
        grid: points per direction per feature in the one-feature line search.
        pool: valid candidates per row that are refined.
        bisect_steps: bisection steps' worth of precision per numeric change.
        shrink_points: points per model call in that search (7: three bisection steps per call).
        tolerance: bisection stops once the interval is this many MADs wide.
        gradient_steps: projected gradient steps (differentiable models).
        strategies: candidate generators to use (see the module docstring).
        batch_size: query rows processed together.
        max_predict_rows: rows per model call.
    """

    n_candidates: int = 64
    rounds: int = 4
    radius: float = 0.5
    grid: int = 12
    pool: int = 8
    bisect_steps: int = 16
    shrink_points: int = 7
    tolerance: float = 1e-3
    gradient_steps: int = 80
    strategies: tuple = STRATEGIES
    batch_size: int = 256
    max_predict_rows: int = 131072


@dataclass
class RowResult:
    """What the search found for one query row."""

    Z: np.ndarray                    # (k_i, d) encoded counterfactuals
    prediction: np.ndarray           # (k_i,)
    cost: np.ndarray                 # (k_i,)
    source: list = field(default_factory=list)
    status: str = "none"
    reason: str = ""
    n_evaluated: int = 0


class Engine:
    """Runs the search for encoded query rows. See the module docstring."""

    def __init__(self, adapter, codec: Codec, constraints: Constraints, target, background: np.ndarray,
                 scale: np.ndarray, config: SearchConfig, random_state: int = 0):
        self.adapter = adapter
        self.full_codec = codec
        self.full_c = constraints
        # one-hot groups: the search runs over search rows (each group one categorical code);
        # every model call expands them back to the model's columns
        self.grouped = bool(constraints.groups)
        if self.grouped:
            constraints = constraints.for_search()
            codec = _SearchCodec(codec, self.full_c)
            self.bg_full = background
            background = self.full_c.reduce(background)
            scale = np.array([1.0 if isinstance(item, tuple) else scale[item]
                              for item in self.full_c.search_index()])
        self.codec = codec
        self.c = constraints
        self.target = target
        self.bg = background
        self.scale = scale
        self.Z0full = None
        self.cfg = config
        self.seed = int(random_state)
        self.d = len(codec.features)
        self.numeric = codec.numeric
        self.rules = [constraints.rules[f] for f in codec.features]
        self.weights = np.array([r.cost for r in self.rules], dtype=np.float64)
        self.grids = [(_Grid(r) if self.numeric[j] else None) for j, r in enumerate(self.rules)]
        with np.errstate(all="ignore"):
            self.bg_min = np.nanmin(background, axis=0) if len(background) else np.full(self.d, np.nan)
            self.bg_max = np.nanmax(background, axis=0) if len(background) else np.full(self.d, np.nan)
        self.dirs = np.array([{"any": 0, "increase_only": 1, "decrease_only": -1}[r.direction] for r in self.rules])
        self.max_changes = constraints.max_changes or self.d
        self.mutable_cols = np.array([j for j, r in enumerate(self.rules) if r.mutable], dtype=int)
        self.n_predictions = 0
        self.pos = np.empty(0, dtype=int)
        self._fast = None
        self._bg_eval: dict = {}

    # -- model calls -------------------------------------------------------------
    def model_output(self, Z: np.ndarray) -> np.ndarray:
        """The model's output on encoded (model) rows, in the target's output space."""
        if self._fast is not None:
            return self._fast(Z)
        return self.target.raw(self.adapter, self.full_codec.decode(Z))

    def evaluate(self, Z: np.ndarray, rows: np.ndarray, ref: np.ndarray | None = None):
        """``(prediction, valid, slack)`` for candidates ``Z`` of query rows ``rows``.

        ``Z`` are model rows or, with one-hot groups, search rows (fewer columns);
        ``ref`` are then the model rows a group with no code keeps (default: the
        query rows' own).
        """
        n = len(Z)
        pred = np.empty(n)
        valid = np.empty(n, dtype=bool)
        slack = np.empty(n)
        step = self.cfg.max_predict_rows
        for s in range(0, n, step):
            Zs = Z[s:s + step]
            if self.grouped and Zs.shape[1] != len(self.full_codec.features):   # search rows
                Zs = self.full_c.expand(Zs, self.Z0full[rows[s:s + step]] if ref is None else ref[s:s + step])
            out = self.model_output(Zs)
            p, v, sl = self.target.from_output(out, self.pos[rows[s:s + step]])
            pred[s:s + step], valid[s:s + step], slack[s:s + step] = p, v, sl
        self.n_predictions += n
        return pred, valid, slack

    def enable_fast_path(self, Zcheck: np.ndarray) -> bool:
        """Predict XGBoost and LightGBM models from the encoded matrix directly (no DataFrame per call).

        Used only when it gives the same outputs as the adapter on ``Zcheck``
        (the query and background rows); otherwise every call goes through the adapter.
        """
        self._fast = None
        fast = _xgboost_fast_path(self.adapter, self.full_codec, self.target.output)
        if fast is None:
            fast = _lightgbm_fast_path(self.adapter, self.full_codec, self.target.output)
        if fast is None and getattr(self.adapter, "family", None) == "torch" and self.full_codec.numeric.all():
            def fast(Z, adapter=self.adapter, output=self.target.output):
                return np.asarray(adapter.predict(np.ascontiguousarray(Z), output=output), dtype=np.float64)
        if fast is None or not len(Zcheck):
            return False
        ref = self.target.raw(self.adapter, self.full_codec.decode(Zcheck))   # the adapter's own path
        got = fast(Zcheck)
        if ref.shape == got.shape and np.allclose(ref, got, rtol=1e-6, atol=1e-6):
            self._fast = fast
            return True
        return False

    def donors(self, row: int) -> np.ndarray:
        """Background rows that already have the desired outcome for ``row``'s target group."""
        g = self.target.group(int(self.pos[row]))
        if g not in self._bg_eval:
            if len(self.bg) == 0:
                self._bg_eval[g] = np.empty((0, self.d))
            else:
                _, v, _ = self.evaluate(self.bg, np.full(len(self.bg), row),
                                        ref=self.bg_full if self.grouped else None)
                self._bg_eval[g] = self.bg[v]
        return self._bg_eval[g]

    # -- domains -----------------------------------------------------------------
    def domains(self, Z0: np.ndarray):
        """Per row and feature: numeric interval ``[A, B]``, categorical target masks, and ``movable``."""
        m, d = Z0.shape
        A = np.full((m, d), np.nan)
        B = np.full((m, d), np.nan)
        movable = np.zeros((m, d), dtype=bool)
        cat_targets: dict[int, np.ndarray] = {}
        for j, r in enumerate(self.rules):
            x = Z0[:, j]
            if not r.mutable:
                continue
            if self.numeric[j]:
                if r.bounds is not None:
                    lo = np.full(m, r.bounds[0])
                    hi = np.full(m, r.bounds[1])
                else:
                    lo = np.fmin(np.full(m, self.bg_min[j]), x)
                    hi = np.fmax(np.full(m, self.bg_max[j]), x)
                if r.levels is not None and len(r.levels):
                    lo = np.fmax(lo, r.levels[0])
                    hi = np.fmin(hi, r.levels[-1])
                if r.direction == "decrease_only":
                    hi = np.fmin(hi, x)
                elif r.direction == "increase_only":
                    lo = np.fmax(lo, x)
                g = self.grids[j]
                lo = g.snap(lo, "up")
                hi = g.snap(hi, "down")
                ok = ~np.isnan(x) & ~np.isnan(lo) & ~np.isnan(hi) & (lo <= hi)
                with np.errstate(invalid="ignore"):
                    ok &= _changed(x, lo) | _changed(x, hi)
                A[:, j], B[:, j] = lo, hi
                movable[:, j] = ok
            else:
                C = len(r.categories)
                tmask = r.target_mask()
                fm = r.forbidden_matrix()
                xc = np.where(np.isnan(x), -1, x).astype(int)
                T = np.zeros((m, C), dtype=bool)
                has = xc >= 0
                codes = np.arange(C)
                T[has] = tmask[None, :] & ~fm[xc[has]] & (codes[None, :] != xc[has][:, None])
                if r.direction == "increase_only":
                    T[has] &= codes[None, :] > xc[has][:, None]
                elif r.direction == "decrease_only":
                    T[has] &= codes[None, :] < xc[has][:, None]
                cat_targets[j] = T
                movable[:, j] = T.any(axis=1)
        return A, B, movable, cat_targets

    # -- candidate generators ----------------------------------------------------
    def line_candidates(self, Z0, A, B, movable, cat_targets):
        """Each changeable feature alone over a grid of its allowed range (all categories)."""
        G = self.cfg.grid
        q = (np.arange(1, G + 1) / G) ** 1.5
        owners, feats, vals = [], [], []
        for j in range(self.d):
            rows = np.flatnonzero(movable[:, j])
            if not len(rows):
                continue
            if self.numeric[j]:
                x, a, b = Z0[rows, j], A[rows, j], B[rows, j]
                down = x[:, None] - (x - a)[:, None] * q[None, :]
                up = x[:, None] + (b - x)[:, None] * q[None, :]
                down[(a >= x)] = np.nan
                up[(b <= x)] = np.nan
                v = np.concatenate([down, up], axis=1)
                v = np.clip(self.grids[j].snap(v, "nearest"), a[:, None], b[:, None])
                r_idx = np.repeat(rows, v.shape[1])
                v = v.ravel()
                keep = ~np.isnan(v) & _changed(Z0[r_idx, j], v)
                owners.append(r_idx[keep])
                vals.append(v[keep])
                feats.append(np.full(keep.sum(), j))
            else:
                T = cat_targets[j][rows]
                rr, cc = np.nonzero(T)
                owners.append(rows[rr])
                vals.append(cc.astype(np.float64))
                feats.append(np.full(len(rr), j))
        if owners:
            o = np.concatenate(owners)
            f = np.concatenate(feats)
            v = np.concatenate(vals)
            Zc = Z0[o].copy()
            Zc[np.arange(len(o)), f] = v
        else:
            Zc, o = np.empty((0, self.d)), np.empty(0, dtype=int)
        Zd, od = self.diagonal_candidates(Z0, A, B, movable, q)
        return np.concatenate([Zc, Zd]), np.concatenate([o, od])

    def diagonal_candidates(self, Z0, A, B, movable, q, max_lines: int = 48):
        """Several numeric features at once, along the line from the row to a corner of their allowed box.

        For every subset of 2 .. ``max_changes`` (at most 3) mutable numeric features
        and every corner of their box (a direction-constrained feature has one end,
        a free one two), points ``x + t (corner - x)``; at most ``max_lines`` lines.
        """
        from itertools import combinations, product

        num = [j for j in self.mutable_cols if self.numeric[j]]
        top = min(self.max_changes, 3, len(num))
        lines = []
        for size in range(2, top + 1):
            for subset in combinations(num, size):
                ends = [([-1] if self.dirs[j] < 0 else [1] if self.dirs[j] > 0 else [-1, 1]) for j in subset]
                for signs in product(*ends):
                    lines.append((subset, signs))
        if not lines:
            return np.empty((0, self.d)), np.empty(0, dtype=int)
        lines = lines[:max_lines]
        G = len(q)
        blocks, owners = [], []
        for subset, signs in lines:
            cols = list(subset)
            ok = movable[:, cols].all(axis=1)
            rows = np.flatnonzero(ok)
            if not len(rows):
                continue
            x = Z0[np.ix_(rows, cols)]
            corner = np.where(np.array(signs)[None, :] < 0, A[np.ix_(rows, cols)], B[np.ix_(rows, cols)])
            pts = x[:, None, :] + q[None, :, None] * (corner - x)[:, None, :]          # (r, G, s)
            Zc = np.repeat(Z0[rows][:, None, :], G, axis=1)
            for t, j in enumerate(cols):
                v = self.grids[j].snap(pts[..., t], "nearest")
                Zc[..., j] = np.clip(v, A[rows, j][:, None], B[rows, j][:, None])
            blocks.append(Zc.reshape(-1, self.d))
            owners.append(np.repeat(rows, G))
        if not blocks:
            return np.empty((0, self.d)), np.empty(0, dtype=int)
        return np.concatenate(blocks), np.concatenate(owners)

    def box_candidates(self, Z0, A, B, movable, rows, G: int = 12, max_subsets: int = 12):
        """A full grid over each pair of mutable numeric features, for rows nothing has worked for yet.

        Narrow valid regions that need two features at once are easy to miss by
        sampling; a ``G x G`` grid over the pair's allowed box (denser near the row)
        does not miss them at that resolution.
        """
        from itertools import combinations

        num = [j for j in self.mutable_cols if self.numeric[j]]
        pairs = list(combinations(num, 2))[:max_subsets] if self.max_changes >= 2 else []
        if not pairs or not len(rows):
            return np.empty((0, self.d)), np.empty(0, dtype=int)
        q = (np.arange(1, G + 1) / G) ** 1.5
        blocks, owners = [], []
        for j1, j2 in pairs:
            rr = rows[movable[rows, j1] & movable[rows, j2]]
            if not len(rr):
                continue
            axes = []
            for j in (j1, j2):
                x, a, b = Z0[rr, j], A[rr, j], B[rr, j]
                if self.dirs[j] < 0:
                    v = x[:, None] - (x - a)[:, None] * q[None, :]
                elif self.dirs[j] > 0:
                    v = x[:, None] + (b - x)[:, None] * q[None, :]
                else:
                    h = q[::2]
                    v = np.concatenate([x[:, None] - (x - a)[:, None] * h, x[:, None] + (b - x)[:, None] * h], axis=1)
                axes.append(np.clip(self.grids[j].snap(v, "nearest"), a[:, None], b[:, None]))
            g1, g2 = axes
            Zc = np.repeat(Z0[rr][:, None, None, :], g1.shape[1], axis=1).repeat(g2.shape[1], axis=2)
            Zc[..., j1] = g1[:, :, None]
            Zc[..., j2] = g2[:, None, :]
            blocks.append(Zc.reshape(-1, self.d))
            owners.append(np.repeat(rr, g1.shape[1] * g2.shape[1]))
        if not blocks:
            return np.empty((0, self.d)), np.empty(0, dtype=int)
        return np.concatenate(blocks), np.concatenate(owners)

    def refine_near_misses(self, Z0, A, B, movable, stuck, gens, Zn, on, sn, it: int, top: int = 4, M: int = 24):
        """Pattern search around the candidates that came closest, for rows nothing has worked for yet.

        The ``top`` invalid candidates with the largest slack per stuck row are
        jittered on the numeric features they change (uniformly within 1/24 of the
        allowed range, halved each iteration), so narrow valid regions near them are found.
        """
        keep = np.isin(on, stuck)
        Zn, on, sn = Zn[keep], on[keep], sn[keep]
        if not len(Zn):
            return np.empty((0, self.d)), np.empty(0, dtype=int)
        order = np.lexsort((-sn, on))
        o_s = on[order]
        start = np.r_[0, np.flatnonzero(o_s[1:] != o_s[:-1]) + 1]
        rank = np.arange(len(o_s)) - np.repeat(start, np.diff(np.r_[start, len(o_s)]))
        sel = order[rank < top]
        base, owners = Zn[sel], on[sel]
        ch = _changed(Z0[owners], base) & self.numeric[None, :] & movable[owners]
        Zc = np.repeat(base, M, axis=0)
        oc = np.repeat(owners, M)
        chm = np.repeat(ch, M, axis=0)
        U = np.concatenate([gens[i].random((M, self.d)) for i in owners])
        width = (np.nan_to_num(B - A)[oc]) / 24.0 * 0.5 ** it
        jit = Zc + (2 * U - 1) * width
        for j in range(self.d):
            if not chm[:, j].any():
                continue
            v = np.clip(self.grids[j].snap(np.clip(jit[:, j], A[oc, j], B[oc, j]), "nearest"), A[oc, j], B[oc, j])
            Zc[:, j] = np.where(chm[:, j], v, Zc[:, j])
        return Zc, oc

    def random_candidates(self, Z0, A, B, movable, cat_targets, rows, gens, radius, donors_by_row,
                          use_random: bool, use_donor: bool, corners: bool):
        """Growing-sphere, uniform and donor candidates for ``rows`` (indices into ``Z0``).

        Works on the mutable columns only, so wide data with a few actionable
        features costs little.
        """
        N, d = self.cfg.n_candidates, self.d
        mc = self.mutable_cols
        dm = len(mc)
        r = len(rows)
        if r == 0 or N == 0 or dm == 0:
            return np.empty((0, d)), np.empty(0, dtype=int)
        draws = np.stack([gens[i].random(N * (4 * dm + 3)) for i in rows])
        U = draws[:, :N * 4 * dm].reshape(r, N, dm, 4)
        V = draws[:, N * 4 * dm:].reshape(r, N, 3)
        mov = movable[rows][:, mc]
        nm = mov.sum(axis=1)
        smax = np.minimum(nm, self.max_changes)
        keys = np.where(mov[:, None, :], U[..., 0], np.inf)
        size = np.minimum(np.floor(V[..., 0] * smax[:, None]).astype(int) + 1, smax[:, None])
        rank = np.argsort(np.argsort(keys, axis=2), axis=2)
        chosen = (rank < size[..., None]) & mov[:, None, :]
        # strategy per candidate: 0 sphere, 1 uniform, 2 donor
        strat = np.where(V[..., 1] < 0.5, 0, np.where(V[..., 1] < 0.75, 1, 2))
        if not use_donor:
            strat = np.where(strat == 2, 1, strat)
        if not use_random:
            strat = np.full_like(strat, 2)
        x = Z0[rows][:, mc][:, None, :]
        a = A[rows][:, mc][:, None, :]
        b = B[rows][:, mc][:, None, :]
        dirs = self.dirs[mc][None, None, :]
        sign = np.where(dirs == 0, np.where(U[..., 3] < 0.5, -1.0, 1.0), dirs.astype(float))
        sphere = x + sign * U[..., 2] * radius * self.scale[mc][None, None, :]
        uniform = a + U[..., 2] * (b - a)
        donor_vals = np.full((r, N, dm), np.nan)
        has_donor = np.zeros(r, dtype=bool)
        for t, i in enumerate(rows):
            D = donors_by_row(i)
            if len(D):
                has_donor[t] = True
                donor_vals[t] = D[np.minimum((V[t, :, 2] * len(D)).astype(int), len(D) - 1)][:, mc]
        strat = np.where((strat == 2) & ~has_donor[:, None], 1 if use_random else -1, strat)
        val = np.where(strat[..., None] == 0, sphere, np.where(strat[..., None] == 1, uniform, donor_vals))
        Zc = np.repeat(Z0[rows][:, None, :], N, axis=1)
        for t, j in enumerate(mc):
            if not mov[:, t].any():
                continue
            xt = x[..., t]
            if self.numeric[j]:
                v = np.clip(val[..., t], a[..., t], b[..., t])
                v = self.grids[j].snap(v, "nearest")
                v = np.clip(v, a[..., t], b[..., t])
                v = np.where(np.isnan(v), xt, v)
            else:
                T = cat_targets[j][rows]                         # (r, C)
                cnt = T.sum(axis=1)
                cs = np.cumsum(T, axis=1)
                pick = np.floor(U[..., t, 2] * np.maximum(cnt, 1)[:, None]).astype(int)
                code = np.argmax(cs[:, None, :] > pick[..., None], axis=2).astype(float)
                dv = donor_vals[..., t]
                dcode = np.where(np.isnan(dv), -1, dv).astype(int)
                dcode = np.where(dcode < T.shape[1], dcode, -1)
                ok = (dcode >= 0) & np.take_along_axis(T, np.maximum(dcode, 0), axis=1)
                v = np.where((strat == 2) & ok, dcode.astype(float), code)
                v = np.where(cnt[:, None] > 0, v, xt)
            Zc[..., j] = np.where(chosen[..., t] & (strat >= 0), v, xt)
        Zc = Zc.reshape(r * N, d)
        owners = np.repeat(rows, N)
        if corners:
            Zk = Z0[rows].copy()
            for j in mc:
                if self.numeric[j] and self.dirs[j] != 0:
                    lim = A[rows, j] if self.dirs[j] < 0 else B[rows, j]
                    Zk[:, j] = np.where(movable[rows, j], lim, Zk[:, j])
            Zc = np.concatenate([Zc, Zk])
            owners = np.concatenate([owners, rows])
        return Zc, owners

    def gradient_candidates(self, Z0, A, B, movable):
        """Gradient ascent on the target's slack from each row (differentiable models).

        Two paths per row, in MAD units with steps growing 5% per iteration:
        steepest ascent for the weighted L1 norm (one coordinate at a time: the
        one with the largest gradient per unit cost -- the L1-optimal direction
        for a locally linear model) and the normalised full gradient. Each path
        stops at its first valid point; coordinates at their allowed limit do not move.
        """
        import torch

        adapter = self.adapter
        num_mov = movable & self.numeric[None, :]
        rows = np.flatnonzero(num_mov.any(axis=1))
        if not len(rows) or not self.numeric.all():   # categorical inputs: no gradient path
            return np.empty((0, self.d)), np.empty(0, dtype=int)
        base = adapter.to_tensor(np.ascontiguousarray(Z0[rows])).detach()
        dev, dt = base.device, base.dtype
        owners = np.tile(rows, 2)
        x = base.repeat(2, 1)
        n = len(x)
        coord = torch.zeros(n, dtype=torch.bool, device=dev)
        coord[:len(rows)] = True
        mask = torch.as_tensor(np.tile(num_mov[rows], (2, 1)), device=dev, dtype=dt)
        scale = torch.as_tensor(self.scale, device=dev, dtype=dt)
        w = torch.as_tensor(self.weights, device=dev, dtype=dt)
        lo = torch.as_tensor(np.nan_to_num(np.tile(A[rows], (2, 1)), nan=0.0), device=dev, dtype=dt)
        hi = torch.as_tensor(np.nan_to_num(np.tile(B[rows], (2, 1)), nan=0.0), device=dev, dtype=dt)
        lo = torch.where(mask > 0, lo, x)
        hi = torch.where(mask > 0, hi, x)
        z = x.clone()
        found = torch.zeros(n, dtype=torch.bool, device=dev)
        best = x.clone()
        step = 0.02
        pos = self.pos[owners]
        for _ in range(self.cfg.gradient_steps):
            zz = z.clone().requires_grad_(True)
            slack = self.target.torch_slack(adapter, adapter.forward(zz), pos)
            newly = (slack.detach() > 0) & ~found
            best[newly] = z[newly]
            found |= newly
            if bool(found.all()):
                break
            (g,) = torch.autograd.grad(slack.sum(), zz)
            with torch.no_grad():
                gu = g * scale * mask                       # d slack / d (change in MADs)
                at_hi = z >= hi - 1e-12
                at_lo = z <= lo + 1e-12
                gu = torch.where((at_hi & (gu > 0)) | (at_lo & (gu < 0)), torch.zeros_like(gu), gu)
                score = gu.abs() / w
                j = score.argmax(dim=1)
                one = torch.zeros_like(gu)
                one[torch.arange(n, device=dev), j] = torch.sign(gu[torch.arange(n, device=dev), j])
                norm = gu.norm(dim=1, keepdim=True).clamp_min(1e-12)
                direction = torch.where(coord[:, None], one, gu / norm)
                move = ~found[:, None]
                z = torch.where(move, z + step * direction * scale, z)
                z = torch.minimum(torch.maximum(z, lo), hi)
            step *= 1.05
        vals = torch.where(found[:, None], best, z).cpu().numpy().astype(np.float64)
        Zc = np.tile(Z0[rows], (2, 1))
        for j in range(self.d):
            if self.numeric[j]:
                v = self.grids[j].snap(vals[:, j], "nearest")
                v = np.clip(v, np.tile(A[rows, j], 2), np.tile(B[rows, j], 2))
                Zc[:, j] = np.where(np.tile(num_mov[rows, j], 2) & ~np.isnan(v), v, Zc[:, j])
        return Zc, owners

    # -- refinement --------------------------------------------------------------
    def cost(self, Z0_rows, Z):
        return l1_distance(Z0_rows, Z, self.scale, self.numeric, self.weights)

    def sparsify(self, Z0, C, owners):
        """Undo changes while the outcome stays desired, the most costly undoable change first.

        Each round evaluates undoing every changed feature of every candidate in
        one model call and applies, per candidate, the most costly undo that
        keeps the outcome desired; rounds repeat until no undo is valid.
        """
        X0 = Z0[owners]
        n = len(C)
        active = np.ones(n, dtype=bool)
        for _ in range(min(self.max_changes, self.d)):
            changed = _changed(X0, C) & active[:, None]
            ci, cj = np.nonzero(changed)
            if not len(ci):
                break
            T = C[ci].copy()
            T[np.arange(len(ci)), cj] = X0[ci, cj]
            _, v, _ = self.evaluate(T, owners[ci])
            if not v.any():
                break
            per = np.abs(C[ci, cj] - X0[ci, cj]) / self.scale[cj]
            per = np.where(self.numeric[cj], np.nan_to_num(per, nan=1.0), 1.0) * self.weights[cj]
            # per candidate, the valid undo of the largest cost
            order = np.lexsort((-per, ci))
            order = order[v[order]]
            first = np.ones(len(order), dtype=bool)
            first[1:] = ci[order][1:] != ci[order][:-1]
            pick = order[first]
            C[ci[pick]] = T[pick]
            active[:] = False
            active[ci[pick]] = True       # only candidates that progressed can progress further
        return C

    def shrink(self, Z0, C, owners):
        """Move each numeric change back toward the original value, keeping the outcome desired.

        A ``P``-ary search (``P = SearchConfig.shrink_points`` interior points per
        model call, on the feature's grid) between the original value (not enough
        on its own) and the candidate's value (valid): ``bisect_steps`` bisection
        steps' worth of precision in about ``bisect_steps / log2(P + 1)`` calls per
        feature. A candidate's changed features are searched one after the other
        (each in the row as the previous ones left it); different candidates run
        side by side, so a model call serves every candidate's current feature.
        """
        X0 = Z0[owners]
        P = max(1, int(self.cfg.shrink_points))
        u = np.arange(1, P + 1) / (P + 1.0)
        rounds = int(np.ceil(self.cfg.bisect_steps / np.log2(P + 1)))
        num_cols = np.flatnonzero(self.numeric)
        if not len(num_cols) or not len(C):
            return C
        queue = _changed(X0[:, num_cols], C[:, num_cols])        # (n, q): features still to shrink
        n = len(C)
        feat = np.full(n, -1)                                      # current feature (column) per candidate
        lo = np.zeros(n)
        hi = np.zeros(n)
        left = np.zeros(n, dtype=int)                              # rounds left on the current feature

        def next_feature(rows):
            has = queue[rows].any(axis=1)
            rows = rows[has]
            first = queue[rows].argmax(axis=1)
            queue[rows, first] = False
            j = num_cols[first]
            feat[rows] = j
            lo[rows] = X0[rows, j]      # the original value: not enough on its own
            hi[rows] = C[rows, j]       # a valid value
            left[rows] = rounds
            return rows

        next_feature(np.arange(n))
        while True:
            act = np.flatnonzero(feat >= 0)
            if not len(act):
                break
            j_act = feat[act]
            pts = lo[act, None] + (hi[act] - lo[act])[:, None] * u[None, :]
            inside = np.zeros((len(act), P), dtype=bool)
            for j in np.unique(j_act):
                sel = j_act == j
                g = self.grids[j]
                l, h = lo[act[sel]], hi[act[sel]]
                if not g.continuous:
                    down = (h < l)[:, None]
                    # snap toward the valid end, so a point never passes it
                    pj = np.where(down, g.snap(pts[sel], "down"), g.snap(pts[sel], "up"))
                    ins = np.where(down, (pj > h[:, None]) & (pj < l[:, None]), (pj < h[:, None]) & (pj > l[:, None]))
                    ins &= _changed(pj, h[:, None]) & _changed(pj, l[:, None])
                    pts[sel] = pj
                else:
                    ins = np.repeat((np.abs(h - l) > self.cfg.tolerance * self.scale[j])[:, None], P, axis=1)
                inside[sel] = ins
            done = ~inside.any(axis=1) | (left[act] <= 0)
            if done.any():
                fin = act[done]
                C[fin, feat[fin]] = hi[fin]
                feat[fin] = -1
                next_feature(fin)
                continue                    # re-plan with the next features before calling the model
            ri, pi = np.nonzero(inside)
            cand = act[ri]
            T = C[cand].copy()
            T[np.arange(len(ri)), feat[cand]] = pts[ri, pi]
            _, v, _ = self.evaluate(T, owners[cand])
            m = len(act)
            # per candidate: the valid point nearest the original becomes hi; the invalid point just
            # before it becomes lo
            frac = np.full((m, P), np.inf)
            frac[ri[v], pi[v]] = u[pi[v]]
            best = frac.argmin(axis=1)
            has = np.isfinite(frac[np.arange(m), best])
            bad = np.full((m, P), -np.inf)
            bad[ri[~v], pi[~v]] = u[pi[~v]]
            limit = np.where(has, u[best], np.inf)
            bad = np.where(bad < limit[:, None], bad, -np.inf)
            bl = bad.argmax(axis=1)
            hasl = np.isfinite(bad[np.arange(m), bl])
            hi[act] = np.where(has, pts[np.arange(m), best], hi[act])
            lo[act] = np.where(hasl, pts[np.arange(m), bl], lo[act])
            left[act] -= 1
        return C

    # -- selection ---------------------------------------------------------------
    def pick_pool(self, Zc, owners, cost, sources):
        """Per row, up to ``pool`` valid candidates: the cheapest of each changed-feature set first."""
        P = self.cfg.pool
        if not len(Zc):
            return np.empty(0, dtype=int)
        ch = _changed(self.Z0[owners], Zc)
        key = (ch * (1 << np.arange(self.d, dtype=np.int64) % 62)).sum(axis=1)
        order = np.lexsort((cost, key, owners))
        o_s, k_s = owners[order], key[order]
        first = np.ones(len(order), dtype=bool)
        first[1:] = (o_s[1:] != o_s[:-1]) | (k_s[1:] != k_s[:-1])
        # firsts ranked by cost within each row, then the rest by cost
        pri = np.where(first, 0, 1)
        order2 = np.lexsort((cost[order], pri, o_s))
        sel = order[order2]
        o2 = owners[sel]
        start = np.r_[0, np.flatnonzero(o2[1:] != o2[:-1]) + 1]
        rank = np.arange(len(o2)) - np.repeat(start, np.diff(np.r_[start, len(o2)]))
        return sel[rank < P]

    def choose(self, Z0row, C, cost, k):
        """The ``k`` cheapest mutually non-redundant candidates of one row (indices into ``C``).

        A candidate is redundant next to a chosen one when it asks for every change
        the chosen one asks for (each as far or further, the same categories) -- or
        is the same point.
        """
        ch = _changed(Z0row[None, :], C)
        order = np.lexsort((ch.sum(axis=1), cost))
        D = C - Z0row[None, :]
        num = self.numeric
        chosen: list[int] = []
        for i in order:
            redundant = False
            for s in chosen:
                if np.any(ch[s] & ~ch[i]):
                    continue
                js = ch[s]
                nj = js & num
                cj = js & ~num
                if (np.all(np.sign(D[i, nj]) == np.sign(D[s, nj]))
                        and np.all(np.abs(D[i, nj]) >= np.abs(D[s, nj]) - 1e-12)
                        and np.all(C[i, cj] == C[s, cj])):
                    redundant = True
                    break
            if redundant:
                continue
            chosen.append(int(i))
            if len(chosen) == k:
                break
        return chosen

    # -- the whole search for a chunk ---------------------------------------------
    def run(self, Z0: np.ndarray, k: int, use: set, positions: np.ndarray | None = None) -> list[RowResult]:
        """Search counterfactuals for encoded query rows ``Z0`` (none of them already desired).

        ``positions`` are the rows' positions in the full ``X`` (what per-row targets index).
        ``Z0`` are encoded model rows; the results are too.
        """
        if self.grouped:
            self.Z0full = Z0
            results = self._run(self.full_c.reduce(Z0), k, use, positions)
            for i, res in enumerate(results):
                res.Z = self.full_c.expand(res.Z, np.repeat(Z0[i:i + 1], len(res.Z), axis=0))
            return results
        return self._run(Z0, k, use, positions)

    def _run(self, Z0: np.ndarray, k: int, use: set, positions: np.ndarray | None = None) -> list[RowResult]:
        self.Z0 = Z0
        self.stage_counts: dict = getattr(self, "stage_counts", {})
        self.pos = np.arange(len(Z0)) if positions is None else np.asarray(positions)
        m = len(Z0)
        A, B, movable, cat_targets = self.domains(Z0)
        gens = [np.random.default_rng([self.seed, zlib.crc32(np.ascontiguousarray(Z0[i]).tobytes())])
                for i in range(m)]
        pools_Z, pools_o, pools_src = [], [], []
        near: list = []          # invalid candidates with their slack (how close they came)
        evaluated = np.zeros(m, dtype=int)

        def add(Zc, o, src):
            """Evaluate candidates; keep the valid ones; return the owners of the valid ones."""
            if not len(Zc):
                return np.zeros(0, dtype=int)
            ok = _changed(Z0[o], Zc).sum(axis=1) <= self.max_changes
            Zc, o = Zc[ok], o[ok]
            src = np.full(len(Zc), src, dtype=object) if isinstance(src, str) else np.asarray(src, dtype=object)[ok]
            _, v, sl = self.evaluate(Zc, o)
            for name in set(src.tolist()):
                self.stage_counts[name] = self.stage_counts.get(name, 0) + int((src == name).sum())
            np.add.at(evaluated, o, 1)
            pools_Z.append(Zc[v])
            pools_o.append(o[v])
            pools_src.extend(src[v].tolist())
            near.append((Zc[~v], o[~v], sl[~v]))
            return o[v]

        can_move = movable.any(axis=1)
        sampling = ("random" in use or "donor" in use) and self.cfg.rounds > 0
        # the line search and the first random round in one model call (neither depends on the other)
        first_Z, first_o, first_src = [], [], []
        if "line" in use:
            Zl, ol = self.line_candidates(Z0, A, B, movable, cat_targets)
            first_Z.append(Zl)
            first_o.append(ol)
            first_src += ["line"] * len(ol)
        if sampling:
            Zr, orr = self.random_candidates(Z0, A, B, movable, cat_targets, np.flatnonzero(can_move), gens,
                                             self.cfg.radius, self.donors, "random" in use, "donor" in use,
                                             corners="random" in use)
            first_Z.append(Zr)
            first_o.append(orr)
            first_src += ["random"] * len(orr)
        if first_Z:
            add(np.concatenate(first_Z), np.concatenate(first_o), first_src)
        if "gradient" in use and getattr(self.adapter, "is_differentiable", False) and hasattr(self.adapter, "forward"):
            add(*self.gradient_candidates(Z0, A, B, movable), "gradient")
        n_valid = np.bincount(np.concatenate(pools_o) if pools_o else np.empty(0, int), minlength=m)
        if sampling:
            radius = self.cfg.radius
            for rnd in range(self.cfg.rounds):
                if rnd:
                    need = np.flatnonzero(can_move & (n_valid < k))
                    if not len(need):
                        break
                    Zc, o = self.random_candidates(Z0, A, B, movable, cat_targets, need, gens, radius, self.donors,
                                                   "random" in use, "donor" in use, corners=False)
                    n_valid += np.bincount(add(Zc, o, "random"), minlength=m)
                if rnd == 0 and "line" in use:
                    stuck = np.flatnonzero(can_move & (n_valid == 0))
                    n_valid += np.bincount(add(*self.box_candidates(Z0, A, B, movable, stuck), "grid"), minlength=m)
                radius *= 4.0
        if "random" in use or "line" in use:
            for it in range(2):
                stuck = np.flatnonzero(can_move & (n_valid == 0))
                if not len(stuck) or not near:
                    break
                Zn = np.concatenate([t[0] for t in near])
                on = np.concatenate([t[1] for t in near])
                sn = np.concatenate([t[2] for t in near])
                near.clear()
                n_valid += np.bincount(add(*self.refine_near_misses(Z0, A, B, movable, stuck, gens, Zn, on, sn, it),
                                           "refine"), minlength=m)

        results = [RowResult(Z=np.empty((0, self.d)), prediction=np.empty(0), cost=np.empty(0)) for _ in range(m)]
        for i in range(m):
            results[i].n_evaluated = int(evaluated[i])
        if pools_Z:
            Zp = np.concatenate(pools_Z)
            op = np.concatenate(pools_o)
            src = np.array(pools_src, dtype=object)
        else:
            Zp, op, src = np.empty((0, self.d)), np.empty(0, dtype=int), np.empty(0, dtype=object)
        if len(Zp):
            sel = self.pick_pool(Zp, op, self.cost(Z0[op], Zp), src)
            C, oc, sc = Zp[sel].copy(), op[sel], src[sel]
            C = self.sparsify(Z0, C, oc)
            C = self.shrink(Z0, C, oc)
            # the guarantee: re-check every constraint; re-run the model where the search predicted
            # through a fast path (without one, every point of C was already predicted through the
            # adapter exactly as it is, and counterfactuals() re-runs the adapter on the results)
            if self._fast is not None:
                pred, valid, _ = self.evaluate(C, oc)
            else:
                pred, valid = np.full(len(C), np.nan), np.ones(len(C), dtype=bool)
            viol = self.c.violation_matrix(Z0[oc], C)
            bad = np.zeros(len(C), dtype=bool)
            for kind, mat in viol.items():
                bad |= mat if mat.ndim == 1 else mat.any(axis=1)
            keep = valid & ~bad & _changed(Z0[oc], C).any(axis=1)
            C, oc, sc, pred = C[keep], oc[keep], sc[keep], pred[keep]
            cost = self.cost(Z0[oc], C)
            by_row = np.argsort(oc, kind="stable")
            starts = np.searchsorted(oc[by_row], np.arange(m + 1))
            for i in range(m):
                ids = by_row[starts[i]:starts[i + 1]]
                if not len(ids):
                    continue
                pick = self.choose(Z0[i], C[ids], cost[ids], k)
                ids = ids[pick]
                res = results[i]
                res.Z, res.prediction, res.cost = C[ids], pred[ids], cost[ids]
                res.source = [str(s) for s in sc[ids]]
                res.status = "found"
        for i in range(m):
            if results[i].status != "found":
                results[i].reason = self.why_none(i, movable, A, B, int(evaluated[i]))
        return results

    def why_none(self, i, movable, A, B, n_eval) -> str:
        mutable = [f for f, r in zip(self.codec.features, self.rules) if r.mutable]
        if not mutable:
            return "no feature may change under the constraints"
        if not movable[i].any():
            return ("every changeable feature (" + ", ".join(mutable) + ") is already at the limit "
                    "of its allowed direction or range")
        names = [self.codec.features[j] for j in np.flatnonzero(movable[i])]
        return (f"no change within the constraints reaches {self.target.describe()}: "
                f"{n_eval} candidates over {', '.join(names)} (including each one's whole allowed range"
                f"{' and every direction-constrained feature at its limit' if any(self.dirs[j] != 0 for j in np.flatnonzero(movable[i])) else ''})"
                " were checked by the model")
