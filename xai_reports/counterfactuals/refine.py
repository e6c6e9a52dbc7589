"""Refinement and selection of the counterfactual search (see :mod:`.search` for the whole procedure).

:class:`Refinement` is a mixin of :class:`.search.Engine`: it makes valid
candidates sparser (:meth:`~Refinement.sparsify`) and closer
(:meth:`~Refinement.shrink`), and picks the pool to refine and the final ``k``
per row. It uses the engine's ``cfg``, ``d``, ``numeric``, ``grids``, ``scale``,
``weights``, ``max_changes``, ``Z0`` and :meth:`~.search.Engine.evaluate`.
"""

from __future__ import annotations

import numpy as np

from .encoding import changed_mask
from .quality import l1_distance


class Refinement:
    """Sparsify, shrink, and choose among valid candidates (a mixin of the search engine)."""

    def cost(self, Z0_rows, Z):
        """Weighted MAD-L1 distance of candidates ``Z`` from their query rows ``Z0_rows``."""
        return l1_distance(Z0_rows, Z, self.scale, self.numeric, self.weights)

    def sparsify(self, Z0, C, owners):
        """Undo changes while the outcome stays desired, the most costly undoable change first.

        Each round evaluates undoing every changed feature of every candidate in
        one model call and applies, per candidate, the most costly undo that
        keeps the outcome desired; rounds repeat until no undo is valid.
        """
        X0 = Z0[owners]
        n = len(C)
        active = np.ones(n, dtype=bool)
        for _ in range(min(self.max_changes, self.d)):
            changed = changed_mask(X0, C) & active[:, None]
            ci, cj = np.nonzero(changed)
            if not len(ci):
                break
            T = C[ci].copy()
            T[np.arange(len(ci)), cj] = X0[ci, cj]
            _, v, _ = self.evaluate(T, owners[ci])
            if not v.any():
                break
            per = np.abs(C[ci, cj] - X0[ci, cj]) / self.scale[cj]
            per = np.where(self.numeric[cj], np.nan_to_num(per, nan=1.0), 1.0) * self.weights[cj]
            # per candidate, the valid undo of the largest cost
            order = np.lexsort((-per, ci))
            order = order[v[order]]
            first = np.ones(len(order), dtype=bool)
            first[1:] = ci[order][1:] != ci[order][:-1]
            pick = order[first]
            C[ci[pick]] = T[pick]
            active[:] = False
            active[ci[pick]] = True       # only candidates that progressed can progress further
        return C

    def shrink(self, Z0, C, owners):
        """Move each numeric change back toward the original value, keeping the outcome desired.

        A ``P``-ary search (``P = SearchConfig.shrink_points`` interior points per
        model call, on the feature's grid) between the original value (not enough
        on its own) and the candidate's value (valid): ``bisect_steps`` bisection
        steps' worth of precision in about ``bisect_steps / log2(P + 1)`` calls per
        feature. A candidate's changed features are searched one after the other
        (each in the row as the previous ones left it); different candidates run
        side by side, so a model call serves every candidate's current feature.
        """
        X0 = Z0[owners]
        P = max(1, int(self.cfg.shrink_points))
        u = np.arange(1, P + 1) / (P + 1.0)
        rounds = int(np.ceil(self.cfg.bisect_steps / np.log2(P + 1)))
        num_cols = np.flatnonzero(self.numeric)
        if not len(num_cols) or not len(C):
            return C
        queue = changed_mask(X0[:, num_cols], C[:, num_cols])        # (n, q): features still to shrink
        n = len(C)
        feat = np.full(n, -1)                                      # current feature (column) per candidate
        lo = np.zeros(n)
        hi = np.zeros(n)
        left = np.zeros(n, dtype=int)                              # rounds left on the current feature

        def next_feature(rows):
            has = queue[rows].any(axis=1)
            rows = rows[has]
            first = queue[rows].argmax(axis=1)
            queue[rows, first] = False
            j = num_cols[first]
            feat[rows] = j
            lo[rows] = X0[rows, j]      # the original value: not enough on its own
            hi[rows] = C[rows, j]       # a valid value
            left[rows] = rounds
            return rows

        next_feature(np.arange(n))
        while True:
            act = np.flatnonzero(feat >= 0)
            if not len(act):
                break
            j_act = feat[act]
            pts = lo[act, None] + (hi[act] - lo[act])[:, None] * u[None, :]
            inside = np.zeros((len(act), P), dtype=bool)
            for j in np.unique(j_act):
                sel = j_act == j
                g = self.grids[j]
                l, h = lo[act[sel]], hi[act[sel]]
                if not g.continuous:
                    down = (h < l)[:, None]
                    # snap toward the valid end, so a point never passes it
                    pj = np.where(down, g.snap(pts[sel], "down"), g.snap(pts[sel], "up"))
                    ins = np.where(down, (pj > h[:, None]) & (pj < l[:, None]), (pj < h[:, None]) & (pj > l[:, None]))
                    ins &= changed_mask(pj, h[:, None]) & changed_mask(pj, l[:, None])
                    pts[sel] = pj
                else:
                    ins = np.repeat((np.abs(h - l) > self.cfg.tolerance * self.scale[j])[:, None], P, axis=1)
                inside[sel] = ins
            done = ~inside.any(axis=1) | (left[act] <= 0)
            if done.any():
                fin = act[done]
                C[fin, feat[fin]] = hi[fin]
                feat[fin] = -1
                next_feature(fin)
                continue                    # re-plan with the next features before calling the model
            ri, pi = np.nonzero(inside)
            cand = act[ri]
            T = C[cand].copy()
            T[np.arange(len(ri)), feat[cand]] = pts[ri, pi]
            _, v, _ = self.evaluate(T, owners[cand])
            m = len(act)
            # per candidate: the valid point nearest the original becomes hi; the invalid point just
            # before it becomes lo
            frac = np.full((m, P), np.inf)
            frac[ri[v], pi[v]] = u[pi[v]]
            best = frac.argmin(axis=1)
            has = np.isfinite(frac[np.arange(m), best])
            bad = np.full((m, P), -np.inf)
            bad[ri[~v], pi[~v]] = u[pi[~v]]
            limit = np.where(has, u[best], np.inf)
            bad = np.where(bad < limit[:, None], bad, -np.inf)
            bl = bad.argmax(axis=1)
            hasl = np.isfinite(bad[np.arange(m), bl])
            hi[act] = np.where(has, pts[np.arange(m), best], hi[act])
            lo[act] = np.where(hasl, pts[np.arange(m), bl], lo[act])
            left[act] -= 1
        return C

    # -- selection ---------------------------------------------------------------
    def pick_pool(self, Zc, owners, cost, sources):
        """Per row, up to ``pool`` valid candidates: the cheapest of each changed-feature set first."""
        P = self.cfg.pool
        if not len(Zc):
            return np.empty(0, dtype=int)
        ch = changed_mask(self.Z0[owners], Zc)
        key = (ch * (1 << np.arange(self.d, dtype=np.int64) % 62)).sum(axis=1)
        order = np.lexsort((cost, key, owners))
        o_s, k_s = owners[order], key[order]
        first = np.ones(len(order), dtype=bool)
        first[1:] = (o_s[1:] != o_s[:-1]) | (k_s[1:] != k_s[:-1])
        # firsts ranked by cost within each row, then the rest by cost
        pri = np.where(first, 0, 1)
        order2 = np.lexsort((cost[order], pri, o_s))
        sel = order[order2]
        o2 = owners[sel]
        start = np.r_[0, np.flatnonzero(o2[1:] != o2[:-1]) + 1]
        rank = np.arange(len(o2)) - np.repeat(start, np.diff(np.r_[start, len(o2)]))
        return sel[rank < P]

    def choose(self, Z0row, C, cost, k):
        """The ``k`` cheapest mutually non-redundant candidates of one row (indices into ``C``).

        A candidate is redundant next to a chosen one when it asks for every change
        the chosen one asks for (each as far or further, the same categories) -- or
        is the same point.
        """
        ch = changed_mask(Z0row[None, :], C)
        order = np.lexsort((ch.sum(axis=1), cost))
        D = C - Z0row[None, :]
        num = self.numeric
        chosen: list[int] = []
        for i in order:
            redundant = False
            for s in chosen:
                if np.any(ch[s] & ~ch[i]):
                    continue
                js = ch[s]
                nj = js & num
                cj = js & ~num
                if (np.all(np.sign(D[i, nj]) == np.sign(D[s, nj]))
                        and np.all(np.abs(D[i, nj]) >= np.abs(D[s, nj]) - 1e-12)
                        and np.all(C[i, cj] == C[s, cj])):
                    redundant = True
                    break
            if redundant:
                continue
            chosen.append(int(i))
            if len(chosen) == k:
                break
        return chosen
