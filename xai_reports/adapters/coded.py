"""A model seen through numeric codes: categorical inputs as category indices.

Metrics that perturb inputs arithmetically (deletion/insertion curves,
max-sensitivity) need every column to be a number. :class:`CodedModel` wraps an
adapter so that it takes such numeric frames: :meth:`CodedModel.encode` turns a
frame with categorical columns into codes, and predictions decode the codes
(rounded and clipped to a valid category) before calling the wrapped model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .base import ModelAdapter

__all__ = ["CodedModel"]


class CodedModel(ModelAdapter):
    """``adapter`` taking numeric frames, with each categorical column given as category codes.

    Args:
        adapter: the model's adapter (it receives decoded frames).
        categories: column -> the categories of that categorical column (``pd.Index``).
        columns: the model's columns, in order.

    Use :meth:`for_frame` to take the categories from a frame the adapter predicts on.
    """

    family = "coded"

    def __init__(self, adapter: ModelAdapter, categories: dict, columns):
        super().__init__(adapter.model, feature_names=list(columns))
        self.adapter = adapter
        self.output_space = adapter.output_space
        self.is_classifier = adapter.is_classifier
        self.categories = dict(categories)
        self.columns = list(columns)

    @classmethod
    def for_frame(cls, adapter: ModelAdapter, X: pd.DataFrame) -> "CodedModel":
        """The coded view of ``adapter`` for frames shaped like ``X`` (its categorical dtypes give the codes)."""
        cats = {f: X[f].cat.categories for f in X.columns if isinstance(X[f].dtype, pd.CategoricalDtype)}
        return cls(adapter, cats, list(X.columns))

    def encode(self, X: pd.DataFrame) -> pd.DataFrame:
        """``X`` as numbers: category codes for categorical columns, floats for the others."""
        return pd.DataFrame({f: (X[f].cat.codes.to_numpy(dtype=float) if f in self.categories
                                 else X[f].to_numpy(dtype=float))
                             for f in self.columns}, index=X.index)[self.columns]

    def decode(self, Z) -> pd.DataFrame:
        """Numeric rows ``Z`` (frame or array) back to the frame the wrapped adapter takes; codes are
        rounded and clipped to a valid category."""
        Z = Z if isinstance(Z, pd.DataFrame) else pd.DataFrame(np.asarray(Z, dtype=float), columns=self.columns)
        out = {}
        for f in self.columns:
            if f in self.categories:
                k = np.clip(np.rint(Z[f].to_numpy(dtype=float)), 0, len(self.categories[f]) - 1).astype(int)
                out[f] = pd.Categorical.from_codes(k, categories=self.categories[f])
            else:
                out[f] = Z[f].to_numpy(dtype=float)
        return pd.DataFrame(out)[self.columns]

    def _raw_predict(self, Z):
        return self.adapter.predict(self.decode(Z))

    def model_bytes(self):
        """The wrapped model's bytes (the coded view is the same model)."""
        return self.adapter.model_bytes()
