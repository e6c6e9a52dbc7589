"""Exact interventional SHAP for linear models, per original column.

A scikit-learn linear estimator (``LogisticRegression``, ``LinearRegression``,
``Ridge``, ``Lasso``, ``SGDClassifier``, ...) alone or at the end of a
``Pipeline`` whose preprocessing is *column-wise* (``ColumnTransformer`` with
``OneHotEncoder``, ``StandardScaler``, ``SimpleImputer``, ``OrdinalEncoder``,
... each output column computed from one input column) has a margin that is
a sum of one function per original column:

    f(x) = b + sum_k w_k T_k(x) = b + sum_j g_j(x_j),   g_j(x_j) = sum_{k in group(j)} w_k T_k(x_j)

For such an additive model the interventional Shapley value against a
reference population ``B`` (the value function of :mod:`.shapley`) is
exactly ``phi_j(x) = g_j(x_j) - mean_{z in B} g_j(z_j)``: a one-hot group is
summed back to the column the pack names, whatever the encoder did to it.
This is what shap's ``LinearExplainer`` (interventional) computes in the
transformed space, grouped; it is exact, not an estimate, and costs one
transform of ``X`` and of ``B``.

Explained space: the margin (``decision_function``: log-odds for logistic
regression) for classifiers, the prediction for regressors. A pipeline step
that mixes columns (``PolynomialFeatures``, ``PCA``, a ``FunctionTransformer``)
is refused with its name: use ``method="shapley"`` for it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import ExplanationError
from .base import Attribution, Explainer, additivity_check

#: final estimators read as ``b + w . T(x)`` (``coef_``, ``intercept_``)
LINEAR_ESTIMATORS = frozenset({
    "LogisticRegression", "LogisticRegressionCV", "LinearRegression", "Ridge", "RidgeCV", "RidgeClassifier",
    "RidgeClassifierCV", "Lasso", "LassoCV", "ElasticNet", "ElasticNetCV", "LassoLars", "LassoLarsCV",
    "LassoLarsIC", "Lars", "LarsCV", "OrthogonalMatchingPursuit", "BayesianRidge", "ARDRegression",
    "HuberRegressor", "QuantileRegressor", "TheilSenRegressor", "SGDClassifier", "SGDRegressor",
    "Perceptron", "PassiveAggressiveClassifier", "PassiveAggressiveRegressor", "LinearSVC", "LinearSVR",
    "PoissonRegressor", "GammaRegressor", "TweedieRegressor",
})
#: transformers whose every output column is a function of one input column, one output each
_ONE_TO_ONE = frozenset({
    "StandardScaler", "MinMaxScaler", "MaxAbsScaler", "RobustScaler", "QuantileTransformer",
    "PowerTransformer", "OrdinalEncoder", "Binarizer",
})
#: generalised linear models whose predict() is a link of the linear predictor: explained on that predictor
_LINK_REGRESSORS = frozenset({"PoissonRegressor", "GammaRegressor", "TweedieRegressor"})


def _final(model):
    return model.steps[-1][1] if hasattr(model, "steps") else model


def is_linear_model(adapter) -> bool:
    """Whether ``adapter`` wraps a scikit-learn linear estimator (alone or ending a Pipeline)."""
    if getattr(adapter, "family", None) != "sklearn":
        return False
    final = _final(adapter.model)
    return type(final).__name__ in LINEAR_ESTIMATORS and hasattr(final, "coef_")


def _input_index(columns, names) -> list[int]:
    """ColumnTransformer column spec -> input indices."""
    if isinstance(columns, slice) or callable(columns):
        raise ExplanationError("a ColumnTransformer column selector given as a slice or callable is not read")
    cols = list(np.atleast_1d(columns)) if not isinstance(columns, (str, int)) else [columns]
    if cols and isinstance(cols[0], (bool, np.bool_)):
        return [i for i, c in enumerate(cols) if c]
    out = []
    for c in cols:
        if isinstance(c, (int, np.integer)):
            out.append(int(c))
        else:
            c = str(c)
            if names is None or c not in names:
                raise ExplanationError(f"ColumnTransformer column {c!r} is not an input column")
            out.append(names.index(c))
    return out


def column_groups(transformer, n_in: int, names=None) -> np.ndarray:
    """For each output column of a fitted column-wise ``transformer``, the input column it is computed from.

    Args:
        transformer: a fitted scikit-learn transformer, ``Pipeline`` of them,
            ``ColumnTransformer``, ``"passthrough"`` or ``None``.
        n_in: its number of input columns.
        names: the input column names (to resolve ``ColumnTransformer`` columns given by name).

    Raises:
        ExplanationError: a step that mixes columns, or one this function cannot read.
    """
    if transformer is None or transformer == "passthrough":
        return np.arange(n_in)
    kind = type(transformer).__name__
    if hasattr(transformer, "steps"):
        groups = np.arange(n_in)
        step_names = names
        for _, step in transformer.steps:
            groups = groups[column_groups(step, len(groups), step_names)]
            step_names = None     # later steps read the previous step's output
        return groups
    if kind == "ColumnTransformer":
        parts = []
        out_idx = getattr(transformer, "output_indices_", {})
        for name, trans, cols in transformer.transformers_:
            if trans == "drop":
                continue
            idx = _input_index(cols, names)
            if not idx:
                continue
            sub = column_groups(trans, len(idx), [names[i] for i in idx] if names else None)
            sl = out_idx.get(name)
            if sl is not None and sl.stop - sl.start != sub.size:
                raise ExplanationError(f"cannot map the outputs of ColumnTransformer step {name!r} ({kind})")
            parts.append((sl.start if sl is not None else len(parts), np.asarray(idx)[sub]))
        parts.sort(key=lambda t: t[0])
        groups = np.concatenate([p for _, p in parts]) if parts else np.zeros(0, np.int64)
        return groups.astype(np.int64)
    if kind in ("OneHotEncoder", "KBinsDiscretizer", "SplineTransformer"):
        if kind == "OneHotEncoder":
            counts = np.asarray(getattr(transformer, "_n_features_outs", None) or [], dtype=np.int64)
        elif kind == "KBinsDiscretizer":
            counts = (np.asarray(transformer.n_bins_, dtype=np.int64) if transformer.encode != "ordinal"
                      else np.ones(n_in, np.int64))
        else:
            counts = np.full(n_in, transformer.n_features_out_ // max(n_in, 1), dtype=np.int64)
        total = len(transformer.get_feature_names_out()) if hasattr(transformer, "get_feature_names_out") else None
        if counts.size != n_in or (total is not None and int(counts.sum()) != total):
            raise ExplanationError(f"cannot map the output columns of the {kind} to its input columns")
        return np.repeat(np.arange(n_in), counts)
    if kind == "SimpleImputer":
        stats = np.asarray(transformer.statistics_, dtype=object)
        kept = np.flatnonzero(~pd.isna(stats)) if not getattr(transformer, "keep_empty_features", False) \
            else np.arange(n_in)
        groups = kept
        ind = getattr(transformer, "indicator_", None)
        if ind is not None:
            groups = np.concatenate([groups, np.asarray(ind.features_, dtype=np.int64)])
        return groups
    if kind == "VarianceThreshold" or hasattr(transformer, "get_support"):
        return np.flatnonzero(transformer.get_support())
    if kind in _ONE_TO_ONE:
        return np.arange(n_in)
    raise ExplanationError(
        f"the pipeline step {kind} may mix columns, so a linear model after it is not additive in the "
        "original columns; use method='shapley' (exact) or 'kernel_shap'")


class LinearShap(Explainer):
    """Exact interventional SHAP of a linear model (or a pipeline ending in one), per original column.

    ``phi_j(x) = sum_{k in group(j)} coef_k (T(x)_k - mean_B T(z)_k)``, one-hot
    groups summed back to their original column; ``base_values`` is the mean
    margin over the background, so ``values.sum(1) + base_values`` equals the
    margin (``decision_function``) exactly.

    Examples::

        >>> pipe = make_pipeline(ColumnTransformer([("cat", OneHotEncoder(), ["housing"]),
        ...                                         ("num", StandardScaler(), ["income"])]),
        ...                      LogisticRegression()).fit(X, y)
        >>> attr = LinearShap(pipe).attribute(X_test, background=X_reference)
        >>> attr.feature_names, attr.output
        (['housing', 'income'], 'margin')
    """

    name = "linear"
    additive = True
    claims = "additivity"

    def _check_model(self, adapter) -> None:
        if not is_linear_model(adapter):
            raise ExplanationError(
                f"method 'linear' needs a scikit-learn linear estimator (alone or ending a Pipeline); "
                f"{adapter!r} is not one")

    def _parts(self):
        model = self.model_.model
        if hasattr(model, "steps"):
            pre = model[:-1] if len(model.steps) > 1 else None
        else:
            pre = None
        return pre, _final(model)

    def __init__(self, model, *, target: int | None = None, output: str | None = None, tolerance: float = 1e-6,
                 device: str = "auto"):
        """Store the model and the options (as :meth:`_explain` documents them); no work is done here."""
        self.model = model
        self.target = target
        self.output = output
        self.tolerance = tolerance
        self.device = device

    def _expected_value(self):
        """The mean margin (value) over ``background_``, the ``base_values`` of every row (``None`` without one)."""
        if self.background_ is None:
            return None
        pre, est = self._parts()
        space = "margin" if hasattr(est, "classes_") else "value"
        return float(np.mean(self._predict(self._frame(self.background_, self.model_.feature_names), space,
                                           self.target)))

    def _explain(self, X, *, background=None, target: int | None = None, output: str | None = None,
                  tolerance: float = 1e-6, device: str = "auto", **_ignored) -> Attribution:
        """Attribute each row of ``X`` against ``background``.

        Args:
            X: DataFrame (as the pipeline reads it) or array ``(n, d)``.
            background: the reference population rows ``(m, d)``; required.
            target: the class for multi-class models (one row of ``coef_``).
            output: ``"margin"`` (classifiers) / ``"value"`` (regressors), the
                only spaces in which the model is linear; others are refused.
            tolerance: additivity self-check tolerance.
            device: accepted for API symmetry (a matrix product on the CPU).

        Returns:
            :class:`Attribution` ``(n, d)`` over the pipeline's input columns.
        """
        if background is None:
            raise ExplanationError("method 'linear' explains against a reference population: pass background= "
                                   "(the reference rows; in the CLI, --reference)")
        pre, est = self._parts()
        space = "margin" if hasattr(est, "classes_") else "value"
        if output not in (None, space):
            raise ExplanationError(f"a linear model is exact in its {space!r} space only; "
                                   f"use method='shapley' for {output!r}")
        names = self.model_.feature_names
        Xf = self._frame(X, names)
        Bf = self._frame(background, names)
        if len(Bf) == 0:
            raise ExplanationError("background= has no rows")
        d = Xf.shape[1]
        groups = column_groups(pre, d, list(Xf.columns) if isinstance(Xf, pd.DataFrame) else None)
        TX = self._transform(pre, Xf)
        TB = self._transform(pre, Bf)
        coef = np.atleast_2d(np.asarray(est.coef_, dtype=np.float64))
        intercept = np.atleast_1d(np.asarray(getattr(est, "intercept_", 0.0), dtype=np.float64))
        if coef.shape[0] > 1:
            if target is None:
                raise ExplanationError(f"the {type(est).__name__} has {coef.shape[0]} outputs: pass target=")
            w, b = coef[int(target)], float(intercept[int(target)] if intercept.size > 1 else intercept[0])
        else:
            w, b = coef[0], float(intercept[0])
        if TX.shape[1] != w.size or groups.size != w.size:
            raise ExplanationError(f"the pipeline's {TX.shape[1]} transformed columns do not match the "
                                   f"estimator's {w.size} coefficients")
        mean_t = np.asarray(TB.mean(axis=0), dtype=np.float64).reshape(-1)
        # per transformed column: w_k (T_k(x) - mean T_k(B)); then summed per original column
        contrib = self._scale_columns(TX, w) - (w * mean_t)[None, :]
        M = np.zeros((w.size, d))
        M[np.arange(w.size), groups] = 1.0
        values = np.asarray(contrib @ M, dtype=np.float64)
        base_value = float(w @ mean_t + b)
        base = np.full(len(values), base_value)
        preds = self._predict(Xf, space, target)
        if names is None:
            names = list(Xf.columns) if isinstance(Xf, pd.DataFrame) else None
        return Attribution(
            values=values, base_values=base, feature_names=None if names is None else [str(c) for c in names],
            method=self.name, output=space, predictions=preds, target=target,
            params={"form": "interventional", "background_rows": int(len(Bf)),
                    "estimator": type(est).__name__, "transformed_columns": int(w.size)},
            self_check=additivity_check(values, base, preds, tolerance),
            extras={"background_mean_output": base_value})

    # -- helpers ---------------------------------------------------------------------
    def _frame(self, X, names):
        if isinstance(X, pd.DataFrame):
            return X[names] if names is not None else X
        arr = np.asarray(X)
        arr = arr[None, :] if arr.ndim == 1 else arr
        if names is not None and hasattr(self.model_.model, "feature_names_in_"):
            return pd.DataFrame(arr, columns=names)
        return arr

    @staticmethod
    def _transform(pre, X):
        if pre is None:
            return np.asarray(X, dtype=np.float64)
        T = pre.transform(X)
        if hasattr(T, "tocsr"):
            return T.tocsr().astype(np.float64)
        return np.asarray(T, dtype=np.float64)

    @staticmethod
    def _scale_columns(T, w):
        if hasattr(T, "multiply"):
            return np.asarray(T.multiply(w[None, :]).todense())
        return T * w[None, :]

    def _predict(self, X, space, target):
        from ._tabular import select_output

        model = self.model_.model
        if space == "margin":
            raw = model.decision_function(X)
        elif type(_final(model)).__name__ in _LINK_REGRESSORS:
            pre, est = self._parts()
            T = self._transform(pre, X)
            raw = np.asarray(T @ np.asarray(est.coef_, dtype=np.float64)).reshape(-1) + float(est.intercept_)
        else:
            raw = model.predict(X)
        return select_output(np.asarray(raw, dtype=np.float64), target, type(_final(model)).__name__)


__all__ = ["LinearShap", "column_groups", "is_linear_model", "LINEAR_ESTIMATORS"]
