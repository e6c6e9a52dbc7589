"""scikit-learn estimators and Pipelines."""

from __future__ import annotations

import numpy as np

from .base import ModelAdapter

_TREE_ENSEMBLES = (
    "DecisionTreeClassifier", "DecisionTreeRegressor",
    "RandomForestClassifier", "RandomForestRegressor",
    "ExtraTreesClassifier", "ExtraTreesRegressor",
    "GradientBoostingClassifier", "GradientBoostingRegressor",
)


class SklearnAdapter(ModelAdapter):
    """Adapter for a scikit-learn estimator or Pipeline.

    The output space follows what the estimator offers, in this order:
    ``predict_proba`` (``"probability"``), ``decision_function`` (``"margin"``),
    ``predict`` (``"value"``). Pass ``output_space=`` to choose another one it offers.
    """

    family = "sklearn"

    def __init__(self, model, *, feature_names=None, output_space: str | None = None):
        names = feature_names
        if names is None and hasattr(model, "feature_names_in_"):
            names = list(model.feature_names_in_)
        super().__init__(model, feature_names=names)
        self.is_classifier = hasattr(model, "classes_") or getattr(model, "_estimator_type", None) == "classifier"
        if output_space is None:
            if hasattr(model, "predict_proba") and self.is_classifier:
                output_space = "probability"
            elif hasattr(model, "decision_function"):
                output_space = "margin"
            else:
                output_space = "value"
        self.output_space = output_space
        final = model.steps[-1][1] if hasattr(model, "steps") else model
        self.is_tree_ensemble = type(final).__name__ in _TREE_ENSEMBLES and final is model
        if not self.is_tree_ensemble and (final is not model or type(final).__name__.startswith("HistGradient")):
            # HistGradientBoosting, and Pipelines ending in a tree model whose transformers keep columns apart
            from ..attribution._trees_pipeline import is_tree_pipeline

            self.is_tree_ensemble = is_tree_pipeline(model)

    def _prepare(self, X):
        import pandas as pd

        if isinstance(X, pd.DataFrame) and self.feature_names is not None:
            return X[self.feature_names]
        if not isinstance(X, pd.DataFrame) and self.feature_names is not None and hasattr(self.model, "feature_names_in_"):
            return pd.DataFrame(np.asarray(X), columns=self.feature_names)
        return X

    def _raw_predict(self, X):
        X = self._prepare(X)
        if self.output_space == "probability":
            p = self.model.predict_proba(X)
            return p[:, 1] if p.shape[1] == 2 else p
        if self.output_space == "margin":
            return self.model.decision_function(X)
        return self.model.predict(X)

    def model_bytes(self) -> bytes:
        # Serialising (never loading) a fitted estimator is safe; the bytes are
        # stable for the same estimator and library versions.
        import pickle

        return pickle.dumps(self.model, protocol=4)
