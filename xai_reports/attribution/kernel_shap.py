"""KernelSHAP: Shapley values estimated from sampled coalitions, with an error estimate.

The value function is the interventional one of :mod:`.shapley`,
``v(S) = mean_k f(x_S, z_k)``, written as the mean of single-reference games.
Two parts:

1. **Exact where it is cheap.** A (row, reference) pair that differs on ``q``
   features is a ``q``-player game; when its ``2**q - 2`` interior coalitions
   fit the budget (``n_samples``), its Shapley values are computed exactly
   (see :mod:`.shapley`). On data with categorical or discrete columns most
   pairs are of this kind.
2. **KernelSHAP for the rest** (Lundberg & Lee 2017,
   https://arxiv.org/abs/1705.07874; Covert & Lee 2021,
   https://arxiv.org/abs/2012.01536): the game averaged over the remaining
   references is fitted by weighted least squares under the efficiency
   constraint ``sum(phi) = v(all) - v(empty)``, on a coalition design drawn
   once per call: coalition sizes whose subsets all fit the budget are
   enumerated with their exact Shapley-kernel weights (as shap does), the
   remaining kernel mass is sampled in complementary pairs (paired sampling).
   The design is shared by all rows, so a row's result does not depend on the
   other rows in the batch, and ``random_state`` makes it reproducible.

**Error estimate.** The constrained WLS solution is ``phi = G b + h`` with
``G = A^-1 - A^-1 1 1^T A^-1 / (1^T A^-1 1)``; linearising in the sampled
terms gives the sandwich (delta-method) covariance
``G Cov(sum_sampled w z r) G^T`` from the residuals ``r`` of the fit, where
each complementary pair counts as one independent draw. Its square root, per
row and feature, is ``extras["std"]``; exactly computed parts add no error.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import ExplanationError
from .base import Attribution, Explainer, additivity_check
from .shapley import _progress, agree, pair_shapley, pairs_by_size, prepare


def coalition_design(d: int, n_samples: int, rng: np.random.Generator):
    """Coalitions and weights for KernelSHAP with ``d`` features and a budget of ``n_samples``.

    Coalition sizes are taken in complementary groups (``s`` and ``d - s``),
    from the outside in. A group is enumerated when its share of the budget
    (budget left x its share of the kernel mass left) covers all its subsets,
    as shap's KernelExplainer does; the rest of the mass is sampled: a group
    drawn by mass, a random subset of the smaller size, and its complement
    (paired sampling). Repeated draws add weight to the coalition already
    drawn instead of spending budget.

    Returns:
        ``(Z, w, draws)``: ``Z`` ``(C, d)`` 0/1 coalitions (never empty or
        full); ``w`` ``(C,)`` weights summing to 1 (the Shapley-kernel mass);
        ``draws`` ``(P, 2)`` the coalition indices of each random complementary
        draw (for the error estimate; empty when everything was enumerated).
    """
    if d < 2:
        return np.zeros((0, d)), np.zeros(0), np.zeros((0, 2), np.int64)
    sizes = np.arange(1, d)
    kmass = (d - 1) / (sizes * (d - sizes))
    kmass = kmass / kmass.sum()
    groups = []                      # (smaller size, sizes in the group, group mass, number of subsets)
    for s_ in range(1, d // 2 + 1):
        members = sorted({s_, d - s_})
        groups.append((s_, members, sum(kmass[k - 1] for k in members), sum(math.comb(d, k) for k in members)))
    Z, w = [], []
    budget = int(n_samples)
    mass_left = 1.0
    g = 0
    while g < len(groups):
        s_, members, gm, count = groups[g]
        if budget * gm / mass_left < count - 1e-8:
            break
        for k in members:
            for comb in _combinations(d, k):
                z = np.zeros(d)
                z[list(comb)] = 1.0
                Z.append(z)
                w.append(kmass[k - 1] / math.comb(d, k))
        budget -= count
        mass_left -= gm
        g += 1
    draws = []
    rest = groups[g:]
    if rest and mass_left > 1e-12:
        if budget < 2:
            raise ExplanationError(f"n_samples={n_samples} is too small for {d} features; use at least {2 * d + 2}")
        p = np.array([gm for _, _, gm, _ in rest])
        p = p / p.sum()
        index: dict[bytes, int] = {}
        counts: list[int] = []
        first = len(Z)
        max_draws = 4 * budget
        n_draws = 0
        while budget >= 2 and n_draws < max_draws:
            k = rest[rng.choice(len(rest), p=p)][0]
            z = np.zeros(d, dtype=np.uint8)
            z[rng.permutation(d)[:k]] = 1
            pair = []
            for zz in (z, 1 - z):
                key = zz.tobytes()
                if key not in index:
                    index[key] = first + len(counts)
                    counts.append(0)
                    Z.append(zz.astype(np.float64))
                    budget -= 1
                counts[index[key] - first] += 1
                pair.append(index[key])
            draws.append(pair)
            n_draws += 1
        w.extend(c * mass_left / (2 * n_draws) for c in counts)
    Z = np.asarray(Z, dtype=np.float64).reshape(-1, d)
    w = np.asarray(w)
    return Z, w / w.sum(), np.asarray(draws, dtype=np.int64).reshape(-1, 2)


def _combinations(d, k):
    from itertools import combinations

    return combinations(range(d), k)


def constrained_wls(Z, w, Y, delta):
    """Solve ``min sum_c w_c (Y[:, c] - Z_c . phi)^2`` s.t. ``sum(phi) = delta`` for every row.

    Args:
        Z: ``(C, d)`` coalitions; w: ``(C,)`` weights; Y: ``(n, C)`` targets
        ``v(S) - v(empty)``; delta: ``(n,)`` ``v(all) - v(empty)``.

    Returns:
        ``(phi, G)``: ``phi`` ``(n, d)`` and the ``(d, d)`` matrix ``G`` with ``phi = G b + h``.
    """
    d = Z.shape[1]
    A = (Z * w[:, None]).T @ Z
    Ainv = np.linalg.pinv(A)
    one = np.ones(d)
    Ai1 = Ainv @ one
    G = Ainv - np.outer(Ai1, Ai1) / (one @ Ai1)
    b = Y @ (Z * w[:, None])                      # (n, d)
    phi = b @ G.T + np.outer(delta, Ai1 / (one @ Ai1))
    return phi, G


class KernelShap(Explainer):
    """Sampled interventional Shapley values with paired sampling, exact where cheap, and an error estimate.

    Examples::

        >>> attr = KernelShap(model).attribute(X[:20], background=X_ref[:50], n_samples=2048, random_state=0)
        >>> attr.extras["std"].shape          # estimated standard error per row and feature
        (20, d)
    """

    name = "kernel_shap"
    additive = True
    claims = "additivity"
    seed_param = "random_state"

    def __init__(self, model, *, n_samples: int = 2048, random_state: int | None = 0,
                 target: int | None = None, output: str | None = None, batch_size: int = 65_536,
                 exact_pairs: bool = True, tolerance: float = 1e-6, progress: bool = False,
                 device: str = "auto"):
        """Store the model and the options (as :meth:`_explain` documents them); no work is done here."""
        self.model = model
        self.n_samples = n_samples
        self.random_state = random_state
        self.target = target
        self.output = output
        self.batch_size = batch_size
        self.exact_pairs = exact_pairs
        self.tolerance = tolerance
        self.progress = progress
        self.device = device

    def _expected_value(self):
        """The mean model output over ``background_`` (``None`` without one)."""
        return self._mean_background_output()

    def _explain(self, X, *, background=None, n_samples: int = 2048, random_state: int | None = 0,
                  target: int | None = None, output: str | None = None, batch_size: int = 65_536,
                  exact_pairs: bool = True, tolerance: float = 1e-6, progress: bool = False,
                  device: str = "auto") -> Attribution:
        """Estimate Shapley values of each row of ``X``.

        Args:
            X: DataFrame (categorical columns allowed) or array, ``(n, d)``.
            background: reference rows ``(m, d)``.
            n_samples: coalitions per row (each evaluated against the references).
            random_state: seed of the coalition design (same seed, same answer).
            target: output index for multi-output models.
            output: output space to explain (default: the adapter's).
            batch_size: hybrid rows per model call.
            exact_pairs: compute (row, reference) pairs differing on few features
                exactly (``2**q - 2 <= n_samples``); ``False`` gives plain KernelSHAP.
            tolerance: additivity self-check tolerance.
            progress: show a progress bar.
            device: accepted for API symmetry.

        Returns:
            :class:`Attribution` ``(n, d)``. ``extras["std"]`` ``(n, d)`` is the
            estimated standard error, ``extras["exact_pair_fraction"]`` the share
            of (row, reference) pairs computed exactly; ``self_check`` also
            carries ``estimated_std_max``.
        """
        codec, Xm, Bm, f = prepare(self.model_, X, background, target=target, output=output,
                                   batch_size=batch_size)
        n, d = Xm.shape
        m = Bm.shape[0]
        designs: dict[int, tuple] = {}

        def design(dv):
            # one design per number of varying features, seeded by (random_state, dv):
            # a row's answer never depends on the other rows in the batch
            if dv not in designs:
                seed = None if random_state is None else [int(random_state), int(dv)]
                designs[dv] = coalition_design(dv, n_samples, np.random.default_rng(seed))
            return designs[dv]

        fX, fB = f(Xm), f(Bm)
        values = np.zeros((n, d))
        var = np.zeros((n, d))
        limit = max(2, int(n_samples))
        exact_count = 0
        chunk = max(1, (1 << 20) // max(1, m * max(d, n_samples // 8)))
        bar = _progress(progress, n, "KernelSHAP")
        for r0 in range(0, n, chunk):
            eq = agree(Xm[r0:r0 + chunk], Bm)
            nc = eq.shape[0]
            residual = np.ones((nc, m), dtype=bool)
            if exact_pairs:
                for q, ri, ki, idx in pairs_by_size(eq):
                    if q == 0:
                        residual[ri, ki] = False
                        continue
                    if (1 << q) - 2 > limit:
                        continue
                    residual[ri, ki] = False
                    phi = pair_shapley(f, Xm, Bm, fX, fB, ri + r0, ki, idx, batch_size)
                    np.add.at(values, (ri[:, None] + r0, idx), phi)
            exact_count += int((~residual).sum())
            rows_left = np.flatnonzero(residual.any(axis=1))
            if rows_left.size:
                # features on which a row agrees with every remaining reference are null players
                vary = (~eq[rows_left] & residual[rows_left][:, :, None]).any(axis=1)      # (R, d)
                dv = vary.sum(axis=1)
                for k in np.unique(dv):
                    sel = np.flatnonzero(dv == k)
                    rows_k = r0 + rows_left[sel]
                    feats = np.nonzero(vary[sel])[1].reshape(sel.size, int(k))
                    res_k = residual[rows_left[sel]]
                    if k == 0:
                        continue
                    if k == 1:
                        values[rows_k, feats[:, 0]] += ((fX[rows_k, None] - fB[None, :]) * res_k).sum(axis=1)
                        continue
                    Z, w, draws = design(int(k))
                    phi_r, var_r = self._kernel_part(f, Xm, Bm, fX, fB, rows_k, res_k, feats, Z, w, draws,
                                                     batch_size)
                    np.add.at(values, (rows_k[:, None], feats), phi_r)
                    np.add.at(var, (rows_k[:, None], feats), var_r)
            if bar:
                bar.advance(nc)
        if bar:
            bar.stop()
        values /= m
        std = np.sqrt(var) / m
        base = np.full(n, fB.mean())
        check = additivity_check(values, base, fX, tolerance)
        check["estimated_std_max"] = float(std.max()) if std.size else 0.0
        sampled = {k: int(np.unique(v[2]).size) for k, v in designs.items()}
        return Attribution(
            values=values, base_values=base, feature_names=self._feature_names(X), method=self.name,
            output=f.output, predictions=fX, target=target,
            params={"n_samples": int(n_samples), "random_state": random_state, "background_rows": m,
                    "paired_sampling": True, "exact_pairs": exact_pairs,
                    "designs": {k: {"coalitions": int(v[0].shape[0]), "sampled": sampled[k]}
                                for k, v in sorted(designs.items())},
                    "sampled_coalitions": int(max(sampled.values(), default=0))},
            self_check=check,
            extras={"std": std, "exact_pair_fraction": exact_count / max(1, n * m),
                    "model_evaluations": int(f.rows),
                    "error_estimate": "sandwich standard error of the constrained WLS fit over sampled pairs"})

    @staticmethod
    def _kernel_part(f, Xm, Bm, fX, fB, rows, resid, feats, Z, w, draws, batch_size):
        """KernelSHAP on the game summed over each row's residual references, over its varying features.

        Args:
            rows: ``(R,)`` rows; resid: ``(R, m)`` their residual references;
            feats: ``(R, k)`` each row's varying features; Z, w, draws: the ``k``-feature design.

        Returns:
            ``(phi, var)``, both ``(R, k)`` (sums over references, not yet divided by ``m``).
        """
        R = rows.size
        C, k = Z.shape
        d = Xm.shape[1]
        zb = Z.astype(bool)
        vS = np.zeros((R, C))
        ri, ki = np.nonzero(resid)              # pairs, sorted by row
        step = max(1, batch_size // C)
        cidx = np.arange(C)[None, :]
        for p0 in range(0, ri.size, step):
            r, kk = ri[p0:p0 + step], ki[p0:p0 + step]
            P = r.size
            H = np.repeat(Bm[kk][:, None, :], C, axis=1)                      # (P, C, d)
            for t in range(k):
                col = feats[r, t]                                             # (P,)
                on = zb[:, t]
                xv = Xm[rows[r], col]                                         # (P,)
                H[np.arange(P)[:, None], cidx, col[:, None]] = np.where(on[None, :], xv[:, None],
                                                                         Bm[kk, col][:, None])
            out = f(H.reshape(-1, d)).reshape(P, C)
            starts = np.flatnonzero(np.r_[True, r[1:] != r[:-1]])
            vS[r[starts]] += np.add.reduceat(out, starts, axis=0)
        v0 = (fB[None, :] * resid).sum(axis=1)                     # (R,)
        v1 = fX[rows] * resid.sum(axis=1)
        Y = vS - v0[:, None]
        phi, G = constrained_wls(Z, w, Y, v1 - v0)
        var = np.zeros((R, k))
        n_draws = draws.shape[0]
        if n_draws > 1:
            res = Y - phi @ Z.T                                    # (R, C) residuals of the fit
            a, b = draws[:, 0], draws[:, 1]
            mass = w[np.unique(draws)].sum()
            # one unit per complementary draw: the mean of z * r over its two coalitions
            u = (Z[a][None] * res[:, a, None] + Z[b][None] * res[:, b, None]) / 2.0      # (R, P, k)
            gu = (u - u.mean(axis=1, keepdims=True)) @ G.T
            var = mass ** 2 * (gu ** 2).sum(axis=1) / (n_draws - 1) / n_draws
        return phi, var


__all__ = ["KernelShap", "coalition_design", "constrained_wls"]
