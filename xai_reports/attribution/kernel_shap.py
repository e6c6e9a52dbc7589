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

    Returns:
        ``(Z, w, sampled, pair_id)``: ``Z`` ``(C, d)`` 0/1 coalitions (never
        empty or full); ``w`` ``(C,)`` weights summing to 1 (the Shapley kernel
        mass); ``sampled`` ``(C,)`` whether the coalition was drawn at random;
        ``pair_id`` ``(C,)`` the complementary pair a sampled coalition belongs
        to (``-1`` for enumerated ones).
    """
    if d < 2:
        return np.zeros((0, d)), np.zeros(0), np.zeros(0, bool), np.zeros(0, np.int64)
    sizes = np.arange(1, d)
    mass = (d - 1) / (sizes * (d - sizes))
    mass = mass / mass.sum()
    Z, w, sampled, pair_id = [], [], [], []
    remaining = int(n_samples)
    left_mass = 1.0
    done = set()
    # enumerate sizes from the outside in (1 and d-1, 2 and d-2, ...) while they fit
    for s in range(1, d // 2 + 1):
        pair = {s, d - s}
        count = sum(math.comb(d, k) for k in pair)
        if count > remaining:
            break
        for k in sorted(pair):
            for comb in _combinations(d, k):
                z = np.zeros(d)
                z[list(comb)] = 1.0
                Z.append(z)
                w.append(mass[k - 1] / math.comb(d, k))
                sampled.append(False)
                pair_id.append(-1)
            left_mass -= mass[k - 1]
            done.add(k)
        remaining -= count
    rest = [k for k in range(1, d) if k not in done]
    n_pairs = remaining // 2
    if rest and n_pairs > 0 and left_mass > 1e-12:
        p = mass[np.array(rest) - 1]
        p = p / p.sum()
        ks = rng.choice(np.array(rest), size=n_pairs, p=p)
        each = left_mass / (2 * n_pairs)
        for j, k in enumerate(ks):
            perm = rng.permutation(d)
            z = np.zeros(d)
            z[perm[:k]] = 1.0
            for zz in (z, 1.0 - z):
                Z.append(zz)
                w.append(each)
                sampled.append(True)
                pair_id.append(j)
    elif rest and left_mass > 1e-12:
        raise ExplanationError(f"n_samples={n_samples} is too small for {d} features; use at least {2 * d + 2}")
    Z = np.asarray(Z, dtype=np.float64).reshape(-1, d)
    w = np.asarray(w)
    return Z, w / w.sum(), np.asarray(sampled, bool), np.asarray(pair_id, np.int64)


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

    def attribute(self, X, *, background=None, n_samples: int = 2048, random_state: int | None = 0,
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
        codec, Xm, Bm, f = prepare(self.model, X, background, target=target, output=output,
                                   batch_size=batch_size)
        n, d = Xm.shape
        m = Bm.shape[0]
        rng = np.random.default_rng(random_state)
        Z, w, sampled, pair_id = coalition_design(d, n_samples, rng)
        fX, fB = f(Xm), f(Bm)
        values = np.zeros((n, d))
        var = np.zeros((n, d))
        limit = max(2, int(n_samples))
        exact_count = 0
        chunk = max(1, (1 << 20) // max(1, m * max(d, Z.shape[0] // 8)))
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
            if rows_left.size and Z.shape[0]:
                phi_r, var_r = self._kernel_part(f, Xm, Bm, fX, fB, r0 + rows_left, residual[rows_left],
                                                 Z, w, sampled, pair_id, batch_size)
                values[r0 + rows_left] += phi_r
                var[r0 + rows_left] += var_r
            elif rows_left.size and d == 1:
                values[r0 + rows_left, 0] += ((fX[r0 + rows_left, None] - fB[None, :])
                                              * residual[rows_left]).sum(axis=1)
            if bar:
                bar.advance(nc)
        if bar:
            bar.stop()
        values /= m
        std = np.sqrt(var) / m
        base = np.full(n, fB.mean())
        check = additivity_check(values, base, fX, tolerance)
        check["estimated_std_max"] = float(std.max()) if std.size else 0.0
        return Attribution(
            values=values, base_values=base, feature_names=self._feature_names(X), method=self.name,
            output=f.output, predictions=fX, target=target,
            params={"n_samples": int(n_samples), "random_state": random_state, "background_rows": m,
                    "paired_sampling": True, "exact_pairs": exact_pairs,
                    "enumerated_coalitions": int((~sampled).sum()), "sampled_coalitions": int(sampled.sum())},
            self_check=check,
            extras={"std": std, "exact_pair_fraction": exact_count / max(1, n * m),
                    "model_evaluations": int(f.rows),
                    "error_estimate": "sandwich standard error of the constrained WLS fit over sampled pairs"})

    @staticmethod
    def _kernel_part(f, Xm, Bm, fX, fB, rows, resid, Z, w, sampled, pair_id, batch_size):
        """KernelSHAP on the game summed over each row's residual references: ``(phi, var)`` sums (x m)."""
        R = rows.size
        C, d = Z.shape
        zb = Z.astype(bool)
        vS = np.zeros((R, C))
        # evaluate hybrids for every (row, residual reference, coalition)
        ri, ki = np.nonzero(resid)
        step = max(1, batch_size // C)
        for p0 in range(0, ri.size, step):
            r, k = ri[p0:p0 + step], ki[p0:p0 + step]
            H = np.where(zb[None, :, :], Xm[rows[r]][:, None, :], Bm[k][:, None, :])   # (P, C, d)
            out = f(H.reshape(-1, d)).reshape(r.size, C)
            np.add.at(vS, r, out)
        v0 = (fB[None, :] * resid).sum(axis=1)                     # (R,)
        v1 = fX[rows] * resid.sum(axis=1)
        Y = vS - v0[:, None]
        phi, G = constrained_wls(Z, w, Y, v1 - v0)
        var = np.zeros((R, d))
        if sampled.any():
            res = Y - phi @ Z.T                                    # (R, C)
            sidx = np.flatnonzero(sampled)
            pid = pair_id[sidx]
            n_pairs = int(pid.max()) + 1
            mass = w[sidx].sum()
            # per complementary pair: mean of z * r over its two coalitions
            u = np.zeros((R, n_pairs, d))
            np.add.at(u, (slice(None), pid), (Z[sidx][None, :, :] * res[:, sidx, None]) / 2.0)
            if n_pairs > 1:
                gu = (u - u.mean(axis=1, keepdims=True)) @ G.T        # (R, P, d)
                var = mass ** 2 * (gu ** 2).sum(axis=1) / (n_pairs - 1) / n_pairs
        return phi, var


__all__ = ["KernelShap", "coalition_design", "constrained_wls"]
