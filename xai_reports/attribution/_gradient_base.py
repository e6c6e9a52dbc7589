"""The shared front matter of the gradient methods (:mod:`.gradients`, :mod:`.integrated_gradients`)."""

from __future__ import annotations

import numpy as np

from ._torch import TorchExplainer, auto_batch, to_numpy
from .base import Attribution


class _GradientMethod(TorchExplainer):
    """Shared ``attribute`` front matter of the gradient methods."""

    def _checked_gradient(self, X, target, output, internal_batch_size, device, *, combine, params):
        """One gradient pass, its finite-difference self-check, and ``combine(gradient, x)`` as values."""
        space = self._output_space(output)
        with self._on_device(device) as dev:
            prep = self._prepare(X, dev)
            batch = auto_batch(prep.numel, internal_batch_size)
            with self._fast_images(prep):
                g, fx, tgt = self._gradients(prep, target, space, batch)
                check = self._fd_check(prep, tgt, space, g)
            fx = to_numpy(fx)
            vals = to_numpy(combine(g, prep.x))
        return self._result(prep, vals, target=tgt, space=space, params=params, self_check=check, predictions=fx)

    def _fd_check(self, prep, target, space, grads, rows: int = 8, seed: int = 0) -> dict:
        """Sampled check of the gradient against central finite differences.

        For up to ``rows`` rows, compares ``grad . v`` with
        ``(f(x + h v) - f(x - h v)) / 2h`` along a random unit direction ``v``.
        A model with non-differentiable steps inside it (rounding, ``argmax``,
        ``detach``) fails this check.
        """
        import torch

        m = min(rows, prep.n)
        gen = torch.Generator().manual_seed(seed)
        v = torch.randn((m, *prep.feature_shape), generator=gen, dtype=torch.float64)
        v = v / v.reshape(m, -1).norm(dim=1).view(-1, *([1] * len(prep.feature_shape)))
        v = v.to(device=prep.x.device, dtype=prep.x.dtype)
        x = prep.x[:m]
        eps = 1e-3 if prep.dtype != torch.float64 else 1e-6
        scale = x.reshape(m, -1).abs().max(dim=1).values.clamp(min=1.0)
        h = (eps * scale).view(-1, *([1] * len(prep.feature_shape)))
        tt = None if target is None else target[:m]
        with torch.no_grad():
            fp = self._scalar(x + h * v, tt, space)
            fm = self._scalar(x - h * v, tt, space)
        fd = ((fp - fm) / (2 * h.reshape(m))).double()
        an = (grads[:m].to(prep.x.device).double() * v.double()).reshape(m, -1).sum(dim=1)
        err = (fd - an).abs()
        floor = (1e-3 if prep.dtype != torch.float64 else 1e-7) * (1.0 + fp.double().abs())
        tol = 1e-2 * an.abs() + floor
        per = err.cpu().numpy()
        return {"kind": "finite_difference", "max_abs_error": float(per.max()), "tolerance": 1e-2,
                "tolerance_kind": "relative, plus a float-precision floor",
                "passed": bool((err <= tol).all()), "per_row": None, "rows_checked": m,
                "note": "directional derivative along a random unit direction vs central differences"}

    def _gradients(self, prep, target, space, batch):
        """``(gradients, explained outputs, targets)`` of every row, chunked; with ``target=None`` on a
        multi-output model each row's predicted class (found in the same forward pass)."""
        import torch

        k = self._n_outputs(prep, space)
        target = self._check_target(prep, target, k)
        gs, ss, ts = [], [], []
        for i in range(0, prep.n, batch):
            tt = None if target is None else target[i:i + batch]
            g, s, t = self._grad_auto(prep.x[i:i + batch], tt, space, k)
            gs.append(g)
            ss.append(s)
            ts.append(t)
        tgt = None if ts[0] is None else torch.cat(ts)
        return torch.cat(gs), torch.cat(ss), tgt

    def _result(self, prep, values, *, target, space, params, self_check, predictions=None,
                base_values=None, extras=None):
        tgt, tex = self._target_record(target)
        n = prep.n
        return Attribution(
            values=values, base_values=np.zeros(n) if base_values is None else base_values,
            feature_names=prep.feature_names, method=self.name, output=space,
            predictions=predictions, target=tgt,
            params={"device": prep.device, **params}, self_check=self_check,
            extras={"input_kind": prep.kind, **tex, **(extras or {})})


def describe(value):
    """A JSON-friendly description of an option value (baselines, stdevs)."""
    if value is None or isinstance(value, (int, float, str)):
        return value
    shape = getattr(value, "shape", None)
    return f"array{tuple(shape)}" if shape is not None else type(value).__name__


__all__ = ["_GradientMethod", "describe"]
