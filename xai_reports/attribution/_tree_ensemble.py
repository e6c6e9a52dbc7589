"""A tree ensemble as flat arrays: one row per internal node, one per leaf (:class:`TreeEnsemble`).

The family parsers (:mod:`._trees_xgboost`, :mod:`._trees_sklearn`,
:mod:`._trees_lightgbm`, :mod:`._trees_catboost`, :mod:`._trees_pipeline`)
fill a :class:`_Builder`; :func:`._trees.parse_ensemble` picks the parser.
Each leaf keeps the path from its tree's root: the internal node of each step,
the direction taken, the cover ratio of the step (for path-dependent TreeSHAP)
and the *slot* of the step's feature among the distinct features of that path.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import ExplanationError


@dataclass
class TreeEnsemble:
    """A tree ensemble as flat arrays (``N`` internal nodes, ``L`` leaves, ``S`` max depth).

    Attributes:
        feature, threshold, default_left, cat_index: per internal node, shape ``(N,)``.
            ``cat_index[i] >= 0`` marks a categorical split: category code ``k`` goes
            right when ``cat_right[cat_index[i], k]``.
        strict: ``True`` when a row goes left on ``x < threshold`` (XGBoost), ``False``
            for ``x <= threshold`` (scikit-learn).
        value: leaf values, shape ``(L,)``, already scaled (learning rate, 1/n_trees).
        path_node, path_left, path_slot, path_ratio: shape ``(L, S)``; padded steps
            point at node ``N`` (a virtual node every row passes) with ratio 1.
        n_slots: distinct features on each leaf's path, shape ``(L,)``.
        slot_feature: feature index of each slot, shape ``(L, max n_slots)``, ``-1`` padded.
        offset: the constant added to the sum of leaf values (``None`` when unknown).
        output: the space the leaf values add up in (``"margin"``, ``"probability"``, ``"value"``).
    """

    feature: np.ndarray
    threshold: np.ndarray
    default_left: np.ndarray
    cat_index: np.ndarray
    cat_right: np.ndarray
    strict: bool
    value: np.ndarray
    path_node: np.ndarray
    path_left: np.ndarray
    path_slot: np.ndarray
    path_ratio: np.ndarray
    n_slots: np.ndarray
    slot_feature: np.ndarray
    n_features: int
    output: str
    offset: float | None = None
    float32: bool = True
    categories: dict = field(default_factory=dict)   # feature index -> category values (XGBoost re-coding)
    n_trees: int = 0
    leaf_tree: np.ndarray | None = None   # tree index of each leaf, shape (L,)
    node_tree: np.ndarray | None = None   # tree index of each internal node, shape (N,)
    cat_oob_left: bool = True   # a category code outside the split's table goes left (XGBoost) or right (LightGBM)
    column: np.ndarray | None = None   # per internal node, the encoded column it reads when not ``feature``
    n_columns: int | None = None       # encoded columns (when ``column`` maps several onto one feature)
    preprocess: object = None          # callable: raw ``X`` -> encoded columns (a Pipeline's transformers)
    recode: object = None              # callable (column index, values) -> float codes (CatBoost's hashed categories)
    cover_known: bool = True              # False: no training covers (path-dependent TreeSHAP refused)

    @property
    def n_leaves(self) -> int:
        return int(self.value.shape[0])

    @property
    def max_depth(self) -> int:
        return int(self.path_node.shape[1])

    # -- inputs ---------------------------------------------------------------
    @property
    def width(self) -> int:
        """Columns of the encoded matrix the splits read."""
        return self.n_features if self.n_columns is None else self.n_columns

    def encode(self, X, columns=None) -> np.ndarray:
        """``X`` as the float64 matrix the trees test (model column order, categories as codes)."""
        if self.preprocess is not None:
            X = self.preprocess(X)
        if isinstance(X, pd.DataFrame):
            cols = list(columns) if columns is not None else list(X.columns)
            missing = [c for c in cols if c not in X.columns]
            if missing:
                raise ExplanationError(f"X lacks the model's feature(s) {missing}")
            out = np.empty((len(X), len(cols)), dtype=np.float64)
            for j, c in enumerate(cols):
                col = X[c]
                if self.recode is not None and j in self.categories:
                    out[:, j] = self.recode(j, col)
                elif isinstance(col.dtype, pd.CategoricalDtype) or col.dtype == object:
                    if j in self.categories:
                        codes = pd.Categorical(np.asarray(col, dtype=object),
                                               categories=self.categories[j]).codes
                    elif isinstance(col.dtype, pd.CategoricalDtype):
                        codes = col.cat.codes.to_numpy()
                    else:
                        raise ExplanationError(f"column {c!r} holds text the trees cannot read")
                    codes = codes.astype(np.float64)
                    codes[codes < 0] = np.nan
                    out[:, j] = codes
                else:
                    out[:, j] = pd.to_numeric(col).to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            out = np.array(X, dtype=np.float64, copy=True)
            if out.ndim == 1:
                out = out[None, :]
        if out.shape[1] != self.width:
            raise ExplanationError(f"X has {out.shape[1]} features; the model reads {self.width}")
        if self.float32:  # both libraries compare float32 inputs
            out = out.astype(np.float32).astype(np.float64)
        return out

    def go_left(self, X: np.ndarray) -> np.ndarray:
        """Whether each row goes left at each internal node; shape ``(N + 1, n)`` (last row: always True)."""
        xv = np.ascontiguousarray(X.T)[self.feature if self.column is None else self.column]   # (N, n)
        nan = np.isnan(xv)
        with np.errstate(invalid="ignore"):
            left = xv < self.threshold[:, None] if self.strict else xv <= self.threshold[:, None]
        cat_nodes = np.flatnonzero(self.cat_index >= 0)
        if cat_nodes.size:
            xc = xv[cat_nodes]
            k = self.cat_right.shape[1]
            codes = np.where(np.isnan(xc), -1, xc).astype(np.int64)
            valid = (codes >= 0) & (codes < k)
            right = self.cat_right[self.cat_index[cat_nodes][:, None], np.clip(codes, 0, k - 1)] & valid
            if not self.cat_oob_left:
                right |= ~valid
            left[cat_nodes] = ~right
        if nan.any():
            left = np.where(nan, self.default_left[:, None], left)
        return np.concatenate([left, np.ones((1, X.shape[0]), dtype=bool)], axis=0)

    def code_dtype(self, leaves=None):
        """The smallest unsigned integer type that holds every leaf code."""
        D = int((self.n_slots if leaves is None else self.n_slots[leaves]).max(initial=0))
        return np.uint8 if D <= 8 else np.uint16 if D <= 16 else np.uint32 if D <= 32 else np.uint64

    def leaf_codes(self, X: np.ndarray, leaves: np.ndarray | None = None, *, transposed: bool = False,
                   left: np.ndarray | None = None):
        """Bit codes ``(n, L)``: bit ``s`` set when the row satisfies every split on slot ``s``'s feature.

        With ``transposed=True`` the result is ``(L, n)`` (cheaper to build); ``left`` reuses
        split decisions from :meth:`go_left`.
        """
        if left is None:
            left = self.go_left(X)
        pn, pl, ps, ns = self.path_node, self.path_left, self.path_slot, self.n_slots
        if leaves is not None:
            pn, pl, ps, ns = pn[leaves], pl[leaves], ps[leaves], ns[leaves]
        dt = self.code_dtype(leaves)
        fail = np.zeros((pn.shape[0], left.shape[1]), dtype=dt)
        for s in range(pn.shape[1]):
            failed = left[pn[:, s]]
            if not pl[:, s].all():
                failed ^= pl[:, s, None]
            else:
                failed = ~failed
            fail |= failed.astype(dt) << ps[:, s, None].astype(dt)
        full = ((np.uint64(1) << ns.astype(np.uint64)) - np.uint64(1)).astype(dt)
        codes = full[:, None] & ~fail
        return codes if transposed else codes.T

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Sum of the leaf values each row reaches (plus ``offset`` when known); for checks."""
        codes = self.leaf_codes(X).astype(np.int64)
        reached = codes == (np.int64(1) << self.n_slots) - 1
        return reached.astype(np.float64) @ self.value + (self.offset or 0.0)

    def select(self, leaves: np.ndarray) -> "TreeEnsemble":
        """The same ensemble restricted to some leaves (e.g. one class's trees)."""
        d = {k: v for k, v in self.__dict__.items() if not k.startswith("_")}
        for k in ("value", "path_node", "path_left", "path_slot", "path_ratio", "n_slots", "slot_feature",
                  "leaf_tree"):
            if getattr(self, k) is not None:
                d[k] = getattr(self, k)[leaves]
        return TreeEnsemble(**d)


# -- building -----------------------------------------------------------------
class _Builder:
    """Collects trees given as child arrays into one :class:`TreeEnsemble`."""

    def __init__(self):
        self.nodes = {"feature": [], "threshold": [], "default_left": [], "cat_index": [], "tree": [], "column": []}
        self.cat_sets: list[np.ndarray] = []
        self.leaves = {"value": [], "path": [], "tree": []}
        self.n_trees = 0
        self.cat_width = 1   # category codes the split tables cover (at least)

    def add_tree(self, left, right, feature, threshold, default_left, cover, leaf_value, scale=1.0,
                 cat_sets: dict | None = None, player=None):
        """Add one tree given as child arrays (``left[i] < 0`` marks a leaf).

        ``player``: optional map from the column a split reads to the feature it is
        attributed to (a Pipeline's one-hot columns all map to their source column).
        """
        if player is not None:
            column = np.asarray(feature)
            feature = np.where(column >= 0, np.asarray(player)[np.maximum(column, 0)], column)
        else:
            column = feature
        tree_id = self.n_trees
        self.n_trees += 1
        base = len(self.nodes["feature"])
        internal = np.flatnonzero(np.asarray(left) >= 0)
        gid = {int(i): base + k for k, i in enumerate(internal)}
        for i in internal:
            self.nodes["feature"].append(int(feature[i]))
            self.nodes["column"].append(int(column[i]))
            self.nodes["threshold"].append(float(threshold[i]))
            self.nodes["default_left"].append(bool(default_left[i]))
            self.nodes["tree"].append(tree_id)
            if cat_sets and int(i) in cat_sets:
                self.nodes["cat_index"].append(len(self.cat_sets))
                self.cat_sets.append(np.asarray(cat_sets[int(i)], dtype=np.int64))
            else:
                self.nodes["cat_index"].append(-1)
        stack = [(0, ())]
        while stack:
            i, path = stack.pop()
            if left[i] < 0:
                self.leaves["value"].append(float(leaf_value[i]) * scale)
                self.leaves["path"].append(path)
                self.leaves["tree"].append(tree_id)
                continue
            c = float(cover[i]) if cover is not None else 1.0
            for child, went_left in ((left[i], True), (right[i], False)):
                cc = float(cover[child]) if cover is not None else 1.0
                ratio = cc / c if c > 0 else 0.0
                stack.append((int(child), path + ((gid[int(i)], went_left, ratio, int(feature[i])),)))

    def build(self, *, n_features, strict, output, offset, float32=True, categories=None,
              n_columns=None, cat_oob_left=True, preprocess=None, recode=None) -> TreeEnsemble:
        n_nodes = len(self.nodes["feature"])
        paths = self.leaves["path"]
        n_leaves = len(paths)
        depth = max([len(p) for p in paths] + [1])
        path_node = np.full((n_leaves, depth), n_nodes, dtype=np.int64)
        path_left = np.ones((n_leaves, depth), dtype=bool)
        path_slot = np.zeros((n_leaves, depth), dtype=np.int64)
        path_ratio = np.ones((n_leaves, depth), dtype=np.float64)
        n_slots = np.zeros(n_leaves, dtype=np.int64)
        slot_lists = []
        for li, path in enumerate(paths):
            feats: list[int] = []
            for s, (node, went_left, ratio, feat) in enumerate(path):
                if feat not in feats:
                    feats.append(feat)
                path_node[li, s] = node
                path_left[li, s] = went_left
                path_slot[li, s] = feats.index(feat)
                path_ratio[li, s] = ratio
            n_slots[li] = len(feats)
            slot_lists.append(feats)
        max_slots = max(int(n_slots.max()) if n_leaves else 0, 1)
        slot_feature = np.full((n_leaves, max_slots), -1, dtype=np.int64)
        for li, feats in enumerate(slot_lists):
            slot_feature[li, :len(feats)] = feats
        # Padded steps sit on slot 0; they always pass, so they never set a fail bit.
        k = max([int(s.max()) + 1 for s in self.cat_sets if s.size] + [self.cat_width])
        cat_right = np.zeros((max(len(self.cat_sets), 1), k), dtype=bool)
        for ci, s in enumerate(self.cat_sets):
            cat_right[ci, s] = True
        return TreeEnsemble(
            feature=np.asarray(self.nodes["feature"], dtype=np.int64),
            threshold=np.asarray(self.nodes["threshold"], dtype=np.float64),
            default_left=np.asarray(self.nodes["default_left"], dtype=bool),
            cat_index=np.asarray(self.nodes["cat_index"], dtype=np.int64),
            cat_right=cat_right, strict=strict,
            value=np.asarray(self.leaves["value"], dtype=np.float64),
            path_node=path_node, path_left=path_left, path_slot=path_slot, path_ratio=path_ratio,
            n_slots=n_slots, slot_feature=slot_feature, n_features=n_features, output=output,
            offset=offset, float32=float32, categories=categories or {}, n_trees=self.n_trees,
            leaf_tree=np.asarray(self.leaves["tree"], dtype=np.int64),
            node_tree=np.asarray(self.nodes["tree"], dtype=np.int64), cat_oob_left=cat_oob_left,
            column=None if n_columns is None else np.asarray(self.nodes["column"], dtype=np.int64),
            n_columns=n_columns, preprocess=preprocess, recode=recode)


def feature_thresholds(ens: TreeEnsemble) -> dict[int, np.ndarray]:
    """Sorted distinct numeric split thresholds of each feature index (categorical splits left out).

    Between two consecutive thresholds of feature ``j`` (all other inputs fixed)
    every tree takes the same branch, so the ensemble's output is piecewise
    constant in ``j``: checking one point per piece (each threshold, plus the two
    ends of a range) checks the whole range exactly, whichever side of a
    threshold the family sends equal values to (``strict``). Works for any
    family parsed into a :class:`TreeEnsemble`.
    """
    num = ens.cat_index < 0
    out: dict[int, np.ndarray] = {}
    feats = ens.feature[num]
    thr = ens.threshold[num]
    for j in np.unique(feats):
        out[int(j)] = np.unique(thr[feats == j])
    return out


__all__ = ["TreeEnsemble", "feature_thresholds"]
