"""Adaptive trapezoid integration for integrated gradients on paths with very many ReLU kinks.

On a large ReLU CNN the path gradient ``g(a) = grad f(b + a (x - b))`` changes
at thousands of kinks, so no higher-order rule gains its order and every rule's
map converges like ``1/n``. What differs between rules is *where* the points go.
Each point's forward pass also gives ``phi(a) = f(b + a (x - b))`` and
``phi'(a) = g(a) . (x - b)``, so the trapezoid rule's error on a panel
``[a, c]`` for the completeness sum is known exactly, for free:

    e = phi(c) - phi(a) - (c - a) (phi'(a) + phi'(c)) / 2.

:func:`adaptive_trapezoid` starts from a uniform mesh and, round after round,
halves the panels with the largest ``|e|`` (a quarter of them, at least eight),
every row in one batched pass. A row stops once its completeness gap is within
``rtol`` **and** its map changed by at most ``map_rtol`` (relative L2) since it
had half as many points: a small gap alone can be a lucky cancellation of
per-pixel errors, and a stable map alone says nothing of the sum.

The per-point gradients are kept (a bisection changes its neighbours' weights),
in the space the gradients are taken in: the input, or the output of a hoisted
affine prefix (:mod:`._affine_prefix`), mapped back once per row at the end.
"""

from __future__ import annotations

import math

import numpy as np

from ._affine_prefix import PrefixPath

#: panels of the first uniform mesh
START_PANELS = 16
#: share of a row's panels halved per round (the ones with the largest trapezoid error) ...
REFINE_SHARE = 0.25
#: ... and at least this many, so that each round's pass has enough points to run efficiently
MIN_TAKE = 8
#: bytes of stored per-point gradients per group of rows (rows are integrated in groups under this)
MEMORY_BUDGET = 512 * 2 ** 20


class _Path:
    """The straight paths of a group of rows in the space the gradients are taken in (the input, or the
    hoisted prefix's output: :class:`~._affine_prefix.PrefixPath`)."""

    def __init__(self, explainer, split, x, base, target, space):
        self.ex, self.target, self.space = explainer, target, space
        self.x, self.base = x, base
        self.prefix = None if split is None else PrefixPath(split, x, base)
        if self.prefix is None:
            self.z0, self.dz = base, x - base
        else:
            self.z0, self.dz = self.prefix.z0, self.prefix.dz
        self.zshape = tuple(self.z0.shape[1:])

    def points(self, rows, alphas, batch):
        """Gradients (in the path's space), ``phi`` and ``phi'`` (float64) at ``alphas[i]`` on row ``rows[i]``."""
        import torch

        gs, phis = [], []
        view = (-1,) + (1,) * len(self.zshape)
        for i in range(0, len(rows), batch):
            r = rows[i:i + batch]
            a = alphas[i:i + batch].to(self.z0.dtype)
            pts = torch.addcmul(self.z0[r], a.view(view), self.dz[r])
            t = None if self.target is None else self.target[r]
            if self.prefix is None:
                g, s = self.ex._grad(pts, t, self.space)
            else:
                g, s = self.prefix.grad(self.ex, pts, t, self.space)
            gs.append(g)
            phis.append(s.double())
        g = torch.cat(gs)
        dphi = (g.reshape(len(rows), -1) * self.dz[rows].reshape(len(rows), -1)).sum(dim=1, dtype=torch.float64)
        return g, torch.cat(phis), dphi

    def finish(self, acc, rows):
        """Maps ``(x - b) * J^T acc`` (float64) of ``rows`` from sums of gradients in the path's space."""
        x, base = self.x[rows], self.base[rows]
        if self.prefix is None:
            return acc * (x - base).double()
        return self.prefix.pull_back(acc, x, base)


def _weights(alphas):
    h = np.diff(alphas)
    w = np.zeros(len(alphas))
    w[:-1] += h / 2
    w[1:] += h / 2
    return w


def adaptive_trapezoid(explainer, split, x, base, target, space, batch, tol_abs, delta, rtol_map,
                       max_steps):
    """Integrated gradients of every row by adaptive trapezoid refinement (see the module's docstring).

    Args:
        explainer: the :class:`IntegratedGradients` doing the passes.
        split: the hoisted ``(P, R)`` or ``None``.
        x, base: rows and their baselines; ``target``: per-row targets or ``None``.
        tol_abs: per-row completeness gap accepted (float64 tensor).
        delta: per-row ``f(x) - f(b)`` (float64 tensor).
        rtol_map: relative L2 change of the map since half as many points that ends a row.
        max_steps: most points per row (past it a row stops, and the self-check reports its gap).

    Returns:
        ``(values float64 like x, points per row (numpy int))``.
    """
    import torch

    n = x.shape[0]
    out = torch.empty(x.shape, dtype=torch.float64, device=x.device)
    used = np.zeros(n, dtype=int)
    start = max(1, min(START_PANELS, max_steps - 1))
    # a stored gradient per point, in a space often ~4x wider than the input (a stem's channels), and
    # rows typically ending with ~4x the first mesh's points
    per_point = max(1, x[0].numel()) * x.element_size() * 4
    group = max(1, int(MEMORY_BUDGET // (per_point * 4 * (start + 1))))
    for i in range(0, n, group):
        sl = slice(i, i + group)
        t = None if target is None else target[sl]
        path = _Path(explainer, split, x[sl], base[sl], t, space)
        vals, pts = _refine(path, batch, tol_abs[sl], delta[sl], rtol_map, max_steps, start)
        out[sl] = vals
        used[sl] = pts
    return out, used


def _refine(path, batch, tol_abs, delta, rtol_map, max_steps, start):
    import torch

    m = path.x.shape[0]
    dev = path.x.device
    alphas = [list(np.arange(start + 1) / start) for _ in range(m)]
    rows = torch.arange(m, device=dev).repeat_interleave(start + 1)
    g, phi, dphi = path.points(rows, torch.tensor(np.concatenate(alphas), device=dev), batch)
    k = start + 1
    grads = [list(g[j * k:(j + 1) * k]) for j in range(m)]
    phis = [phi[j * k:(j + 1) * k].tolist() for j in range(m)]
    dphis = [dphi[j * k:(j + 1) * k].tolist() for j in range(m)]
    w0 = torch.as_tensor(_weights(np.asarray(alphas[0])), device=dev)
    accs = [torch.tensordot(w0, g[j * k:(j + 1) * k].double(), dims=1) for j in range(m)]
    snaps: list[list] = [[] for _ in range(m)]
    tol_abs, delta = tol_abs.tolist(), delta.tolist()     # host numbers: no device sync per row and round
    active = list(range(m))
    eps = float(torch.finfo(path.x.dtype).eps)
    while True:
        done = []
        for j in active:
            count = len(alphas[j])
            # the map check compares with the last estimate at no more than half the points: older ones go
            older = [q for q, (c, _) in enumerate(snaps[j]) if c <= count / 2]
            if len(older) > 1:
                del snaps[j][:older[-1]]
            snaps[j].append((count, accs[j].clone()))
            gap = abs(float(_weights(np.asarray(alphas[j])) @ np.asarray(dphis[j])) - delta[j])
            if count > max_steps:
                done.append(j)
            elif gap <= tol_abs[j] and _map_settled(path, j, snaps[j], rtol_map):
                done.append(j)
        active = [j for j in active if j not in done]
        if not active:
            break
        new_rows, new_alphas, stuck = [], [], []
        for j in active:
            a, p, d = alphas[j], phis[j], dphis[j]
            err = [abs(p[q + 1] - p[q] - (a[q + 1] - a[q]) * (d[q] + d[q + 1]) / 2) for q in range(len(a) - 1)]
            take = max(MIN_TAKE, int(REFINE_SHARE * len(err)))
            take = min(take, max_steps + 1 - len(a))
            # panels the trapezoid integrates exactly, to rounding (a linear stretch), are left alone
            chosen = [q for q in sorted(range(len(err)), key=lambda q: -err[q])[:take]
                      if err[q] > 4 * eps * (abs(p[q]) + abs(p[q + 1]))]
            if not chosen:
                stuck.append(j)          # nothing left to refine: the row keeps what it has
            for q in chosen:
                new_rows.append(j)
                new_alphas.append((a[q] + a[q + 1]) / 2)
        active = [j for j in active if j not in stuck]
        if not new_rows:
            break
        g, phi, dphi = path.points(torch.tensor(new_rows, device=dev),
                                   torch.tensor(new_alphas, dtype=torch.float64, device=dev), batch)
        for q, (j, a_new) in enumerate(zip(new_rows, new_alphas)):
            pos = int(np.searchsorted(alphas[j], a_new))
            # the panel [a_(pos-1), a_pos] becomes two: its trapezoid h/2 (G_l + G_r) becomes
            # h/4 (G_l + 2 G_new + G_r)
            h = alphas[j][pos] - alphas[j][pos - 1]
            accs[j].add_(g[q], alpha=h / 2).sub_(grads[j][pos - 1] + grads[j][pos], alpha=h / 4)
            alphas[j].insert(pos, a_new)
            grads[j].insert(pos, g[q])
            phis[j].insert(pos, float(phi[q]))
            dphis[j].insert(pos, float(dphi[q]))
    acc = torch.stack(accs)
    return path.finish(acc, torch.arange(m, device=dev)), np.array([len(a) for a in alphas])


def _map_settled(path, j, snaps, rtol_map) -> bool:
    """Whether row ``j``'s map moved by at most ``rtol_map`` (relative L2) since it had half the points."""
    import torch

    count, acc = snaps[-1]
    older = [s for c, s in snaps if c <= count / 2]
    if not older:
        return False
    rows = torch.tensor([j, j], device=acc.device)
    both = path.finish(torch.stack([acc, older[-1]]), rows)
    now = both[0].norm()
    if not math.isfinite(float(now)) or float(now) == 0.0:
        return True
    return float((both[0] - both[1]).norm() / now) <= rtol_map
