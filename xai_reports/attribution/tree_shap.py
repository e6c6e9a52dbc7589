"""Exact TreeSHAP for tree ensembles: interventional and path-dependent.

Two value functions for a coalition ``S`` of features:

* **interventional** (``background=`` given; Janzing et al. 2020,
  https://arxiv.org/abs/1910.13413; Lundberg et al. 2020,
  https://arxiv.org/abs/1905.04610): ``v(S) = mean_k f(x_S, z_k)``, the model
  evaluated on hybrid rows that take the features in ``S`` from ``x`` and the
  others from each reference row ``z_k``. Contributions are relative to the
  chosen reference population (the form Reg B reason selection needs);
  ``base_values`` is the mean model output over the background.
* **path-dependent** (no background): ``v(S) = E[f(x) | x_S]`` under the
  training distribution recorded in the trees' cover counts. For XGBoost this
  uses XGBoost's own exact implementation (``pred_contribs``); for
  scikit-learn trees the flat engine below.

The flat engine (``_trees.TreeEnsemble``) rests on one fact: a tree's output
is a sum of leaf games. A leaf is reached by a hybrid row exactly when, for
each distinct feature on its path (its *slots*, at most the depth), the row's
value for that feature satisfies every split on it. Writing ``a`` for the bit
code of the slots ``x`` satisfies and ``b`` for ``z``'s, the leaf's game has
a closed-form Shapley value that depends only on ``(a, b)``: with
``P = a & ~b`` (slots that must come from ``x``, ``p = |P|``) and
``N = ~a & b`` (slots that must not, ``q = |N|``), when every slot is in
``a | b``, slot ``s`` gets ``v * (p-1)! q! / (p+q)!`` if ``s in P`` and
``-v * p! (q-1)! / (p+q)!`` if ``s in N``. So for each leaf we tabulate the
background-averaged contribution for all ``2**depth`` foreground codes once
(trees x leaves x background, vectorised), and explaining a row is a gather
and a scatter-add: ``O(leaves * depth)`` per row, independent of the
background size. With many rows a tree's leaf tables are folded into one
table over the tree's cells (the regions between its thresholds), one lookup
per tree and row. Leaves too deep for a table are computed pairwise
(rows x background x leaves, vectorised in chunks). The path-dependent game
``v(S) = prod_{j in S} a_j prod_{j not in S} c_j`` (``c_j`` the cover fraction
of the steps on feature ``j``) is tabulated the same way through the
elementary symmetric polynomials of its factors.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..errors import ExplanationError
from .base import Attribution, Explainer, additivity_check

_FACT = np.array([float(math.factorial(i)) for i in range(171)])
_TABLE_MAX = 1 << 25          # floats in all per-leaf tables together (256 MiB)
_PAIR_CHUNK = 1 << 22         # rows x background x leaves elements per pairwise block
_CELL_CAP = 4096              # most cells a tree may have to get its own table
_USE_CELLS = True


def _bits(codes, D: int):
    """``(..., D)`` 0/1 floats of the low ``D`` bits of integer ``codes``."""
    return ((codes[..., None] >> np.arange(D, dtype=np.int64)) & 1).astype(np.float64)


def _popcount(codes, D: int):
    """Set bits among the low ``D`` bits of integer ``codes`` (int64 result)."""
    codes = np.asarray(codes)
    if hasattr(np, "bitwise_count"):      # numpy >= 2.0: one pass
        return np.bitwise_count(codes & np.asarray((1 << D) - 1, dtype=codes.dtype)).astype(np.int64)
    c = np.zeros(codes.shape, dtype=np.int64)
    for s in range(D):
        c += (codes >> s) & 1
    return c


def interventional_leaf_phi(a, b, D: int, scale):
    """Background-averaged Shapley values of single-leaf games.

    Args:
        a: foreground leaf codes, int ``(B, L)``.
        b: background leaf codes, int ``(m, L)``.
        D: slots (distinct path features) of every leaf here.
        scale: per-leaf factor, shape ``(L,)`` (leaf value / background weight).

    Returns:
        ``(B, L, D)``: slot contributions, summed over the background rows.
    """
    B, L = a.shape
    m = b.shape[0]
    full = (1 << D) - 1
    out = np.zeros((B, L, D), dtype=np.float64)
    step = max(1, _PAIR_CHUNK // max(1, B * m))
    nb_bits = 1.0 - _bits(b, D)                       # (m, L, D): slot not satisfied by z
    q_all = _popcount(~a & full, D)                    # (B, L): slots x fails
    for l0 in range(0, L, step):
        sl = slice(l0, l0 + step)
        A = a[:, None, sl]
        Bb = b[None, :, sl]
        compat = (A | Bb) & full == full               # (B, m, l)
        p = _popcount(A & ~Bb & full, D)
        q = np.broadcast_to(q_all[:, None, sl], p.shape)
        tot = p + q
        f_tot = _FACT[tot]
        wpos = np.where(compat & (p > 0), _FACT[np.maximum(p - 1, 0)] * _FACT[q] / f_tot, 0.0)
        wneg = np.where(compat & (q > 0), _FACT[p] * _FACT[np.maximum(q - 1, 0)] / f_tot, 0.0)
        pos = np.einsum("bml,mls->bls", wpos, nb_bits[:, sl, :])          # sum_k w+ [z_k fails s]
        neg = wneg.sum(axis=1)                                             # (B, l)
        abits = _bits(a[:, sl], D)
        out[:, sl, :] = abits * pos - (1.0 - abits) * neg[:, :, None]
    return out * scale[None, :, None]


def interventional_slot_table(b, D: int, scale, max_floats: int = 1 << 23):
    """``(L, 2**D, D)``: each leaf's background-summed slot contributions for every foreground code.

    For a compatible pair (every slot ``x`` fails, ``z`` satisfies: ``b ⊇ ~a``) the leaf game's
    weights depend only on ``q = |~a|`` and ``p = D - |b|``. So with
    ``F_k(c) = #{background rows: b ⊇ c, |b| = k}`` (superset sums of the background code counts,
    one per popcount ``k``), slot ``s`` in ``a`` gets ``sum_k w+(D-k, q) (F_k(~a) - F_k(~a | s))``
    and slot ``s`` not in ``a`` gets ``-sum_k w-(D-k, q) F_k(~a)``: ``O(D**2 2**D)`` per leaf,
    whatever the background size.

    Args:
        b: background leaf codes, int ``(m, L)``; D: slots per leaf; scale: ``(L,)``.
    """
    m, L = b.shape
    K = 1 << D
    full = K - 1
    codes = np.arange(K, dtype=np.int64)
    pc = _popcount(codes, D)
    c = full ^ codes                                   # ~a for each foreground code a
    q = pc[c]
    k = np.arange(D + 1)[:, None]
    p = D - k
    tot = np.minimum(p + q[None, :], _FACT.size - 1)
    wpos = np.where((p > 0) & (k >= q[None, :]), _FACT[np.maximum(p - 1, 0)] * _FACT[q][None, :] / _FACT[tot], 0.0)
    wneg = np.where((q[None, :] > 0) & (k >= q[None, :]), _FACT[np.maximum(p, 0)] *
                    _FACT[np.maximum(q - 1, 0)][None, :] / _FACT[tot], 0.0)
    abits = _bits(codes, D)                            # (K, D)
    out = np.empty((L, K, D), dtype=np.float64)
    step = max(1, max_floats // ((D + 1) * K))
    for l0 in range(0, L, step):
        sl = slice(l0, min(L, l0 + step))
        nl = sl.stop - sl.start
        flat = (np.arange(nl, dtype=np.int64)[None, :] * K + b[:, sl]).reshape(-1)
        cnt = np.bincount(flat, minlength=nl * K).reshape(nl, K).astype(np.float64)
        F = np.zeros((nl, D + 1, K))
        F[:, pc, codes] = cnt                          # F[l, |b|, b] = count of b
        for i in range(D):                             # superset sums, one bit at a time
            v = F.reshape(nl, D + 1, K >> (i + 1), 2, 1 << i)
            v[:, :, :, 0, :] += v[:, :, :, 1, :]
        Fc = F[:, :, c]                                # (nl, D+1, K) at ~a
        neg = np.einsum("lka,ka->la", Fc, wneg)
        for s_ in range(D):
            diff = Fc - F[:, :, c | (1 << s_)]
            out[sl, :, s_] = np.einsum("lka,ka->la", diff, wpos) * abits[None, :, s_] \
                - neg * (1.0 - abits[None, :, s_])
    return out * np.asarray(scale, dtype=np.float64)[:, None, None]


class _BackgroundPairs:
    """The distinct background codes of each leaf, with their counts (deep leaves share few)."""

    def __init__(self, b, D: int, scale):
        from scipy import sparse

        m, L = b.shape
        key = np.unique((np.arange(L, dtype=np.int64)[None, :] << D | b).reshape(-1), return_counts=True)
        self.leaf = key[0] >> D
        self.code = key[0] & ((1 << D) - 1)
        self.count = key[1].astype(np.float64) * np.asarray(scale, dtype=np.float64)[self.leaf]
        P = self.leaf.size
        nb = 1.0 - _bits(self.code, D)                                   # (P, D): z fails slot s
        rows = np.repeat(np.arange(P), D)
        cols = (self.leaf[:, None] * D + np.arange(D)[None, :]).reshape(-1)
        self.S = sparse.csr_matrix((nb.reshape(-1), (rows, cols)), shape=(P, L * D))
        self.G = sparse.csr_matrix((np.ones(P), (np.arange(P), self.leaf)), shape=(P, L))
        self.D, self.L = D, L

    def phi(self, a):
        """``(B, L, D)`` background-summed slot contributions of foreground codes ``a`` ``(B, L)``."""
        D, L = self.D, self.L
        full = (1 << D) - 1
        B = a.shape[0]
        q_all = _popcount(~a & full, D)
        out = np.empty((B, L, D))
        step = max(1, _PAIR_CHUNK // max(1, self.leaf.size))
        for r0 in range(0, B, step):
            A = a[r0:r0 + step][:, self.leaf]                             # (b, P)
            compat = (A | self.code) & full == full
            p = _popcount(A & ~self.code & full, D)
            q = q_all[r0:r0 + step][:, self.leaf]
            f_tot = _FACT[p + q]
            wpos = np.where(compat & (p > 0), _FACT[np.maximum(p - 1, 0)] * _FACT[q] / f_tot, 0.0) * self.count
            wneg = np.where(compat & (q > 0), _FACT[p] * _FACT[np.maximum(q - 1, 0)] / f_tot, 0.0) * self.count
            pos = np.asarray((self.S.T @ wpos.T).T).reshape(-1, L, D)
            neg = np.asarray((self.G.T @ wneg.T).T)
            abits = _bits(a[r0:r0 + step], D)
            out[r0:r0 + step] = abits * pos - (1.0 - abits) * neg[:, :, None]
        return out


def path_dependent_leaf_phi(a, c, D: int, scale):
    """Shapley values of path-dependent single-leaf games ``v(S) = prod_S a_j prod_notS c_j``.

    Args:
        a: leaf codes, int ``(B, L)``.
        c: zero fractions (cover ratio products per slot), ``(L, D)``.
        D: slots per leaf.
        scale: leaf values, ``(L,)``.

    Returns:
        ``(B, L, D)``.
    """
    bits = _bits(a, D)                                  # (B, L, D)
    k = np.arange(D)
    w = _FACT[k] * _FACT[D - k - 1] / _FACT[D]
    out = np.empty(bits.shape, dtype=np.float64)
    for s in range(D):
        poly = np.zeros(bits.shape, dtype=np.float64)
        poly[..., 0] = 1.0
        for j in range(D):
            if j == s:
                continue
            new = poly * c[None, :, j, None]
            new[..., 1:] += poly[..., :-1] * bits[..., j:j + 1]
            poly = new
        out[..., s] = (poly @ w) * (bits[..., s] - c[None, :, s])
    return out * scale[None, :, None]


_W_CACHE: dict[int, np.ndarray] = {}


def interventional_weights(D: int) -> np.ndarray:
    """``W[b, a, s]``: slot ``s``'s Shapley value in the unit leaf game of foreground code ``a``, background ``b``."""
    if D not in _W_CACHE:
        codes = np.arange(1 << D, dtype=np.int64)
        a = np.repeat(codes, 1 << D)[:, None]          # (4^D, 1) foreground codes
        b = np.tile(codes, 1 << D)[:, None]            # matching background codes
        phi = _pair_phi(a, b, D)                        # (4^D, D)
        W = phi.reshape(1 << D, 1 << D, D).transpose(1, 0, 2).copy()   # [b, a, s]
        _W_CACHE[D] = W
    return _W_CACHE[D]


def _pair_phi(a, b, D: int):
    """Unit-leaf Shapley values for aligned pairs of codes ``a``, ``b`` (shape ``(K, 1)``) -> ``(K, D)``."""
    full = (1 << D) - 1
    a = a[:, 0].astype(np.int64)
    b = b[:, 0].astype(np.int64)
    compat = (a | b) & full == full
    P = a & ~b & full
    Q = ~a & full
    p, q = _popcount(P, D), _popcount(Q, D)
    tot = p + q
    wpos = np.where(compat & (p > 0), _FACT[np.maximum(p - 1, 0)] * _FACT[q] / _FACT[tot], 0.0)
    wneg = np.where(compat & (q > 0), _FACT[p] * _FACT[np.maximum(q - 1, 0)] / _FACT[tot], 0.0)
    return _bits(P, D) * wpos[:, None] - _bits(Q, D) * wneg[:, None]


def _slot_table_pays(D: int, L: int, n_rows: int, m: int) -> bool:
    """Whether a per-leaf slot table (superset sums, ``~D**2 2**D`` per leaf) beats pairwise work
    (``~n_rows * m`` per leaf) and fits in memory."""
    K = 1 << D
    return L * K * D <= (1 << 25) and (D + 1) * (D + 2) * K <= 6 * n_rows * m


class _FlatTreeShap:
    """Plans and runs the flat engine for one ensemble and one background (or none).

    Leaves are grouped by their number of slots ``D``. A group whose table
    (``2**D`` foreground codes per leaf) is worth building (``2**D <= rows``)
    and fits in memory gets a table in *feature space*: row ``leaf * 2**D + a``
    holds the leaf's contribution to every feature for foreground code ``a``,
    so explaining a batch is one sparse one-hot (rows x leaves) times dense
    (table) product. Other groups are computed directly per row.

    With enough rows, trees go one step further (:func:`._trees.tree_cells`):
    a tree's leaf codes depend only on the row's *cell* (its interval between
    the tree's thresholds on each feature, or its categorical pattern), so the
    tree gets one table of cells, each row costs one lookup per tree, and a
    row's cell is an affine function of its split decisions.
    """

    def __init__(self, ens, n_rows: int, background: np.ndarray | None = None, cells: bool = True):
        from scipy import sparse

        self.ens = ens
        self.direct = []
        d = ens.n_features
        bcodes = ens.leaf_codes(background).astype(np.int64) if background is not None else None
        self.m = 0 if background is None else background.shape[0]
        table_leaves, table_offs, blocks, slot_blocks = [], [], [], []
        offset = 0
        used = 0
        for D in np.unique(ens.n_slots):
            D = int(D)
            if D == 0:
                continue  # a tree that is a single leaf: a constant, no attribution
            idx = np.flatnonzero(ens.n_slots == D)
            L = idx.size
            feats = ens.slot_feature[idx, :D]
            g = {"D": D, "idx": idx, "feats": feats}
            if background is not None:
                g["b"] = bcodes[:, idx]
                g["scale"] = ens.value[idx] / self.m
            else:
                c = np.ones((L, D))
                for s in range(ens.max_depth):  # product of the cover ratios of the steps on each slot
                    c[np.arange(L), ens.path_slot[idx, s]] *= ens.path_ratio[idx, s]
                g["c"] = c
                g["scale"] = ens.value[idx]
            size = L * (1 << D) * d
            if (1 << D) <= max(n_rows, 1) and used + size <= _TABLE_MAX:
                used += size
                T = self._table(g)                                  # (L, 2^D, D)
                Tf = np.zeros((L, 1 << D, d))
                rows = np.arange(L)
                for s_ in range(D):
                    Tf[rows, :, feats[:, s_]] += T[:, :, s_]
                blocks.append(Tf.reshape(L * (1 << D), d))
                slot_blocks.append(T.reshape(L * (1 << D), D))
                table_leaves.append(idx)
                table_offs.append(offset + np.arange(L, dtype=np.int64) * (1 << D))
                offset += L * (1 << D)
            else:
                if background is not None and _slot_table_pays(D, L, max(n_rows, 1), self.m):
                    g["T"] = interventional_slot_table(g["b"], D, g["scale"])
                elif background is not None:
                    g["pairs"] = _BackgroundPairs(g["b"], D, g["scale"])
                g["fmap"] = sparse.csr_matrix((np.ones(L * D), (np.arange(L * D), feats.reshape(-1))),
                                              shape=(L * D, d))
                self.direct.append(g)
        self.table_leaves = np.concatenate(table_leaves) if table_leaves else np.zeros(0, np.int64)
        self.table_offs = np.concatenate(table_offs) if table_offs else np.zeros(0, np.int64)
        self.table = np.concatenate(blocks) if blocks else np.zeros((0, d))
        dmax = max([b.shape[1] for b in slot_blocks], default=1)
        self.slot_table = np.concatenate([np.pad(b, ((0, 0), (0, dmax - b.shape[1]))) for b in slot_blocks]) \
            if slot_blocks else np.zeros((0, 1))
        self.cells = None
        if cells and _USE_CELLS and self.table_leaves.size and ens.leaf_tree is not None and ens.column is None:
            self._build_cells(n_rows)
        # leaf lists in one pass: table leaves first, then the direct groups
        self.order = np.concatenate([self.table_leaves] + [g["idx"] for g in self.direct]) \
            if (self.table_leaves.size or self.direct) else np.zeros(0, np.int64)

    def _build_cells(self, n_rows: int):
        """Per-tree cell tables for trees whose every leaf has a table and few enough cells.

        A cell table row is the sum, over the tree's leaves, of the leaf table row for
        the leaf code that cell implies; explaining a row is then one lookup per tree.
        """
        from ._trees import tree_cells

        ens = self.ens
        offs = np.full(ens.n_leaves, -1, dtype=np.int64)
        offs[self.table_leaves] = self.table_offs
        tabled = np.ones(ens.n_trees, dtype=bool)
        np.logical_and.at(tabled, ens.leaf_tree, offs >= 0)
        # building a cell table must cost less than what it saves
        cells = tree_cells(ens, min(_CELL_CAP, max(16, n_rows // 2)), allowed=tabled)
        if not cells.trees:
            return
        keep, tables = [], []
        for i, (lv, codes, size) in enumerate(zip(cells.leaves, cells.codes, cells.sizes)):
            rows = offs[lv][None, :] + codes                  # (C_t, L_t) rows of the leaf tables
            D = int(ens.n_slots[lv].max())
            vals = self.slot_table[rows, :D]                   # (C_t, L_t, D) slot contributions
            feats = ens.slot_feature[lv, :D].reshape(-1)      # (L_t * D,), -1 padded
            order = np.argsort(feats, kind="stable")
            fs = feats[order]
            starts = np.flatnonzero(np.r_[True, fs[1:] != fs[:-1]])
            sums = np.add.reduceat(vals.reshape(size, -1)[:, order], starts, axis=1)    # (C_t, features used)
            table = np.zeros((size, ens.n_features))
            keep_f = fs[starts] >= 0
            table[:, fs[starts][keep_f]] = sums[:, keep_f]
            tables.append(table)
            keep.append(i)
        if not keep:
            return
        keep = np.asarray(keep)
        celled = np.zeros(ens.n_leaves, dtype=bool)
        for i in keep:
            celled[cells.leaves[i]] = True
        sizes = cells.sizes[keep]
        self.cells = {"W": cells.W[keep], "const": cells.const[keep], "nan_corr": cells.nan_corr[keep],
                      "offs": np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64),
                      "table": np.concatenate(tables)}
        # the remaining leaves keep their per-leaf tables
        rest = ~celled[self.table_leaves]
        self.table_leaves = self.table_leaves[rest]
        self.table_offs = self.table_offs[rest]
        self.order = np.concatenate([self.table_leaves] + [g["idx"] for g in self.direct]) \
            if (self.table_leaves.size or self.direct) else np.zeros(0, np.int64)

    def _table(self, g) -> np.ndarray:
        """``(L, 2**D, D)``: each leaf's slot contributions for every foreground code."""
        D, L = g["D"], g["idx"].size
        allc = np.ascontiguousarray(np.broadcast_to(np.arange(1 << D, dtype=np.int64)[:, None], (1 << D, L)))
        if "b" in g and (1 << D) <= self.m and D <= 8:
            # counts of background codes per leaf, times the universal weights
            cnt = np.zeros((L, 1 << D))
            flat = (np.arange(L, dtype=np.int64)[None, :] << D) + g["b"]
            cnt.reshape(-1)[:] = np.bincount(flat.reshape(-1), minlength=L << D)
            W = interventional_weights(D).reshape(1 << D, -1)           # [b, a*D + s]
            return (cnt @ W).reshape(L, 1 << D, D) * g["scale"][:, None, None]
        if "b" in g:
            return interventional_slot_table(g["b"], D, g["scale"])
        return self._phi(g, allc).transpose(1, 0, 2)

    def _phi(self, g, a):
        if "T" in g:                                    # a precomputed slot table: a gather
            return g["T"][np.arange(a.shape[1])[None, :], a]
        if "pairs" in g:                                # distinct background codes per leaf
            return g["pairs"].phi(a)
        if "b" in g:
            return interventional_leaf_phi(a, g["b"], g["D"], g["scale"])
        return path_dependent_leaf_phi(a, g["c"], g["D"], g["scale"])

    def path_dependent_base(self) -> float:
        """``v(empty)``: the cover-weighted mean of the leaf values."""
        return float((self.ens.value * np.prod(self.ens.path_ratio, axis=1)).sum())

    def shap_values(self, X: np.ndarray, chunk_rows: int | None = None) -> np.ndarray:
        """``(n, d)`` Shapley values of the rows of the encoded matrix ``X``."""
        from scipy import sparse

        n = X.shape[0]
        d = self.ens.n_features
        out = np.zeros((n, d), dtype=np.float64)
        L = max(self.order.size, 1)
        chunk_rows = chunk_rows or max(1, (1 << 22) // (L * max(self.ens.max_depth, 1)))
        nt = self.table_leaves.size
        for r0 in range(0, n, chunk_rows):
            Xc = X[r0:r0 + chunk_rows]
            nc = Xc.shape[0]
            left = self.ens.go_left(Xc)
            acc = out[r0:r0 + nc]
            if self.cells is not None:
                c = self.cells
                cell = (c["W"] @ left[:-1].astype(np.float64)) + c["const"][:, None]
                nan = np.isnan(Xc)
                if nan.any():
                    cell += c["nan_corr"] @ nan.T.astype(np.float64)
                flat = (np.rint(cell).astype(np.int64) + c["offs"][:, None]).T.reshape(-1)
                k = c["offs"].size
                onehot = sparse.csr_matrix((np.ones(flat.size), flat, np.arange(0, flat.size + 1, k)),
                                           shape=(nc, c["table"].shape[0]))
                acc += onehot @ c["table"]
            if not self.order.size:
                continue
            codes = self.ens.leaf_codes(Xc, self.order, transposed=True, left=left)        # (L, nc)
            if nt:
                flat = (codes[:nt].astype(np.int64) + self.table_offs[:, None]).T.reshape(-1)
                onehot = sparse.csr_matrix((np.ones(flat.size), flat, np.arange(0, flat.size + 1, nt)),
                                           shape=(nc, self.table.shape[0]))
                acc += onehot @ self.table
            pos = nt
            for g in self.direct:
                k = g["idx"].size
                a = codes[pos:pos + k].T.astype(np.int64)
                pos += k
                vals = self._phi(g, a)
                acc += np.asarray(vals.reshape(nc, -1) @ g["fmap"])
        return out


class TreeShap(Explainer):
    """Exact Shapley values of a tree ensemble: interventional (``background=``) or path-dependent.

    Reads XGBoost boosters (numeric and categorical splits, missing values,
    multi-class with ``target=``) and scikit-learn ``DecisionTree*``,
    ``RandomForest*``, ``ExtraTrees*`` and ``GradientBoosting*`` models; LightGBM
    (categorical splits included), CatBoost oblivious trees (numeric and one-hot
    categorical splits), scikit-learn ``HistGradientBoosting*`` (categorical
    bitsets included) and Pipelines ending in a tree model (values per original
    column; a one-hot encoded column is one player).
    Explains the space the trees add up in: XGBoost's margin (log-odds),
    scikit-learn forests' probability (classifiers) or value (regressors),
    GradientBoosting's margin (its ``decision_function``).

    Examples::

        >>> attr = TreeShap(xgb_model).attribute(X, background=X_reference.sample(100, random_state=0))
        >>> attr.values.shape, attr.output
        ((n, d), 'margin')
        >>> np.allclose(attr.values.sum(1) + attr.base_values, attr.predictions, atol=1e-5)
        True
    """

    name = "tree_shap"
    additive = True
    requires = frozenset({"tree_ensemble"})

    def attribute(self, X, *, background=None, target: int | None = None, device: str = "auto",
                  batch_size: int = 100_000, tolerance: float = 1e-3,
                  feature_perturbation: str | None = None, engine: str = "auto") -> Attribution:
        """Attribute each row of ``X``.

        Args:
            X: DataFrame (categorical columns allowed) or array, shape ``(n, d)``.
            background: reference rows, shape ``(m, d)``, for the interventional
                form; ``None`` gives the path-dependent form.
            target: the output (class) to explain for multi-output models.
            device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
            batch_size: rows per call, to bound memory.
            tolerance: the additivity self-check's tolerance (output units).
            feature_perturbation: ``"interventional"`` or ``"tree_path_dependent"``
                (inferred from ``background`` when left out, as in shap).
            engine: ``"auto"``; ``"flat"`` forces this module's engine for the
                path-dependent form of XGBoost, LightGBM and CatBoost models too
                (their own exact implementations otherwise: ``pred_contribs``,
                ``pred_contrib``, ``ShapValues``).

        Returns:
            :class:`Attribution`, ``values`` ``(n, d)``; ``base_values`` the mean
            model output over the background (interventional) or the
            cover-weighted expectation (path-dependent); ``self_check`` the
            additivity error against the model's own predictions.
        """
        if feature_perturbation == "interventional" and background is None:
            raise ExplanationError("interventional tree_shap needs background= (the reference rows)")
        if background is not None and feature_perturbation not in (None, "interventional"):
            raise ExplanationError(f"feature_perturbation={feature_perturbation!r} takes no background")
        if background is not None:
            return self._interventional(X, background=background, target=target, device=device,
                                        batch_size=batch_size, tolerance=tolerance)
        if self.model.family == "xgboost" and engine != "flat":
            return self._xgboost_path_dependent(X, device=device, batch_size=batch_size,
                                                tolerance=tolerance, target=target)
        if self.model.family in ("lightgbm", "catboost") and engine != "flat" and \
                not str(device).startswith("cuda"):
            return self._library_path_dependent(X, target=target, tolerance=tolerance)
        return self._flat_path_dependent(X, target=target, tolerance=tolerance)

    def _library_path_dependent(self, X, *, target=None, tolerance=1e-3) -> Attribution:
        """LightGBM's ``pred_contrib`` / CatBoost's ``ShapValues``: the libraries' own exact path-dependent SHAP."""
        contribs = np.asarray(self.model.contributions(X), dtype=np.float64)
        d = len(self.model.feature_names) if self.model.feature_names else None
        if contribs.ndim == 2 and d is not None and contribs.shape[1] != d + 1:   # LightGBM multi-class
            contribs = contribs.reshape(len(contribs), -1, d + 1)
        if contribs.ndim == 3:
            if target is None:
                raise ExplanationError(f"the model has {contribs.shape[1]} classes: pass target=")
            contribs = contribs[:, int(target)]
        values, base = contribs[:, :-1], contribs[:, -1]
        from ._tabular import select_output

        preds = select_output(np.asarray(self.model.predict(X), dtype=np.float64), target)
        impl = "lightgbm pred_contrib" if self.model.family == "lightgbm" else "catboost ShapValues"
        return Attribution(
            values=values, base_values=base, feature_names=self._feature_names(X), method=self.name,
            output=self.model.output_space, predictions=preds, target=target,
            params={"form": "path_dependent", "device": "cpu", "implementation": impl},
            self_check=additivity_check(values, base, preds, tolerance))

    # -- helpers ----------------------------------------------------------------
    def _ensemble(self, target):
        from ._trees import parse_ensemble

        cache = self.__dict__.setdefault("_ensembles", {})
        if target not in cache:
            cache[target] = parse_ensemble(self.model, target)
        return cache[target]

    def _columns(self, X):
        if isinstance(X, pd.DataFrame):
            return list(self.model.feature_names) if self.model.feature_names else list(X.columns)
        return None

    def _predict(self, X, ens, target, encoded=None):
        """The model's own output for ``X`` (the additivity check's reference)."""
        from ._tabular import select_output
        from ._trees import sklearn_predict

        if self.model.family == "sklearn":
            return sklearn_predict(self.model, X, ens.output, target)
        numeric = not isinstance(X, pd.DataFrame) or all(
            pd.api.types.is_numeric_dtype(t) and not isinstance(t, pd.CategoricalDtype) for t in X.dtypes)
        if self.model.family == "xgboost" and encoded is not None and numeric and not (ens.cat_index >= 0).any():
            # all-numeric input: predict on the float32 matrix (XGBoost's pandas import is slow)
            raw = self.model.booster.inplace_predict(encoded.astype(np.float32), predict_type="margin")
            return select_output(np.asarray(raw, dtype=np.float64), target)
        return select_output(self.model.predict(X), target)

    # -- interventional -----------------------------------------------------------
    def _interventional(self, X, *, background, target=None, device="auto", batch_size=100_000,
                        tolerance=1e-3) -> Attribution:
        from .._device import resolve_device

        ens = self._ensemble(target)
        cols = self._columns(X)
        Xm = ens.encode(X, cols)
        if isinstance(background, pd.DataFrame) and cols is not None:
            Bm = ens.encode(background, cols)
        elif isinstance(background, pd.DataFrame):
            Bm = ens.encode(background, list(background.columns))
        else:
            Bm = ens.encode(background)
        if Bm.shape[0] == 0:
            raise ExplanationError("background= has no rows")
        dev = resolve_device(device)
        values = np.zeros((Xm.shape[0], ens.n_features), dtype=np.float64)
        plan = None
        for i in range(0, Xm.shape[0], batch_size):
            Xc = Xm[i:i + batch_size]
            if plan is None:
                plan = _make_plan(ens, min(Xm.shape[0], batch_size), Bm, dev)
            values[i:i + batch_size] = plan.shap_values(Xc)
        preds = self._predict(X, ens, target, Xm)
        bg_preds = self._predict(background, ens, target, Bm)
        base = np.full(len(values), float(np.mean(bg_preds)))
        return Attribution(
            values=values, base_values=base, feature_names=self._feature_names(X), method=self.name,
            output=ens.output, predictions=preds, target=target,
            params={"form": "interventional", "device": dev, "background_rows": int(Bm.shape[0]),
                    "implementation": "xai_reports flat TreeSHAP"},
            self_check=additivity_check(values, base, preds, tolerance),
            extras={"background_mean_output": float(np.mean(bg_preds))})

    # -- path-dependent -----------------------------------------------------------
    def _flat_path_dependent(self, X, *, target=None, tolerance=1e-3) -> Attribution:
        ens = self._ensemble(target)
        if not ens.cover_known:
            raise ExplanationError(
                "path-dependent tree_shap needs the training cover of each node, which this model does not "
                "record (ONNX nodes_hitrates absent or all 1.0); pass background= (the reference rows) for the "
                "interventional form")
        Xm = ens.encode(X, self._columns(X))
        plan = _FlatTreeShap(ens, Xm.shape[0])
        values = plan.shap_values(Xm)
        preds = self._predict(X, ens, target)
        leaf_sum = ens.predict(Xm) - (ens.offset or 0.0)
        offset = ens.offset if ens.offset is not None else float(np.median(preds - leaf_sum))
        base = np.full(len(values), plan.path_dependent_base() + offset)
        return Attribution(
            values=values, base_values=base, feature_names=self._feature_names(X), method=self.name,
            output=ens.output, predictions=preds, target=target,
            params={"form": "path_dependent", "device": "cpu", "implementation": "xai_reports flat TreeSHAP"},
            self_check=additivity_check(values, base, preds, tolerance))

    def _xgboost_path_dependent(self, X, *, device="auto", batch_size=100_000, tolerance=1e-3,
                                target=None) -> Attribution:
        from .._device import resolve_device

        dev = resolve_device(device)
        self.model.to(dev)
        try:
            n = len(X)
            parts, margins = [], []
            for i in range(0, n, batch_size):
                chunk = X.iloc[i:i + batch_size] if hasattr(X, "iloc") else X[i:i + batch_size]
                dm = self.model.dmatrix(chunk)
                parts.append(self.model.booster.predict(dm, pred_contribs=True))
                margins.append(self.model.booster.predict(dm, output_margin=True))
        finally:
            self.model.to("cpu")
        contribs = np.concatenate(parts).astype(np.float64)
        margin = np.concatenate(margins).astype(np.float64)
        if contribs.ndim == 3:  # multi-class: (n, k, d+1)
            if target is None:
                raise ExplanationError(f"the model has {contribs.shape[1]} classes: pass target=")
            contribs, margin = contribs[:, int(target)], margin[:, int(target)]
        values, base = contribs[:, :-1], contribs[:, -1]
        return Attribution(
            values=values, base_values=base, feature_names=self._feature_names(X),
            method=self.name, output=self.model.output_space, predictions=margin, target=target,
            params={"form": "path_dependent", "device": dev, "implementation": "xgboost pred_contribs"},
            self_check=additivity_check(values, base, margin, tolerance))


def _make_plan(ens, n_rows, background, device):
    if str(device).startswith("cuda"):
        from ._tree_shap_torch import TorchTreeShap

        return TorchTreeShap(ens, n_rows, background, device)
    return _FlatTreeShap(ens, n_rows, background)


__all__ = ["TreeShap", "interventional_leaf_phi", "path_dependent_leaf_phi"]
