"""Tree ensembles flattened into arrays, whatever their library: :func:`parse_ensemble`.

:func:`parse_ensemble` reads an XGBoost booster (from its JSON model, with
categorical splits and the category lists XGBoost stores), a LightGBM or
CatBoost model, or a scikit-learn tree ensemble (DecisionTree, RandomForest,
ExtraTrees, GradientBoosting, HistGradientBoosting, Pipelines ending in trees)
into a :class:`~._tree_ensemble.TreeEnsemble` (cached per model). Each leaf
keeps the path from its tree's root: the internal node of each step, the
direction taken, the cover ratio of the step (for path-dependent TreeSHAP) and
the *slot* of the step's feature among the distinct features of that path.
TreeSHAP then reduces to per-leaf games on at most ``depth`` players (see
:mod:`.tree_shap`). One module per family: :mod:`._trees_xgboost`,
:mod:`._trees_sklearn`, :mod:`._trees_lightgbm`, :mod:`._trees_catboost`,
:mod:`._trees_pipeline`.
"""

from __future__ import annotations

import weakref

import numpy as np

from ..errors import ExplanationError
from ._tree_ensemble import TreeEnsemble, feature_thresholds
from ._trees_catboost import parse_catboost
from ._trees_lightgbm import parse_lightgbm
from ._trees_pipeline import parse_sklearn_extra, pipeline_predict
from ._trees_sklearn import parse_sklearn, sklearn_raw
from ._trees_xgboost import parse_xgboost


def _is_extra(est) -> bool:
    return hasattr(est, "steps") or type(est).__name__.startswith("HistGradientBoosting")


def sklearn_predict(adapter, X, output: str, target: int | None):
    """The scikit-learn model's output in the space its trees add up in."""
    if _is_extra(adapter.model):
        return pipeline_predict(adapter, X, output, target)
    return sklearn_raw(adapter, X, output, target)


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
        return parse_lightgbm(adapter, target)
    if adapter.family == "catboost":
        return parse_catboost(adapter, target)
    if adapter.family == "sklearn":
        est = adapter.model
        if _is_extra(est):
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


__all__ = ["TreeEnsemble", "parse_ensemble", "parse_xgboost", "parse_sklearn", "sklearn_predict",
           "feature_thresholds"]
