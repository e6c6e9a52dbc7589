"""Encoded rows: model features as one float matrix, and what "changed" means on it.

The search, the constraint checks and the quality measures all work on encoded
rows (numeric values as floats, categorical features as category codes, NaN for
a missing value). This module holds that encoding and the few helpers every one
of them shares, so none of them has to import another for it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import InputError

#: relative tolerance under which two values count as the same
TOL = 1e-9


def changed_mask(x, c) -> np.ndarray:
    """Element-wise 'value changed' for float arrays (NaN == NaN counts as unchanged)."""
    x = np.asarray(x, dtype=np.float64)
    c = np.asarray(c, dtype=np.float64)
    nx, nc = np.isnan(x), np.isnan(c)
    diff = np.abs(c - x) > TOL * np.maximum(1.0, np.abs(x))   # False where either is NaN
    return diff | (nx != nc)


class Codec:
    """Model features of a DataFrame as a float matrix (categorical -> codes) and back.

    Args:
        X: a DataFrame (categorical columns as pandas categoricals) or an array.
        features: the model's feature order.
    """

    def __init__(self, X, features: list[str]):
        self.features = list(features)
        self.is_frame = isinstance(X, pd.DataFrame)
        self.categories: dict[int, pd.Index] = {}
        self.ordered: dict[int, bool] = {}
        if self.is_frame:
            for j, f in enumerate(self.features):
                dt = X[f].dtype
                if isinstance(dt, pd.CategoricalDtype):
                    self.categories[j] = dt.categories
                    self.ordered[j] = bool(dt.ordered)
        self.numeric = np.array([j not in self.categories for j in range(len(self.features))])

    def encode(self, df) -> np.ndarray:
        """``(n, d)`` float64: numeric values, category codes (NaN when missing)."""
        if not isinstance(df, pd.DataFrame):
            return np.asarray(df, dtype=np.float64).reshape(-1, len(self.features))
        Z = np.empty((len(df), len(self.features)), dtype=np.float64)
        for j, f in enumerate(self.features):
            col = df[f]
            if j in self.categories:
                cats = self.categories[j]
                if isinstance(col.dtype, pd.CategoricalDtype) and col.cat.categories.equals(cats):
                    codes = col.cat.codes.to_numpy().astype(np.float64)
                else:
                    codes = codes_of(col, cats, f)
                codes[codes < 0] = np.nan
                Z[:, j] = codes
            else:
                try:
                    Z[:, j] = pd.to_numeric(col, errors="raise").to_numpy(dtype=np.float64)
                except (TypeError, ValueError):
                    raise InputError(f"expected numbers in column '{f}'", column=f) from None
        return Z

    def decode(self, Z: np.ndarray, index=None):
        """The model input for encoded rows: a DataFrame with the original dtypes (or an array)."""
        if not self.is_frame:
            return Z
        if not self.categories:     # all numeric: one float block (much cheaper than a column per feature)
            return pd.DataFrame(np.asarray(Z, dtype=np.float64), columns=self.features, index=index, copy=False)
        cols = {}
        for j, f in enumerate(self.features):
            if j in self.categories:
                codes = np.where(np.isnan(Z[:, j]), -1, Z[:, j]).astype(np.int64)
                cols[f] = pd.Categorical.from_codes(codes, categories=self.categories[j], ordered=self.ordered[j])
            else:
                cols[f] = Z[:, j]
        return pd.DataFrame(cols, index=index)


def codes_of(col: pd.Series, cats: pd.Index, name: str) -> np.ndarray:
    """Codes of values against ``cats``, matching ``"1"`` to ``1``; unknown values raise."""
    lookup = {str(c): i for i, c in enumerate(cats)}
    out = np.empty(len(col), dtype=np.float64)
    for i, v in enumerate(col.tolist()):
        if v is None or (isinstance(v, float) and np.isnan(v)):
            out[i] = -1
            continue
        key = str(v)
        if key not in lookup:
            try:
                key = next(str(c) for c in cats if float(c) == float(v))
            except (StopIteration, TypeError, ValueError):
                raise InputError(f"unknown category {v!r} in column '{name}' "
                                 f"(categories: {[str(c) for c in cats]})", column=name) from None
        out[i] = lookup[key]
    return out


# -- numeric grids --------------------------------------------------------------

class Grid:
    """Where a numeric feature's values may sit: anywhere, on a step grid, or on levels."""

    def __init__(self, rule):
        self.levels = None if rule.levels is None else np.asarray(rule.levels, dtype=np.float64)
        if self.levels is None and rule.integer:
            self.step = 1.0 if rule.step is None else max(1.0, np.ceil(rule.step))
        else:
            self.step = rule.step if self.levels is None else None
        self.continuous = self.levels is None and self.step is None

    def snap(self, v: np.ndarray, mode: str) -> np.ndarray:
        """Snap values ``down``, ``up`` or to the ``nearest`` allowed value (NaN stays NaN)."""
        v = np.asarray(v, dtype=np.float64)
        if self.continuous:
            return v
        if self.levels is not None:
            L = self.levels
            if len(L) == 0:
                return np.full_like(v, np.nan)
            with np.errstate(invalid="ignore"):
                idx_up = np.searchsorted(L, v - 1e-12, side="left")
                idx_dn = np.searchsorted(L, v + 1e-12, side="right") - 1
            up = np.where(idx_up < len(L), L[np.minimum(idx_up, len(L) - 1)], np.nan)
            dn = np.where(idx_dn >= 0, L[np.maximum(idx_dn, 0)], np.nan)
            if mode == "up":
                out = up
            elif mode == "down":
                out = dn
            else:
                out = np.where(np.isnan(up) | (np.abs(v - dn) <= np.abs(up - v)), dn, up)
                out = np.where(np.isnan(dn), up, out)
            return np.where(np.isnan(v), np.nan, out)
        s = self.step
        q = v / s
        with np.errstate(invalid="ignore"):
            if mode == "up":
                k = np.ceil(q - 1e-9)
            elif mode == "down":
                k = np.floor(q + 1e-9)
            else:
                k = np.round(q)
        return np.round(k * s, 12)
