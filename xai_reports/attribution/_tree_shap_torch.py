"""The flat TreeSHAP engine's per-row work in torch, for CUDA (and testable on CPU).

The plan (per-leaf tables, built once from the background in numpy) is the
same as :class:`._tree_shap_flat._FlatTreeShap`; explaining rows runs on the
device: split decisions, leaf codes, and a sum of table rows per explained
row (``embedding_bag``), all in float64. Leaf groups too deep for a table
(rare) are finished on the CPU.
"""

from __future__ import annotations

import numpy as np

from ._tree_shap_flat import _FlatTreeShap


class TorchTreeShap(_FlatTreeShap):
    """:class:`_FlatTreeShap` whose :meth:`shap_values` runs in torch on ``device``."""

    def __init__(self, ens, n_rows: int, background=None, device: str = "cuda"):
        import torch

        super().__init__(ens, n_rows, background, cells=False)
        self.torch = torch
        self.device = torch.device(device)
        t = lambda a, dt=None: torch.as_tensor(np.ascontiguousarray(a), device=self.device, dtype=dt)  # noqa: E731
        self.t_feature = t(ens.feature if ens.column is None else ens.column, torch.long)
        self.t_threshold = t(ens.threshold, torch.float64)
        self.t_default_left = t(ens.default_left)
        self.t_cat_index = t(ens.cat_index, torch.long)
        self.t_cat_right = t(ens.cat_right)
        order = self.order
        self.t_pn = t(ens.path_node[order], torch.long)
        self.t_pl = t(ens.path_left[order])
        self.t_ps = t(ens.path_slot[order], torch.long)
        self.t_full = t((np.int64(1) << ens.n_slots[order]) - 1, torch.long)
        self.t_table = t(self.table, torch.float64)
        self.t_offs = t(self.table_offs, torch.long)

    def _go_left(self, X):
        torch = self.torch
        xv = X.T.contiguous()[self.t_feature]                      # (N, n)
        nan = torch.isnan(xv)
        thr = self.t_threshold[:, None]
        left = xv < thr if self.ens.strict else xv <= thr
        cat_nodes = torch.nonzero(self.t_cat_index >= 0).flatten()
        if cat_nodes.numel():
            xc = xv[cat_nodes]
            k = self.t_cat_right.shape[1]
            codes = torch.where(torch.isnan(xc), torch.full_like(xc, -1), xc).long()
            valid = (codes >= 0) & (codes < k)
            right = self.t_cat_right[self.t_cat_index[cat_nodes][:, None], codes.clamp(0, k - 1)] & valid
            if not self.ens.cat_oob_left:
                right |= ~valid
            left[cat_nodes] = ~right
        left = torch.where(nan, self.t_default_left[:, None].expand_as(left), left)
        return torch.cat([left, torch.ones((1, X.shape[0]), dtype=torch.bool, device=X.device)], dim=0)

    def _codes(self, X):
        """Leaf codes ``(L, n)`` (int64) for the leaves in ``self.order``."""
        torch = self.torch
        left = self._go_left(X)
        fail = torch.zeros((self.t_pn.shape[0], X.shape[0]), dtype=torch.long, device=X.device)
        for s in range(self.t_pn.shape[1]):
            failed = left[self.t_pn[:, s]] ^ self.t_pl[:, s, None]
            fail |= failed.long() << self.t_ps[:, s, None]
        return self.t_full[:, None] & ~fail

    def shap_values(self, X: np.ndarray, chunk_rows: int | None = None) -> np.ndarray:
        torch = self.torch
        from torch.nn.functional import embedding_bag

        n = X.shape[0]
        d = self.ens.n_features
        out = np.zeros((n, d), dtype=np.float64)
        L = max(self.order.size, 1)
        chunk_rows = chunk_rows or max(1, (1 << 24) // (L * max(self.ens.max_depth, 1)))
        nt = self.table_leaves.size
        for r0 in range(0, n, chunk_rows):
            Xc = torch.as_tensor(X[r0:r0 + chunk_rows], device=self.device, dtype=torch.float64)
            nc = Xc.shape[0]
            codes = self._codes(Xc)                                          # (L, nc)
            if nt:
                idx = (codes[:nt] + self.t_offs[:, None]).T.contiguous()       # (nc, nt)
                out[r0:r0 + nc] += embedding_bag(idx, self.t_table, mode="sum").cpu().numpy()
            if self.direct:
                rest = codes[nt:].cpu().numpy()
                pos = 0
                for g in self.direct:
                    k = g["idx"].size
                    a = rest[pos:pos + k].T.astype(np.int64)
                    pos += k
                    out[r0:r0 + nc] += self._direct_features(g, a)
        return out


__all__ = ["TorchTreeShap"]
