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
from ._tree_units import LookupUnits


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
        self.n_codes = np.bincount(self.leaf, minlength=L)                 # distinct background codes per leaf
        self.start = np.concatenate([[0], np.cumsum(self.n_codes)[:-1]]).astype(np.int64)

    def phi_codes(self, leaf, code):
        """``(U, D)`` background-summed slot contributions of (leaf, foreground code) pairs given once each.

        Every distinct foreground code of a leaf meets every distinct background code of that leaf once
        (with its count): the work is (distinct foreground codes) x (distinct background codes) per leaf,
        whatever the number of rows that share those codes.
        """
        D = self.D
        full = (1 << D) - 1
        U = leaf.size
        out = np.empty((U, D))
        cnt = self.n_codes[leaf]
        cum = np.cumsum(cnt)
        u0 = 0
        while u0 < U:
            base = cum[u0 - 1] if u0 else 0
            u1 = min(U, max(u0 + 1, int(np.searchsorted(cum, base + _PAIR_CHUNK, side="right"))))
            c = cnt[u0:u1]
            nu = u1 - u0
            pu = np.repeat(np.arange(nu), c)
            pb = np.repeat(self.start[leaf[u0:u1]] - (np.cumsum(c) - c), c) + np.arange(pu.size)
            A = code[u0:u1][pu]
            Bc = self.code[pb]
            keep = np.flatnonzero((A | Bc) & full == full)                  # compatible pairs only
            pu, A, Bc, w = pu[keep], A[keep], Bc[keep], self.count[pb[keep]]
            p = _popcount(A & ~Bc & full, D)
            q = _popcount(~A & full, D)
            f_tot = _FACT[p + q]
            wpos = np.where(p > 0, _FACT[np.maximum(p - 1, 0)] * _FACT[q] / f_tot, 0.0) * w
            wneg = np.where(q > 0, _FACT[p] * _FACT[np.maximum(q - 1, 0)] / f_tot, 0.0) * w
            neg = np.bincount(pu, weights=wneg, minlength=nu)
            pos = np.empty((nu, D))
            for s_ in range(D):                                             # sum_k w+ [z_k fails s]
                pos[:, s_] = np.bincount(pu, weights=wpos * (((Bc >> s_) & 1) == 0), minlength=nu)
            abits = _bits(code[u0:u1], D)
            out[u0:u1] = abits * pos - (1.0 - abits) * neg[:, None]
            u0 = u1
        return out

    def phi(self, a):
        """``(B, L, D)`` background-summed slot contributions of foreground codes ``a`` ``(B, L)``, each
        distinct (leaf, code) computed once (:meth:`phi_codes`)."""
        D = self.D
        B, L = a.shape
        key = (np.arange(L, dtype=np.int64)[None, :] << D) | a
        uk, inv = np.unique(key.reshape(-1), return_inverse=True)
        return self.phi_codes(uk >> D, uk & ((1 << D) - 1))[inv.reshape(B, L)]


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


def interventional_weights_by_slot(D: int) -> np.ndarray:
    """:func:`interventional_weights` as ``[s, b, a]`` (one contiguous ``(2**D, 2**D)`` matrix per slot)."""
    if -D not in _W_CACHE:
        _W_CACHE[-D] = np.ascontiguousarray(interventional_weights(D).transpose(2, 0, 1))
    return _W_CACHE[-D]


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


def _slot_table_pays(D: int, L: int, n_pairs: int) -> bool:
    """Whether per-leaf slot tables (superset sums, ``~D**2 2**D`` per leaf) beat the ``n_pairs``
    compatible-or-not (foreground code, background code) pairs of a batch and fit in memory."""
    K = 1 << D
    return L * K * D <= (1 << 25) and L * (D + 1) * (D + 2) * K <= 2 * n_pairs * D


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
        table_leaves, table_offs = [], []
        offset = 0
        used = 0
        # interventional tables of deep leaves (superset sums, ~D**2 2**D per leaf) pay when every leaf of
        # their tree gets a table and the tree has few enough cells to fold into one cell lookup per row, or
        # with many rows per code;
        # otherwise distinct foreground x distinct background codes is less work
        whole = np.zeros(ens.n_leaves, dtype=bool)
        if background is not None and ens.leaf_tree is not None and cells and _USE_CELLS and ens.column is None:
            from ._tree_cells import _tree_layout

            tree_max = np.zeros(int(ens.leaf_tree.max(initial=-1)) + 1, dtype=np.int64)
            np.maximum.at(tree_max, ens.leaf_tree, ens.n_slots.astype(np.int64))
            cap = min(_CELL_CAP, max(16, n_rows // 2))           # as _build_cells will ask
            n_cells = np.array([np.inf if C is None else C for *_, C in _tree_layout(ens)], dtype=np.float64)
            foldable = ((1 << np.minimum(tree_max, 62)) <= max(n_rows, 1)) & (n_cells[:tree_max.size] <= cap)
            whole = foldable[ens.leaf_tree]
        groups = []
        for D in np.unique(ens.n_slots):
            D = int(D)
            if D == 0:
                continue  # a tree that is a single leaf: a constant, no attribution
            idx = np.flatnonzero(ens.n_slots == D)
            if background is None or D <= 8 or (8 << D) <= n_rows:
                groups.append((D, idx, True))
            else:
                groups += [(D, sub, ok) for sub, ok in ((idx[whole[idx]], True), (idx[~whole[idx]], False))
                           if sub.size]
        tabled = []
        for D, idx, cheap in groups:
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
            if cheap and (1 << D) <= max(n_rows, 1) and used + size <= _TABLE_MAX:
                used += size
                tabled.append((g, offset))
                table_leaves.append(idx)
                table_offs.append(offset + np.arange(L, dtype=np.int64) * (1 << D))
                offset += L * (1 << D)
            else:
                if background is not None:
                    g["pairs"] = _BackgroundPairs(g["b"], D, g["scale"])
                g["fmap"] = sparse.csr_matrix((np.ones(L * D), (np.arange(L * D), feats.reshape(-1))),
                                              shape=(L * D, d))
                self.direct.append(g)
        self.table_leaves = np.concatenate(table_leaves) if table_leaves else np.zeros(0, np.int64)
        self.table_offs = np.concatenate(table_offs) if table_offs else np.zeros(0, np.int64)
        # slot-major (one row per slot: a gather of one slot for many lookups reads one row); each group's
        # tables are written in place (slots past a leaf's D are never read)
        self.slot_table_t = np.empty((max([g["D"] for g, _ in tabled], default=1), offset))
        for g, o in tabled:
            self._table(g, out=self.slot_table_t[:g["D"], o:o + (g["idx"].size << g["D"])])
        self.all_table_leaves, self.all_table_offs = self.table_leaves, self.table_offs
        self.cells = None
        if cells and _USE_CELLS and self.table_leaves.size and ens.leaf_tree is not None and ens.column is None:
            self._build_cells(n_rows)
        # leaf lists in one pass: table leaves first, then the direct groups
        self.order = np.concatenate([self.table_leaves] + [g["idx"] for g in self.direct]) \
            if (self.table_leaves.size or self.direct) else np.zeros(0, np.int64)

    @property
    def slot_table(self) -> np.ndarray:
        """The per-leaf tables in slot space: row ``leaf offset + code`` holds the leaf's slot contributions."""
        return self.slot_table_t.T

    @property
    def table(self) -> np.ndarray:
        """The per-leaf tables in feature space: row ``leaf offset + code`` holds the leaf's contribution
        to every feature (built on demand; the numpy engine works from :attr:`slot_table`)."""
        if getattr(self, "_table_f", None) is None:
            offs = np.full(self.ens.n_leaves, -1, dtype=np.int64)
            offs[self.all_table_leaves] = self.all_table_offs
            T = np.zeros((self.slot_table.shape[0], self.ens.n_features))
            for leaf, o in zip(self.all_table_leaves, self.all_table_offs):
                D = int(self.ens.n_slots[leaf])
                T[o:o + (1 << D), self.ens.slot_feature[leaf, :D]] = self.slot_table[o:o + (1 << D), :D]
            self._table_f = T
        return self._table_f

    def _units(self):
        """The remaining table leaves as lookup units (single leaves and sibling pairs, :mod:`._tree_units`),
        built on the first call."""
        nt = self.table_leaves.size
        if getattr(self, "_units_c", None) is None or self._units_c[0] != nt:
            self._units_c = (nt, LookupUnits(self.ens, self.table_leaves, self.table_offs, self.slot_table_t)
                             if nt else None)
        return self._units_c[1]

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
            vals = np.take(self.slot_table_t[:D], rows, axis=1)   # (D, C_t, L_t) slot contributions (slot-major)
            feats = ens.slot_feature[lv, :D].T.reshape(-1)    # (D * L_t,), slot-major, -1 padded (summed, dropped)
            order = np.argsort(feats, kind="stable")
            fs = feats[order]
            starts = np.flatnonzero(np.r_[True, fs[1:] != fs[:-1]])
            sums = np.add.reduceat(vals.transpose(1, 0, 2).reshape(size, -1)[:, order], starts, axis=1)
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

    def _table(self, g, out=None) -> np.ndarray:
        """``(L, 2**D, D)``: each leaf's slot contributions for every foreground code; with ``out`` (a
        ``(D, L * 2**D)`` slot-major view) written there instead."""
        D, L = g["D"], g["idx"].size
        K = 1 << D
        if "b" in g and D <= 8 and out is not None:
            # counts of background codes per leaf (scaled), times the universal weights, one slot at a time
            # (BLAS: measured 6-12x the superset sums below for D = 6..8, whatever the background size)
            flat = (np.arange(L, dtype=np.int64)[None, :] << D) + g["b"]
            cnt = np.bincount(flat.reshape(-1), minlength=L << D).reshape(L, K) * g["scale"][:, None]
            Ws = interventional_weights_by_slot(D)                     # [s, b, a]
            for s_ in range(D):
                np.matmul(cnt, Ws[s_], out=out[s_].reshape(L, K))
            return None
        if "b" in g:
            T = interventional_slot_table(g["b"], D, g["scale"])
        else:
            allc = np.ascontiguousarray(np.broadcast_to(np.arange(K, dtype=np.int64)[:, None], (K, L)))
            T = self._phi(g, allc).transpose(1, 0, 2)
        if out is None:
            return T
        out[...] = T.reshape(L * K, D).T
        return None

    def _phi(self, g, a, l0: int = 0):
        """``(B, l, D)`` slot contributions of the group's leaves ``l0 .. l0 + l`` for codes ``a`` ``(B, l)``."""
        sl = slice(l0, l0 + a.shape[1])
        if "T" in g:                                    # a precomputed slot table: a gather
            return g["T"][np.arange(sl.start, sl.stop)[None, :], a]
        if "b" in g:
            return interventional_leaf_phi(a, g["b"][:, sl], g["D"], g["scale"][sl])
        return path_dependent_leaf_phi(a, g["c"][sl], g["D"], g["scale"][sl])

    def _direct_features(self, g, a) -> np.ndarray:
        """``(B, d)``: the contributions of a direct group's leaves for leaf codes ``a`` ``(B, L)``, in
        blocks of leaves (memory bounded whatever the batch)."""
        B, L = a.shape
        D = g["D"]
        phi_u = None
        if "pairs" in g and "T" not in g:             # distinct foreground x distinct background codes
            key = (np.arange(L, dtype=np.int64)[None, :] << D) | a
            uk, inv = np.unique(key.reshape(-1), return_inverse=True)
            n_pairs = int(g["pairs"].n_codes[uk >> D].sum())
            if _slot_table_pays(D, L, n_pairs):        # a table over all 2**D codes is less work: keep it
                g["T"] = interventional_slot_table(g["b"], D, g["scale"])
            else:
                phi_u = g["pairs"].phi_codes(uk >> D, uk & ((1 << D) - 1))
                inv = inv.reshape(B, L)
        out = np.zeros((B, self.ens.n_features))
        kb = max(1, (1 << 22) // max(1, B * D))
        if phi_u is not None:                           # transposed: (D x leaves, rows), no copies
            from scipy import sparse

            inv_t = np.ascontiguousarray(inv.T)
            phi_t = np.ascontiguousarray(phi_u.T)        # (D, U)
            for l0 in range(0, L, kb):
                l1 = min(L, l0 + kb)
                f = g["feats"][l0:l1].T.reshape(-1)      # slot-major
                fmap_t = sparse.csr_matrix((np.ones(f.size), (f, np.arange(f.size))),
                                           shape=(self.ens.n_features, f.size))
                out += (fmap_t @ phi_t[:, inv_t[l0:l1]].reshape(-1, B)).T
            return out
        for l0 in range(0, L, kb):
            l1 = min(L, l0 + kb)
            vals = self._phi(g, a[:, l0:l1], l0)
            out += np.asarray(vals.reshape(B, -1) @ g["fmap"][l0 * D:l1 * D])
        return out

    def path_dependent_base(self) -> float:
        """``v(empty)``: the cover-weighted mean of the leaf values."""
        return float((self.ens.value * np.prod(self.ens.path_ratio, axis=1)).sum())

    def shap_values(self, X: np.ndarray, chunk_rows: int | None = None) -> np.ndarray:
        """``(n, d)`` Shapley values of the rows of the encoded matrix ``X``."""
        from scipy import sparse

        n = X.shape[0]
        d = self.ens.n_features
        out = np.zeros((n, d), dtype=np.float64)
        nt = self.table_leaves.size
        # lookups per row: one per unit (a sibling pair is one) and slot, plus the direct leaves' slots
        L = max((self._units().n_units if nt else 0) + self.order.size - nt, 1)
        chunk_rows = chunk_rows or max(1, (1 << 22) // (L * max(self.ens.max_depth, 1)))
        if self.m and any("pairs" in g for g in self.direct):
            chunk_rows = max(chunk_rows, 2048)   # rows sharing leaf codes are computed once per chunk
        chunk_rows = max(1, -(-n // max(1, -(-n // chunk_rows))))    # equal chunks: no small last one
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
            if nt:                                   # one lookup per unit, then to features
                self._units().add_to(acc, left)
            if not self.direct:
                continue
            codes = self.ens.leaf_codes(Xc, self.order[nt:], transposed=True, left=left)    # (L, nc)
            pos = 0
            for g in self.direct:
                k = g["idx"].size
                a = codes[pos:pos + k].T.astype(np.int64)
                pos += k
                acc += self._direct_features(g, a)
        return out


__all__ = ["interventional_leaf_phi", "path_dependent_leaf_phi", "interventional_slot_table",
           "interventional_weights"]
