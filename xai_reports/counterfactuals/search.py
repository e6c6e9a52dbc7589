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

from .candidates import CandidateGenerators
from .constraints import Constraints
from .encoding import Codec, Grid, changed_mask
from .fastpath import fast_path
from .refine import Refinement

STRATEGIES = ("line", "random", "donor", "gradient")


class _SearchCodec:
    """Names and kinds of the search features (one-hot groups as one categorical each)."""

    def __init__(self, codec: Codec, constraints: Constraints):
        self.features = constraints.search_features
        self.is_frame = codec.is_frame
        self.numeric = np.array([not isinstance(item, tuple) and bool(codec.numeric[item])
                                 for item in constraints.search_index()])


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


class Engine(CandidateGenerators, Refinement):
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
        self.grids = [(Grid(r) if self.numeric[j] else None) for j, r in enumerate(self.rules)]
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
        fast = fast_path(self.adapter, self.full_codec, self.target.output)
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
                    ok &= changed_mask(x, lo) | changed_mask(x, hi)
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
            ok = changed_mask(Z0[o], Zc).sum(axis=1) <= self.max_changes
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
            keep = valid & ~bad & changed_mask(Z0[oc], C).any(axis=1)
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
        """Why row ``i`` got no counterfactual, in one sentence for the record and the reports."""
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
