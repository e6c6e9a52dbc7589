"""Sensitivity of an explanation to small input perturbations (Yeh et al. 2019, https://arxiv.org/abs/1901.09392)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import ExplanationError


def explanation_func(model, method: str, **options):
    """A callable ``X -> values`` for :func:`max_sensitivity`, from a model and a method name.

    Args:
        model: a raw model or adapter.
        method: a name from :data:`xai_reports.attribution.METHODS`.
        **options: options passed to :func:`xai_reports.explain`.

    Returns:
        ``f(X) -> ndarray`` of attribution values.

    Examples::

        >>> f = explanation_func(mlp, "integrated_gradients", n_steps=32)
        >>> f(X).shape
        (100, 13)
    """
    from ..attribution import explain

    def f(X):
        return explain(model, X, method=method, **options).values

    return f


def max_sensitivity(explanation_func, X, *, perturb_radius: float = 0.02, n_perturb_samples: int = 10,
                    perturb_func=None, seed: int = 0, norm_ord="fro") -> np.ndarray:
    """Largest relative change of an explanation under small perturbations (captum's ``sensitivity_max``).

    ``max_s ||phi(x + delta_s) - phi(x)|| / ||phi(x)||`` with ``delta_s`` drawn
    uniformly from the L-infinity ball of radius ``perturb_radius``.

    Args:
        explanation_func: ``f(X) -> values`` (an array or an :class:`Attribution`)
            for a batch, e.g. from :func:`explanation_func`.
        X: inputs ``(n, ...)`` (numeric DataFrame, array or tensor).
        perturb_radius: radius of the L-infinity ball.
        n_perturb_samples: perturbations per row.
        perturb_func: ``perturb_func(x, rng) -> x_perturbed`` (numpy batch) instead of the uniform ball.
        seed: seed of the perturbations.
        norm_ord: ``"fro"`` or an order accepted by ``numpy.linalg.norm`` for vectors.

    Returns:
        Float array ``(n,)``: lower is better (0 for an explanation that does not move).

    Examples::

        >>> max_sensitivity(explanation_func(linear_model, "saliency"), X).max()
        0.0
    """
    columns = list(X.columns) if isinstance(X, pd.DataFrame) else None
    if hasattr(X, "detach"):
        X = X.detach().cpu().numpy()
    x = np.asarray(X.to_numpy(dtype=np.float64) if columns is not None else X, dtype=np.float64)
    x = x[None] if x.ndim == 1 else x
    n, s = len(x), int(n_perturb_samples)
    if s < 1:
        raise ExplanationError("n_perturb_samples must be >= 1")
    rng = np.random.default_rng(seed)

    def call(rows):
        inp = pd.DataFrame(rows, columns=columns) if columns is not None else rows
        v = explanation_func(inp)
        v = getattr(v, "values", v)
        if hasattr(v, "detach"):
            v = v.detach().cpu().numpy()
        return np.asarray(v, dtype=np.float64).reshape(len(rows), -1)

    base = call(x)
    xrep = np.repeat(x, s, axis=0)
    if perturb_func is None:
        xp = xrep + rng.uniform(-perturb_radius, perturb_radius, size=xrep.shape)
    else:
        xp = np.asarray(perturb_func(xrep, rng), dtype=np.float64)
    pert = call(xp)
    ordv = None if norm_ord == "fro" else norm_ord
    num = np.linalg.norm(pert - np.repeat(base, s, axis=0), ord=ordv, axis=1).reshape(n, s)
    den = np.linalg.norm(base, ord=ordv, axis=1)
    den = np.where(den == 0, 1.0, den)
    return (num / den[:, None]).max(axis=1)


__all__ = ["max_sensitivity", "explanation_func"]
