"""Per-tree cell tables: one table row per region of a tree's input space (see :class:`TreeCells`).

Used by the flat TreeSHAP engine (:mod:`._tree_shap_flat`) to fold a tree's
per-leaf tables into one lookup per tree and row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._tree_ensemble import TreeEnsemble


@dataclass
class TreeCells:
    """The regions ("cells") of each tree's input space that decide all its leaf codes.

    Within one tree, a row's leaf codes depend only on, for each feature the tree
    splits on, which interval between the tree's thresholds it falls in (or the
    missing-value case), or for a categorical feature, its pattern of left/right
    decisions. The product of those digits is the row's cell; a tree with ``C``
    cells needs one table of ``C`` rows instead of one per leaf. The cell of
    every row and tree is an affine function of the split decisions:
    ``cell = const + W @ go_left + nan_corr @ isnan(x)``.

    Attributes:
        trees: tree ids that have cells; leaves: each tree's leaf ids;
        codes: each tree's ``(C_t, L_t)`` leaf codes per cell; sizes: ``C_t``;
        W: ``(T_c, N)`` sparse weights on the split decisions; const: ``(T_c,)``;
        nan_corr: ``(T_c, d)`` missing-value corrections.
    """

    trees: list
    leaves: list
    codes: list
    sizes: np.ndarray
    W: object
    const: np.ndarray
    nan_corr: np.ndarray

    def cell_index(self, left: np.ndarray, X: np.ndarray) -> np.ndarray:
        """``(T_c, n)`` int64 cell of each row in each celled tree (``left`` from ``go_left``)."""
        idx = self.W @ left[:-1].astype(np.float64)
        idx += self.const[:, None]
        nan = np.isnan(X)
        if nan.any():
            idx += self.nan_corr @ nan.T.astype(np.float64)
        return np.rint(idx).astype(np.int64)


def _tree_layout(ens: TreeEnsemble):
    """Per tree: its internal nodes, its leaves, and its number of cells (``None`` if it cannot have cells)."""
    cache = ens.__dict__.setdefault("_derived", {})
    if "layout" not in cache:
        leaf_order = np.argsort(ens.leaf_tree, kind="stable")
        leaf_bounds = np.searchsorted(ens.leaf_tree[leaf_order], np.arange(ens.n_trees + 1))
        node_order = np.argsort(ens.node_tree, kind="stable")
        node_bounds = np.searchsorted(ens.node_tree[node_order], np.arange(ens.n_trees + 1))
        layout = []
        for t in range(ens.n_trees):
            nd = node_order[node_bounds[t]:node_bounds[t + 1]]
            lv = leaf_order[leaf_bounds[t]:leaf_bounds[t + 1]]
            specs, C = [], 1
            for f in np.unique(ens.feature[nd]):
                fn = nd[ens.feature[nd] == f]
                cat = ens.cat_index[fn] >= 0
                if cat.all():
                    specs.append(("cat", int(f), fn, np.arange(fn.size), 1 << fn.size))
                elif not cat.any():
                    uniq = np.unique(ens.threshold[fn])
                    specs.append(("num", int(f), fn, np.searchsorted(uniq, ens.threshold[fn]), uniq.size + 2))
                else:
                    C = None
                    break
                C *= specs[-1][4]
            layout.append((nd, lv, specs, None if (C is None or nd.size == 0) else C))
        cache["layout"] = layout
    return cache["layout"]


def _one_tree_cells(ens: TreeEnsemble, t: int):
    """``(leaves, codes (C, L_t), C, [(node, weight)], const, nan_corr (d,))`` for tree ``t``."""
    cache = ens.__dict__.setdefault("_derived", {}).setdefault("cells", {})
    if t in cache:
        return cache[t]
    nd, lv, specs, C = _tree_layout(ens)[t]
    N = ens.feature.size
    local = np.full(N + 1, -1, dtype=np.int64)
    local[nd] = np.arange(nd.size)
    local[N] = nd.size                                   # the always-pass virtual node
    G = np.ones((C, nd.size + 1), dtype=bool)            # synthetic split decisions per cell
    cells = np.arange(C)
    stride, c0 = 1, 0.0
    corr = np.zeros(ens.n_features)
    weights = []
    for kind, f, fn, rank, radix in specs:
        digit = (cells // stride) % radix
        cols = local[fn]
        if kind == "cat":
            G[:, cols] = ((digit[:, None] >> rank[None, :]) & 1).astype(bool)
            weights += [(int(n_), float(stride << j)) for j, n_ in enumerate(fn)]
        else:
            k = radix - 2
            G[:, cols] = rank[None, :] >= digit[:, None]
            G[np.ix_(digit == k + 1, cols)] = ens.default_left[fn][None, :]
            # digit = k - sum(go_left of one node per distinct threshold); + (1 + sum of their defaults) if NaN
            reps = fn[np.unique(rank, return_index=True)[1]]
            c0 += stride * k
            weights += [(int(n_), -float(stride)) for n_ in reps]
            corr[f] += stride * (1 + int(ens.default_left[reps].sum()))
        stride *= radix
    pn = local[ens.path_node[lv]]
    pl, ps = ens.path_left[lv], ens.path_slot[lv]
    fail = np.zeros((C, lv.size), dtype=np.int64)
    for s in range(pn.shape[1]):
        fail |= (G[:, pn[:, s]] != pl[None, :, s]).astype(np.int64) << ps[None, :, s]
    full = (np.int64(1) << ens.n_slots[lv]) - 1
    cache[t] = (lv, full[None, :] & ~fail, C, weights, c0, corr)
    return cache[t]


def tree_cells(ens: TreeEnsemble, cap: int = 4096, allowed=None) -> TreeCells:
    """Cells of the trees of ``ens`` with at most ``cap`` cells (each tree's cells cached on the ensemble).

    ``allowed``: optional ``(n_trees,)`` mask of the trees that may get cells.
    """
    from scipy import sparse

    N = ens.feature.size
    trees, leaves_l, codes_l, sizes, const, corr_rows = [], [], [], [], [], []
    w_rows, w_cols, w_vals = [], [], []
    for t, (_nd, _lv, _specs, C) in enumerate(_tree_layout(ens)):
        if C is None or C > cap or (allowed is not None and not allowed[t]):
            continue
        lv, codes, C, weights, c0, corr = _one_tree_cells(ens, t)
        row = len(trees)
        for n_, w_ in weights:
            w_rows.append(row), w_cols.append(n_), w_vals.append(w_)
        trees.append(t)
        leaves_l.append(lv)
        codes_l.append(codes)
        sizes.append(C)
        const.append(c0)
        corr_rows.append(corr)
    W = sparse.csr_matrix((w_vals, (w_rows, w_cols)), shape=(len(trees), N))
    return TreeCells(trees=trees, leaves=leaves_l, codes=codes_l, sizes=np.asarray(sizes, dtype=np.int64), W=W,
                     const=np.asarray(const, dtype=np.float64),
                     nan_corr=np.asarray(corr_rows, dtype=np.float64).reshape(len(trees), ens.n_features))


__all__ = ["TreeCells", "tree_cells"]
