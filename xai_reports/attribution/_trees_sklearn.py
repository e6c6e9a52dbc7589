"""scikit-learn tree ensembles flattened into a :class:`~._tree_ensemble.TreeEnsemble`, and their raw output."""

from __future__ import annotations

import numpy as np

from ..errors import ExplanationError
from ._tabular import select_output
from ._tree_ensemble import TreeEnsemble, _Builder


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


def sklearn_raw(adapter, X, output: str, target: int | None):
    """``decision_function`` / ``predict_proba`` / ``predict`` of the estimator, as ``output`` names."""
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


__all__ = ["parse_sklearn", "sklearn_raw"]
