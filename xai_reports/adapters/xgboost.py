"""XGBoost Booster / XGBClassifier / XGBRegressor."""

from __future__ import annotations

import json
from contextlib import contextmanager

import numpy as np
import pandas as pd

from .base import ModelAdapter


@contextmanager
def _data_errors():
    """XGBoost's refusal of the data (types or columns unlike the training data) as one short
    :class:`~xai_reports.errors.InputError` instead of a C++ stack trace."""
    import xgboost as xgb

    try:
        yield
    except xgb.core.XGBoostError as exc:
        from ..errors import InputError
        from ._library import library_reason

        raise InputError(f"the model cannot score these data ({library_reason(exc)})") from None


class XGBoostAdapter(ModelAdapter):
    """Adapter for XGBoost models. Raw output: the margin (log-odds for ``binary:logistic``)."""

    family = "xgboost"
    is_tree_ensemble = True
    supports_gpu = True

    def __init__(self, model, *, feature_names=None):
        import xgboost as xgb

        booster = model.get_booster() if hasattr(model, "get_booster") else model
        if not isinstance(booster, xgb.Booster):
            raise TypeError(f"not an XGBoost model: {type(model).__name__}")
        self.booster = booster
        names = feature_names if feature_names is not None else booster.feature_names
        super().__init__(model, feature_names=names)
        cfg = json.loads(booster.save_config())
        self.objective = cfg["learner"]["objective"]["name"]
        params = cfg["learner"]["learner_model_param"]
        self.num_class = int(params.get("num_class", "0") or 0)
        self.is_classifier = self.objective.startswith(("binary:", "multi:"))
        self.output_space = "margin" if self.is_classifier or self.objective.startswith("rank:") else "value"
        if self.objective.startswith("binary:") and self.objective != "binary:logistic":
            # binary:logitraw / hinge: margin has no sigmoid meaning for hinge
            self.output_space = "margin"
        self._device = "cpu"

    def to(self, device: str) -> "XGBoostAdapter":
        """Run predictions and contributions on ``device`` ("cpu" or "cuda")."""
        from .._device import resolve_device

        self._device = resolve_device(device)
        self.booster.set_param({"device": self._device})
        return self

    def feature_kinds(self) -> dict[str, str] | None:
        """``{feature: "categorical" | "numeric"}`` as the model was trained, or ``None`` when the model
        does not record its feature types (then nothing can be checked)."""
        types, names = self.booster.feature_types, self.feature_names
        if not types or not names or len(types) != len(names):
            return None
        kinds = {"c": "categorical", "q": "numeric", "float": "numeric", "int": "numeric", "i": "numeric"}
        return {n: kinds[t] for n, t in zip(names, types) if t in kinds}

    def dmatrix(self, X):
        """An ``xgboost.DMatrix`` for ``X`` with columns in the model's order."""
        import xgboost as xgb

        if isinstance(X, xgb.DMatrix):
            return X
        if isinstance(X, pd.DataFrame):
            X = self.model_columns(X)
            return xgb.DMatrix(X, enable_categorical=True)
        arr = np.asarray(X, dtype=np.float32)
        if arr.ndim == 1:
            arr = arr[None, :]
        return xgb.DMatrix(arr, feature_names=self.feature_names,
                           feature_types=self.booster.feature_types)

    def _raw_predict(self, X):
        with _data_errors():
            return self.booster.predict(self.dmatrix(X), output_margin=True)

    def contributions(self, X, interactions: bool = False) -> np.ndarray:
        """XGBoost's exact path-dependent TreeSHAP values; the last column is the bias."""
        with _data_errors():
            dm = self.dmatrix(X)
            if interactions:
                return self.booster.predict(dm, pred_interactions=True)
            return self.booster.predict(dm, pred_contribs=True)

    def model_bytes(self) -> bytes:
        return bytes(self.booster.save_raw("json"))
