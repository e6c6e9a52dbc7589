"""The flat TreeSHAP engine behind :mod:`.tree_shap` (numpy; :mod:`._tree_shap_torch` runs it on a device).

The engine (on a ``_tree_ensemble.TreeEnsemble``) rests on one fact: a tree's output
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

from ._tree_cells import tree_cells


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


__all__ = ["interventional_leaf_phi", "path_dependent_leaf_phi", "interventional_slot_table",
           "interventional_weights"]
