"""Gradient attributions for torch models: integrated gradients, saliency, SmoothGrad, gradient x input.

All four work on tabular inputs (``(n, d)``: DataFrame, array or tensor; values
``(n, d)`` with ``feature_names``) and on images or any other tensor
(``(n, C, H, W)``; values of the same shape). Options follow captum's names:
``target=``, ``baselines=``, ``n_steps=``, ``method=``, ``internal_batch_size=``.

* Integrated gradients (Sundararajan et al. 2017, https://arxiv.org/abs/1703.01365)
  with Gauss-Legendre or Riemann quadrature, completeness error reported, and
  ``n_steps="auto"``: steps chosen per row until the relative completeness error
  is at most ``rtol``.
* Saliency (Simonyan et al. 2013, https://arxiv.org/abs/1312.6034).
* SmoothGrad (Smilkov et al. 2017, https://arxiv.org/abs/1706.03825), seeded.
* Gradient x input (Shrikumar et al. 2016, https://arxiv.org/abs/1605.01713).
"""

from __future__ import annotations

import numpy as np

from ..errors import ExplanationError
from ._torch import TorchExplainer, auto_batch, row_keys, to_numpy
from .base import Attribution

QUADRATURES = ("gausslegendre", "riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid")
#: Gauss-Legendre step counts tried in turn by ``n_steps="auto"`` (each row stops at the first that converges)
AUTO_SCHEDULE = (8, 16, 32, 64, 128, 256, 512, 1024)


def quadrature(n_steps: int, method: str = "gausslegendre") -> tuple[np.ndarray, np.ndarray]:
    """Nodes ``alphas`` in ``[0, 1]`` and ``weights`` (summing to 1) of a rule with ``n_steps`` points.

    Args:
        n_steps: number of points.
        method: one of :data:`QUADRATURES` (the names captum uses).

    Returns:
        ``(alphas, weights)``, each of shape ``(n_steps,)``.

    Examples::

        >>> a, w = quadrature(2)
        >>> np.round(a, 4).tolist(), w.tolist()
        ([0.2113, 0.7887], [0.5, 0.5])
    """
    n = int(n_steps)
    if n < 1:
        raise ExplanationError(f"n_steps must be >= 1, got {n_steps}")
    if method == "gausslegendre":
        t, w = np.polynomial.legendre.leggauss(n)
        return 0.5 * (t + 1.0), 0.5 * w
    if method == "riemann_left":
        return np.arange(n) / n, np.full(n, 1.0 / n)
    if method == "riemann_right":
        return np.arange(1, n + 1) / n, np.full(n, 1.0 / n)
    if method == "riemann_middle":
        return (np.arange(n) + 0.5) / n, np.full(n, 1.0 / n)
    if method == "riemann_trapezoid":
        if n < 2:
            raise ExplanationError("riemann_trapezoid needs n_steps >= 2")
        w = np.full(n, 1.0 / (n - 1))
        w[0] = w[-1] = 0.5 / (n - 1)
        return np.linspace(0.0, 1.0, n), w
    raise ExplanationError(f"unknown quadrature {method!r}; expected one of {', '.join(QUADRATURES)}")


class _GradientMethod(TorchExplainer):
    """Shared ``attribute`` front matter of the gradient methods."""

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
        """Plain gradients of every row, chunked."""
        import torch

        gs = []
        for i in range(0, prep.n, batch):
            tt = None if target is None else target[i:i + batch]
            g, _ = self._grad(prep.x[i:i + batch], tt, space)
            gs.append(g)
        return torch.cat(gs)

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


class IntegratedGradients(_GradientMethod):
    """Integrated gradients: ``(x - x') * integral_0^1 grad f(x' + a (x - x')) da``.

    Completeness (``values.sum() == f(x) - f(baseline)``) is the method's own
    check; its error is reported in ``self_check`` per row, absolute and
    relative to ``|f(x) - f(baseline)|``.

    Examples::

        >>> attr = IntegratedGradients(mlp).attribute(X, n_steps="auto")
        >>> attr.self_check["max_rel_error"] <= 1e-3, attr.extras["steps_used"][:3]
        (True, [16, 32, 16])
    """

    name = "integrated_gradients"
    additive = True

    def attribute(self, X, *, baselines=None, target=None, n_steps=50, method: str = "gausslegendre",
                  rtol: float = 1e-3, max_steps: int = 1024, output: str | None = None,
                  internal_batch_size: int | None = None, device: str = "auto") -> Attribution:
        """Attribute the output of each row of ``X`` along the straight path from ``baselines``.

        Args:
            X: ``(n, d)`` DataFrame/array/tensor, or ``(n, C, H, W)`` images.
            baselines: ``None`` (zeros), a scalar, one example (``X``'s shape
                without the batch axis) or one per row.
            target: output index for multi-output models (an int or one per
                row); default: the predicted class of a classifier.
            n_steps: points of the quadrature rule, or ``"auto"``: per row, the
                Gauss-Legendre rules of :data:`AUTO_SCHEDULE` in turn (up to
                ``max_steps``) until the relative completeness error is at most
                ``rtol``.
            method: quadrature, one of :data:`QUADRATURES` (``n_steps="auto"``
                always uses Gauss-Legendre).
            rtol: the relative completeness error the self-check accepts.
            max_steps: the largest rule ``n_steps="auto"`` tries.
            output: space explained (default: the adapter's, e.g. ``"logit"``;
                ``"probability"`` applies sigmoid/softmax).
            internal_batch_size: interpolated points per forward/backward pass
                (default: bounded by input size).
            device: ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``.

        Returns:
            :class:`Attribution`: ``values`` shaped like ``X``,
            ``base_values = f(baselines)``, ``predictions = f(X)``;
            ``self_check`` of kind ``"completeness"`` (``per_row`` absolute,
            ``per_row_rel`` relative errors); ``extras["steps_used"]`` per row.
        """
        import torch

        auto = isinstance(n_steps, str)
        if auto and n_steps != "auto":
            raise ExplanationError(f"n_steps must be an int or 'auto', got {n_steps!r}")
        if not auto and int(n_steps) < 1:
            raise ExplanationError(f"n_steps must be >= 1, got {n_steps}")
        if method not in QUADRATURES:
            raise ExplanationError(f"unknown quadrature {method!r}; expected one of {', '.join(QUADRATURES)}")
        space = self._output_space(output)
        with self._on_device(device) as dev:
            prep = self._prepare(X, dev)
            base = self._like(baselines, prep)
            batch = auto_batch(prep.numel, internal_batch_size)
            tgt = self._resolve_target(prep, target, space, batch)
            fx = self._predict(prep, tgt, space, batch)
            fb = self._predict(prep, tgt, space, batch, x=base)
            delta = (fx - fb).double()
            floor = 1e-6 * torch.maximum(fx.double().abs(), fb.double().abs()).clamp(min=1.0)
            denom = torch.maximum(delta.abs(), floor)
            if not auto:
                alphas, weights = quadrature(int(n_steps), method)
                values = self._integrate(prep.x, base, tgt, space, alphas, weights, batch)
                steps = np.full(prep.n, int(n_steps))
                err = (values.reshape(prep.n, -1).double().sum(dim=1) - delta).abs()
            else:
                schedule = [s for s in AUTO_SCHEDULE if s <= max_steps] or [int(max_steps)]
                values = torch.zeros_like(prep.x)
                err = torch.full((prep.n,), float("inf"), dtype=torch.float64, device=prep.x.device)
                steps = np.zeros(prep.n, dtype=int)
                todo = torch.arange(prep.n, device=prep.x.device)
                for s in schedule:
                    alphas, weights = quadrature(s, "gausslegendre")
                    t_sub = None if tgt is None else tgt[todo]
                    v = self._integrate(prep.x[todo], base[todo], t_sub, space, alphas, weights, batch)
                    e = (v.reshape(len(todo), -1).double().sum(dim=1) - delta[todo]).abs()
                    better = e < err[todo]
                    idx = todo[better]
                    values[idx] = v[better]
                    err[idx] = e[better]
                    steps[todo.cpu().numpy()] = s
                    todo = todo[(e / denom[todo]) > rtol]
                    if len(todo) == 0:
                        break
            rel = (err / denom).cpu().numpy()
            abs_err = err.cpu().numpy()
            out_vals = to_numpy(values)
            fx_np, fb_np = to_numpy(fx), to_numpy(fb)
        check = {"kind": "completeness", "max_abs_error": float(abs_err.max()),
                 "max_rel_error": float(rel.max()), "tolerance": float(rtol),
                 "tolerance_kind": "relative to |f(x) - f(baseline)|",
                 "passed": bool((rel <= rtol).all()), "per_row": abs_err, "per_row_rel": rel}
        params = {"n_steps": n_steps if auto else int(n_steps),
                  "method": "gausslegendre" if auto else method, "baselines": _describe(baselines),
                  "rtol": float(rtol)}
        if auto:
            params["max_steps"] = int(max_steps)
        extras = {"steps_used": steps.tolist(), "mean_steps": float(steps.mean())}
        return self._result(prep, out_vals, target=tgt, space=space, params=params, self_check=check,
                            predictions=fx_np, base_values=fb_np, extras=extras)

    def _integrate(self, x, base, target, space, alphas, weights, batch):
        """``(x - base) * sum_k w_k grad f(base + a_k (x - base))``, rows x steps chunked."""
        import torch

        n, shape = x.shape[0], tuple(x.shape[1:])
        s = len(alphas)
        a_all = torch.as_tensor(alphas, dtype=x.dtype, device=x.device)
        w_all = torch.as_tensor(weights, dtype=torch.float64 if x.dtype == torch.float64 else x.dtype,
                                device=x.device)
        diff = x - base
        out = torch.empty_like(x)
        rows = max(1, batch // s)
        steps_per = s if rows > 1 or batch >= s else max(1, batch)
        view = (-1, 1) + (1,) * len(shape)
        for i in range(0, n, rows):
            xb, bb, db = x[i:i + rows], base[i:i + rows], diff[i:i + rows]
            r = xb.shape[0]
            tt = None if target is None else target[i:i + rows]
            acc = torch.zeros((r, *shape), dtype=w_all.dtype, device=x.device)
            for j in range(0, s, steps_per):
                a = a_all[j:j + steps_per]
                w = w_all[j:j + steps_per]
                k = a.shape[0]
                pts = (bb.unsqueeze(0) + a.view(view) * db.unsqueeze(0)).reshape(k * r, *shape)
                t_rep = None if tt is None else tt.repeat(k)
                g, _ = self._grad(pts, t_rep, space)
                acc += torch.tensordot(w, g.view(k, r, *shape).to(w.dtype), dims=1)
            out[i:i + rows] = (acc * db.to(acc.dtype)).to(x.dtype)
        return out


class Saliency(_GradientMethod):
    """Saliency: the gradient of the explained output (its absolute value by default).

    Examples::

        >>> Saliency(cnn).attribute(images, target=3).values.shape
        (8, 3, 32, 32)
    """

    name = "saliency"

    def attribute(self, X, *, target=None, abs: bool = True, output: str | None = None,
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
        space = self._output_space(output)
        with self._on_device(device) as dev:
            prep = self._prepare(X, dev)
            batch = auto_batch(prep.numel, internal_batch_size)
            tgt = self._resolve_target(prep, target, space, batch)
            g = self._gradients(prep, tgt, space, batch)
            check = self._fd_check(prep, tgt, space, g)
            fx = to_numpy(self._predict(prep, tgt, space, batch))
            vals = to_numpy(g.abs() if abs else g)
        return self._result(prep, vals, target=tgt, space=space, params={"abs": bool(abs)},
                            self_check=check, predictions=fx)


class GradientXInput(_GradientMethod):
    """Gradient times input, ``x * df/dx`` (exact attributions for linear models without bias).

    Examples::

        >>> GradientXInput(mlp).attribute(X).values.shape
        (100, 13)
    """

    name = "gradient_x_input"

    def attribute(self, X, *, target=None, output: str | None = None,
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
        space = self._output_space(output)
        with self._on_device(device) as dev:
            prep = self._prepare(X, dev)
            batch = auto_batch(prep.numel, internal_batch_size)
            tgt = self._resolve_target(prep, target, space, batch)
            g = self._gradients(prep, tgt, space, batch)
            check = self._fd_check(prep, tgt, space, g)
            fx = to_numpy(self._predict(prep, tgt, space, batch))
            vals = to_numpy(g * prep.x)
        return self._result(prep, vals, target=tgt, space=space, params={}, self_check=check, predictions=fx)


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

    def attribute(self, X, *, target=None, nt_samples: int = 25, stdevs=None, noise_level: float = 0.15,
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
        with self._on_device(device) as dev:
            prep = self._prepare(X, dev)
            batch = auto_batch(prep.numel, internal_batch_size)
            tgt = self._resolve_target(prep, target, space, batch)
            nd = len(prep.feature_shape)
            if stdevs is None:
                flat = prep.x.reshape(prep.n, -1)
                sd = (noise_level * (flat.max(dim=1).values - flat.min(dim=1).values)).view(-1, *([1] * nd))
            else:
                sd = self._like(stdevs, prep, what="stdevs")
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
        params = {"nt_samples": s, "stdevs": _describe(stdevs), "noise_level": float(noise_level),
                  "abs": bool(abs), "multiply_by_inputs": bool(multiply_by_inputs), "seed": int(seed)}
        return self._result(prep, vals, target=tgt, space=space, params=params, self_check=check, predictions=fx)


def _describe(value):
    """A JSON-friendly description of an option value (baselines, stdevs)."""
    if value is None or isinstance(value, (int, float, str)):
        return value
    shape = getattr(value, "shape", None)
    return f"array{tuple(shape)}" if shape is not None else type(value).__name__


__all__ = ["IntegratedGradients", "Saliency", "SmoothGrad", "GradientXInput", "quadrature", "QUADRATURES"]
