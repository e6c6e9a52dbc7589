"""Exact TreeSHAP for tree ensembles.

Path-dependent TreeSHAP (Lundberg et al. 2020, https://arxiv.org/abs/1802.03888):
the value of a coalition S is E[f(x) | x_S] under the distribution of the
training data as recorded in the trees' cover counts. For XGBoost this uses
XGBoost's own exact implementation (``pred_contribs``), on CUDA when a GPU is
present.
"""

from __future__ import annotations

import numpy as np

from ..errors import ExplanationError
from .base import Attribution, Explainer, additivity_check


class TreeShap(Explainer):
    """Exact Shapley values of a tree ensemble's margin.

    Examples::

        >>> TreeShap(xgb_model).attribute(X).values.shape
        (n, d)
    """

    name = "tree_shap"
    additive = True
    requires = frozenset({"tree_ensemble"})

    def attribute(self, X, *, background=None, device: str = "auto", batch_size: int = 100_000,
                  tolerance: float = 1e-3, feature_perturbation: str | None = None) -> Attribution:
        """Attribute the margin of each row of ``X``.

        Args:
            X: DataFrame (categorical columns allowed) or array, shape ``(n, d)``.
            background: reference rows for the interventional form; ``None``
                gives the path-dependent form.
            device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
            batch_size: rows per call, to bound memory.
            tolerance: the additivity self-check's tolerance (margin units).

        Returns:
            :class:`Attribution` with ``output == "margin"`` (or ``"value"`` for regressors).
        """
        if background is not None or feature_perturbation == "interventional":
            return self._interventional(X, background=background, device=device,
                                        batch_size=batch_size, tolerance=tolerance)
        if self.model.family != "xgboost":
            raise ExplanationError(
                f"path-dependent tree_shap supports XGBoost models; for {self.model!r} pass background=")
        from .._device import resolve_device

        dev = resolve_device(device)
        self.model.to(dev)
        try:
            n = len(X)
            parts, margins = [], []
            for i in range(0, n, batch_size):
                chunk = X.iloc[i:i + batch_size] if hasattr(X, "iloc") else X[i:i + batch_size]
                dm = self.model.dmatrix(chunk)
                parts.append(self.model.booster.predict(dm, pred_contribs=True))
                margins.append(self.model.booster.predict(dm, output_margin=True))
        finally:
            self.model.to("cpu")
        contribs = np.concatenate(parts).astype(np.float64)
        margin = np.concatenate(margins).astype(np.float64)
        if contribs.ndim == 3:  # multi-class: (n, k, d+1)
            raise ExplanationError("multi-class tree_shap: pass target= (not supported in this version)")
        values, base = contribs[:, :-1], contribs[:, -1]
        return Attribution(
            values=values, base_values=base, feature_names=self._feature_names(X),
            method=self.name, output=self.model.output_space, predictions=margin,
            params={"form": "path_dependent", "device": dev, "implementation": "xgboost pred_contribs"},
            self_check=additivity_check(values, base, margin, tolerance))

    def _interventional(self, X, **kw) -> Attribution:  # filled in by the attribution engine
        raise ExplanationError("interventional tree_shap (background=) is not available in this version")
