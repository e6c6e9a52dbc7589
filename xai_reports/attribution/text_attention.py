"""Attention rollout and attention flow from a ``transformers`` text classifier's own attention maps.

Abnar & Zuidema 2020 (https://arxiv.org/abs/2005.00928). The maps come from the
model itself (``output_attentions=True``, eager attention), heads fused per layer
(mean, max or min), the residual mixed in, ``A' = (A + I) / 2``, rows renormalised.

* **rollout**: ``R = A'_L ... A'_1``; the value of input token ``j`` is ``R[token, j]``
  (``token=0``: the [CLS] position the head reads). Self-check: every row of ``R``
  sums to 1.
* **flow**: the layered graph with one node per (layer, token) and edge capacities
  ``A'_l[i, j]`` from token ``j`` below to token ``i`` above; the value of input
  token ``j`` is the maximum flow from it to ``token`` at the top (scipy's
  ``maximum_flow`` on capacities scaled to integers, ``2**24`` per unit).
  Self-check: the flow returned is feasible (within capacities, conserved at every
  inner node, its value the outflow of the source), up to the integer scaling.
"""

from __future__ import annotations

import numpy as np

from ..errors import ExplanationError
from ._text import TextExplainer
from .attention import HEAD_FUSIONS
from .base import Attribution

FLOW_SCALE = 2 ** 24


def layer_matrices(attentions, mask, head_fusion: str, residual: bool) -> np.ndarray:
    """Per row, the residual-mixed, renormalised attention of each layer: ``(n, layers, L, L)`` float64."""
    mats = []
    for a in attentions:
        a = a.detach().double().cpu().numpy()
        A = a.mean(axis=1) if head_fusion == "mean" else (a.max(axis=1) if head_fusion == "max" else a.min(axis=1))
        if residual:
            A = 0.5 * A + 0.5 * np.eye(A.shape[-1])[None]
        A = A * mask[:, None, :] * mask[:, :, None]          # padding takes no part
        A = A / np.clip(A.sum(axis=-1, keepdims=True), 1e-30, None)
        mats.append(A)
    return np.stack(mats, axis=1)


def max_flow_to(mats: np.ndarray, token: int, valid: np.ndarray) -> tuple[np.ndarray, float]:
    """Maximum flow from each valid input token to ``token`` at the top, for one row's ``(layers, L, L)``.

    Returns ``(values, worst feasibility error)`` (in units of capacity).
    """
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import maximum_flow

    n_layers, L, _ = mats.shape
    idx = np.flatnonzero(valid)
    m = len(idx)
    N = (n_layers + 1) * m
    rows, cols, caps = [], [], []
    for lyr in range(n_layers):
        sub = mats[lyr][np.ix_(idx, idx)]                   # sub[i, j]: from j (below) into i (above)
        i, j = np.nonzero(sub > 0)
        rows.append(lyr * m + j)
        cols.append((lyr + 1) * m + i)
        caps.append(np.floor(sub[i, j] * FLOW_SCALE).astype(np.int64))
    graph = csr_matrix((np.concatenate(caps), (np.concatenate(rows), np.concatenate(cols))), shape=(N, N))
    sink = n_layers * m + int(np.flatnonzero(idx == token)[0])
    values = np.zeros(L)
    worst = 0.0
    for s in range(m):
        res = maximum_flow(graph, s, sink)
        flow = res.flow.toarray().astype(np.float64)
        values[idx[s]] = res.flow_value / FLOW_SCALE
        pos = np.clip(flow, 0, None)
        over = float(np.clip(pos - graph.toarray(), 0, None).max())
        net = pos.sum(axis=1) - pos.sum(axis=0)            # outflow - inflow per node
        inner = np.ones(N, dtype=bool)
        inner[[s, sink]] = False
        cons = float(np.abs(net[inner]).max()) if inner.any() else 0.0
        val = abs(net[s] - res.flow_value)
        worst = max(worst, (over + cons + val) / FLOW_SCALE)
    return values, worst


class TextAttentionRollout(TextExplainer):
    """Attention rollout to one output position of a text classifier (default the first, [CLS])."""

    name = "text_attention_rollout"

    def __init__(self, model, *, token: int = 0, head_fusion: str = "mean", residual: bool = True):
        self.model = model
        self.token = token
        self.head_fusion = head_fusion
        self.residual = residual

    def _explain(self, X, *, token: int = 0, head_fusion: str = "mean", residual: bool = True) -> Attribution:
        """Per-token share of the attention reaching ``token`` (strings or token ids ``(n, L)``)."""
        enc, mats, pred, mask = self._maps(X, token, head_fusion, residual)
        n, n_layers, L, _ = mats.shape
        R = np.broadcast_to(np.eye(L), (n, L, L)).copy()
        for lyr in range(n_layers):
            R = mats[:, lyr] @ R
        values = R[:, token, :] * mask
        err = np.array([np.abs(R[i][mask[i] > 0].sum(axis=1) - 1).max() for i in range(n)])
        check = {"kind": "row_stochastic", "max_abs_error": float(err.max()), "tolerance": 1e-9,
                 "passed": bool((err <= 1e-9).all()), "per_row": err,
                 "note": "every row of the rollout is a distribution over the input tokens"}
        return self._result(enc, values, pred, check, token, head_fusion, residual, n_layers)

    def _maps(self, X, token, head_fusion, residual):
        import torch

        if head_fusion not in HEAD_FUSIONS:
            raise ExplanationError(f"head_fusion must be one of {', '.join(HEAD_FUSIONS)}, got {head_fusion!r}")
        enc = self.model_.encode(X)
        with torch.no_grad():
            out = self.model_.forward_ids(enc["input_ids"], enc["attention_mask"], output_attentions=True)
        if not out.attentions or any(a is None for a in out.attentions):
            raise ExplanationError("the model returned no attention maps (load it with attn_implementation='eager')")
        L = int(enc["input_ids"].shape[1])
        if not -L <= int(token) < L:
            raise ExplanationError(f"token={token} is outside the sequence of length {L}")
        mask = enc["attention_mask"].detach().cpu().numpy().astype(np.float64)
        mats = layer_matrices(out.attentions, mask, head_fusion, residual)
        return enc, mats, out.logits.detach().double().cpu().numpy(), mask

    def _result(self, enc, values, logits, check, token, head_fusion, residual, n_layers) -> Attribution:
        tgt = logits.argmax(axis=1)
        extras = {"target_per_row": tgt, "n_layers": int(n_layers), **self._text_extras(enc, values)}
        return Attribution(values=values, base_values=np.zeros(len(values)), feature_names=None, method=self.name,
                           output="logit", predictions=logits[np.arange(len(tgt)), tgt], target=None,
                           params={"token": int(token), "head_fusion": head_fusion, "residual": bool(residual),
                                   "source": "the model's own attention maps (output_attentions=True)"},
                           self_check=check, extras=extras)


class TextAttentionFlow(TextAttentionRollout):
    """Attention flow (maximum flow through the layered attention graph) to one output position."""

    name = "text_attention_flow"

    def _explain(self, X, *, token: int = 0, head_fusion: str = "mean", residual: bool = True) -> Attribution:
        """Per-token maximum flow into ``token`` at the top layer (strings or token ids ``(n, L)``)."""
        enc, mats, pred, mask = self._maps(X, token, head_fusion, residual)
        n, n_layers, L, _ = mats.shape
        values = np.zeros((n, L))
        err = np.zeros(n)
        for i in range(n):
            valid = mask[i] > 0
            values[i], err[i] = max_flow_to(mats[i], int(token) % L, valid)
        tol = 1e-9
        check = {"kind": "feasible_flow", "max_abs_error": float(err.max()), "tolerance": tol,
                 "passed": bool((err <= tol).all()), "per_row": err,
                 "note": f"capacities scaled to integers ({FLOW_SCALE} per unit); each flow checked within "
                         "capacities and conserved at every inner node"}
        return self._result(enc, values, pred, check, token, head_fusion, residual, n_layers)


__all__ = ["FLOW_SCALE", "TextAttentionFlow", "TextAttentionRollout", "layer_matrices", "max_flow_to"]
