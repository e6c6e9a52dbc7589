"""The :class:`Attribution` result and the :class:`Explainer` base class.

Every method is an ``Explainer`` subclass in its own module, constructed with a
model adapter and called with ``attribute(X, **options)`` (captum's split:
the model at construction, the data at call time). Each method reports the
self-check it can compute about itself (additivity, completeness or
conservation) in ``Attribution.self_check``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd


@dataclass
class Attribution:
    """Feature attributions for a batch of inputs.

    Attributes:
        values: shape ``(n, d)`` for tabular inputs, the input's shape for images.
        base_values: shape ``(n,)``; for additive methods
            ``values.sum(axis=1) + base_values`` equals the model output in ``output`` space.
        feature_names: column names for tabular inputs (else ``None``).
        method: the method's registry name (``"tree_shap"``, ...).
        output: the space explained (``"margin"``, ``"logit"``, ``"probability"``, ``"value"``).
        predictions: the model output being explained, shape ``(n,)``, when computed.
        target: the output index explained for multi-output models.
        params: the method's parameters, as recorded in JSON records.
        self_check: ``{"kind", "max_abs_error", "tolerance", "passed", "per_row"}``.
        extras: method-specific results (e.g. steps used, layer name).
    """

    values: np.ndarray
    base_values: np.ndarray
    feature_names: list[str] | None
    method: str
    output: str
    predictions: np.ndarray | None = None
    target: int | None = None
    params: dict = field(default_factory=dict)
    self_check: dict = field(default_factory=dict)
    extras: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.values.shape[0])

    @property
    def additivity_error(self) -> np.ndarray | None:
        """``|values.sum + base - prediction|`` per row, when predictions are known."""
        if self.predictions is None:
            return None
        flat = self.values.reshape(len(self), -1)
        return np.abs(flat.sum(axis=1) + self.base_values - self.predictions)

    def to_frame(self) -> pd.DataFrame:
        """Tabular values as a DataFrame (one column per feature)."""
        if self.values.ndim != 2:
            raise ValueError("to_frame() is for tabular attributions")
        return pd.DataFrame(self.values, columns=self.feature_names)

    def __getitem__(self, rows) -> "Attribution":
        """Row subset, e.g. ``attr[mask]`` or ``attr[3:5]``."""
        idx = np.arange(len(self))[rows]
        idx = np.atleast_1d(idx)
        check = dict(self.self_check)
        if "per_row" in check and check["per_row"] is not None:
            check["per_row"] = np.asarray(check["per_row"])[idx]
        return Attribution(
            values=self.values[idx], base_values=self.base_values[idx],
            feature_names=self.feature_names, method=self.method, output=self.output,
            predictions=None if self.predictions is None else self.predictions[idx],
            target=self.target, params=dict(self.params), self_check=check,
            extras=dict(self.extras))

    def __repr__(self) -> str:
        return (f"Attribution(method={self.method!r}, output={self.output!r}, "
                f"values.shape={tuple(self.values.shape)})")


def additivity_check(values, base_values, predictions, tolerance) -> dict:
    """The completeness/additivity self-check shared by additive methods."""
    n = values.shape[0]
    err = np.abs(values.reshape(n, -1).sum(axis=1) + base_values - predictions)
    return {"kind": "additivity", "max_abs_error": float(err.max()) if n else 0.0,
            "tolerance": float(tolerance), "passed": bool((err <= tolerance).all()),
            "per_row": err}


class Explainer:
    """Base class of every attribution method.

    Subclasses set ``name``, ``additive`` and ``requires`` (capability tags the
    model must have, e.g. ``{"tree_ensemble"}`` or ``{"differentiable"}``) and
    implement :meth:`attribute`.
    """

    name: ClassVar[str] = ""
    additive: ClassVar[bool] = False
    requires: ClassVar[frozenset] = frozenset()

    def __init__(self, model, **params):
        from ..adapters import wrap_model

        self.model = wrap_model(model)
        self.params = params
        missing = [t for t in self.requires if not self.model.tags.get(t)]
        if missing:
            from ..errors import ExplanationError

            raise ExplanationError(
                f"method {self.name!r} needs a model with {', '.join(missing)}; "
                f"{self.model!r} does not have it")

    def attribute(self, X, **options) -> Attribution:  # pragma: no cover - abstract
        raise NotImplementedError

    def has_convergence_delta(self) -> bool:
        """Whether this method can report its own completeness error."""
        return self.additive

    # helpers shared by tabular methods --------------------------------------
    def _feature_names(self, X) -> list[str] | None:
        if isinstance(X, pd.DataFrame):
            return [str(c) for c in (self.model.feature_names or list(X.columns))]
        return self.model.feature_names


def as_2d_float(X, feature_names=None) -> np.ndarray:
    """``X`` as a float64 ``(n, d)`` array (numeric columns only)."""
    if isinstance(X, pd.DataFrame):
        if feature_names is not None:
            X = X[feature_names]
        return X.to_numpy(dtype=np.float64)
    arr = np.asarray(X, dtype=np.float64)
    return arr[None, :] if arr.ndim == 1 else arr


__all__ = ["Attribution", "Explainer", "additivity_check", "as_2d_float"]


