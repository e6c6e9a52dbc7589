"""Integrated gradients on the token embeddings of a ``transformers`` text classifier.

Sundararajan et al. 2017 (https://arxiv.org/abs/1703.01365), taken at the output of
the token-embedding layer as captum's ``LayerIntegratedGradients`` does: the word
embeddings move on a straight line from those of a baseline text (every
non-special token replaced by the padding token; [CLS]/[SEP] kept) to those of the
input, position and segment embeddings unchanged. The path integral is a
Gauss-Legendre quadrature; with ``n_steps="auto"`` each row takes the first node
count whose completeness error ``|sum(values) - (f(x) - f(baseline))|`` is within
``rtol`` of ``|f(x) - f(baseline)|``, the next count predicted from the errors
already measured (see ``_auto``). The self-check reports that error per row.
The model's parameters are frozen during the call (no weight gradients are
computed) and restored after.
"""

from __future__ import annotations

import numpy as np

from ..errors import ExplanationError
from ._text import TextExplainer
from .base import Attribution
from .integrated_gradients import quadrature

#: rows of a call that search the step count from 16; the others start where these ended
PILOT = 2
#: a row whose completeness error shrank by less than this factor over its last step count has reached
#: the float round-off floor; ``auto`` stops it there (its self-check then reports the error it has)
FLOOR_GAIN = 0.7


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
            n_steps: Gauss-Legendre nodes, or ``"auto"`` (from 16 up to ``max_steps``, the next count predicted
                from the measured errors; a row stops at the first count that brings it within tolerance,
                ``extras["n_steps_per_row"]``; ``extras["evaluations_per_row"]`` counts every node it cost).
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
        tol = np.maximum(rtol * np.abs(delta), floor)
        if n_steps == "auto" and max_steps < 16:
            raise ExplanationError(f"max_steps={max_steps} is below the first step count (16)")
        values = np.zeros(tuple(ids.shape))
        err = np.full(len(delta), np.inf)
        used = np.zeros(len(delta), dtype=np.int64)
        spent = np.zeros(len(delta), dtype=np.int64)
        batch = int(internal_batch_size)

        def run(rows, m):
            sel = torch.as_tensor(rows, device=ids.device)
            values[rows] = self._integrate(ad, ids[sel], mask[sel], x_emb[sel], b_emb[sel], tgt[sel], m, batch)
            err[rows] = np.abs(values[rows].sum(axis=1) - delta[rows])
            used[rows] = m
            spent[rows] += m
            return rows[err[rows] > tol[rows]]

        if n_steps != "auto":
            run(np.arange(len(delta)), int(n_steps))
        else:
            self._auto(run, len(delta), err, tol, used, int(max_steps))
        m = int(used.max())
        values = values * mask.cpu().numpy()
        check = {"kind": "completeness", "max_abs_error": float(err.max()), "tolerance": float(tol.max()),
                 "passed": bool((err <= tol).all()), "per_row": err,
                 "note": "sum of token values against f(x) - f(baseline), both from the model's own forward pass"}
        extras = {"n_steps": int(m), "n_steps_per_row": used, "evaluations_per_row": spent, "baseline_output": fb.cpu().numpy(), "target_per_row": tgt.cpu().numpy(),
                  "layer": "get_input_embeddings()", **self._text_extras(enc, values)}
        return Attribution(values=values, base_values=fb.cpu().numpy(), feature_names=None, method=self.name,
                           output="logit", predictions=fx.cpu().numpy(), target=target if isinstance(target, int)
                           else None,
                           params={"baseline": baseline, "n_steps": int(m), "rtol": float(rtol), "atol": float(atol),
                                   "quadrature": "gausslegendre", "layer": "token embeddings"},
                           self_check=check, extras=extras)

    @staticmethod
    def _auto(run, n, err, tol, used, max_steps):
        """``n_steps="auto"``: each row stops at the first Gauss-Legendre count within tolerance.

        The completeness error of a row is measured exactly after each count, and Gauss-Legendre's
        error falls geometrically in the number of points; the next count is predicted from the
        errors seen (a prior of 10x per 8 points until a row has two), with a 25 % margin, growing by
        at least a quarter each time; a row whose error stopped falling (round-off) stops. The
        first ``PILOT`` rows start at 16; the others start at the count the pilot rows needed, so the
        search is paid once per call rather than once per row.
        """
        def nxt(rows, history):
            out = {}
            for r in rows:
                (n1, e1), (n2, e2) = history[r][-2] if len(history[r]) > 1 else (0, None), history[r][-1]
                if e1 is not None and e2 > FLOOR_GAIN * e1:
                    continue                   # no longer improving: float round-off, not the quadrature
                rate = np.log(10) / 8
                if e1 is not None and e1 > e2 > 0:
                    rate = max(np.log(e1 / e2) / (n2 - n1), 0.05)
                gap = np.log(max(e2, 1e-300) / tol[r]) / rate if e2 > 0 else 4
                m = int(min(max_steps, 4 * int(np.ceil(max(n2 + 1.25 * gap, 1.25 * n2, n2 + 8) / 4))))
                out.setdefault(m, []).append(r)
            return out

        history = {r: [] for r in range(n)}
        pilot = np.arange(min(n, PILOT))
        rest = np.arange(len(pilot), n)

        def search(rows, start):
            todo = run(rows, start) if len(rows) else rows
            for r in rows:
                history[r].append((start, err[r]))
            while len(todo):
                todo = todo[used[todo] < max_steps]
                left = []
                for m, group in sorted(nxt(todo, history).items()):  # rows left out: at their floor
                    group = np.asarray(group)
                    bad = run(group, m)
                    for r in group:
                        history[r].append((m, err[r]))
                    left.extend(bad.tolist())
                todo = np.asarray(left, dtype=np.int64)

        search(pilot, min(16, max_steps))
        start = int(used[pilot].max()) if len(pilot) else 16
        search(rest, max(16, start))

    @staticmethod
    def _integrate(ad, ids, mask, x_emb, b_emb, tgt, m, batch) -> np.ndarray:
        import torch

        frozen = [p for p in ad.model.parameters() if p.requires_grad]
        for p in frozen:                  # no weight gradients to compute (restored below)
            p.requires_grad_(False)
        try:
            return TextIntegratedGradients._integrate_frozen(ad, ids, mask, x_emb, b_emb, tgt, m, batch)
        finally:
            for p in frozen:
                p.requires_grad_(True)

    @staticmethod
    def _integrate_frozen(ad, ids, mask, x_emb, b_emb, tgt, m, batch) -> np.ndarray:
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
