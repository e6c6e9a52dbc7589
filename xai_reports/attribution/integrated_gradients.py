"""Integrated gradients for torch models (Sundararajan et al. 2017, https://arxiv.org/abs/1703.01365).

Tabular inputs (``(n, d)``: DataFrame, array or tensor; values ``(n, d)`` with
``feature_names``) and images or any other tensor (``(n, C, H, W)``; values of
the same shape). Options follow captum's names: ``target=``, ``baselines=``,
``n_steps=``, ``method=``, ``internal_batch_size=``. Gauss-Legendre or Riemann
quadrature, completeness error reported, and ``n_steps="auto"``: steps chosen
per row until the relative completeness error is at most ``rtol``.
"""

from __future__ import annotations

import contextlib
import functools

import numpy as np

from ..errors import ExplanationError
from ._affine_prefix import affine_split, integrate_hoisted
from ._gradient_base import _GradientMethod, describe
from ._ig_adaptive import adaptive_trapezoid
from ._torch import auto_batch, to_numpy
from .base import Attribution

QUADRATURES = ("gausslegendre", "riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid")
#: Gauss-Legendre step counts tried in turn by ``n_steps="auto"`` (each row stops at the first that converges)
AUTO_SCHEDULE = (8, 16, 32, 64, 128, 256, 512, 1024)


@functools.lru_cache(maxsize=64)
def _cached_rule(n: int, method: str):
    return _rule(n, method)


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
    a, w = _cached_rule(n, method)
    return a.copy(), w.copy()


def _rule(n: int, method: str):
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
    claims = "completeness"
    #: hoist the image model's affine prefix out of the quadrature steps (identical values; off for comparisons)
    _hoist = True

    def __init__(self, model, *, baselines=None, target=None, n_steps=50, method: str = "gausslegendre",
                 rtol: float = 1e-3, map_rtol: float = 0.05, max_steps: int = 1024,
                 output: str | None = None, internal_batch_size: int | None = None, device: str = "auto"):
        """Store the model and the options (as :meth:`_explain` documents them); no work is done here."""
        self.model = model
        self.baselines = baselines
        self.target = target
        self.n_steps = n_steps
        self.method = method
        self.rtol = rtol
        self.map_rtol = map_rtol
        self.max_steps = max_steps
        self.output = output
        self.internal_batch_size = internal_batch_size
        self.device = device

    def _explain(self, X, *, baselines=None, target=None, n_steps=50, method: str = "gausslegendre",
                  rtol: float = 1e-3, map_rtol: float = 0.05, max_steps: int = 1024,
                  output: str | None = None, internal_batch_size: int | None = None,
                  device: str = "auto") -> Attribution:
        """Attribute the output of each row of ``X`` along the straight path from ``baselines``.

        Args:
            X: ``(n, d)`` DataFrame/array/tensor, or ``(n, C, H, W)`` images.
            baselines: ``None`` (zeros), a scalar, one example (``X``'s shape
                without the batch axis) or one per row.
            target: output index for multi-output models (an int or one per
                row); default: the predicted class of a classifier.
            n_steps: points of the quadrature rule, or ``"auto"``: per row,
                until the relative completeness error is at most ``rtol``. For
                networks whose layers are all affine or ReLU-like, the path's
                linear pieces are found and each gets one gradient (exact;
                ``steps_used`` = pieces), unless the path crosses more than
                ``max_steps / 4`` ReLU kinks on average (a large CNN): then
                adaptive trapezoid refinement from 16 panels, halving the
                panels whose trapezoid error (known exactly from the passes'
                outputs) is largest, each row stopping once its gap is within
                ``rtol`` and its map has settled (``map_rtol``);
                rows still above ``rtol`` (and other networks) get the
                Gauss-Legendre rules of :data:`AUTO_SCHEDULE` in turn, up to
                ``max_steps``. ``extras["integration"]`` says which, per row.
            method: quadrature, one of :data:`QUADRATURES` (``n_steps="auto"``
                always uses Gauss-Legendre).
            rtol: the relative completeness error the self-check accepts.
            map_rtol: on many-kink paths, ``n_steps="auto"`` also waits until
                a row's map moved by at most this (relative L2 norm) since
                the row had half as many points.
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
        with self._on_device(device) as dev, contextlib.ExitStack() as stack:
            prep = self._prepare(X, dev)
            base = self._like(baselines, prep)
            batch = auto_batch(prep.numel, internal_batch_size)
            fast = stack.enter_context(self._fast_images(prep))
            stack.enter_context(self._hoisting(fast, prep.x, self._hoist))
            tgt, fx = self._resolve_target(prep, target, space, batch, with_outputs=True)
            fb = self._predict(prep, tgt, space, batch, x=base)
            delta = (fx - fb).double()
            eps = float(torch.finfo(prep.x.dtype).eps)
            scale = fx.double().abs() + fb.double().abs()

            def errors(vals, rows):
                """Absolute completeness error and its float-precision floor for ``rows``."""
                flat = vals.reshape(len(rows), -1).double()
                e = (flat.sum(dim=1) - delta[rows]).abs()
                floor = 16 * eps * (scale[rows] + flat.abs().sum(dim=1)) + 1e-300
                return e, floor

            rows_all = torch.arange(prep.n, device=prep.x.device)
            how = None
            if not auto:
                alphas, weights = quadrature(int(n_steps), method)
                values = self._integrate(prep.x, base, tgt, space, alphas, weights, batch)
                steps = np.full(prep.n, int(n_steps))
                evals = steps.copy()
                err, floor = errors(values, rows_all)
            else:
                values, err, floor, steps, evals, how = self._auto(prep, base, tgt, space, batch, rtol,
                                                                   float(map_rtol), int(max_steps), errors,
                                                                   delta, 16 * eps * scale)
            denom = torch.maximum(delta.abs(), floor / rtol)
            rel = (err / denom).cpu().numpy()
            abs_err = err.cpu().numpy()
            out_vals = to_numpy(values)
            fx_np, fb_np = to_numpy(fx), to_numpy(fb)
        check = {"kind": "completeness", "max_abs_error": float(abs_err.max()),
                 "max_rel_error": float(rel.max()), "tolerance": float(rtol),
                 "tolerance_kind": "relative to |f(x) - f(baseline)| (with a float-precision floor)",
                 "passed": bool((rel <= rtol).all()), "per_row": abs_err, "per_row_rel": rel}
        params = {"n_steps": n_steps if auto else int(n_steps),
                  "method": "auto" if auto else method, "baselines": describe(baselines),
                  "rtol": float(rtol)}
        if auto:
            params["max_steps"] = int(max_steps)
            params["map_rtol"] = float(map_rtol)
        extras = {"steps_used": steps.tolist(), "mean_steps": float(steps.mean()),
                  "gradient_evaluations": int(evals.sum())}
        if how is not None:
            extras["integration"] = how
        return self._result(prep, out_vals, target=tgt, space=space, params=params, self_check=check,
                            predictions=fx_np, base_values=fb_np, extras=extras)

    @contextlib.contextmanager
    def _hoisting(self, fast, x, on: bool = True):
        """Within the block, :meth:`_integrate` hoists the image copy's affine prefix (when it has one)."""
        self.__dict__["_prefix_split"] = affine_split(fast, x) if on and fast is not None else None
        try:
            yield
        finally:
            self.__dict__.pop("_prefix_split", None)

    # -- n_steps="auto" ----------------------------------------------------------------------
    def _auto(self, prep, base, tgt, space, batch, rtol, map_rtol, max_steps, errors, delta, floor0):
        """Per-row adaptive integration: the exact piecewise-linear walk where the model allows it
        (adaptive trapezoid refinement where its path has too many kinks), then Gauss-Legendre rules
        of growing size for the rows still above ``rtol``."""
        import torch

        delta_abs = delta.abs()
        n = prep.n
        dev = prep.x.device
        values = torch.zeros(prep.x.shape, dtype=torch.float64, device=dev)
        err = torch.full((n,), float("inf"), dtype=torch.float64, device=dev)
        floor = torch.zeros(n, dtype=torch.float64, device=dev)
        steps = np.zeros(n, dtype=int)
        evals = np.zeros(n, dtype=int)
        how = np.array(["gausslegendre"] * n, dtype=object)
        todo = torch.arange(n, device=dev)

        def accept(v, rows, label, nsteps, ev):
            nonlocal todo
            e, fl = errors(v, rows)
            better = e < err[rows]
            idx = rows[better]
            values[idx] = v[better]
            err[idx] = e[better]
            floor[idx] = fl[better]
            r_np = rows.cpu().numpy()
            evals[r_np] += ev
            b_np = better.cpu().numpy()
            steps[r_np[b_np]] = nsteps[b_np] if np.ndim(nsteps) else nsteps
            how[r_np[b_np]] = label
            # the rule the self-check reports, on each row's best estimate so far
            ok = err[rows] <= torch.maximum(rtol * delta_abs[rows], floor[rows])
            todo = rows[~ok]

        units = self._piecewise_linear_units(space)
        kinky = False
        if units is not None and self._sign_flips(prep.x, base, units[0], batch) > max_steps / 4:
            units = None  # too many kinks on the path (a large CNN): quadrature is cheaper
            kinky = True
        elif units is None and prep.x.ndim == 4:
            # ReLU CNNs with other piecewise-linear layers (max-pooling): no walk, but the same
            # many-kink integrand when the path crosses many ReLU kinks
            from torch import nn

            relus = [m for m in self.module.modules() if isinstance(m, (nn.ReLU, nn.LeakyReLU))]
            kinky = bool(relus) and self._sign_flips(prep.x, base, relus, batch) > max_steps / 4
        if units is not None:
            v, pieces, finished = self._walk(prep.x, base, tgt, space, batch, units, max_steps)
            rows = torch.arange(n, device=dev)
            accept(v, rows, "piecewise_linear", pieces, pieces)
        if kinky and len(todo):
            # a path gradient with very many kinks: adaptive trapezoid refinement (_ig_adaptive), each
            # row until its completeness gap is within rtol and its map has settled
            rows = todo
            tol = torch.maximum(rtol * delta[rows].abs(), floor0[rows])
            v, pts = adaptive_trapezoid(self, self.__dict__.get("_prefix_split"), prep.x[rows], base[rows],
                                        None if tgt is None else tgt[rows], space, batch, tol, delta[rows],
                                        map_rtol, max_steps)
            accept(v, rows, "adaptive_trapezoid", pts, pts)
        schedule = [s for s in AUTO_SCHEDULE if s <= max_steps] or [int(max_steps)]
        if kinky:
            schedule = []
        for s in schedule:
            if len(todo) == 0:
                break
            alphas, weights = quadrature(s, "gausslegendre")
            t_sub = None if tgt is None else tgt[todo]
            v = self._integrate(prep.x[todo], base[todo], t_sub, space, alphas, weights, batch)
            accept(v, todo, "gausslegendre", s, s)
        return values, err, floor, steps, evals, how.tolist()

    _AFFINE = None

    def _piecewise_linear_units(self, space):
        """``(relu_like, affine)`` leaf modules when every leaf of the model is one of them, else ``None``.

        Along a straight path such a network is piecewise linear in the path
        parameter, and the kinks are where a ReLU input crosses zero.
        """
        from torch import nn

        if space == "probability" and self.model_.output_space != "probability":
            return None
        affine_types = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.BatchNorm1d, nn.BatchNorm2d,
                        nn.BatchNorm3d, nn.Dropout, nn.Identity, nn.Flatten, nn.Unflatten, nn.AvgPool1d,
                        nn.AvgPool2d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d)
        relus, affine = [], []
        for m in self.module.modules():
            if list(m.children()):
                continue
            if isinstance(m, (nn.ReLU, nn.LeakyReLU)):
                relus.append(m)
            elif isinstance(m, affine_types) and not m.training:
                affine.append(m)
            else:
                return None
        return (relus, affine) if relus else None

    def _sign_flips(self, x, base, relus, batch) -> float:
        """Mean number of ReLU inputs whose sign differs between ``x`` and ``base`` (a lower bound on
        the kinks along the path), from one forward pass over both."""
        import torch

        counts = []
        state = {}

        def pre(mod, inp):
            z = inp[0]
            k = state["k"]
            counts.append(((z[:k] > 0) != (z[k:] > 0)).reshape(k, -1).sum(dim=1))

        handles = [m.register_forward_pre_hook(pre) for m in relus]
        total = torch.zeros(x.shape[0], device=x.device)
        try:
            half = max(1, batch // 2)
            for i in range(0, x.shape[0], half):
                counts.clear()
                state["k"] = len(x[i:i + half])
                with torch.no_grad():
                    self.model_.forward(torch.cat([x[i:i + half], base[i:i + half]]))
                total[i:i + half] = sum(counts) if counts else 0
        finally:
            for h in handles:
                h.remove()
        return float(total.float().mean())

    @staticmethod
    def _offset(module, out):
        """``module(0)``: what an affine leaf adds to its input's linear image (bias, BatchNorm shift)."""
        import torch
        from torch import nn

        shape = (1, -1) + (1,) * (out.ndim - 2)
        if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            return None if module.bias is None else module.bias.view(shape)
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            inv = torch.rsqrt(module.running_var + module.eps)
            w = module.weight if module.affine else torch.ones_like(inv)
            b = module.bias if module.affine else torch.zeros_like(inv)
            return (b - module.running_mean * inv * w).view(shape)
        return None

    def _walk(self, x, base, target, space, batch, units, max_rounds, probes: int = 3, later: int = 3):
        """Exact IG for piecewise-linear networks: find the path's linear pieces, one gradient each.

        A probe at ``alpha = q`` is one forward pass over the point and the path
        direction together (hooks keep the direction's half linear: offsets
        removed, ReLUs replaced by the point's activation pattern). It gives
        every ReLU input ``z`` and its rate ``dz/dalpha``, hence the linear piece
        containing ``q``: it ends where the nearest ``z`` ahead reaches zero and
        starts where the nearest one behind does. ``probes`` probes per row go
        out at once; each stretch of ``[0, 1]`` that no probe's piece covers
        gets ``later`` probes in the next round (the first just past the
        stretch's start, so every round closes at least one piece), until the
        pieces cover the path. All pieces' boundaries then cut ``[0, 1]`` into
        intervals, and one batched gradient pass at their midpoints gives
        ``IG = (x - x') * sum over intervals of length * gradient``. A
        non-linearity the probes cannot see (a functional one in ``forward``)
        shows up as a completeness error, and those rows go on to quadrature.

        Returns:
            ``(values, intervals per row, finished mask)``.
        """
        import torch
        from torch import nn

        relus, affine = units
        n, shape = x.shape[0], tuple(x.shape[1:])
        dev = x.device
        view = (-1,) + (1,) * len(shape)
        diff = x - base
        f64 = torch.float64
        eta = 1e-5 if x.dtype != torch.float64 else 1e-9      # first probe of a stretch: just past its start
        tol = 1e-6 if x.dtype != torch.float64 else 1e-12     # boundaries closer than this are one knot
        state = {"k": 0, "on": False}

        def affine_hook(mod, inp, out):
            if state["on"]:
                off = self._offset(mod, out)
                if off is not None:
                    out[state["k"]:] -= off          # the direction's half stays linear
            return None

        def relu_pre(mod, inp):
            if state["on"]:
                z = inp[0]
                k = state["k"]
                # rate / value = -1 / (alpha distance to zero): the most negative is the nearest
                # zero ahead, the most positive the nearest behind (0/0, a unit that stays at
                # zero, never crosses)
                rr = torch.div(z[k:].reshape(k, -1), z[:k].reshape(k, -1)).nan_to_num_(nan=0.0)
                lo_r, hi_r = torch.aminmax(rr, dim=1)
                lo_r, hi_r = lo_r.to(f64), hi_r.to(f64)
                inf = torch.full_like(lo_r, float("inf"))
                torch.minimum(state["fwd"], torch.where(lo_r < 0, -1.0 / lo_r, inf), out=state["fwd"])
                torch.minimum(state["back"], torch.where(hi_r > 0, 1.0 / hi_r, inf), out=state["back"])
                if isinstance(mod, nn.LeakyReLU):
                    state["mask"] = torch.where(z[:k] > 0, 1.0, mod.negative_slope).to(z.dtype)
                else:
                    state["mask"] = z[:k] > 0
                state["zt"] = z[k:].clone() if getattr(mod, "inplace", False) else z[k:]
            return None

        def relu_hook(mod, inp, out):
            if state["on"]:
                torch.mul(state.pop("zt"), state.pop("mask"), out=out[state["k"]:])
            return None

        def probe(rows, q):
            """Pieces ``(lo, hi)`` containing ``alpha = q`` for rows ``rows``."""
            lo_all, hi_all = [], []
            half = max(1, batch // 2)
            for i in range(0, len(rows), half):
                r, qq = rows[i:i + half], q[i:i + half]
                k = len(r)
                pts = base[r] + qq.to(x.dtype).view(view) * diff[r]
                state.update(k=k, on=True, fwd=torch.full((k,), float("inf"), dtype=f64, device=dev),
                             back=torch.full((k,), float("inf"), dtype=f64, device=dev))
                try:
                    with torch.no_grad():
                        self.model_.forward(torch.cat([pts, diff[r]]))
                finally:
                    state["on"] = False
                lo_all.append((qq - state["back"]).clamp(min=0.0))
                hi_all.append((qq + state["fwd"]).clamp(max=1.0))
            return torch.cat(lo_all), torch.cat(hi_all)

        def gaps(rows, lo, hi):
            """Stretches of [0, 1] no piece covers: ``(rows, start, end)``."""
            key = rows.to(f64) * 4 + lo
            order = torch.argsort(key)
            rs, los = rows[order], lo[order]
            cover = torch.cummax(rs.to(f64) * 4 + hi[order], dim=0).values - rs.to(f64) * 4
            first = torch.ones_like(rs, dtype=torch.bool)
            first[1:] = rs[1:] != rs[:-1]
            last = torch.ones_like(rs, dtype=torch.bool)
            last[:-1] = rs[1:] != rs[:-1]
            g_r, g_a, g_b = [], [], []
            m = first & (los > tol)
            g_r.append(rs[m]), g_a.append(torch.zeros_like(los[m])), g_b.append(los[m])
            inner = ~last[:-1] & (los[1:] > cover[:-1] + tol)
            g_r.append(rs[:-1][inner]), g_a.append(cover[:-1][inner]), g_b.append(los[1:][inner])
            m = last & (cover < 1.0 - tol)
            g_r.append(rs[m]), g_a.append(cover[m]), g_b.append(torch.ones_like(cover[m]))
            return torch.cat(g_r), torch.cat(g_a), torch.cat(g_b)

        handles = [m.register_forward_hook(affine_hook) for m in affine]
        handles += [m.register_forward_pre_hook(relu_pre) for m in relus]
        handles += [m.register_forward_hook(relu_hook) for m in relus]
        found_r, found_lo, found_hi = [], [], []
        g_r = torch.arange(n, device=dev)
        g_a = torch.zeros(n, dtype=f64, device=dev)
        g_b = torch.ones(n, dtype=f64, device=dev)
        try:
            for rnd in range(int(max_rounds)):
                if len(g_r) == 0:
                    break
                k = probes if rnd == 0 else later
                frac = (torch.arange(k, dtype=f64, device=dev) + 0.5) / k
                q = g_a[:, None] + frac[None, :] * (g_b - g_a)[:, None]
                q[:, 0] = torch.minimum(g_a + eta, (g_a + g_b) / 2)
                rows = g_r.repeat_interleave(k)
                lo, hi = probe(rows, q.reshape(-1))
                found_r.append(rows)
                found_lo.append(lo)
                found_hi.append(hi)
                g_r, g_a, g_b = gaps(torch.cat(found_r), torch.cat(found_lo), torch.cat(found_hi))
        finally:
            for h in handles:
                h.remove()
            state.clear()
        unfinished = torch.zeros(n, dtype=torch.bool, device=dev)
        unfinished[g_r] = True
        # the intervals between consecutive distinct boundaries, one gradient at each midpoint
        rows = torch.cat([torch.arange(n, device=dev)] * 2 + found_r * 2)
        knots = torch.cat([torch.zeros(n, dtype=f64, device=dev), torch.ones(n, dtype=f64, device=dev)]
                          + found_lo + found_hi)
        order = torch.argsort(rows.to(f64) * 4 + knots)
        rows, knots = rows[order], knots[order]
        keep = torch.ones_like(rows, dtype=torch.bool)
        keep[1:] = (rows[1:] != rows[:-1]) | (knots[1:] - knots[:-1] > tol)
        rows, knots = rows[keep], knots[keep]
        same = rows[1:] == rows[:-1]
        i_rows, start, end = rows[:-1][same], knots[:-1][same], knots[1:][same]
        intervals = np.bincount(i_rows.cpu().numpy(), minlength=n)
        mid = ((start + end) / 2).to(x.dtype).view(view)
        length = (end - start).view(view)
        acc = torch.zeros((n, *shape), dtype=f64, device=dev)
        for i in range(0, len(i_rows), batch):
            r = i_rows[i:i + batch]
            pts = base[r] + mid[i:i + batch] * diff[r]
            g, _ = self._grad(pts, None if target is None else target[r], space)
            acc.index_add_(0, r, g.double() * length[i:i + batch])
        return acc * diff.double(), intervals, (~unfinished).cpu().numpy()

    def _integrate(self, x, base, target, space, alphas, weights, batch):
        """``(x - base) * sum_k w_k grad f(base + a_k (x - base))``, rows x steps chunked.

        The weighted sum is accumulated in float64 (and returned in float64), so
        the quadrature, not the summation, sets the completeness error.
        """
        import torch

        split = self.__dict__.get("_prefix_split") if x.ndim == 4 else None
        if split is not None:       # the affine prefix hoisted out of the steps (_affine_prefix)
            return integrate_hoisted(self, split, x, base, target, space, alphas, weights, batch)
        n, shape = x.shape[0], tuple(x.shape[1:])
        s = len(alphas)
        a_all = torch.as_tensor(alphas, dtype=x.dtype, device=x.device)
        w_all = torch.as_tensor(weights, dtype=torch.float64, device=x.device)
        diff = x - base
        out = torch.empty(x.shape, dtype=torch.float64, device=x.device)
        rows = max(1, batch // s)
        steps_per = s if rows > 1 or batch >= s else max(1, batch)
        view = (-1, 1) + (1,) * len(shape)
        for i in range(0, n, rows):
            xb, bb, db = x[i:i + rows], base[i:i + rows], diff[i:i + rows]
            r = xb.shape[0]
            tt = None if target is None else target[i:i + rows]
            acc = torch.zeros((r, *shape), dtype=torch.float64, device=x.device)
            for j in range(0, s, steps_per):
                a = a_all[j:j + steps_per]
                w = w_all[j:j + steps_per]
                k = a.shape[0]
                pts = (bb.unsqueeze(0) + a.view(view) * db.unsqueeze(0)).reshape(k * r, *shape)
                t_rep = None if tt is None else tt.repeat(k)
                g, _ = self._grad(pts, t_rep, space)
                acc += torch.tensordot(w, g.view(k, r, *shape).double(), dims=1)
            out[i:i + rows] = acc * db.double()
        return out


__all__ = ["IntegratedGradients", "quadrature", "QUADRATURES", "AUTO_SCHEDULE"]
