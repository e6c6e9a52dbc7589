"""Integrated gradients on the token embeddings of a ``transformers`` text classifier.

Sundararajan et al. 2017 (https://arxiv.org/abs/1703.01365), taken at the output of
the token-embedding layer as captum's ``LayerIntegratedGradients`` does: the word
embeddings move on a straight line from those of a baseline text (every
non-special token replaced by the padding token; [CLS]/[SEP] kept) to those of the
input, position and segment embeddings unchanged. The path integral is a
Gauss-Legendre quadrature; ``n_steps="auto"`` doubles the nodes until the
completeness error ``|sum(values) - (f(x) - f(baseline))|`` is within ``rtol`` of
``|f(x) - f(baseline)|``. The self-check reports that error per row.
"""

from __future__ import annotations

import numpy as np

from ..errors import ExplanationError
from ._text import TextExplainer
from .base import Attribution
from .integrated_gradients import quadrature


class _Replace:
    """Forward hook on the embedding layer returning ``path`` (removed on exit, also after an exception)."""

    def __init__(self, layer):
        self.layer, self.path, self.handle = layer, None, None

    def __enter__(self):
        self.handle = self.layer.register_forward_hook(lambda m, a, out: self.path)
        return self

    def __exit__(self, *exc):
        self.handle.remove()
        return False


class TextIntegratedGradients(TextExplainer):
    """Integrated gradients per token (and per word) of a text classifier's logit.

    Examples::

        >>> model = load_text_model("models/report-finding")
        >>> attr = TextIntegratedGradients(model, n_steps="auto").attribute(["No acute findings."])
        >>> attr.extras["words"][0][:2]
        [{'word': 'No', 'value': -0.41, ...}, {'word': 'acute', ...}]
    """

    name = "text_integrated_gradients"
    additive = True
    claims = "completeness"

    def __init__(self, model, *, target=None, baseline: str = "pad", n_steps="auto", rtol: float = 1e-3,
                 atol: float = 1e-4, max_steps: int = 256, internal_batch_size: int = 64):
        self.model = model
        self.target = target
        self.baseline = baseline
        self.n_steps = n_steps
        self.rtol = rtol
        self.atol = atol
        self.max_steps = max_steps
        self.internal_batch_size = internal_batch_size

    def _explain(self, X, *, target=None, baseline="pad", n_steps="auto", rtol=1e-3, atol=1e-4, max_steps=256,
                 internal_batch_size=64) -> Attribution:
        """Attribute the target logit to the tokens of ``X`` (strings or token ids ``(n, L)``).

        Args:
            target: class index or label per row, or ``None`` (the predicted class).
            baseline: ``"pad"`` (non-special tokens -> the padding token) or ``"zeros"`` (zero embeddings).
            n_steps: Gauss-Legendre nodes, or ``"auto"`` (16, 32, ... up to ``max_steps``; a row stops at the
                first count that brings it within tolerance, ``extras["n_steps_per_row"]``).
            rtol: completeness tolerance, relative to ``|f(x) - f(baseline)|``.
            atol: absolute floor of the tolerance, in logits (the larger of the two applies).
            internal_batch_size: sequences per forward pass.
        """
        import torch

        if baseline not in ("pad", "zeros"):
            raise ExplanationError(f"baseline must be 'pad' or 'zeros', got {baseline!r}")
        ad = self.model_
        enc = ad.encode(X)
        ids, mask = enc["input_ids"], enc["attention_mask"]
        layer = ad.embeddings
        with torch.no_grad():
            x_emb = layer(ids)
            if baseline == "pad":
                pad = ad.model.config.pad_token_id
                pad = 0 if pad is None else int(pad)
                keep = ad.special_mask(ids) | (mask == 0)
                b_ids = torch.where(keep, ids, torch.full_like(ids, pad))
                b_emb = layer(b_ids)
            else:
                b_emb = torch.zeros_like(x_emb)
            logits = ad.forward_ids(ids, mask).logits
            tgt = self._targets(logits, target)
            rows = torch.arange(len(ids), device=ids.device)
            fx = logits[rows, tgt].double()
            with _Replace(layer) as rep:
                rep.path = b_emb
                fb = ad.forward_ids(ids, mask).logits[rows, tgt].double()
        delta = (fx - fb).cpu().numpy()
        floor = float(atol)
        steps = [int(n_steps)] if n_steps != "auto" else [s for s in (16, 32, 64, 128, 256, 512) if s <= max_steps]
        if not steps:
            raise ExplanationError(f"max_steps={max_steps} is below the first step count (16)")
        tol = np.maximum(rtol * np.abs(delta), floor)
        values = np.zeros(tuple(ids.shape))
        err = np.full(len(delta), np.inf)
        used = np.zeros(len(delta), dtype=np.int64)
        todo = np.arange(len(delta))
        for m in steps:                      # each round re-integrates only the rows still outside tolerance
            sel = torch.as_tensor(todo, device=ids.device)
            values[todo] = self._integrate(ad, ids[sel], mask[sel], x_emb[sel], b_emb[sel], tgt[sel], m,
                                           int(internal_batch_size))
            err[todo] = np.abs(values[todo].sum(axis=1) - delta[todo])
            used[todo] = m
            todo = todo[err[todo] > tol[todo]]
            if not len(todo):
                break
        m = int(used.max())
        values = values * mask.cpu().numpy()
        check = {"kind": "completeness", "max_abs_error": float(err.max()), "tolerance": float(tol.max()),
                 "passed": bool((err <= tol).all()), "per_row": err,
                 "note": "sum of token values against f(x) - f(baseline), both from the model's own forward pass"}
        extras = {"n_steps": int(m), "n_steps_per_row": used, "baseline_output": fb.cpu().numpy(), "target_per_row": tgt.cpu().numpy(),
                  "layer": "get_input_embeddings()", **self._text_extras(enc, values)}
        return Attribution(values=values, base_values=fb.cpu().numpy(), feature_names=None, method=self.name,
                           output="logit", predictions=fx.cpu().numpy(), target=target if isinstance(target, int)
                           else None,
                           params={"baseline": baseline, "n_steps": int(m), "rtol": float(rtol), "atol": float(atol),
                                   "quadrature": "gausslegendre", "layer": "token embeddings"},
                           self_check=check, extras=extras)

    @staticmethod
    def _integrate(ad, ids, mask, x_emb, b_emb, tgt, m, batch) -> np.ndarray:
        import torch

        alphas, weights = quadrature(m, "gausslegendre")
        n, L = ids.shape
        diff = x_emb - b_emb
        total = torch.zeros((n, L), dtype=torch.float64, device=ids.device)
        rows = max(1, min(n, batch))
        per = max(1, batch // rows)                 # quadrature nodes per forward pass
        layer = ad.embeddings
        with _Replace(layer) as rep:
            for r0 in range(0, n, rows):
                r1 = min(n, r0 + rows)
                k = r1 - r0
                for a0 in range(0, m, per):
                    a = torch.as_tensor(alphas[a0:a0 + per], dtype=x_emb.dtype, device=ids.device)
                    w = torch.as_tensor(weights[a0:a0 + per], dtype=torch.float64, device=ids.device)
                    j = len(a)
                    path = (b_emb[r0:r1][None] + a[:, None, None, None] * diff[r0:r1][None]).reshape(j * k, L, -1)
                    path = path.detach().requires_grad_(True)
                    rep.path = path
                    out = ad.forward_ids(ids[r0:r1].repeat(j, 1), mask[r0:r1].repeat(j, 1)).logits
                    sel = out[torch.arange(j * k, device=ids.device), tgt[r0:r1].repeat(j)].sum()
                    (g,) = torch.autograd.grad(sel, path)
                    g = (g.double().reshape(j, k, L, -1) * w[:, None, None, None]).sum(dim=0)
                    total[r0:r1] += (g * diff[r0:r1].double()).sum(dim=-1)
        return total.cpu().numpy()


__all__ = ["TextIntegratedGradients"]
