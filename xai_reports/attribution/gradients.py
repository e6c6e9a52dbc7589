"""Gradient attributions for torch models: saliency, SmoothGrad, gradient x input.

All three work on tabular inputs (``(n, d)``: DataFrame, array or tensor; values
``(n, d)`` with ``feature_names``) and on images or any other tensor
(``(n, C, H, W)``; values of the same shape). Options follow captum's names:
``target=``, ``internal_batch_size=``. Integrated gradients: :mod:`.integrated_gradients`.

* Saliency (Simonyan et al. 2013, https://arxiv.org/abs/1312.6034).
* SmoothGrad (Smilkov et al. 2017, https://arxiv.org/abs/1706.03825), seeded.
* Gradient x input (Shrikumar et al. 2016, https://arxiv.org/abs/1605.01713).
"""

from __future__ import annotations

import contextlib

import numpy as np

from ..errors import ExplanationError
from ._gradient_base import _GradientMethod, describe
from ._torch import auto_batch, row_keys, to_numpy
from .base import Attribution


class Saliency(_GradientMethod):
    """Saliency: the gradient of the explained output (its absolute value by default).

    Examples::

        >>> Saliency(cnn).attribute(images, target=3).values.shape
        (8, 3, 32, 32)
    """

    name = "saliency"

    def __init__(self, model, *, target=None, abs: bool = True, output: str | None = None,
                 internal_batch_size: int | None = None, device: str = "auto"):
        """Store the model and the options (as :meth:`_explain` documents them); no work is done here."""
        self.model = model
        self.target = target
        self.abs = abs
        self.output = output
        self.internal_batch_size = internal_batch_size
        self.device = device

    def _explain(self, X, *, target=None, abs: bool = True, output: str | None = None,
                  internal_batch_size: int | None = None, device: str = "auto") -> Attribution:
        """Gradient of the output with respect to each input element.

        Args:
            X: ``(n, d)`` tabular or ``(n, C, H, W)`` images.
            target: output index (int or one per row); default: predicted class.
            abs: return ``|gradient|`` (captum's default) or the signed gradient.
            output: space explained (default: the adapter's).
            internal_batch_size: rows per forward/backward pass.
            device: ``"auto"``, ``"cpu"`` or ``"cuda"``.

        Returns:
            :class:`Attribution` with ``values`` shaped like ``X``; ``self_check``
            compares the gradient with finite differences on a few rows.
        """
        return self._checked_gradient(X, target, output, internal_batch_size, device,
                                      combine=lambda g, x: g.abs() if abs else g, params={"abs": bool(abs)})


class GradientXInput(_GradientMethod):
    """Gradient times input, ``x * df/dx`` (exact attributions for linear models without bias).

    Examples::

        >>> GradientXInput(mlp).attribute(X).values.shape
        (100, 13)
    """

    name = "gradient_x_input"

    def __init__(self, model, *, target=None, output: str | None = None,
                 internal_batch_size: int | None = None, device: str = "auto"):
        """Store the model and the options (as :meth:`_explain` documents them); no work is done here."""
        self.model = model
        self.target = target
        self.output = output
        self.internal_batch_size = internal_batch_size
        self.device = device

    def _explain(self, X, *, target=None, output: str | None = None,
                  internal_batch_size: int | None = None, device: str = "auto") -> Attribution:
        """``X * gradient`` per input element.

        Args:
            X: ``(n, d)`` tabular or ``(n, C, H, W)`` images.
            target: output index (int or one per row); default: predicted class.
            output: space explained (default: the adapter's).
            internal_batch_size: rows per forward/backward pass.
            device: ``"auto"``, ``"cpu"`` or ``"cuda"``.

        Returns:
            :class:`Attribution` with ``values`` shaped like ``X``; ``self_check``
            compares the gradient with finite differences on a few rows.
        """
        return self._checked_gradient(X, target, output, internal_batch_size, device,
                                      combine=lambda g, x: g * x, params={})


class SmoothGrad(_GradientMethod):
    """SmoothGrad: the gradient averaged over Gaussian-noised copies of the input (seeded).

    The noise is drawn on the CPU from ``seed`` and each row's content, so CPU
    and CUDA runs see the same noise, the same seed gives the same answer, and a
    row gets the same answer wherever it is in the batch.

    Examples::

        >>> a = SmoothGrad(cnn).attribute(images, nt_samples=25, seed=0)
        >>> b = SmoothGrad(cnn).attribute(images, nt_samples=25, seed=0)
        >>> (a.values == b.values).all()
        True
    """

    name = "smoothgrad"
    seed_param = "seed"

    def __init__(self, model, *, target=None, nt_samples: int = 25, stdevs=None, noise_level: float = 0.15,
                 abs: bool = False, multiply_by_inputs: bool = False, seed: int = 0, output: str | None = None,
                 internal_batch_size: int | None = None, device: str = "auto"):
        """Store the model and the options (as :meth:`_explain` documents them); no work is done here."""
        self.model = model
        self.target = target
        self.nt_samples = nt_samples
        self.stdevs = stdevs
        self.noise_level = noise_level
        self.abs = abs
        self.multiply_by_inputs = multiply_by_inputs
        self.seed = seed
        self.output = output
        self.internal_batch_size = internal_batch_size
        self.device = device

    def _explain(self, X, *, target=None, nt_samples: int = 25, stdevs=None, noise_level: float = 0.15,
                  abs: bool = False, multiply_by_inputs: bool = False, seed: int = 0,
                  output: str | None = None, internal_batch_size: int | None = None,
                  device: str = "auto") -> Attribution:
        """Average gradient over ``nt_samples`` noisy copies of each row.

        Args:
            X: ``(n, d)`` tabular or ``(n, C, H, W)`` images.
            target: output index (int or one per row); default: predicted class
                of the clean input.
            nt_samples: noisy copies per row.
            stdevs: noise standard deviation (captum's name): a float, or one
                per feature/element; default ``noise_level * (max(x) - min(x))``
                per row, as in the paper.
            noise_level: relative noise used when ``stdevs`` is ``None``.
            abs: average ``|gradient|`` instead of the gradient.
            multiply_by_inputs: multiply the average by ``X`` (SmoothGrad x input).
            seed: seed of the noise.
            output, internal_batch_size, device: as for :class:`Saliency`.

        Returns:
            :class:`Attribution`; ``self_check`` of kind ``"monte_carlo"``
            reports the largest standard error of the mean relative to the
            largest ``|value|`` of its row.
        """
        import torch

        if int(nt_samples) < 1:
            raise ExplanationError(f"nt_samples must be >= 1, got {nt_samples}")
        space = self._output_space(output)
        with self._on_device(device) as dev, contextlib.ExitStack() as stack:
            prep = self._prepare(X, dev)
            batch = auto_batch(prep.numel, internal_batch_size)
            tgt = self._resolve_target(prep, target, space, batch)
            nd = len(prep.feature_shape)
            if stdevs is None:
                flat = prep.x.reshape(prep.n, -1)
                sd = (noise_level * (flat.max(dim=1).values - flat.min(dim=1).values)).view(-1, *([1] * nd))
            else:
                sd = self._like(stdevs, prep, what="stdevs")
            stack.enter_context(self._fast_images(prep))
            gen = torch.Generator()
            keys = row_keys(prep.x)
            s = int(nt_samples)
            rows = max(1, batch // s)
            mean = torch.empty_like(prep.x, dtype=torch.float64)
            sem = torch.empty(prep.n, dtype=torch.float64)
            for i in range(0, prep.n, rows):
                xb = prep.x[i:i + rows]
                r = xb.shape[0]
                # one generator per row, seeded from seed and the row's content: a row gets the
                # same noise wherever it is and whatever batch it is in, on CPU and CUDA alike
                noise = torch.stack([
                    torch.randn((s, *prep.feature_shape), dtype=torch.float64,
                                generator=gen.manual_seed((int(seed) * 0x9E3779B1 + int(keys[i + q])) % (1 << 63)))
                    for q in range(r)], dim=1)
                noise = noise.to(device=xb.device, dtype=xb.dtype)
                sdb = sd[i:i + rows] if sd.shape[0] == prep.n else sd
                pts = (xb.unsqueeze(0) + noise * sdb.unsqueeze(0)).reshape(s * r, *prep.feature_shape)
                tt = None if tgt is None else tgt[i:i + rows].repeat(s)
                gs = []
                for j in range(0, pts.shape[0], batch):
                    g, _ = self._grad(pts[j:j + batch], None if tt is None else tt[j:j + batch], space)
                    gs.append(g)
                g = torch.cat(gs).view(s, r, *prep.feature_shape).double()
                if abs:
                    g = g.abs()
                m = g.mean(dim=0)
                se = g.std(dim=0, unbiased=True) / np.sqrt(s) if s > 1 else torch.zeros_like(m)
                scale = m.reshape(r, -1).abs().max(dim=1).values.clamp(min=1e-12)
                sem[i:i + r] = (se.reshape(r, -1).max(dim=1).values / scale).cpu()
                mean[i:i + r] = m
            if multiply_by_inputs:
                mean = mean * prep.x.double()
            vals = mean.cpu().numpy()
            fx = to_numpy(self._predict(prep, tgt, space, batch))
        sem_np = sem.numpy()
        check = {"kind": "monte_carlo", "max_abs_error": float(sem_np.max()), "tolerance": 0.1,
                 "tolerance_kind": "standard error of the mean relative to the row's largest |value|",
                 "passed": bool((sem_np <= 0.1).all()), "per_row": sem_np}
        params = {"nt_samples": s, "stdevs": describe(stdevs), "noise_level": float(noise_level),
                  "abs": bool(abs), "multiply_by_inputs": bool(multiply_by_inputs), "seed": int(seed)}
        return self._result(prep, vals, target=tgt, space=space, params=params, self_check=check, predictions=fx)


__all__ = ["Saliency", "SmoothGrad", "GradientXInput"]
