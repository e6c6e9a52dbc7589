"""scikit-learn HistGradientBoosting trees, and Pipelines that end in a tree model.

HistGradientBoosting: each predictor's node array is read as it predicts
(``x <= num_threshold`` goes left, a missing value goes ``missing_go_to_left``;
a categorical split sends the categories of its bitset left and every other
category right); the raw prediction is the baseline plus the leaf values.

Pipelines: the transformers run first; the tree model's splits read the
transformed columns, and each transformed column is attributed to the one
original column it comes from. Accepted transformers are the column-wise ones
(scalers, imputers, ordinal encoders, quantile/power transforms, feature
selectors, ``passthrough``) and one-hot encoders (all of a column's indicator
columns belong to it), composed through ``Pipeline`` and ``ColumnTransformer``.
Because a split on an indicator column is a categorical split on its source
column, the Shapley values are those of the game whose players are the
original columns (exact; not a sum of per-indicator values). Transformers that
mix columns (PCA, polynomial features, ...) are refused.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import ExplanationError
from ._tabular import select_output
from ._tree_ensemble import TreeEnsemble, _Builder
from ._trees_lightgbm import parse_lightgbm
from ._trees_sklearn import parse_sklearn, sklearn_raw

_ONE_TO_ONE = {
    "StandardScaler", "MinMaxScaler", "MaxAbsScaler", "RobustScaler", "QuantileTransformer",
    "PowerTransformer", "OrdinalEncoder", "Binarizer", "MissingIndicator",
}
_TREE_FINALS = (
    "DecisionTreeClassifier", "DecisionTreeRegressor", "RandomForestClassifier", "RandomForestRegressor",
    "ExtraTreesClassifier", "ExtraTreesRegressor", "GradientBoostingClassifier", "GradientBoostingRegressor",
    "HistGradientBoostingClassifier", "HistGradientBoostingRegressor", "LGBMClassifier", "LGBMRegressor",
)


def _indices(cols, n_in: int, names=None) -> np.ndarray:
    """A ColumnTransformer column selection as integer indices."""
    if isinstance(cols, slice):
        return np.arange(n_in)[cols]
    arr = np.asarray(cols if not callable(cols) else [])
    if arr.dtype == bool:
        return np.flatnonzero(arr)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    if names is None:
        raise ExplanationError("the ColumnTransformer selects columns by name but the names are unknown")
    pos = {n: i for i, n in enumerate(names)}
    return np.asarray([pos[c] for c in np.atleast_1d(arr)], dtype=np.int64)


def column_map(trans, n_in: int, names=None, *, internal: bool = False) -> np.ndarray:
    """For each output column of a fitted transformer, the input column it comes from.

    Raises:
        ExplanationError: an output column depends on several input columns (or cannot be traced).
    """
    if trans is None or (isinstance(trans, str) and trans == "passthrough"):
        return np.arange(n_in)
    kind = type(trans).__name__
    if hasattr(trans, "steps"):                      # Pipeline
        m = np.arange(n_in)
        cur_names = names
        for _, step in trans.steps:
            sub = column_map(step, len(m), cur_names)
            m = m[sub]
            cur_names = None
        return m
    if kind == "ColumnTransformer":
        out = []
        fin = getattr(trans, "feature_names_in_", None)
        in_names = list(fin) if fin is not None else (list(names) if names is not None else None)
        for name, t, cols in trans.transformers_:
            if isinstance(t, str) and t == "drop":
                continue
            idx = _indices(cols, n_in, in_names)
            if idx.size == 0:
                continue
            sub_names = [in_names[i] for i in idx] if in_names is not None else None
            out.append(idx[column_map(t, idx.size, sub_names, internal=internal)])
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)
    if kind == "OneHotEncoder":
        counts = getattr(trans, "_n_features_outs", None)
        if counts is None:
            counts = [len(c) for c in trans.categories_]
        return np.repeat(np.arange(n_in), counts)
    if kind == "SimpleImputer":
        if getattr(trans, "add_indicator", False):
            raise ExplanationError("tree_shap cannot trace SimpleImputer(add_indicator=True) columns")
        stats = np.asarray(trans.statistics_, dtype=object)
        keep = np.ones(n_in, dtype=bool) if getattr(trans, "keep_empty_features", False) else \
            ~pd.isna(pd.Series(stats)).to_numpy()
        return np.flatnonzero(keep)
    if kind == "KBinsDiscretizer":
        if trans.encode == "ordinal":
            return np.arange(n_in)
        return np.repeat(np.arange(n_in), np.asarray(trans.n_bins_))
    if hasattr(trans, "get_support") and hasattr(trans, "transform"):   # feature selectors
        return np.flatnonzero(trans.get_support())
    if kind in _ONE_TO_ONE or kind == "TargetEncoder" and getattr(trans, "target_type_", "") != "multiclass":
        return np.arange(n_in)
    if kind == "FunctionTransformer" and (internal or getattr(trans, "feature_names_out", None) == "one-to-one"):
        return np.arange(n_in)
    raise ExplanationError(
        f"tree_shap cannot attribute through a {kind}: its output columns are not each made from one input "
        "column (use method='kernel_shap', or keep such steps outside the Pipeline)")


class _Chain:
    """The transformers before the trees, as one callable ``X -> float matrix``."""

    def __init__(self, steps, names):
        self.steps = steps
        self.names = names

    def __call__(self, X):
        if not isinstance(X, pd.DataFrame) and self.names is not None:
            X = pd.DataFrame(np.asarray(X), columns=self.names)
        elif isinstance(X, pd.DataFrame) and self.names is not None:
            X = X[self.names]
        for step in self.steps:
            X = step.transform(X)
        if hasattr(X, "toarray"):
            X = X.toarray()
        return np.asarray(X, dtype=np.float64)


def split_pipeline(model):
    """``(transformers, final estimator)``; a HistGradientBoosting model's own encoder counts as a transformer."""
    steps = []
    final = model
    if hasattr(model, "steps"):
        steps = [s for _, s in model.steps[:-1] if not (isinstance(s, str) and s == "passthrough") and s is not None]
        final = model.steps[-1][1]
    if type(final).__name__.startswith("HistGradientBoosting") and getattr(final, "_preprocessor", None) is not None:
        steps = steps + [final._preprocessor]
    return steps, final


def pipeline_player_map(model):
    """``(steps, final, player map, original names, n_original)`` for a Pipeline or a HistGradientBoosting model."""
    steps, final = split_pipeline(model)
    names = list(model.feature_names_in_) if hasattr(model, "feature_names_in_") else None
    n_in = int(model.n_features_in_) if hasattr(model, "n_features_in_") else len(names)
    m = np.arange(n_in)
    cur = names
    for k, step in enumerate(steps):
        internal = step is getattr(final, "_preprocessor", None)
        m = m[column_map(step, len(m), cur, internal=internal)]
        cur = None
    return steps, final, m, names, n_in


def _hist_trees(b: _Builder, est, col: int, player):
    for predictors in est._predictors:
        p = predictors[col]
        nodes = p.nodes
        n = len(nodes)
        leaf = nodes["is_leaf"].astype(bool)
        left = np.where(leaf, -1, nodes["left"].astype(np.int64))
        right = np.where(leaf, -1, nodes["right"].astype(np.int64))
        feature = np.where(leaf, -2, nodes["feature_idx"].astype(np.int64))
        cat_sets = {}
        bitsets = getattr(p, "raw_left_cat_bitsets", None)
        for i in np.flatnonzero(nodes["is_categorical"].astype(bool) & ~leaf):
            words = np.asarray(bitsets[int(nodes["bitset_idx"][i])], dtype=np.uint64)
            left_cats = [w * 32 + k for w in range(words.size) for k in range(32) if (int(words[w]) >> k) & 1]
            cat_sets[int(i)] = np.setdiff1d(np.arange(256), left_cats)
        b.add_tree(left, right, feature, nodes["num_threshold"].astype(np.float64),
                   nodes["missing_go_to_left"].astype(bool), nodes["count"].astype(np.float64),
                   nodes["value"].astype(np.float64), cat_sets=cat_sets, player=player)
        del n


def _hist_output(est) -> str:
    if hasattr(est, "classes_"):
        return "margin"
    link = type(getattr(est, "_loss", None)).__name__
    return "value" if link in ("HalfSquaredError", "AbsoluteError", "PinballLoss", "HuberLoss", "NoneType") \
        else "margin"


def parse_sklearn_extra(adapter, target: int | None = None) -> TreeEnsemble:
    """A HistGradientBoosting model or a Pipeline ending in a tree model, attributed to the original columns."""
    model = adapter.model
    steps, final, m, names, n_in = pipeline_player_map(model)
    kind = type(final).__name__
    if kind not in _TREE_FINALS:
        raise ExplanationError(f"tree_shap reads Pipelines that end in a tree model, not in a {kind}")
    n_cols = int(m.size)
    identity = n_cols == n_in and np.array_equal(m, np.arange(n_in)) and not steps
    player = None if identity else m
    preprocess = _Chain(steps, names) if steps else None
    if kind.startswith("HistGradientBoosting"):
        K = int(getattr(final, "n_trees_per_iteration_", 1))
        if K > 1 and target is None:
            raise ExplanationError(f"the {kind} has {K} classes: pass target= (the class to explain)")
        col = 0 if target is None else int(target)
        b = _Builder()
        b.cat_width = 256
        _hist_trees(b, final, col, player)
        base = np.asarray(final._baseline_prediction, dtype=np.float64).reshape(-1)
        return b.build(n_features=n_in, strict=False, output=_hist_output(final),
                       offset=float(base[min(col, base.size - 1)]), float32=False, n_columns=n_cols,
                       cat_oob_left=False, preprocess=preprocess)
    if kind.startswith("LGBM"):
        from ..adapters.lightgbm import LightGBMAdapter

        return parse_lightgbm(LightGBMAdapter(final), target, player=m, n_players=n_in, preprocess=preprocess)
    class _Final:
        family = "sklearn"

    inner = _Final()
    inner.model = final
    ens = parse_sklearn(inner, target, player=m, n_players=n_in)
    ens.preprocess = preprocess
    return ens


def pipeline_predict(adapter, X, output: str, target):
    """The Pipeline's (or HistGradientBoosting model's) raw output in the space its trees add up in."""
    model = adapter.model
    steps, final = split_pipeline(model)
    Xp = adapter._prepare(X)
    kind = type(final).__name__
    if kind.startswith(("HistGradientBoosting", "LGBM")):
        Z = model[:-1].transform(Xp) if hasattr(model, "steps") else Xp
        if kind.startswith("LGBM"):
            raw = final.booster_.predict(np.asarray(Z, dtype=np.float64), raw_score=True)
        else:
            raw = final._raw_predict(Z)
            raw = raw[:, 0] if raw.shape[1] == 1 else raw
        return select_output(np.asarray(raw, dtype=np.float64), target, kind)
    return sklearn_raw(adapter, X, output, target)


def is_tree_pipeline(model) -> bool:
    """Whether TreeSHAP can attribute ``model`` (a Pipeline or HistGradientBoosting model) to its input columns."""
    try:
        steps, final, m, names, n_in = pipeline_player_map(model)
    except Exception:  # noqa: BLE001 - anything untraceable is simply not a tree pipeline
        return False
    return type(final).__name__ in _TREE_FINALS and int(getattr(final, "n_features_in_", m.size)) == m.size


__all__ = ["parse_sklearn_extra", "pipeline_predict", "column_map", "is_tree_pipeline"]
