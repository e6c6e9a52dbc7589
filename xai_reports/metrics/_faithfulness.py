"""Faithfulness metrics: deletion / insertion curves, infidelity.

* Deletion and insertion (Petsiuk et al. 2018, RISE, https://arxiv.org/abs/1806.07421):
  features (pixels for images) are removed from the input (deletion) or added
  to a baseline (insertion) in the order of their attribution; the area under
  the output curve is compared with the same curve for random orders. A
  faithful explanation gives a lower deletion AUC and a higher insertion AUC
  than random.
* Infidelity (Yeh et al. 2019, https://arxiv.org/abs/1901.09392), with captum's
  definition: ``E_I[(I . phi - (f(x) - f(x - I)))^2]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import ExplanationError


@dataclass
class CurveResult:
    """A deletion or insertion curve per row, with its random-order baseline.

    Attributes:
        kind: ``"deletion"`` or ``"insertion"``.
        fractions: ``(k,)`` share of features removed/inserted at each point.
        curves: ``(n, k)`` model output along the attribution order.
        auc: ``(n,)`` area under ``curves`` over ``fractions`` (trapezoid).
        random_curves: ``(n, k)`` mean output over ``n_random`` random orders.
        random_auc: ``(n,)`` mean AUC of the random orders.
        random_auc_std: ``(n,)`` standard deviation of the random AUCs.
        params: what was measured (steps, baseline, output space, seed).
    """

    kind: str
    fractions: np.ndarray
    curves: np.ndarray
    auc: np.ndarray
    random_curves: np.ndarray
    random_auc: np.ndarray
    random_auc_std: np.ndarray
    params: dict = field(default_factory=dict)

    @property
    def gain(self) -> np.ndarray:
        """How much better than random, per row: ``random_auc - auc`` for deletion, ``auc - random_auc`` for insertion."""
        return self.random_auc - self.auc if self.kind == "deletion" else self.auc - self.random_auc

    def summary(self) -> dict:
        """Means over rows, as documents print them."""
        return {"kind": self.kind, "auc": float(self.auc.mean()), "random_auc": float(self.random_auc.mean()),
                "gain": float(self.gain.mean()), "better_than_random": float((self.gain > 0).mean()),
                "rows": int(len(self.auc)), **self.params}


def _values(attributions):
    v = getattr(attributions, "values", attributions)
    if hasattr(v, "detach"):
        v = v.detach().cpu().numpy()
    return np.asarray(v, dtype=np.float64)


def _inputs(X):
    """``(array, columns or None)``: numeric inputs as float64."""
    if isinstance(X, pd.DataFrame):
        try:
            return X.to_numpy(dtype=np.float64), list(X.columns)
        except (TypeError, ValueError):
            raise ExplanationError("faithfulness metrics need numeric columns (encode categoricals first)") from None
    if hasattr(X, "detach"):
        X = X.detach().cpu().numpy()
    a = np.asarray(X, dtype=np.float64)
    return (a[None] if a.ndim == 1 else a), None


class _Scorer:
    """The explained output of rows of ``X`` (target selected), batched, for any model."""

    def __init__(self, model, x, target, output, columns, batch_size):
        from ..adapters import wrap_model

        self.adapter = wrap_model(model)
        self.space = output or self.adapter.output_space
        self.columns = columns
        self.batch_size = int(batch_size)
        self.target = None
        full = self.raw(x)
        if full.ndim == 2:
            n, k = full.shape
            if target is None:
                if not self.adapter.is_classifier:
                    raise ExplanationError(f"the model has {k} outputs; pass target=")
                self.target = full.argmax(axis=1)
            else:
                t = np.asarray(target, dtype=int)
                self.target = np.full(n, int(t)) if t.ndim == 0 else t
                if self.target.shape != (n,) or (self.target < 0).any() or (self.target >= k).any():
                    raise ExplanationError(f"target= must be an index below {k} (one int or one per row)")
        self.fx = self(x, np.arange(len(x)), full=full)

    def raw(self, rows):
        outs = []
        for i in range(0, len(rows), self.batch_size):
            chunk = rows[i:i + self.batch_size]
            if self.columns is not None:
                chunk = pd.DataFrame(chunk, columns=self.columns)
            outs.append(np.asarray(self.adapter.predict(chunk, output=self.space), dtype=np.float64))
        return np.concatenate(outs)

    def __call__(self, rows, which, full=None):
        out = self.raw(rows) if full is None else full
        if out.ndim == 1:
            return out
        return out[np.arange(len(out)), self.target[which]]


def _curve(model, X, attributions, kind, *, target, baselines, n_steps, n_random, seed, output, batch_size):
    x, columns = _inputs(X)
    n = len(x)
    a = _values(attributions)
    if a.shape[0] != n:
        raise ExplanationError(f"{a.shape[0]} attributions for {n} rows")
    image = x.ndim >= 3
    if image:
        # pixels: (n, C, H, W) inputs, scores summed over channels; a pixel is removed in all channels
        if a.ndim == x.ndim:
            score = a.sum(axis=1)
        elif a.ndim == x.ndim - 1:
            score = a
        else:
            raise ExplanationError(f"attributions of shape {a.shape} do not fit images of shape {x.shape}")
        if score.shape[1:] != x.shape[2:]:
            raise ExplanationError(f"attribution maps {score.shape[1:]} do not match images {x.shape[2:]}")
        score = score.reshape(n, -1)
    else:
        if a.shape != x.shape:
            raise ExplanationError(f"attributions of shape {a.shape} do not match inputs of shape {x.shape}")
        score = a
    d = score.shape[1]
    if baselines is None:
        base = np.zeros_like(x)
    else:
        b = _inputs(baselines)[0] if not np.isscalar(baselines) else np.asarray(baselines, dtype=np.float64)
        base = np.broadcast_to(b if b.shape != x.shape[1:] else b[None], x.shape).astype(np.float64) \
            if b.ndim == 0 or b.shape in (x.shape, x.shape[1:], (1,) + x.shape[1:]) else None
        if base is None and image and b.ndim == 1 and b.shape[0] == x.shape[1]:
            base = np.broadcast_to(b.reshape(1, -1, *([1] * (x.ndim - 2))), x.shape).astype(np.float64)
        if base is None:
            raise ExplanationError(f"baselines of shape {b.shape} do not match inputs of shape {x.shape}")
    k = int(min(d, n_steps)) if n_steps else d
    counts = np.unique(np.round(np.linspace(0, d, k + 1)).astype(int))
    fractions = counts / d
    scorer = _Scorer(model, x, target, output, columns, batch_size)
    space = scorer.space
    rng = np.random.default_rng(seed)

    def run(order):
        """Curves ``(n, len(counts))`` for per-row feature orders ``(n, d)``."""
        steps = len(counts)
        rank = np.empty_like(order)
        rank[np.arange(n)[:, None], order] = np.arange(d)[None, :]
        out = np.zeros((n, steps))
        rows_per = max(1, batch_size // steps)
        for i in range(0, n, rows_per):
            idx = np.arange(i, min(n, i + rows_per))
            on = rank[idx][:, None, :] < counts[None, :, None]          # (r, steps, d): changed features
            if image:
                on = on.reshape(len(idx), steps, 1, *x.shape[2:])
            else:
                on = on.reshape(len(idx), steps, *x.shape[1:])
            xi, bi = x[idx][:, None], base[idx][:, None]
            if kind == "deletion":
                rows = np.where(on, bi, xi)
            else:
                rows = np.where(on, xi, bi)
            rows = rows.reshape(len(idx) * steps, *x.shape[1:])
            out[idx] = scorer(rows, np.repeat(idx, steps)).reshape(len(idx), steps)
        return out

    order = np.argsort(-score, axis=1, kind="stable")
    curves = run(order)
    auc = np.trapezoid(curves, fractions, axis=1) if hasattr(np, "trapezoid") else np.trapz(curves, fractions, axis=1)
    rand_curves, rand_auc = [], []
    for _ in range(int(n_random)):
        perm = np.argsort(rng.random((n, d)), axis=1)
        c = run(perm)
        rand_curves.append(c)
        rand_auc.append(np.trapezoid(c, fractions, axis=1) if hasattr(np, "trapezoid") else np.trapz(c, fractions, axis=1))
    if rand_curves:
        rc, ra = np.mean(rand_curves, axis=0), np.asarray(rand_auc)
        ra_mean, ra_std = ra.mean(axis=0), ra.std(axis=0)
    else:
        rc, ra_mean, ra_std = np.full_like(curves, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    params = {"n_steps": int(len(counts) - 1), "n_random": int(n_random), "seed": int(seed), "output": space,
              "unit": "pixel" if image else "feature",
              "baselines": "zeros" if baselines is None else ("scalar" if np.isscalar(baselines) else "array")}
    return CurveResult(kind=kind, fractions=fractions, curves=curves, auc=auc, random_curves=rc,
                       random_auc=ra_mean, random_auc_std=ra_std, params=params)


def deletion(model, X, attributions, *, target=None, baselines=None, n_steps: int = 50, n_random: int = 5,
             seed: int = 0, output: str | None = None, batch_size: int = 4096) -> CurveResult:
    """Deletion curve: remove the most relevant features first; a faithful attribution drops the output fast.

    Args:
        model: a raw model or adapter.
        X: inputs ``(n, d)`` (numeric DataFrame or array) or images ``(n, C, H, W)``.
        attributions: :class:`Attribution` or array shaped like ``X``
            (images: also ``(n, H, W)`` maps; channels are summed).
        target: output index for multi-output models; default: predicted class.
        baselines: value a removed feature takes: ``None`` (zeros), a scalar,
            one row/image, one per row, or one value per channel.
        n_steps: points of the curve (at most the number of features/pixels).
        n_random: random orders averaged for the baseline curve.
        seed: seed of the random orders.
        output: output space measured (e.g. ``"probability"``); default the adapter's.
        batch_size: rows per model call.

    Returns:
        :class:`CurveResult` (``auc`` lower than ``random_auc`` is good).

    Examples::

        >>> res = deletion(cnn, images, explain(cnn, images, method="saliency"), output="probability")
        >>> res.summary()["better_than_random"]
        1.0
    """
    return _curve(model, X, attributions, "deletion", target=target, baselines=baselines, n_steps=n_steps,
                  n_random=n_random, seed=seed, output=output, batch_size=batch_size)


def insertion(model, X, attributions, *, target=None, baselines=None, n_steps: int = 50, n_random: int = 5,
              seed: int = 0, output: str | None = None, batch_size: int = 4096) -> CurveResult:
    """Insertion curve: add the most relevant features to the baseline first; a faithful attribution raises the output fast.

    Args and returns as for :func:`deletion` (``auc`` higher than ``random_auc`` is good).

    Examples::

        >>> insertion(mlp, X, explain(mlp, X, method="integrated_gradients")).summary()["gain"] > 0
        True
    """
    return _curve(model, X, attributions, "insertion", target=target, baselines=baselines, n_steps=n_steps,
                  n_random=n_random, seed=seed, output=output, batch_size=batch_size)


def infidelity(model, X, attributions, *, perturb_func=None, n_perturb_samples: int = 10,
               noise_scale: float = 0.1, target=None, normalize: bool = False, seed: int = 0,
               output: str | None = None, batch_size: int = 4096) -> np.ndarray:
    """Infidelity of attributions: ``E_I[(I . phi - (f(x) - f(x - I)))^2]`` (captum's definition).

    Args:
        model: a raw model or adapter.
        X: inputs ``(n, ...)`` (numeric DataFrame, array or tensor).
        attributions: :class:`Attribution` or array shaped like ``X``.
        perturb_func: ``perturb_func(x, rng) -> (I, x - I)`` for a batch ``x``
            (numpy); default Gaussian ``I`` with standard deviation
            ``noise_scale`` times each feature's standard deviation over ``X``
            (images: over all pixels).
        n_perturb_samples: perturbations per row.
        noise_scale: relative noise of the default perturbation.
        target: output index for multi-output models; default: predicted class.
        normalize: scale attributions by the ``beta`` minimising the
            infidelity first (captum's ``normalize=True``).
        seed: seed of the default perturbations.
        output: output space (default the adapter's).
        batch_size: rows per model call.

    Returns:
        Float array ``(n,)``: lower is better.

    Examples::

        >>> infidelity(linear_model, X, explain(linear_model, X, method="gradient_x_input")).max() < 1e-10
        True
    """
    x, columns = _inputs(X)
    n = len(x)
    a = _values(attributions)
    if a.shape != x.shape:
        raise ExplanationError(f"attributions of shape {a.shape} do not match inputs of shape {x.shape}")
    rng = np.random.default_rng(seed)
    if perturb_func is None:
        if x.ndim == 2:
            sd = x.std(axis=0) if n > 1 else np.abs(x[0])
            sd = np.where(sd > 0, sd, 1.0)
        else:
            sd = np.full(x.shape[1:], x.std() if x.std() > 0 else 1.0)
        scale = noise_scale * sd

        def perturb_func(xx, r):  # noqa: F811
            pert = r.standard_normal(xx.shape) * scale
            return pert, xx - pert
    scorer = _Scorer(model, x, target, output, columns, batch_size)
    fx = scorer.fx
    s = int(n_perturb_samples)
    xrep = np.repeat(x, s, axis=0)
    pert, xp = perturb_func(xrep, rng)
    pert, xp = np.asarray(pert, dtype=np.float64), np.asarray(xp, dtype=np.float64)
    which = np.repeat(np.arange(n), s)
    fp = scorer(xp, which)
    dot = (pert.reshape(n * s, -1) * np.repeat(a.reshape(n, -1), s, axis=0)).sum(axis=1).reshape(n, s)
    diff = (np.repeat(fx, s) - fp).reshape(n, s)
    if normalize:
        beta = (dot * diff).mean(axis=1) / np.where((dot * dot).mean(axis=1) > 0, (dot * dot).mean(axis=1), 1.0)
        dot = dot * beta[:, None]
    return ((dot - diff) ** 2).mean(axis=1)


__all__ = ["deletion", "insertion", "infidelity", "CurveResult"]
