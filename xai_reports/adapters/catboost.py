"""CatBoost models (``CatBoost``, ``CatBoostClassifier``, ``CatBoostRegressor``) and their files.

Files: ``.cbm`` (CatBoost's binary format, magic ``CBM1``) and the JSON export
(``model.save_model(path, format='json')``), both read by CatBoost's own loader
(never unpickled).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .base import ModelAdapter, additive_output_space

_CLASSIFIER_LOSSES = ("Logloss", "CrossEntropy", "MultiClass", "MultiClassOneVsAll")
_IDENTITY_LOSSES = ("RMSE", "MAE", "Quantile", "MAPE", "Huber", "Lq", "Expectile", "LogLinQuantile", "SurvivalAft")


class CatBoostAdapter(ModelAdapter):
    """Adapter for CatBoost models. Raw output: ``RawFormulaVal`` (log-odds for ``Logloss``).

    Tags: ``family="catboost"``, ``is_tree_ensemble``; TreeSHAP (path-dependent and
    interventional) reads oblivious trees on numeric features and one-hot
    categorical splits; CTR-encoded categorical splits are refused.
    """

    family = "catboost"
    is_tree_ensemble = True
    supports_gpu = True

    def __init__(self, model, *, feature_names=None, output_space: str | None = None):
        import catboost

        if not isinstance(model, catboost.CatBoost):
            raise TypeError(f"not a CatBoost model: {type(model).__name__}")
        if not model.is_fitted():
            raise ValueError("the CatBoost model is not fitted")
        names = feature_names if feature_names is not None else list(model.feature_names_)
        super().__init__(model, feature_names=names)
        params = model.get_all_params() or {}
        self.loss = str(params.get("loss_function", "RMSE")).split(":")[0]
        self.is_classifier = self.loss in _CLASSIFIER_LOSSES
        self.output_space = additive_output_space(output_space, identity=self.loss in _IDENTITY_LOSSES, family="CatBoost")
        self.cat_features = [self.feature_names[i] for i in model.get_cat_feature_indices()] \
            if self.feature_names else []

    def pool(self, X):
        """A ``catboost.Pool`` for ``X`` with the model's columns in its order (a Pool is passed through)."""
        import catboost

        if isinstance(X, catboost.Pool):
            return X
        if isinstance(X, pd.DataFrame):
            if not self.cat_features and self.feature_names is not None and \
                    list(X.columns) == list(self.feature_names) and all(t.kind in "fiub" for t in X.dtypes):
                # numeric columns already in the model's order: one float32 matrix (what CatBoost stores
                # anyway) builds the Pool faster than CatBoost's column-by-column read of the frame
                return catboost.Pool(X.to_numpy(dtype=np.float32))
            X = self.model_columns(X)
            if self.cat_features:
                X = X.copy()
                for c in self.cat_features:
                    col = X[c]
                    X[c] = np.where(pd.isna(col), "nan", col.astype(object).astype(str))
            return catboost.Pool(X, cat_features=self.cat_features or None)
        arr = np.asarray(X, dtype=np.float64)
        if arr.ndim == 1:
            arr = arr[None, :]
        if self.cat_features:
            frame = pd.DataFrame(arr, columns=self.feature_names)
            return self.pool(frame)
        return catboost.Pool(arr)

    def _raw_predict(self, X):
        return self.model.predict(self.pool(X), prediction_type="RawFormulaVal")

    def library_input(self, X):
        """``X`` converted once for several calls of :meth:`contributions` and :meth:`predict` (a Pool)."""
        return self.pool(X)

    def contributions(self, X) -> np.ndarray:
        """CatBoost's own path-dependent SHAP values (``ShapValues``); the last column is the bias."""
        return self.model.get_feature_importance(self.pool(X), type="ShapValues")

    def model_bytes(self) -> bytes:
        import os
        import tempfile

        fd, tmp = tempfile.mkstemp(suffix=".cbm")
        os.close(fd)
        try:
            self.model.save_model(tmp, format="cbm")
            with open(tmp, "rb") as fh:
                return fh.read()
        finally:
            os.unlink(tmp)


def looks_like_json(obj) -> bool:
    """Whether a parsed JSON document is a CatBoost JSON model."""
    return isinstance(obj, dict) and "oblivious_trees" in obj and "features_info" in obj


def load(path, fmt: str):
    """A ``catboost.CatBoost`` from a ``.cbm`` (``fmt="cbm"``) or JSON (``fmt="json"``) file."""
    import catboost

    model = catboost.CatBoost()
    model.load_model(str(path), format=fmt)
    return model


__all__ = ["CatBoostAdapter", "looks_like_json", "load"]
