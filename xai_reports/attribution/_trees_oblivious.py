"""Path-dependent TreeSHAP for oblivious (symmetric) trees by per-leaf tables: CatBoost's default trees.

In an oblivious tree of depth ``D`` every node of a level tests the same split,
so a row's path-dependent (cover-weighted) Shapley values depend on nothing but
its leaf index (its ``D`` level bits). Each tree therefore gets a table
``phi_t[leaf, feature]`` for all ``2**D`` leaves, built once per model, and a
row's values are ``sum_t phi_t[leaf_t(row)]``: one sparse product of the rows'
leaf indicators (CatBoost's ``calc_leaf_indexes``) with the stacked tables.

The value function (Lundberg et al. 2020, path-dependent form) of a coalition
``S`` of the tree's distinct features for a row in leaf ``p``::

    v(S, p) = sum_l value_l * prod_{levels L of S}  [bit_L(l) == bit_L(p)]
                            * prod_{other levels L} cover(l's prefix to L) / cover(l's prefix above L)

(covers: the sums of CatBoost's ``leaf_weights``; the root is the deepest
level, the order CatBoost's own ``ShapValues`` walks; ``0/0`` counts 0). The
cover products ``R[l, S]`` are built once per tree, the leaves that agree with
``p`` on ``S``'s levels are summed by reshaping the ``2**D`` leaf vector into
``D`` axes of 2 and summing the free axes, and Shapley's ``|S|`` weights run
over the tree's distinct *features* (a feature may test several levels).
Trees with the same level -> feature pattern are computed together, vectorised.
"""

from __future__ import annotations

import re
from functools import lru_cache
from math import factorial

import numpy as np

from ..errors import ExplanationError

#: deepest oblivious tree the tables are built for (work grows as ``4**D`` per tree; CatBoost's default is 6)
MAX_TABLE_DEPTH = 8


def _tree_pattern(splits, floats, cats):
    """Each level's flat feature index, or ``None`` when a split is not on one raw feature (CTR statistics)."""
    feats = []
    for sp in splits:
        st = sp.get("split_type")
        if st == "FloatFeature":
            feats.append(int(floats[int(sp["float_feature_index"])]["flat_feature_index"]))
        elif st == "OneHotFeature":
            feats.append(cats[int(sp["cat_feature_index"])])
        else:
            return None
    return feats


def _level_values(vals, weights, D):
    """``v`` of every set of known levels for trees of depth ``D``: ``vals``/``weights`` ``(T, 2**D)`` give
    ``V`` ``(2**D, T, 2**D)``, ``V[M, t, p]`` the value of tree ``t`` for a row in leaf ``p`` when the levels in
    mask ``M`` follow the row and the others are averaged by cover."""
    T, N = vals.shape
    axes = (T,) + (2,) * D                           # axis 1 + a holds level D - 1 - a (leaf index bit order)
    # cover of every leaf's prefix down to level L (levels D-1 .. L decided): the levels below summed out
    w = weights.reshape(axes)
    cover = {}
    for L in range(D + 1):
        below = tuple(1 + (D - 1 - j) for j in range(L))
        c = w.sum(axis=below, keepdims=True) if below else w
        cover[L] = np.broadcast_to(c, axes).reshape(T, N)
    ratio = [np.divide(cover[L], cover[L + 1], out=np.zeros((T, N)), where=cover[L + 1] > 0) for L in range(D)]
    free_prod = {0: vals}                             # mask of free levels -> leaf value times their cover ratios

    def weighted(free):
        if free not in free_prod:
            low = free & -free
            free_prod[free] = weighted(free ^ low) * ratio[low.bit_length() - 1]
        return free_prod[free]

    full = N - 1
    V = np.empty((N, T, N))
    for M in range(N):
        free = full & ~M
        A = weighted(free).reshape(axes)
        summed = tuple(1 + (D - 1 - L) for L in range(D) if free >> L & 1)
        if summed:
            A = np.broadcast_to(A.sum(axis=summed, keepdims=True), axes)
        V[M] = A.reshape(T, N)
    return V


@lru_cache(maxsize=256)
def _shapley_coefficients(levels):
    """``C`` ``(2**D, K)``: feature ``k``'s Shapley value is ``sum_M C[M, k] V[M]`` for a tree whose level ``L``
    tests tree-local feature ``levels[L]`` (Shapley over the ``K`` distinct features, not the levels)."""
    D, K = len(levels), max(levels) + 1
    mask = [sum(1 << L for L in range(D) if levels[L] == k) for k in range(K)]
    weight = [factorial(m) * factorial(K - m - 1) / factorial(K) for m in range(K)]
    C = np.zeros((1 << D, K))
    for s in range(1 << K):
        M = sum(mask[j] for j in range(K) if s >> j & 1)
        m = bin(s).count("1")
        for k in range(K):
            if not s >> k & 1:
                C[M | mask[k], k] += weight[m]
                C[M, k] -= weight[m]
    return C


#: elements of one batch of level values (2**D x trees x 2**D float64: 32 MB)
_BATCH = 1 << 22


def table_min_rows(model) -> int:
    """Fewest rows for which ``engine="auto"`` builds the tables: below it CatBoost's ``ShapValues``, which
    walks each row through the trees instead, is faster (measured crossovers: about 6 rows at depth 4 and
    6, 25 at depth 8; the tables' cost grows as ``4**depth``). 10 rows, or ``2**depth / 8`` for the
    model's deepest tree where that is more."""
    counts = np.asarray(model.get_tree_leaf_counts(), dtype=np.int64)
    deepest = int(counts.max()).bit_length() - 1 if len(counts) else 0
    return max(10, (1 << deepest) // 8)


_NUMERIC_SPLIT = re.compile(r"(\d+), bin=\S+")


def _numeric_trees(model):
    """``(trees, scale, bias)`` from CatBoost's own arrays for an all-numeric oblivious model, else ``None``:
    each tree's level features from its split list (``"<flat feature index>, bin=<border>"``, level 0 first),
    leaf values and weights sliced from ``get_leaf_values`` / ``get_leaf_weights``."""
    try:
        if len(model.get_cat_feature_indices()) or not model._object._is_oblivious():
            return None
        counts = np.asarray(model.get_tree_leaf_counts(), dtype=np.int64)
        values = np.asarray(model.get_leaf_values(), dtype=np.float64)
        weights = np.asarray(model.get_leaf_weights(), dtype=np.float64)
        scale, bias = model.get_scale_and_bias()
    except Exception:  # noqa: BLE001 - an older/newer CatBoost without these: the JSON export instead
        return None
    if len(weights) != counts.sum() or counts.sum() == 0 or len(values) % counts.sum():
        return None
    dim = len(values) // counts.sum()
    trees, pos = [], 0
    for t, c in enumerate(counts):
        feats = []
        for split in model._get_tree_splits(t, None):
            m = _NUMERIC_SPLIT.fullmatch(split)
            if m is None:
                return None
            feats.append(int(m.group(1)))
        if 1 << len(feats) != c:
            return None
        trees.append((feats, values[pos * dim:(pos + c) * dim], weights[pos:pos + c]))
        pos += c
    return trees, float(scale), bias


class ObliviousTables:
    """Per-leaf path-dependent SHAP tables of a CatBoost model's oblivious trees, for one output.

    Build with :meth:`from_catboost_model` or :meth:`from_catboost` (``None`` where the tables do not
    apply: non-oblivious trees, CTR splits, trees deeper than :data:`MAX_TABLE_DEPTH`);
    :meth:`shap_values` takes CatBoost's leaf indexes ``(n, trees)``.
    """

    def __init__(self, n_features, depths, tables, base):
        import scipy.sparse as sp

        self.n_features = n_features
        self.depths = np.asarray(depths, dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(1 << self.depths)])[:-1]
        self.base = float(base)
        rows, cols, data = tables
        self.table = sp.csr_matrix((data, (rows, cols)), shape=(int((1 << self.depths).sum()), n_features))

    @classmethod
    def from_catboost(cls, model_json, n_features=None, target=None):
        """Tables from the model's JSON export (:func:`._trees_catboost.catboost_json`) for class ``target``
        (or the only output), or ``None`` where they do not apply. ``n_features``: the model's columns
        (the flat feature indexes' range when left out)."""
        trees = model_json.get("oblivious_trees")
        if trees is None:
            return None
        finfo = model_json.get("features_info", {})
        floats = {int(f["feature_index"]): f for f in finfo.get("float_features", [])}
        cats = {int(f["feature_index"]): int(f["flat_feature_index"]) for f in finfo.get("categorical_features", [])}
        if n_features is None:
            n_features = 1 + max([int(f["flat_feature_index"]) for f in floats.values()] + list(cats.values()) + [-1])
        scale, bias = 1.0, [0.0]
        sb = model_json.get("scale_and_bias")
        if sb:
            scale = float(sb[0])
            bias = [float(v) for v in (sb[1] if isinstance(sb[1], list) else [sb[1]])] or [0.0]
        parsed = []
        for tree in trees:
            feats = _tree_pattern(tree["splits"], floats, cats)
            if feats is None:
                return None
            parsed.append((feats, tree["leaf_values"], tree.get("leaf_weights") or np.ones(1 << len(feats))))
        return cls._build(parsed, scale, bias, n_features, target)

    @classmethod
    def from_catboost_model(cls, model, n_features=None, target=None):
        """Tables straight from a fitted ``catboost.CatBoost``: its leaf arrays and split list where the model
        has numeric features only (no JSON export: the export costs more than the tables on small
        models), else through :meth:`from_catboost`. ``None`` where the tables do not apply."""
        from ._trees_catboost import catboost_json

        parsed = _numeric_trees(model)
        if parsed is None:
            return cls.from_catboost(catboost_json(model), n_features, target)
        trees, scale, bias = parsed
        if n_features is None:
            n_features = len(model.feature_names_)
        return cls._build(trees, scale, bias, n_features, target)

    @classmethod
    def _build(cls, trees, scale, bias, n_features, target):
        """``trees``: ``(level features, leaf values (2**D x outputs, leaf-major), leaf weights)`` each."""
        if any(len(f) > MAX_TABLE_DEPTH for f, _, _ in trees):
            return None
        dim = max(1, len(trees[0][1]) // (1 << len(trees[0][0]))) if trees else 1
        if dim > 1 and target is None:
            raise ExplanationError(f"the CatBoost model has {dim} outputs: pass target= (the class to explain)")
        k = 0 if target is None else int(target)
        if k >= dim:
            raise ExplanationError(f"target={target} but the CatBoost model has {dim} output(s)")
        bias = list(np.ravel(bias)) or [0.0]
        by_depth: dict = {}
        depths = []
        base = float(bias[min(k, len(bias) - 1)])
        for t, (feats, values, weights) in enumerate(trees):
            D = len(feats)
            depths.append(D)
            lv = np.asarray(values, dtype=np.float64).reshape(1 << D, dim)[:, k] * scale
            if D == 0:
                base += float(lv[0])
                continue
            distinct = list(dict.fromkeys(feats))
            by_depth.setdefault(D, []).append((t, distinct, tuple(distinct.index(f) for f in feats), lv,
                                               np.asarray(weights, dtype=np.float64)))
        offsets = np.concatenate([[0], np.cumsum(1 << np.asarray(depths, dtype=np.int64))])
        rows, cols, data = [], [], []
        for D, members in by_depth.items():
            N = 1 << D
            step = max(1, _BATCH // (N * N))
            for b in range(0, len(members), step):
                batch = members[b:b + step]
                V = _level_values(np.stack([m[3] for m in batch]), np.stack([m[4] for m in batch]), D)
                base += float(V[0, :, 0].sum())                 # v(empty): the cover-weighted mean
                patterns: dict = {}
                for i, m in enumerate(batch):
                    patterns.setdefault(m[2], []).append(i)
                for levels, idx in patterns.items():
                    C = _shapley_coefficients(levels)
                    K = C.shape[1]
                    phi = (C.T @ V[:, idx].reshape(N, -1)).reshape(K, len(idx), N).transpose(1, 2, 0)
                    start = offsets[[batch[i][0] for i in idx]]
                    rows.append(np.broadcast_to((start[:, None] + np.arange(N))[:, :, None], phi.shape).ravel())
                    cols.append(np.broadcast_to(np.array([batch[i][1] for i in idx])[:, None, :], phi.shape).ravel())
                    data.append(phi.ravel())
        cat = (lambda parts, dt: np.concatenate(parts).astype(dt) if parts else np.zeros(0, dtype=dt))
        return cls(n_features, depths, (cat(rows, np.int64), cat(cols, np.int64), cat(data, np.float64)), base)

    def shap_values(self, leaves) -> np.ndarray:
        """Each row's values ``(n, n_features)`` from its leaf index in every tree, ``leaves`` ``(n, trees)``."""
        import scipy.sparse as sp

        leaves = np.asarray(leaves, dtype=np.int64)
        n, T = leaves.shape
        if T != len(self.depths):
            raise ExplanationError(f"leaf indexes for {T} trees, but the model has {len(self.depths)}")
        idx = (leaves + self.offsets[None, :]).ravel()
        pick = sp.csr_matrix((np.ones(n * T), idx, np.arange(0, n * T + 1, T)), shape=(n, self.table.shape[0]))
        return np.asarray((pick @ self.table).todense(), dtype=np.float64)


__all__ = ["ObliviousTables", "MAX_TABLE_DEPTH", "table_min_rows"]
