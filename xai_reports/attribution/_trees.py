"""Tree ensembles flattened into arrays: one row per internal node, one per leaf.

:func:`parse_ensemble` reads an XGBoost booster (from its JSON model, with
categorical splits and the category lists XGBoost stores) or a scikit-learn
tree ensemble (DecisionTree, RandomForest, ExtraTrees, GradientBoosting) into a
:class:`TreeEnsemble`. Each leaf keeps the path from its tree's root: the
internal node of each step, the direction taken, the cover ratio of the step
(for path-dependent TreeSHAP) and the *slot* of the step's feature among the
distinct features of that path. TreeSHAP then reduces to per-leaf games on at
most ``depth`` players (see :mod:`.tree_shap`).
"""

from __future__ import annotations

import json
import weakref
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


# -- XGBoost ------------------------------------------------------------------
def _xgb_categories(model: dict, feature_types) -> dict:
    """The category values XGBoost (>= 3.1) stores per categorical feature, for re-coding."""
    cats = model.get("cats") or {}
    enc = cats.get("enc") or []
    out = {}
    for j, e in enumerate(enc):
        values = e.get("values") or []
        offsets = e.get("offsets") or []
        if not values:
            continue
        if offsets:  # strings: utf-8 bytes, split at offsets
            raw = bytes(int(v) & 0xFF for v in values)
            out[j] = [raw[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(len(offsets) - 1)]
        else:
            out[j] = list(values)
    return out


def parse_xgboost(adapter, target: int | None = None) -> TreeEnsemble:
    """Flatten an XGBoost booster (its JSON model) for class ``target`` (multi-class) or the only output."""
    model_json = json.loads(bytes(adapter.booster.save_raw("json")))
    learner = model_json["learner"]
    gb = learner["gradient_booster"]
    name = gb.get("name", "gbtree")
    weights = None
    if name == "dart":
        weights = gb.get("weight_drop")
        gb = gb["gbtree"]
    elif name != "gbtree":
        raise ExplanationError(f"tree_shap needs a tree booster; this XGBoost model uses {name!r}")
    model = gb["model"]
    tree_info = np.asarray(model["tree_info"], dtype=np.int64)
    n_groups = int(tree_info.max()) + 1 if tree_info.size else 1
    if n_groups > 1 and target is None:
        raise ExplanationError(f"the XGBoost model has {n_groups} outputs: pass target= (the class to explain)")
    group = 0 if target is None else int(target)
    n_features = int(learner["learner_model_param"]["num_feature"])
    b = _Builder()
    for t, tree in enumerate(model["trees"]):
        if int(tree.get("tree_param", {}).get("size_leaf_vector", "1") or 1) > 1:
            raise ExplanationError("multi-target XGBoost trees are not supported by tree_shap")
        if tree_info[t] != group:
            continue
        cat_sets = {}
        nodes = tree.get("categories_nodes") or []
        segs = tree.get("categories_segments") or []
        sizes = tree.get("categories_sizes") or []
        cats = tree.get("categories") or []
        for node, seg, size in zip(nodes, segs, sizes):
            cat_sets[int(node)] = cats[seg:seg + size]
        split_type = tree.get("split_type") or [0] * len(tree["left_children"])
        for i, st in enumerate(split_type):
            if st == 1 and i not in cat_sets:
                cat_sets[i] = []
        b.add_tree(tree["left_children"], tree["right_children"], tree["split_indices"],
                   np.asarray(tree["split_conditions"], dtype=np.float32), tree["default_left"],
                   tree["sum_hessian"], np.asarray(tree["split_conditions"], dtype=np.float32),
                   scale=1.0 if weights is None else float(weights[t]), cat_sets=cat_sets)
    return b.build(n_features=n_features, strict=True, output=adapter.output_space, offset=None,
                   float32=True, categories=_xgb_categories(model, learner.get("feature_types")))


# -- scikit-learn -------------------------------------------------------------
def _sk_tree(b: _Builder, tree, value: np.ndarray, scale: float, player=None):
    t = tree.tree_
    mgl = getattr(t, "missing_go_to_left", None)
    default_left = np.asarray(mgl, dtype=bool) if mgl is not None else np.ones(t.node_count, dtype=bool)
    b.add_tree(t.children_left, t.children_right, t.feature, t.threshold, default_left,
               t.weighted_n_node_samples, value, scale=scale, player=player)


def parse_sklearn(adapter, target: int | None = None, *, player=None, n_players=None) -> TreeEnsemble:
    """Flatten a scikit-learn tree ensemble; classifiers in probability space (GradientBoosting: margin).

    ``player``/``n_players``: when the estimator ends a Pipeline, the map from its input
    columns to the Pipeline's original columns (see :mod:`._trees_pipeline`).
    """
    est = adapter.model
    kind = type(est).__name__
    b = _Builder()
    n_features = int(est.n_features_in_)
    classifier = hasattr(est, "classes_")

    def leaf_values(tree):
        v = tree.tree_.value  # (nodes, outputs, classes)
        if classifier:
            v = v[:, 0, :]
            v = v / np.maximum(v.sum(axis=1, keepdims=True), 1e-300)
            k = v.shape[1]
            if k == 2 and target is None:
                return v[:, 1]
            if target is None:
                raise ExplanationError(f"the {kind} has {k} classes: pass target= (the class to explain)")
            return v[:, int(target)]
        if v.shape[1] > 1:
            if target is None:
                raise ExplanationError(f"the {kind} has {v.shape[1]} outputs: pass target=")
            return v[:, int(target), 0]
        return v[:, 0, 0]

    if kind.startswith("GradientBoosting"):
        stages = est.estimators_  # (n_iter, K)
        k = stages.shape[1]
        col = 0 if k == 1 else (None if target is None else int(target))
        if col is None:
            raise ExplanationError(f"the {kind} has {k} classes: pass target= (the class to explain)")
        for tree in stages[:, col]:
            t = tree.tree_
            mgl = getattr(t, "missing_go_to_left", None)
            b.add_tree(t.children_left, t.children_right, t.feature, t.threshold,
                       np.asarray(mgl, dtype=bool) if mgl is not None else np.ones(t.node_count, dtype=bool),
                       t.weighted_n_node_samples, t.value[:, 0, 0], scale=float(est.learning_rate), player=player)
        output = "margin" if classifier else "value"
        offset = None
        try:  # the initial (prior) raw prediction, a constant
            init = est._raw_predict_init(np.zeros((1, n_features), dtype=np.float32))
            offset = float(np.asarray(init, dtype=np.float64).reshape(1, -1)[0, col])
        except Exception:  # noqa: BLE001 - private API: fall back to estimating it from predictions
            offset = None
    elif kind.startswith(("RandomForest", "ExtraTrees")):
        trees = est.estimators_
        for tree in trees:
            _sk_tree(b, tree, leaf_values(tree), 1.0 / len(trees), player)
        output = "probability" if classifier else "value"
        offset = 0.0
    elif kind.startswith("DecisionTree"):
        _sk_tree(b, est, leaf_values(est), 1.0, player)
        output = "probability" if classifier else "value"
        offset = 0.0
    else:
        raise ExplanationError(f"tree_shap does not read {kind} models")
    if player is not None:
        return b.build(n_features=n_players, strict=False, output=output, offset=offset, float32=True,
                       n_columns=n_features)
    return b.build(n_features=n_features, strict=False, output=output, offset=offset, float32=True)


def _is_extra(est) -> bool:
    return hasattr(est, "steps") or type(est).__name__.startswith("HistGradientBoosting")


def sklearn_predict(adapter, X, output: str, target: int | None):
    """The scikit-learn model's output in the space its trees add up in."""
    if _is_extra(adapter.model):
        from ._trees_pipeline import pipeline_predict

        return pipeline_predict(adapter, X, output, target)
    return sklearn_raw(adapter, X, output, target)


def sklearn_raw(adapter, X, output: str, target: int | None):
    """``decision_function`` / ``predict_proba`` / ``predict`` of the estimator, as ``output`` names."""
    from ._tabular import select_output

    est = adapter.model
    Xp = adapter._prepare(X)
    if output == "margin":
        raw = est.decision_function(Xp)
    elif output == "probability":
        raw = est.predict_proba(Xp)
        if raw.shape[1] == 2 and target is None:
            raw = raw[:, 1]
    else:
        raw = est.predict(Xp)
    return select_output(raw, target, type(est).__name__)


_CACHE: weakref.WeakKeyDictionary | None = None


def _signature(adapter) -> tuple:
    """Cheap fingerprint of the trees, so a cached parse is reused only for the same trees."""
    if adapter.family == "xgboost":
        b = adapter.booster
        return ("xgb", b.num_boosted_rounds(), b.num_features(), tuple(b.feature_names or ()))
    if adapter.family == "lightgbm":
        b = adapter.booster
        return ("lgb", b.num_trees(), b.current_iteration(), tuple(b.feature_name()))
    if adapter.family == "catboost":
        return ("cb", adapter.model.tree_count_, adapter.sha256)
    est = adapter.model
    if _is_extra(est):
        final = est.steps[-1][1] if hasattr(est, "steps") else est
        return ("skx", id(final), getattr(final, "n_iter_", None), len(getattr(final, "estimators_", ()) or ()))
    trees = getattr(est, "estimators_", None)
    if trees is None:
        trees = [est]
    flat = np.ravel(np.asarray(trees, dtype=object))
    return ("sk", len(flat), tuple((t.tree_.node_count, float(np.sum(t.tree_.threshold))) for t in flat))


def _parse(adapter, target):
    if adapter.family == "xgboost":
        return parse_xgboost(adapter, target)
    if adapter.family == "lightgbm":
        from ._trees_lightgbm import parse_lightgbm

        return parse_lightgbm(adapter, target)
    if adapter.family == "catboost":
        from ._trees_catboost import parse_catboost

        return parse_catboost(adapter, target)
    if adapter.family == "sklearn":
        est = adapter.model
        if _is_extra(est):
            from ._trees_pipeline import parse_sklearn_extra

            return parse_sklearn_extra(adapter, target)
        return parse_sklearn(adapter, target)
    raise ExplanationError(f"tree_shap cannot read {adapter!r}")


def parse_ensemble(adapter, target: int | None = None) -> TreeEnsemble:
    """A :class:`TreeEnsemble` for a tree adapter (XGBoost, LightGBM, CatBoost, scikit-learn; cached per model)."""
    global _CACHE
    if hasattr(adapter, "tree_ensemble"):   # adapters that parse their own trees (ONNX), cached there
        return adapter.tree_ensemble(target)
    if _CACHE is None:
        _CACHE = weakref.WeakKeyDictionary()
    key_obj = adapter.booster if adapter.family in ("xgboost", "lightgbm") else adapter.model
    sig = (_signature(adapter), target)
    try:
        entry = _CACHE.setdefault(key_obj, {})
    except TypeError:  # not weak-referenceable
        entry = {}
    if sig not in entry:
        entry[sig] = _parse(adapter, target)
    return entry[sig]


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


__all__ = ["TreeEnsemble", "parse_ensemble", "parse_xgboost", "parse_sklearn", "sklearn_predict",
           "feature_thresholds"]


# -- cells: one table row per region of a tree's input space ----------------------------------
@dataclass
class TreeCells:
    """The regions ("cells") of each tree's input space that decide all its leaf codes.

    Within one tree, a row's leaf codes depend only on, for each feature the tree
    splits on, which interval between the tree's thresholds it falls in (or the
    missing-value case), or for a categorical feature, its pattern of left/right
    decisions. The product of those digits is the row's cell; a tree with ``C``
    cells needs one table of ``C`` rows instead of one per leaf. The cell of
    every row and tree is an affine function of the split decisions:
    ``cell = const + W @ go_left + nan_corr @ isnan(x)``.

    Attributes:
        trees: tree ids that have cells; leaves: each tree's leaf ids;
        codes: each tree's ``(C_t, L_t)`` leaf codes per cell; sizes: ``C_t``;
        W: ``(T_c, N)`` sparse weights on the split decisions; const: ``(T_c,)``;
        nan_corr: ``(T_c, d)`` missing-value corrections.
    """

    trees: list
    leaves: list
    codes: list
    sizes: np.ndarray
    W: object
    const: np.ndarray
    nan_corr: np.ndarray

    def cell_index(self, left: np.ndarray, X: np.ndarray) -> np.ndarray:
        """``(T_c, n)`` int64 cell of each row in each celled tree (``left`` from ``go_left``)."""
        idx = self.W @ left[:-1].astype(np.float64)
        idx += self.const[:, None]
        nan = np.isnan(X)
        if nan.any():
            idx += self.nan_corr @ nan.T.astype(np.float64)
        return np.rint(idx).astype(np.int64)


def _tree_layout(ens: TreeEnsemble):
    """Per tree: its internal nodes, its leaves, and its number of cells (``None`` if it cannot have cells)."""
    cache = ens.__dict__.setdefault("_derived", {})
    if "layout" not in cache:
        leaf_order = np.argsort(ens.leaf_tree, kind="stable")
        leaf_bounds = np.searchsorted(ens.leaf_tree[leaf_order], np.arange(ens.n_trees + 1))
        node_order = np.argsort(ens.node_tree, kind="stable")
        node_bounds = np.searchsorted(ens.node_tree[node_order], np.arange(ens.n_trees + 1))
        layout = []
        for t in range(ens.n_trees):
            nd = node_order[node_bounds[t]:node_bounds[t + 1]]
            lv = leaf_order[leaf_bounds[t]:leaf_bounds[t + 1]]
            specs, C = [], 1
            for f in np.unique(ens.feature[nd]):
                fn = nd[ens.feature[nd] == f]
                cat = ens.cat_index[fn] >= 0
                if cat.all():
                    specs.append(("cat", int(f), fn, np.arange(fn.size), 1 << fn.size))
                elif not cat.any():
                    uniq = np.unique(ens.threshold[fn])
                    specs.append(("num", int(f), fn, np.searchsorted(uniq, ens.threshold[fn]), uniq.size + 2))
                else:
                    C = None
                    break
                C *= specs[-1][4]
            layout.append((nd, lv, specs, None if (C is None or nd.size == 0) else C))
        cache["layout"] = layout
    return cache["layout"]


def _one_tree_cells(ens: TreeEnsemble, t: int):
    """``(leaves, codes (C, L_t), C, [(node, weight)], const, nan_corr (d,))`` for tree ``t``."""
    cache = ens.__dict__.setdefault("_derived", {}).setdefault("cells", {})
    if t in cache:
        return cache[t]
    nd, lv, specs, C = _tree_layout(ens)[t]
    N = ens.feature.size
    local = np.full(N + 1, -1, dtype=np.int64)
    local[nd] = np.arange(nd.size)
    local[N] = nd.size                                   # the always-pass virtual node
    G = np.ones((C, nd.size + 1), dtype=bool)            # synthetic split decisions per cell
    cells = np.arange(C)
    stride, c0 = 1, 0.0
    corr = np.zeros(ens.n_features)
    weights = []
    for kind, f, fn, rank, radix in specs:
        digit = (cells // stride) % radix
        cols = local[fn]
        if kind == "cat":
            G[:, cols] = ((digit[:, None] >> rank[None, :]) & 1).astype(bool)
            weights += [(int(n_), float(stride << j)) for j, n_ in enumerate(fn)]
        else:
            k = radix - 2
            G[:, cols] = rank[None, :] >= digit[:, None]
            G[np.ix_(digit == k + 1, cols)] = ens.default_left[fn][None, :]
            # digit = k - sum(go_left of one node per distinct threshold); + (1 + sum of their defaults) if NaN
            reps = fn[np.unique(rank, return_index=True)[1]]
            c0 += stride * k
            weights += [(int(n_), -float(stride)) for n_ in reps]
            corr[f] += stride * (1 + int(ens.default_left[reps].sum()))
        stride *= radix
    pn = local[ens.path_node[lv]]
    pl, ps = ens.path_left[lv], ens.path_slot[lv]
    fail = np.zeros((C, lv.size), dtype=np.int64)
    for s in range(pn.shape[1]):
        fail |= (G[:, pn[:, s]] != pl[None, :, s]).astype(np.int64) << ps[None, :, s]
    full = (np.int64(1) << ens.n_slots[lv]) - 1
    cache[t] = (lv, full[None, :] & ~fail, C, weights, c0, corr)
    return cache[t]


def tree_cells(ens: TreeEnsemble, cap: int = 4096, allowed=None) -> TreeCells:
    """Cells of the trees of ``ens`` with at most ``cap`` cells (each tree's cells cached on the ensemble).

    ``allowed``: optional ``(n_trees,)`` mask of the trees that may get cells.
    """
    from scipy import sparse

    N = ens.feature.size
    trees, leaves_l, codes_l, sizes, const, corr_rows = [], [], [], [], [], []
    w_rows, w_cols, w_vals = [], [], []
    for t, (_nd, _lv, _specs, C) in enumerate(_tree_layout(ens)):
        if C is None or C > cap or (allowed is not None and not allowed[t]):
            continue
        lv, codes, C, weights, c0, corr = _one_tree_cells(ens, t)
        row = len(trees)
        for n_, w_ in weights:
            w_rows.append(row), w_cols.append(n_), w_vals.append(w_)
        trees.append(t)
        leaves_l.append(lv)
        codes_l.append(codes)
        sizes.append(C)
        const.append(c0)
        corr_rows.append(corr)
    W = sparse.csr_matrix((w_vals, (w_rows, w_cols)), shape=(len(trees), N))
    return TreeCells(trees=trees, leaves=leaves_l, codes=codes_l, sizes=np.asarray(sizes, dtype=np.int64), W=W,
                     const=np.asarray(const, dtype=np.float64),
                     nan_corr=np.asarray(corr_rows, dtype=np.float64).reshape(len(trees), ens.n_features))
