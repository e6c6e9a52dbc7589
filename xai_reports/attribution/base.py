"""The :class:`Attribution` result and the :class:`Explainer` base class.

Every method is an ``Explainer`` subclass in its own module, following
scikit-learn's conventions: ``Cls(model, **options).fit(background).explain(X)``,
with ``get_params`` and ``clone``; captum's ``Cls(model).attribute(X, **options)``
fits and explains in one call. Each method reports the
self-check it can compute about itself (additivity, completeness or
conservation) in ``Attribution.self_check``.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from ..errors import ExplanationError


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


#: signatures read once per function (classes are few; functions are keys, so a redefined class re-reads)
_SIGNATURES: dict = {}


class Explainer(BaseEstimator):
    """Base class of every attribution method, with scikit-learn's estimator conventions.

    * The constructor takes the model and the method's options by name and only
      stores them (``get_params`` / ``set_params`` / :func:`sklearn.base.clone` work).
    * :meth:`fit` (``background=None``) wraps and checks the model and learns
      ``model_`` (its adapter), ``background_`` and ``expected_value_`` (the
      reference output the values are relative to, where the method has one).
    * :meth:`explain` (``X``, per-call options overriding the constructor's)
      returns the :class:`Attribution`.
    * :meth:`attribute` is captum's one-step form: it fits with the call's
      ``background=`` and explains (``Cls(model).attribute(X, **options)``).

    A subclass sets ``name``, ``additive``, ``requires`` (capability tags the
    model must have, e.g. ``{"tree_ensemble"}`` or ``{"differentiable"}``) and
    ``claims`` (what :func:`~.checks.check_explainer` verifies against the
    model's own output: ``"additivity"`` or ``"completeness"``), declares its
    options as keyword arguments of ``__init__`` (stored under the same names)
    and implements ``_explain(X, *, background=None, **options)`` (leave out
    ``background`` when the method takes none). Checks of the model itself go
    in ``_check_model(adapter)``; a method with a reference value computes it
    in ``_expected_value()``.

    Examples::

        >>> ex = TreeShap(model, batch_size=50_000).fit(X_reference)
        >>> attr = ex.explain(X)
        >>> np.isclose(ex.expected_value_, attr.base_values[0])
        True
        >>> clone(ex).get_params()["batch_size"]
        50000
    """

    name: ClassVar[str] = ""
    additive: ClassVar[bool] = False
    requires: ClassVar[frozenset] = frozenset()
    #: what ``values.sum + base_values`` equals the model's output under: ``"additivity"`` (to float
    #: error), ``"completeness"`` (to the method's own error, e.g. a quadrature's), or ``None`` (no claim)
    claims: ClassVar[str | None] = None
    #: the constructor option that seeds the method's randomness (``None``: deterministic without one)
    seed_param: ClassVar[str | None] = None

    def __init__(self, model):
        self.model = model

    # -- scikit-learn protocol -------------------------------------------------------
    def __sklearn_clone__(self):
        """A new, unfitted explainer with the same options, explaining the same model.

        The model is the object being explained, not a sub-estimator to refit:
        it is shared, never cloned (cloning a fitted scikit-learn model would
        drop its fit). The options are shared too, as given (an option may name
        a part of the model, e.g. Grad-CAM's ``layer``, which a copy would detach).
        """
        return type(self)(**self.get_params(deep=False))

    @classmethod
    def takes_background(cls) -> bool:
        """Whether ``_explain`` accepts ``background=`` (reference rows)."""
        key = ("takes_background", cls._explain)
        if key not in _SIGNATURES:
            sig = inspect.signature(cls._explain)
            _SIGNATURES[key] = "background" in sig.parameters or any(
                p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values())
        return _SIGNATURES[key]

    @classmethod
    def _get_param_names(cls):
        """scikit-learn's constructor parameter names, read from the signature once per ``__init__``
        (``get_params`` runs on every ``explain`` call)."""
        key = ("params", cls.__init__)
        if key not in _SIGNATURES:
            _SIGNATURES[key] = super()._get_param_names()
        return list(_SIGNATURES[key])

    def fit(self, background=None):
        """Wrap and check the model, and keep ``background`` (the reference rows, when the method takes any).

        Sets ``model_`` (the :class:`~xai_reports.adapters.ModelAdapter`),
        ``background_`` and makes ``expected_value_`` available.

        Returns:
            ``self``.

        Raises:
            ExplanationError: the model lacks what the method ``requires``, or
                ``background`` is given to a method that takes none.
        """
        adapter = _wrap_model()(self.model)
        missing = [t for t in self.requires if not adapter.tags.get(t)]
        if missing:
            raise ExplanationError(
                f"method {self.name!r} needs a model with {', '.join(missing)}; "
                f"{adapter!r} does not have it")
        self._check_model(adapter)
        if background is not None and not self.takes_background():
            raise ExplanationError(f"method {self.name!r} takes no background= (reference rows)")
        for key in [k for k in self.__dict__ if k.startswith("_") and k.endswith("_cache")]:
            del self.__dict__[key]          # what an earlier fit computed (``expected_value_``, parsed trees)
        self.model_ = adapter
        self.background_ = background
        return self

    @property
    def expected_value_(self):
        """The reference output ``base_values`` are relative to (e.g. the mean model output over
        ``background_``), for the constructor's options; ``None`` where the method has no such value
        or cannot know it before explaining. Learned by :meth:`fit`, computed on first read."""
        self._check_fitted()
        if "_expected_value_cache" not in self.__dict__:
            self.__dict__["_expected_value_cache"] = self._expected_value()
        return self.__dict__["_expected_value_cache"]

    def explain(self, X, **options) -> Attribution:
        """Attribute the model's output on ``X``; ``options`` override the constructor's for this call.

        ``background`` belongs to :meth:`fit` (or :meth:`attribute`), not here.
        """
        self._check_fitted()
        if "background" in options:
            raise ExplanationError("background= is learned by fit(background); "
                                   "or call attribute(X, background=...) to fit and explain at once")
        call = {**self._options(), **options}
        if self.takes_background():
            call["background"] = self.background_
        return self._explain(X, **call)

    def attribute(self, X, **options) -> Attribution:
        """captum's form: ``fit(background)`` with the call's ``background=``, then :meth:`explain`."""
        return self.fit(options.pop("background", None)).explain(X, **options)

    def has_convergence_delta(self) -> bool:
        """Whether this method can report its own completeness error."""
        return self.additive

    # -- for subclasses -----------------------------------------------------------------
    def _explain(self, X, **options) -> Attribution:  # pragma: no cover - abstract
        raise NotImplementedError

    def _check_model(self, adapter) -> None:
        """Raise :class:`~xai_reports.errors.ExplanationError` when ``adapter`` is not a model this method reads."""

    def _expected_value(self):
        """The value of :attr:`expected_value_` (``None``: the method has no reference value)."""
        return None

    def _options(self) -> dict:
        """The constructor's options (every parameter but the model)."""
        return {k: v for k, v in self.get_params(deep=False).items() if k != "model"}

    def _check_fitted(self) -> None:
        if "model_" not in self.__dict__:
            from sklearn.exceptions import NotFittedError

            raise NotFittedError(f"this {type(self).__name__} is not fitted yet: call fit(background) first, "
                                 "or attribute(X, ...)")

    def _mean_background_output(self):
        """The model's mean output over ``background_`` in the explained output space (``None`` without
        a background): the reference value of methods that explain against the background's average."""
        if self.background_ is None:
            return None
        return self._mean_output(self.background_, output=self.output, target=self.target)

    def _mean_output(self, rows, *, output=None, target=None) -> float:
        """The model's mean output over ``rows`` in ``output`` space (output ``target`` when it has several)."""
        from ._tabular import select_output

        out = np.asarray(self.model_.predict(rows, output=output or self.model_.output_space), dtype=np.float64)
        return float(np.mean(select_output(out, target)))

    # helpers shared by tabular methods --------------------------------------
    def _feature_names(self, X) -> list[str] | None:
        if isinstance(X, pd.DataFrame):
            return [str(c) for c in (self.model_.feature_names or list(X.columns))]
        return self.model_.feature_names


def _wrap_model():
    """:func:`~xai_reports.adapters.wrap_model`, imported on first use (a function-level import costs
    about a microsecond on every ``fit``; the adapters package is not imported with this module)."""
    global _WRAP_MODEL
    if _WRAP_MODEL is None:
        from ..adapters import wrap_model

        _WRAP_MODEL = wrap_model
    return _WRAP_MODEL


_WRAP_MODEL = None


def as_2d_float(X, feature_names=None) -> np.ndarray:
    """``X`` as a float64 ``(n, d)`` array (numeric columns only)."""
    if isinstance(X, pd.DataFrame):
        if feature_names is not None:
            X = X[feature_names]
        return X.to_numpy(dtype=np.float64)
    arr = np.asarray(X, dtype=np.float64)
    return arr[None, :] if arr.ndim == 1 else arr


__all__ = ["Attribution", "Explainer", "additivity_check", "as_2d_float"]


