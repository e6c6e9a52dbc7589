"""Candidate generators of the counterfactual search (see :mod:`.search` for the whole procedure).

:class:`CandidateGenerators` is a mixin of :class:`.search.Engine`: each method
turns encoded query rows ``Z0`` and their allowed domains (``A``, ``B``,
``movable``, ``cat_targets`` from :meth:`.search.Engine.domains`) into candidate
rows and the query row each belongs to (``owners``). They use the engine's
``cfg``, ``d``, ``numeric``, ``grids``, ``dirs``, ``scale``, ``weights``,
``mutable_cols``, ``max_changes``, ``adapter``, ``target`` and ``pos``.
"""

from __future__ import annotations

from itertools import combinations, product

import numpy as np

from .encoding import changed_mask


class CandidateGenerators:
    """Line, diagonal, box, near-miss, random/donor and gradient candidates (a mixin of the search engine)."""

    def line_candidates(self, Z0, A, B, movable, cat_targets):
        """Each changeable feature alone over a grid of its allowed range (all categories)."""
        G = self.cfg.grid
        q = (np.arange(1, G + 1) / G) ** 1.5
        owners, feats, vals = [], [], []
        for j in range(self.d):
            rows = np.flatnonzero(movable[:, j])
            if not len(rows):
                continue
            if self.numeric[j]:
                x, a, b = Z0[rows, j], A[rows, j], B[rows, j]
                down = x[:, None] - (x - a)[:, None] * q[None, :]
                up = x[:, None] + (b - x)[:, None] * q[None, :]
                down[(a >= x)] = np.nan
                up[(b <= x)] = np.nan
                v = np.concatenate([down, up], axis=1)
                v = np.clip(self.grids[j].snap(v, "nearest"), a[:, None], b[:, None])
                r_idx = np.repeat(rows, v.shape[1])
                v = v.ravel()
                keep = ~np.isnan(v) & changed_mask(Z0[r_idx, j], v)
                owners.append(r_idx[keep])
                vals.append(v[keep])
                feats.append(np.full(keep.sum(), j))
            else:
                T = cat_targets[j][rows]
                rr, cc = np.nonzero(T)
                owners.append(rows[rr])
                vals.append(cc.astype(np.float64))
                feats.append(np.full(len(rr), j))
        if owners:
            o = np.concatenate(owners)
            f = np.concatenate(feats)
            v = np.concatenate(vals)
            Zc = Z0[o].copy()
            Zc[np.arange(len(o)), f] = v
        else:
            Zc, o = np.empty((0, self.d)), np.empty(0, dtype=int)
        Zd, od = self.diagonal_candidates(Z0, A, B, movable, q)
        return np.concatenate([Zc, Zd]), np.concatenate([o, od])

    def diagonal_candidates(self, Z0, A, B, movable, q, max_lines: int = 48):
        """Several numeric features at once, along the line from the row to a corner of their allowed box.

        For every subset of 2 .. ``max_changes`` (at most 3) mutable numeric features
        and every corner of their box (a direction-constrained feature has one end,
        a free one two), points ``x + t (corner - x)``; at most ``max_lines`` lines.
        """
        num = [j for j in self.mutable_cols if self.numeric[j]]
        top = min(self.max_changes, 3, len(num))
        lines = []
        for size in range(2, top + 1):
            for subset in combinations(num, size):
                ends = [([-1] if self.dirs[j] < 0 else [1] if self.dirs[j] > 0 else [-1, 1]) for j in subset]
                for signs in product(*ends):
                    lines.append((subset, signs))
        if not lines:
            return np.empty((0, self.d)), np.empty(0, dtype=int)
        lines = lines[:max_lines]
        G = len(q)
        blocks, owners = [], []
        for subset, signs in lines:
            cols = list(subset)
            ok = movable[:, cols].all(axis=1)
            rows = np.flatnonzero(ok)
            if not len(rows):
                continue
            x = Z0[np.ix_(rows, cols)]
            corner = np.where(np.array(signs)[None, :] < 0, A[np.ix_(rows, cols)], B[np.ix_(rows, cols)])
            pts = x[:, None, :] + q[None, :, None] * (corner - x)[:, None, :]          # (r, G, s)
            Zc = np.repeat(Z0[rows][:, None, :], G, axis=1)
            for t, j in enumerate(cols):
                v = self.grids[j].snap(pts[..., t], "nearest")
                Zc[..., j] = np.clip(v, A[rows, j][:, None], B[rows, j][:, None])
            blocks.append(Zc.reshape(-1, self.d))
            owners.append(np.repeat(rows, G))
        if not blocks:
            return np.empty((0, self.d)), np.empty(0, dtype=int)
        return np.concatenate(blocks), np.concatenate(owners)

    def box_candidates(self, Z0, A, B, movable, rows, G: int = 12, max_subsets: int = 12):
        """A full grid over each pair of mutable numeric features, for rows nothing has worked for yet.

        Narrow valid regions that need two features at once are easy to miss by
        sampling; a ``G x G`` grid over the pair's allowed box (denser near the row)
        does not miss them at that resolution.
        """
        num = [j for j in self.mutable_cols if self.numeric[j]]
        pairs = list(combinations(num, 2))[:max_subsets] if self.max_changes >= 2 else []
        if not pairs or not len(rows):
            return np.empty((0, self.d)), np.empty(0, dtype=int)
        q = (np.arange(1, G + 1) / G) ** 1.5
        blocks, owners = [], []
        for j1, j2 in pairs:
            rr = rows[movable[rows, j1] & movable[rows, j2]]
            if not len(rr):
                continue
            axes = []
            for j in (j1, j2):
                x, a, b = Z0[rr, j], A[rr, j], B[rr, j]
                if self.dirs[j] < 0:
                    v = x[:, None] - (x - a)[:, None] * q[None, :]
                elif self.dirs[j] > 0:
                    v = x[:, None] + (b - x)[:, None] * q[None, :]
                else:
                    h = q[::2]
                    v = np.concatenate([x[:, None] - (x - a)[:, None] * h, x[:, None] + (b - x)[:, None] * h], axis=1)
                axes.append(np.clip(self.grids[j].snap(v, "nearest"), a[:, None], b[:, None]))
            g1, g2 = axes
            Zc = np.repeat(Z0[rr][:, None, None, :], g1.shape[1], axis=1).repeat(g2.shape[1], axis=2)
            Zc[..., j1] = g1[:, :, None]
            Zc[..., j2] = g2[:, None, :]
            blocks.append(Zc.reshape(-1, self.d))
            owners.append(np.repeat(rr, g1.shape[1] * g2.shape[1]))
        if not blocks:
            return np.empty((0, self.d)), np.empty(0, dtype=int)
        return np.concatenate(blocks), np.concatenate(owners)

    def refine_near_misses(self, Z0, A, B, movable, stuck, gens, Zn, on, sn, it: int, top: int = 4, M: int = 24):
        """Pattern search around the candidates that came closest, for rows nothing has worked for yet.

        The ``top`` invalid candidates with the largest slack per stuck row are
        jittered on the numeric features they change (uniformly within 1/24 of the
        allowed range, halved each iteration), so narrow valid regions near them are found.
        """
        keep = np.isin(on, stuck)
        Zn, on, sn = Zn[keep], on[keep], sn[keep]
        if not len(Zn):
            return np.empty((0, self.d)), np.empty(0, dtype=int)
        order = np.lexsort((-sn, on))
        o_s = on[order]
        start = np.r_[0, np.flatnonzero(o_s[1:] != o_s[:-1]) + 1]
        rank = np.arange(len(o_s)) - np.repeat(start, np.diff(np.r_[start, len(o_s)]))
        sel = order[rank < top]
        base, owners = Zn[sel], on[sel]
        ch = changed_mask(Z0[owners], base) & self.numeric[None, :] & movable[owners]
        Zc = np.repeat(base, M, axis=0)
        oc = np.repeat(owners, M)
        chm = np.repeat(ch, M, axis=0)
        U = np.concatenate([gens[i].random((M, self.d)) for i in owners])
        width = (np.nan_to_num(B - A)[oc]) / 24.0 * 0.5 ** it
        jit = Zc + (2 * U - 1) * width
        for j in range(self.d):
            if not chm[:, j].any():
                continue
            v = np.clip(self.grids[j].snap(np.clip(jit[:, j], A[oc, j], B[oc, j]), "nearest"), A[oc, j], B[oc, j])
            Zc[:, j] = np.where(chm[:, j], v, Zc[:, j])
        return Zc, oc

    def random_candidates(self, Z0, A, B, movable, cat_targets, rows, gens, radius, donors_by_row,
                          use_random: bool, use_donor: bool, corners: bool):
        """Growing-sphere, uniform and donor candidates for ``rows`` (indices into ``Z0``).

        Works on the mutable columns only, so wide data with a few actionable
        features costs little.
        """
        N, d = self.cfg.n_candidates, self.d
        mc = self.mutable_cols
        dm = len(mc)
        r = len(rows)
        if r == 0 or N == 0 or dm == 0:
            return np.empty((0, d)), np.empty(0, dtype=int)
        draws = np.stack([gens[i].random(N * (4 * dm + 3)) for i in rows])
        U = draws[:, :N * 4 * dm].reshape(r, N, dm, 4)
        V = draws[:, N * 4 * dm:].reshape(r, N, 3)
        mov = movable[rows][:, mc]
        nm = mov.sum(axis=1)
        smax = np.minimum(nm, self.max_changes)
        keys = np.where(mov[:, None, :], U[..., 0], np.inf)
        size = np.minimum(np.floor(V[..., 0] * smax[:, None]).astype(int) + 1, smax[:, None])
        rank = np.argsort(np.argsort(keys, axis=2), axis=2)
        chosen = (rank < size[..., None]) & mov[:, None, :]
        # strategy per candidate: 0 sphere, 1 uniform, 2 donor
        strat = np.where(V[..., 1] < 0.5, 0, np.where(V[..., 1] < 0.75, 1, 2))
        if not use_donor:
            strat = np.where(strat == 2, 1, strat)
        if not use_random:
            strat = np.full_like(strat, 2)
        x = Z0[rows][:, mc][:, None, :]
        a = A[rows][:, mc][:, None, :]
        b = B[rows][:, mc][:, None, :]
        dirs = self.dirs[mc][None, None, :]
        sign = np.where(dirs == 0, np.where(U[..., 3] < 0.5, -1.0, 1.0), dirs.astype(float))
        sphere = x + sign * U[..., 2] * radius * self.scale[mc][None, None, :]
        uniform = a + U[..., 2] * (b - a)
        donor_vals = np.full((r, N, dm), np.nan)
        has_donor = np.zeros(r, dtype=bool)
        for t, i in enumerate(rows):
            D = donors_by_row(i)
            if len(D):
                has_donor[t] = True
                donor_vals[t] = D[np.minimum((V[t, :, 2] * len(D)).astype(int), len(D) - 1)][:, mc]
        strat = np.where((strat == 2) & ~has_donor[:, None], 1 if use_random else -1, strat)
        val = np.where(strat[..., None] == 0, sphere, np.where(strat[..., None] == 1, uniform, donor_vals))
        Zc = np.repeat(Z0[rows][:, None, :], N, axis=1)
        for t, j in enumerate(mc):
            if not mov[:, t].any():
                continue
            xt = x[..., t]
            if self.numeric[j]:
                v = np.clip(val[..., t], a[..., t], b[..., t])
                v = self.grids[j].snap(v, "nearest")
                v = np.clip(v, a[..., t], b[..., t])
                v = np.where(np.isnan(v), xt, v)
            else:
                T = cat_targets[j][rows]                         # (r, C)
                cnt = T.sum(axis=1)
                cs = np.cumsum(T, axis=1)
                pick = np.floor(U[..., t, 2] * np.maximum(cnt, 1)[:, None]).astype(int)
                code = np.argmax(cs[:, None, :] > pick[..., None], axis=2).astype(float)
                dv = donor_vals[..., t]
                dcode = np.where(np.isnan(dv), -1, dv).astype(int)
                dcode = np.where(dcode < T.shape[1], dcode, -1)
                ok = (dcode >= 0) & np.take_along_axis(T, np.maximum(dcode, 0), axis=1)
                v = np.where((strat == 2) & ok, dcode.astype(float), code)
                v = np.where(cnt[:, None] > 0, v, xt)
            Zc[..., j] = np.where(chosen[..., t] & (strat >= 0), v, xt)
        Zc = Zc.reshape(r * N, d)
        owners = np.repeat(rows, N)
        if corners:
            Zk = Z0[rows].copy()
            for j in mc:
                if self.numeric[j] and self.dirs[j] != 0:
                    lim = A[rows, j] if self.dirs[j] < 0 else B[rows, j]
                    Zk[:, j] = np.where(movable[rows, j], lim, Zk[:, j])
            Zc = np.concatenate([Zc, Zk])
            owners = np.concatenate([owners, rows])
        return Zc, owners

    def gradient_candidates(self, Z0, A, B, movable):
        """Gradient ascent on the target's slack from each row (differentiable models).

        Two paths per row, in MAD units with steps growing 5% per iteration:
        steepest ascent for the weighted L1 norm (one coordinate at a time: the
        one with the largest gradient per unit cost -- the L1-optimal direction
        for a locally linear model) and the normalised full gradient. Each path
        stops at its first valid point; coordinates at their allowed limit do not move.
        """
        import torch

        adapter = self.adapter
        num_mov = movable & self.numeric[None, :]
        rows = np.flatnonzero(num_mov.any(axis=1))
        if not len(rows) or not self.numeric.all():   # categorical inputs: no gradient path
            return np.empty((0, self.d)), np.empty(0, dtype=int)
        base = adapter.to_tensor(np.ascontiguousarray(Z0[rows])).detach()
        dev, dt = base.device, base.dtype
        owners = np.tile(rows, 2)
        x = base.repeat(2, 1)
        n = len(x)
        coord = torch.zeros(n, dtype=torch.bool, device=dev)
        coord[:len(rows)] = True
        mask = torch.as_tensor(np.tile(num_mov[rows], (2, 1)), device=dev, dtype=dt)
        scale = torch.as_tensor(self.scale, device=dev, dtype=dt)
        w = torch.as_tensor(self.weights, device=dev, dtype=dt)
        lo = torch.as_tensor(np.nan_to_num(np.tile(A[rows], (2, 1)), nan=0.0), device=dev, dtype=dt)
        hi = torch.as_tensor(np.nan_to_num(np.tile(B[rows], (2, 1)), nan=0.0), device=dev, dtype=dt)
        lo = torch.where(mask > 0, lo, x)
        hi = torch.where(mask > 0, hi, x)
        z = x.clone()
        found = torch.zeros(n, dtype=torch.bool, device=dev)
        best = x.clone()
        step = 0.02
        pos = self.pos[owners]
        for _ in range(self.cfg.gradient_steps):
            zz = z.clone().requires_grad_(True)
            slack = self.target.torch_slack(adapter, adapter.forward(zz), pos)
            newly = (slack.detach() > 0) & ~found
            best[newly] = z[newly]
            found |= newly
            if bool(found.all()):
                break
            (g,) = torch.autograd.grad(slack.sum(), zz)
            with torch.no_grad():
                gu = g * scale * mask                       # d slack / d (change in MADs)
                at_hi = z >= hi - 1e-12
                at_lo = z <= lo + 1e-12
                gu = torch.where((at_hi & (gu > 0)) | (at_lo & (gu < 0)), torch.zeros_like(gu), gu)
                score = gu.abs() / w
                j = score.argmax(dim=1)
                one = torch.zeros_like(gu)
                one[torch.arange(n, device=dev), j] = torch.sign(gu[torch.arange(n, device=dev), j])
                norm = gu.norm(dim=1, keepdim=True).clamp_min(1e-12)
                direction = torch.where(coord[:, None], one, gu / norm)
                move = ~found[:, None]
                z = torch.where(move, z + step * direction * scale, z)
                z = torch.minimum(torch.maximum(z, lo), hi)
            step *= 1.05
        vals = torch.where(found[:, None], best, z).cpu().numpy().astype(np.float64)
        Zc = np.tile(Z0[rows], (2, 1))
        for j in range(self.d):
            if self.numeric[j]:
                v = self.grids[j].snap(vals[:, j], "nearest")
                v = np.clip(v, np.tile(A[rows, j], 2), np.tile(B[rows, j], 2))
                Zc[:, j] = np.where(np.tile(num_mov[rows, j], 2) & ~np.isnan(v), v, Zc[:, j])
        return Zc, owners
