"""Attention rollout for torch models built from ``nn.MultiheadAttention`` / ``nn.TransformerEncoderLayer``.

Abnar & Zuidema 2020, "Quantifying Attention Flow in Transformers"
(https://arxiv.org/abs/2005.00928): each layer's attention (heads fused by
mean, max or min) is mixed with the identity for the residual connection,
``A' = (A + I) / 2``, rows renormalised, and the layers multiplied,
``R = A'_L ... A'_1``. Row ``t`` of ``R`` says how much each input token flows
into output position ``t``.

The attention weights are captured with a forward pre-hook that asks each
``nn.MultiheadAttention`` for its per-head weights (``need_weights=True``,
``average_attn_weights=False``) and a forward hook that keeps them; both are
removed when the call ends, also after an exception. PyTorch's fused "fast
path" (which skips the module's ``forward``) is switched off for the call and
restored afterwards.
"""

from __future__ import annotations

import numpy as np

from ..errors import ExplanationError
from ._torch import TorchExplainer, to_numpy
from .base import Attribution

HEAD_FUSIONS = ("mean", "max", "min")


class _AttentionCapture:
    """Hooks on every ``nn.MultiheadAttention`` of a module (context manager, always removed)."""

    def __init__(self, module):
        import torch

        self.layers = [(n, m) for n, m in module.named_modules() if isinstance(m, torch.nn.MultiheadAttention)]
        self.weights: list = []
        self.names: list = []
        self.handles: list = []
        self._fastpath = None

    def __enter__(self):
        import torch

        for name, mha in self.layers:
            self.handles.append(mha.register_forward_pre_hook(self._pre, with_kwargs=True))
            self.handles.append(mha.register_forward_hook(self._post(name)))
        mha_backend = getattr(torch.backends, "mha", None)
        if mha_backend is not None and hasattr(mha_backend, "set_fastpath_enabled"):
            self._fastpath = mha_backend.get_fastpath_enabled()
            mha_backend.set_fastpath_enabled(False)
        return self

    def __exit__(self, *exc):
        import torch

        for h in self.handles:
            h.remove()
        self.handles = []
        if self._fastpath is not None:
            torch.backends.mha.set_fastpath_enabled(self._fastpath)
        return False

    @staticmethod
    def _pre(module, args, kwargs):
        args = list(args)
        if len(args) > 4:          # need_weights passed by position
            args[4] = True
        else:
            kwargs["need_weights"] = True
        if len(args) > 6:
            args[6] = False
        else:
            kwargs["average_attn_weights"] = False
        return tuple(args), kwargs

    def _post(self, name):
        def hook(module, args, output):
            w = output[1] if isinstance(output, tuple) else None
            if w is None:
                raise ExplanationError(f"attention layer {name!r} returned no attention weights")
            self.weights.append(w.detach())
            self.names.append(name)
        return hook


class AttentionRollout(TorchExplainer):
    """Attention rollout over the self-attention layers of a transformer.

    Examples::

        >>> attr = AttentionRollout(model).attribute(token_ids, token=0)   # flow into the CLS token
        >>> attr.values.shape, attr.params["layers"]
        ((16, 32), ['encoder.layers.0.self_attn', 'encoder.layers.1.self_attn'])
    """

    name = "attention_rollout"

    def __init__(self, model, *, token: int | None = None, head_fusion: str = "mean", residual: bool = True,
                 return_matrix: bool = False, internal_batch_size: int | None = None, device: str = "auto"):
        """Store the model and the options (as :meth:`_explain` documents them); no work is done here."""
        self.model = model
        self.token = token
        self.head_fusion = head_fusion
        self.residual = residual
        self.return_matrix = return_matrix
        self.internal_batch_size = internal_batch_size
        self.device = device

    def _explain(self, X, *, token: int | None = None, head_fusion: str = "mean", residual: bool = True,
                  return_matrix: bool = False, internal_batch_size: int | None = None,
                  device: str = "auto") -> Attribution:
        """Rollout of the attention from the input tokens to the output positions.

        Args:
            X: what the model takes: token ids ``(n, L)`` (integers, for a model
                starting with ``nn.Embedding``), embeddings ``(n, L, E)``, or
                tabular rows ``(n, d)`` for a model that makes one token per feature.
            token: output position whose row of the rollout is returned (e.g.
                ``0`` for a CLS token); ``None``: the mean over all positions
                (what mean pooling sees).
            head_fusion: how heads are combined per layer: ``"mean"``, ``"max"`` or ``"min"``.
            residual: mix in the identity for the residual connection
                (``(A + I) / 2``), as in the paper.
            return_matrix: also return the full ``(n, L, L)`` rollout in ``extras["rollout"]``.
            internal_batch_size: rows per forward pass.
            device: ``"auto"``, ``"cpu"`` or ``"cuda"``.

        Returns:
            :class:`Attribution` with ``values`` of shape ``(n, L)`` (one value
            per input token, summing to 1 per row), ``params["layers"]`` the
            attention layers in call order, and a ``self_check`` of kind
            ``"row_stochastic"``: how far each row's sum is from 1.
        """
        import torch

        if head_fusion not in HEAD_FUSIONS:
            raise ExplanationError(f"head_fusion must be one of {', '.join(HEAD_FUSIONS)}, got {head_fusion!r}")
        with self._on_device(device) as dev:
            x, kind, names = self._inputs(X, dev)
            n = x.shape[0]
            batch = int(internal_batch_size or 256)
            rolls, preds, layers = [], [], None
            with _AttentionCapture(self.module) as cap:
                if not cap.layers:
                    raise ExplanationError(f"{type(self.module).__name__} has no nn.MultiheadAttention layer")
                for i in range(0, n, batch):
                    cap.weights.clear()
                    cap.names.clear()
                    with torch.no_grad():
                        out = self.model_.forward(x[i:i + batch])
                    if not cap.weights:
                        raise ExplanationError("no attention layer was called in the forward pass")
                    layers = list(cap.names)
                    rolls.append(self._rollout(cap.weights, layers, head_fusion, residual))
                    preds.append(out.detach())
            R = torch.cat(rolls)                                  # (n, L, L), float64
            out = torch.cat(preds)
        if token is not None and not -R.shape[1] <= int(token) < R.shape[1]:
            raise ExplanationError(f"token={token} is outside the sequence of length {R.shape[1]}")
        values = (R.mean(dim=1) if token is None else R[:, int(token), :]).cpu().numpy()
        rowsum = R.sum(dim=2)
        err = (rowsum - 1.0).abs().amax(dim=1).cpu().numpy()
        check = {"kind": "row_stochastic", "max_abs_error": float(err.max()), "tolerance": 1e-6,
                 "passed": bool((err <= 1e-6).all()), "per_row": err,
                 "note": "every row of the rollout is a distribution over input tokens"}
        L = values.shape[1]
        fnames = names if names is not None and len(names) == L else None
        extras = {"input_kind": kind, "sequence_length": int(L)}
        if return_matrix:
            extras["rollout"] = R.cpu().numpy()
        pred = to_numpy(out)
        return Attribution(
            values=values, base_values=np.zeros(n), feature_names=fnames, method=self.name,
            output=self.model_.output_space, predictions=pred if pred.ndim == 1 else None, target=None,
            params={"device": str(dev), "token": token, "head_fusion": head_fusion, "residual": bool(residual),
                    "layers": layers},
            self_check=check, extras=extras)

    def _inputs(self, X, dev):
        import pandas as pd
        import torch

        if isinstance(X, torch.Tensor) and not X.is_floating_point():
            return X.to(dev).long(), "tokens", None
        if not isinstance(X, (torch.Tensor, pd.DataFrame)):
            arr = np.asarray(X)
            if np.issubdtype(arr.dtype, np.integer):
                return torch.as_tensor(arr, device=dev).long(), "tokens", None
        prep = self._prepare(X, dev)
        return prep.x, ("tabular" if prep.kind == "tabular" else "sequence"), prep.feature_names

    @staticmethod
    def _rollout(weights, names, head_fusion, residual):
        import torch

        R = None
        for w, name in zip(weights, names):
            if w.ndim != 4:
                raise ExplanationError(f"attention layer {name!r} gave weights of shape {tuple(w.shape)}; "
                                       "attention rollout needs batched inputs")
            if w.shape[-1] != w.shape[-2]:
                raise ExplanationError(f"attention layer {name!r} is not self-attention "
                                       f"(queries {w.shape[-2]}, keys {w.shape[-1]})")
            w = w.double()
            A = w.mean(dim=1) if head_fusion == "mean" else (w.amax(dim=1) if head_fusion == "max" else w.amin(dim=1))
            if residual:
                A = 0.5 * A + 0.5 * torch.eye(A.shape[-1], dtype=A.dtype, device=A.device)
            A = A / A.sum(dim=-1, keepdim=True).clamp(min=1e-30)
            if R is not None and R.shape != A.shape:
                raise ExplanationError(f"attention layer {name!r} changes the sequence length; rollout needs "
                                       "one sequence through all layers")
            R = A if R is None else A @ R
        return R


__all__ = ["AttentionRollout", "HEAD_FUSIONS"]
