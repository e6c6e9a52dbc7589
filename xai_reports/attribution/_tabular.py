"""Tabular inputs as a float matrix and back, categorical columns included.

Perturbation methods (exact Shapley, KernelSHAP, permutation importance) build
*hybrid* rows, each column taken from either the explained row or a reference
row. They do that on a float matrix; :class:`TabularCodec` turns a DataFrame
(pandas categorical, string, integer, boolean or float columns) into that
matrix and hybrid matrices back into a DataFrame with the original dtypes, so
any model that accepted the original frame (an XGBoost model trained with
``enable_categorical=True``, a scikit-learn Pipeline with an encoder) accepts
the hybrids too. Numpy inputs pass through unchanged.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


class TabularCodec:
    """Encode a table as ``float64 (n, d)`` and decode hybrid rows back.

    Args:
        X: the DataFrame or array that fixes the columns, their order and dtypes.
        columns: the column order to use (default: the frame's own columns).

    Categorical and string columns are encoded as category codes (missing =
    ``NaN``); decoding maps the codes back to the same categories.

    Examples::

        >>> codec = TabularCodec(df)
        >>> M = codec.encode(df)           # float64 (n, d)
        >>> codec.decode(M).dtypes.equals(df.dtypes)
        True
    """

    def __init__(self, X, columns=None):
        self.is_frame = isinstance(X, pd.DataFrame)
        if not self.is_frame:
            arr = np.asarray(X)
            self.columns = None if columns is None else list(columns)
            self.n_features = arr.shape[-1]
            self.dtypes = None
            self.categories: dict[int, pd.Index] = {}
            return
        self.columns = list(columns) if columns is not None else list(X.columns)
        missing = [c for c in self.columns if c not in X.columns]
        if missing:
            raise ValueError(f"X lacks the model's feature(s) {missing}")
        self.n_features = len(self.columns)
        self.dtypes = {c: X[c].dtype for c in self.columns}
        self.categories = {}
        for j, c in enumerate(self.columns):
            dt = X[c].dtype
            if isinstance(dt, pd.CategoricalDtype):
                self.categories[j] = dt.categories
            elif dt == object or pd.api.types.is_string_dtype(dt):
                self.categories[j] = pd.Index(sorted(pd.unique(X[c].dropna()), key=str))

    def extend(self, X) -> None:
        """Add categories seen in ``X`` (object columns) that the codec lacks."""
        if not self.is_frame:
            return
        for j, cats in list(self.categories.items()):
            c = self.columns[j]
            if isinstance(self.dtypes[c], pd.CategoricalDtype):
                continue
            new = [v for v in pd.unique(X[c].dropna()) if v not in cats]
            if new:
                self.categories[j] = cats.append(pd.Index(new))

    def encode(self, X) -> np.ndarray:
        """``X`` as a float64 ``(n, d)`` matrix (categories as codes, missing as NaN)."""
        if not self.is_frame:
            if isinstance(X, pd.DataFrame):
                X = X[self.columns] if self.columns is not None else X
                X = X.to_numpy()
            arr = np.asarray(X, dtype=np.float64)
            return arr[None, :] if arr.ndim == 1 else arr
        if isinstance(X, pd.Series):
            X = X.to_frame().T
        if not isinstance(X, pd.DataFrame):
            arr = np.asarray(X, dtype=np.float64)
            return arr[None, :] if arr.ndim == 1 else arr
        self.extend(X)
        out = np.empty((len(X), self.n_features), dtype=np.float64)
        for j, c in enumerate(self.columns):
            col = X[c]
            if j in self.categories:
                codes = pd.Categorical(col, categories=self.categories[j]).codes.astype(np.float64)
                codes[codes < 0] = np.nan
                out[:, j] = codes
            else:
                out[:, j] = pd.to_numeric(col, errors="raise").to_numpy(dtype=np.float64, na_value=np.nan)
        return out

    def decode(self, M: np.ndarray):
        """A float matrix (e.g. hybrid rows) back in the input's form: a DataFrame with the original dtypes."""
        if not self.is_frame:
            return M
        data = {}
        for j, c in enumerate(self.columns):
            col = M[:, j]
            dt = self.dtypes[c]
            if j in self.categories:
                codes = np.where(np.isnan(col), -1, col).astype(np.int64)
                cat = pd.Categorical.from_codes(codes, categories=self.categories[j],
                                                ordered=getattr(dt, "ordered", False))
                data[c] = cat if isinstance(dt, pd.CategoricalDtype) else np.asarray(cat, dtype=object)
            elif pd.api.types.is_bool_dtype(dt):
                data[c] = col.astype(bool)
            elif pd.api.types.is_integer_dtype(dt) and not np.isnan(col).any():
                data[c] = col.astype(dt)
            else:
                data[c] = col
        return pd.DataFrame(data, columns=self.columns)


def model_columns(adapter, X) -> list | None:
    """The columns the model reads from ``X``, in the model's order."""
    if isinstance(X, pd.DataFrame):
        return list(adapter.feature_names) if adapter.feature_names is not None else list(X.columns)
    return None


def select_output(pred: np.ndarray, target: int | None, what: str = "model") -> np.ndarray:
    """Column ``target`` of a multi-output prediction (``(n,)`` outputs pass through)."""
    from ..errors import ExplanationError

    pred = np.asarray(pred, dtype=np.float64)
    if pred.ndim == 1:
        return pred
    if pred.ndim == 2 and pred.shape[1] == 1:
        return pred[:, 0]
    if target is None:
        raise ExplanationError(
            f"the {what} has {pred.shape[1]} outputs: pass target= (the output index to explain)")
    return pred[:, int(target)]


__all__ = ["TabularCodec", "model_columns", "select_output"]
