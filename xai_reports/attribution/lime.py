"""LIME: a weighted linear surrogate fitted on perturbations around each row.

Ribeiro et al. 2016 (https://arxiv.org/abs/1602.04938). The interpretable
features are "present / replaced": each perturbation keeps a random subset of
the features (image superpixels) and replaces the others by a reference value
(the background mean, the mode for categorical columns, or ``baselines``; for
images a constant or the image's mean colour). Samples are weighted by the
exponential kernel ``exp(-D^2 / kernel_width^2)`` of their Euclidean distance
``D`` to the unperturbed row in that binary space, and a weighted ridge
regression gives the attributions (its coefficients) and ``base_values`` (its
intercept). Each interpretable feature is kept with probability 1/2; the same
seed gives the same answer; the perturbations are seeded from ``seed`` and the
row's content, so a row gets the same answer wherever it sits in ``X``.

Works with any model family for tabular data; images need an image model (a
torch module) and use SLIC superpixels from scikit-image.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import ExplanationError
from .base import Attribution, Explainer


def _masks(rng, n_samples: int, d: int) -> np.ndarray:
    """``(n_samples, d)`` binary masks: row 0 keeps everything; the others keep each feature
    independently with probability 1/2 (captum's default perturbation)."""
    z = (rng.random((n_samples, d)) < 0.5).astype(np.float64)
    z[0] = 1.0
    return z


def weighted_ridge(Z, y, w, alpha):
    """Coefficients, intercept and weighted R^2 of ``y ~ Z`` (ridge penalty ``alpha`` on the coefficients).

    Args:
        Z: ``(s, d)`` design (binary masks); y: ``(s,)`` targets; w: ``(s,)`` sample weights.
        alpha: ridge penalty (``0``: weighted least squares).

    Returns:
        ``(coef (d,), intercept, r2, fitted (s,))``.

    Examples::

        >>> Z = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
        >>> coef, b, r2, _ = weighted_ridge(Z, Z @ [2.0, 3.0] + 1.0, np.ones(4), 0.0)
        >>> np.round(coef, 6).tolist(), round(b, 6), round(r2, 6)
        ([2.0, 3.0], 1.0, 1.0)
    """
    sw = np.sqrt(w)
    A = np.hstack([Z, np.ones((len(Z), 1))]) * sw[:, None]
    b = y * sw
    P = np.eye(Z.shape[1] + 1) * alpha
    P[-1, -1] = 0.0
    sol = np.linalg.solve(A.T @ A + P, A.T @ b) if alpha > 0 else np.linalg.lstsq(A, b, rcond=None)[0]
    coef, intercept = sol[:-1], sol[-1]
    pred = Z @ coef + intercept
    ybar = np.average(y, weights=w)
    ss_tot = np.sum(w * (y - ybar) ** 2)
    ss_res = np.sum(w * (y - pred) ** 2)
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0
    return coef, intercept, r2, pred


class Lime(Explainer):
    """LIME for tabular rows (any model) and images (superpixels, torch models), seeded.

    Examples::

        >>> a = Lime(xgb_model).attribute(X, background=X_ref, n_samples=1000, seed=0)
        >>> a.params["n_samples"], round(a.params["kernel_width"], 3)
        (1000, 2.487)
        >>> (a.values == Lime(xgb_model).attribute(X, background=X_ref, seed=0).values).all()
        True
    """

    name = "lime"
    seed_param = "seed"

    def __init__(self, model, *, n_samples: int = 1000, kernel_width: float | None = None, seed: int = 0,
                 baselines=None, alpha: float = 1e-3, target=None, output: str | None = None,
                 n_segments: int = 50, compactness: float = 10.0, batch_size: int = 8192,
                 progress: bool = False, device: str = "auto"):
        """Store the model and the options (as :meth:`_explain` documents them); no work is done here."""
        self.model = model
        self.n_samples = n_samples
        self.kernel_width = kernel_width
        self.seed = seed
        self.baselines = baselines
        self.alpha = alpha
        self.target = target
        self.output = output
        self.n_segments = n_segments
        self.compactness = compactness
        self.batch_size = batch_size
        self.progress = progress
        self.device = device

    def _explain(self, X, *, n_samples: int = 1000, kernel_width: float | None = None, seed: int = 0,
                  background=None, baselines=None, alpha: float = 1e-3, target=None, output: str | None = None,
                  n_segments: int = 50, compactness: float = 10.0, batch_size: int = 8192,
                  progress: bool = False, device: str = "auto") -> Attribution:
        """Fit one local surrogate per row of ``X``.

        Args:
            X: tabular ``(n, d)`` DataFrame/array, or images ``(n, C, H, W)``.
            n_samples: perturbations per row (the unperturbed row included).
            kernel_width: width of the exponential kernel; default
                ``0.75 * sqrt(m)`` for ``m`` interpretable features (LIME's default).
            seed: seed of the perturbations.
            background: tabular: reference rows whose mean (mode for
                categorical columns) replaces a removed feature.
            baselines: replacement value when no background is given: a
                scalar, one value per feature; images: a scalar, or ``None``
                for each superpixel's mean colour.
            alpha: ridge penalty of the surrogate.
            target: output index for multi-output models; default: predicted class.
            output: output space explained (default the adapter's).
            n_segments, compactness: SLIC superpixel options (images).
            batch_size: perturbed inputs per model call.
            progress: show a progress bar (rows done).
            device: ``"auto"``, ``"cpu"`` or ``"cuda"`` (torch models).

        Returns:
            :class:`Attribution`: tabular ``values (n, d)``, images ``(n, H, W)``
            (each pixel carries its superpixel's coefficient; the superpixel
            labels are in ``extras["segments"]``). ``params`` state
            ``n_samples``, ``kernel_width``, ``seed``, ``alpha``; ``self_check``
            (kind ``"surrogate_fit"``) gives the weighted R^2 of each surrogate
            and ``per_row`` the gap between the surrogate and the model at the row.
        """
        if int(n_samples) < 2:
            raise ExplanationError(f"n_samples must be >= 2, got {n_samples}")
        self._progress = progress
        space = output or self.model_.output_space
        is_image = not isinstance(X, pd.DataFrame) and np.ndim(X) >= 3
        if is_image:
            from ._torch import on_device

            with on_device(self.model_, device):
                    return self._images(X, n_samples=int(n_samples), kernel_width=kernel_width, seed=int(seed),
                                    baselines=baselines, alpha=alpha, target=target, space=space,
                                    n_segments=n_segments, compactness=compactness, batch_size=batch_size)
        return self._tabular(X, n_samples=int(n_samples), kernel_width=kernel_width, seed=int(seed),
                             background=background, baselines=baselines, alpha=alpha, target=target,
                             space=space, batch_size=batch_size)

    # -- shared -----------------------------------------------------------------------
    def _fit_rows(self, n, d, n_samples, kernel_width, seed, alpha, evaluate, keys):
        """For each row: masks, model outputs (``evaluate(row_indices, masks) -> (r * s,)``), surrogate fit."""
        width = float(kernel_width) if kernel_width is not None else 0.75 * np.sqrt(d)
        if width <= 0:
            raise ExplanationError(f"kernel_width must be > 0, got {kernel_width}")
        coef = np.zeros((n, d))
        intercept, r2, gap = np.zeros(n), np.zeros(n), np.zeros(n)
        from .shapley import _progress

        rows_per = max(1, self._batch // n_samples)
        bar = _progress(getattr(self, "_progress", False), n, "LIME")
        try:
            self._fit_chunks(n, d, n_samples, seed, alpha, evaluate, keys, width, rows_per, bar,
                             coef, intercept, r2, gap)
        finally:
            if bar is not None:
                bar.stop()
        return coef, intercept, r2, gap, width

    @staticmethod
    def _fit_chunks(n, d, n_samples, seed, alpha, evaluate, keys, width, rows_per, bar, coef, intercept, r2, gap):
        for i in range(0, n, rows_per):
            idx = list(range(i, min(n, i + rows_per)))
            masks = [_masks(np.random.default_rng([seed, int(keys[r])]), n_samples, d) for r in idx]
            y = evaluate(idx, masks).reshape(len(idx), n_samples)
            for q, r in enumerate(idx):
                Z = masks[q]
                dist = np.sqrt(((1.0 - Z) ** 2).sum(axis=1))
                w = np.exp(-(dist ** 2) / width ** 2)
                coef[r], intercept[r], r2[r], pred = weighted_ridge(Z, y[q], w, alpha)
                gap[r] = abs(pred[0] - y[q, 0])
            if bar is not None:
                bar.advance(len(idx))

    def _check(self, r2, gap):
        return {"kind": "surrogate_fit", "max_abs_error": float(gap.max()), "tolerance": None, "passed": None,
                "per_row": gap, "r2": r2, "min_r2": float(r2.min()),
                "note": "weighted R^2 of each local surrogate; per_row: |surrogate(x) - f(x)|"}

    # -- tabular ------------------------------------------------------------------------
    def _tabular(self, X, *, n_samples, kernel_width, seed, background, baselines, alpha, target, space,
                 batch_size):
        from ._torch import model_fn, row_keys
        from .occlusion import _pick_target, _replacement, _tabular_rows, assign

        frame, names, X, cols = _tabular_rows(self, X, "lime")
        n, d = len(X), len(cols)
        repl = _replacement(X, cols, baselines, background, self.model_.feature_names)
        f = model_fn(self.model_, output=space, batch_size=batch_size)
        self._batch = int(batch_size)
        fx = f(X)
        tgt = _pick_target(fx, target, self.model_)

        def evaluate(idx, masks):
            M = np.concatenate(masks)
            rows = np.repeat(np.asarray(idx), n_samples)
            if frame:
                block = X.iloc[rows].reset_index(drop=True)
                for j, c in enumerate(cols):
                    assign(block, M[:, j] == 0, c, repl[j])
            else:
                block = X[rows].copy()
                R = np.broadcast_to(np.asarray(repl, dtype=np.float64), block.shape)
                block = np.where(M == 0, R, block)
            out = f(block)
            return out if out.ndim == 1 else out[np.arange(len(out)), tgt[rows]]

        coef, intercept, r2, gap, width = self._fit_rows(n, d, n_samples, kernel_width, seed, alpha, evaluate,
                                                         row_keys(X))
        fx_s = fx if fx.ndim == 1 else fx[np.arange(n), tgt]
        t = None if tgt is None else (int(tgt[0]) if (tgt == tgt[0]).all() else None)
        return Attribution(
            values=coef, base_values=intercept, feature_names=names, method=self.name, output=space,
            predictions=fx_s, target=t,
            params={"n_samples": n_samples, "kernel_width": width, "kernel": "exponential", "seed": seed,
                    "alpha": float(alpha),
                    "replacement": "background mean" if background is not None else "baselines"},
            self_check=self._check(r2, gap),
            extras={"input_kind": "tabular", "replacement_values": [r.item() if hasattr(r, "item") else r
                                                                    for r in repl],
                    **({} if t is not None or tgt is None else {"target_per_row": tgt.tolist()})})

    # -- images -------------------------------------------------------------------------
    def _images(self, X, *, n_samples, kernel_width, seed, baselines, alpha, target, space, n_segments,
                compactness, batch_size):
        try:
            from skimage.segmentation import slic
        except ImportError:
            raise ExplanationError("image LIME needs scikit-image for superpixels: "
                                   "pip install 'xai-reports[images]'") from None

        from ._torch import row_keys

        from .occlusion import _pick_target

        if hasattr(X, "detach"):
            X = X.detach().cpu().numpy()
        x = np.asarray(X, dtype=np.float64)
        if x.ndim != 4:
            raise ExplanationError(f"image LIME needs (n, C, H, W) images, got shape {x.shape}")
        n, C, H, W = x.shape
        self._batch = int(batch_size)

        def f(batch):
            outs = []
            for i in range(0, len(batch), batch_size):
                outs.append(np.asarray(self.model_.predict(batch[i:i + batch_size], output=space), dtype=np.float64))
            return np.concatenate(outs)

        fx = f(x)
        tgt = _pick_target(fx, target, self.model_)
        segs = []
        for i in range(n):
            img = np.moveaxis(x[i], 0, -1)
            lo, hi = img.min(), img.max()
            norm = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
            seg = slic(norm if C in (1, 3) else norm[..., :3], n_segments=n_segments, compactness=compactness,
                       start_label=0, channel_axis=-1)
            segs.append(seg.astype(np.int64))
        nseg = [int(s.max()) + 1 for s in segs]
        d = max(nseg)
        fills = []
        for i in range(n):
            if baselines is None:
                fill = np.zeros_like(x[i])
                for k in range(nseg[i]):
                    m = segs[i] == k
                    fill[:, m] = x[i][:, m].mean(axis=1, keepdims=True)
            else:
                fill = np.broadcast_to(np.asarray(baselines, dtype=np.float64), x[i].shape)
            fills.append(fill)
        # rows with fewer segments than d: the extra interpretable features do nothing (coefficient 0)
        values = np.zeros((n, H, W))
        coefs = np.zeros((n, d))

        def evaluate(idx, masks):
            outs = []
            for q, r in enumerate(idx):
                M = masks[q][:, : nseg[r]]
                keep = M[:, segs[r]]                       # (s, H, W)
                imgs = np.where(keep[:, None] > 0, x[r][None], fills[r][None])
                out = f(imgs)
                outs.append(out if out.ndim == 1 else out[:, tgt[r]])
            return np.concatenate(outs)

        coef, intercept, r2, gap, width = self._fit_rows(n, d, n_samples, kernel_width, seed, alpha, evaluate,
                                                         row_keys(x))
        for i in range(n):
            coef[i, nseg[i]:] = 0.0
            coefs[i] = coef[i]
            values[i] = coef[i][segs[i]]
        fx_s = fx if fx.ndim == 1 else fx[np.arange(n), tgt]
        t = None if tgt is None else (int(tgt[0]) if (tgt == tgt[0]).all() else None)
        return Attribution(
            values=values, base_values=intercept, feature_names=None, method=self.name, output=space,
            predictions=fx_s, target=t,
            params={"n_samples": n_samples, "kernel_width": width, "kernel": "exponential", "seed": seed,
                    "alpha": float(alpha), "superpixels": "slic", "n_segments": int(n_segments),
                    "compactness": float(compactness),
                    "replacement": "superpixel mean colour" if baselines is None else "baselines"},
            self_check=self._check(r2, gap),
            extras={"input_kind": "image", "segments": np.stack(segs), "segment_weights": coefs,
                    **({} if t is not None or tgt is None else {"target_per_row": tgt.tolist()})})


__all__ = ["Lime", "weighted_ridge"]
