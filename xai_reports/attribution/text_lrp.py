"""Layer-wise relevance propagation through attention (AttnLRP) for ``transformers`` text classifiers.

Achtibat et al. 2024, "AttnLRP: Attention-Aware Layer-Wise Relevance Propagation for
Transformers" (ICML, https://arxiv.org/abs/2402.05602), in its gradient x input form
(as the authors' ``lxt`` "efficient" implementation): the model's forward pass is
re-run from its own weights with the rules built into the gradient, and the
relevance of a tensor ``h`` is ``h * dlogit/dh`` under those gradients:

* **linear layers** (``W x + b``): the epsilon rule, ``R_i = sum_j x_i w_ji R_j / (z_j + eps sign z_j)``
  (gradient scaled by ``z / (z + eps sign z)``); the bias keeps ``b_j R_j / z_j``;
* **softmax**: AttnLRP's rule ``R_x_i = x_i (R_i - s_i sum_j R_j)`` (gradient x input of the
  softmax, Eq. 12 of the paper); what it does not pass on is reported as absorbed;
* **the attention products** ``q k^T`` and ``A v``: the uniform rule, half of the
  relevance to each factor (gradient halved);
* **LayerNorm**: the standard deviation is a constant (detached), so the centring and
  the affine map are linear and relevance goes through the normalised path;
* **GELU, tanh, ReLU**: the identity rule, ``R_in = R_out`` (gradient ``act(x) / x``: the gate is detached).

Supported: BERT, RoBERTa and DistilBERT sequence classifiers (absolute position
embeddings). The user's model is not changed: its weights are read (detached) into
a separate functional forward pass, whose logits are checked against the model's
own before any relevance is reported.

Per token, the value is the relevance of its word embedding (summed per word for
string inputs). Self-check ``conservation``: the relevance of every source (word
embeddings, the position/segment embeddings, the biases) plus what the softmax and
epsilon rules absorbed equals the target logit, per row, to float error; and the
re-run forward pass reproduces the model's logits. ``extras["input_share"]`` is the
share of the logit on the word embeddings (``sum(values) / logit``), and
``extras["absorbed"]`` names the rest.
"""

from __future__ import annotations

import numpy as np

from ..errors import ExplanationError
from ._text import TextExplainer
from .base import Attribution

FAMILIES = ("bert", "roberta", "distilbert")


class _Pass:
    """A rule-modified forward pass: the tensors whose relevance is accounted for, kept per kind."""

    def __init__(self, n: int, dtype, epsilon: float):
        self.n, self.dtype, self.eps = n, dtype, float(epsilon)
        self.leaves = {"bias": [], "position": []}
        self.softmax = []          # (scores, probs, key mask)
        self.stabilised = []       # (z, ratio): linear outputs under the epsilon rule

    def leaf(self, value, kind: str):
        """``value`` as a per-row leaf (its gradient x value is its relevance)."""
        x = value.detach().to(self.dtype).clone().requires_grad_(True)
        self.leaves[kind].append(x)
        return x

    def linear(self, x, mod):
        import torch

        z = x @ mod.weight.detach().to(self.dtype).T
        if mod.bias is not None:
            shape = (self.n,) + (1,) * (x.ndim - 2) + (mod.bias.shape[0],)
            z = z + self.leaf(mod.bias.expand(shape), "bias")
        if self.eps == 0:
            return z
        ratio = (z / (z + self.eps * torch.where(z >= 0, 1.0, -1.0))).detach()
        out = z.detach() + ratio * (z - z.detach())
        self.stabilised.append((out, ratio))
        return out

    def layer_norm(self, x, mod):
        mu = x.mean(-1, keepdim=True)
        c = x - mu
        std = ((c * c).mean(-1, keepdim=True) + mod.eps).sqrt().detach()
        y = c / std
        if mod.weight is not None:
            y = y * mod.weight.detach().to(self.dtype)
        if mod.bias is not None:
            y = y + self.leaf(mod.bias.expand((self.n,) + (1,) * (x.ndim - 2) + (mod.bias.shape[0],)), "bias")
        return y

    @staticmethod
    def act(x, fn):
        """Identity rule: the value is ``fn(x)``, the gradient ``fn(x) / x`` (the gate detached)."""
        import torch

        out = fn(x)
        ratio = (out / torch.where(x == 0, torch.ones_like(x), x)).detach()
        return out.detach() + ratio * (x - x.detach())

    @staticmethod
    def product(a, b):
        """Uniform rule for ``a @ b``: each factor receives half of the relevance."""
        z = a @ b
        return 0.5 * z + 0.5 * z.detach()

    def attention(self, q, k, v, valid, scale: float):
        import torch

        scores = self.product(q * scale, k.transpose(-1, -2))
        scores = scores.masked_fill(~valid[:, None, None, :], torch.finfo(self.dtype).min)
        probs = torch.softmax(scores, dim=-1)
        self.softmax.append((scores, probs, valid))
        return self.product(probs, v)


def _heads(x, h):
    n, L, d = x.shape
    return x.reshape(n, L, h, d // h).transpose(1, 2)


def _merge(x):
    n, h, L, dh = x.shape
    return x.transpose(1, 2).reshape(n, L, h * dh)


def _bert(p: _Pass, model, ids, valid, family: str):
    import torch

    base = getattr(model, family)
    emb, cfg = base.embeddings, model.config
    n, L = ids.shape
    if family == "roberta":
        pad = int(cfg.pad_token_id)
        keep = ids.ne(pad).long()
        pos_ids = torch.cumsum(keep, dim=1) * keep + pad
    else:
        pos_ids = torch.arange(L, device=ids.device)[None].expand(n, L)
    words = emb.word_embeddings.weight.detach().to(p.dtype)[ids].clone().requires_grad_(True)
    pos = emb.position_embeddings.weight.detach()[pos_ids]
    if getattr(emb, "token_type_embeddings", None) is not None:
        pos = pos + emb.token_type_embeddings.weight.detach()[0]
    h = p.layer_norm(words + p.leaf(pos, "position"), emb.LayerNorm)
    heads = int(cfg.num_attention_heads)
    scale = (int(cfg.hidden_size) // heads) ** -0.5
    for layer in base.encoder.layer:
        s, o = layer.attention.self, layer.attention.output
        q, k, v = (_heads(p.linear(h, m), heads) for m in (s.query, s.key, s.value))
        ctx = _merge(p.attention(q, k, v, valid, scale))
        a = p.layer_norm(p.linear(ctx, o.dense) + h, o.LayerNorm)
        i = p.act(p.linear(a, layer.intermediate.dense), layer.intermediate.intermediate_act_fn)
        h = p.layer_norm(p.linear(i, layer.output.dense) + a, layer.output.LayerNorm)
    if family == "roberta":
        head = model.classifier
        return words, p.linear(p.act(p.linear(h[:, 0], head.dense), torch.tanh), head.out_proj)
    pooled = p.act(p.linear(h[:, 0], base.pooler.dense), torch.tanh)
    return words, p.linear(pooled, model.classifier)


def _distilbert(p: _Pass, model, ids, valid, family: str):
    import torch

    base, cfg = model.distilbert, model.config
    emb = base.embeddings
    n, L = ids.shape
    words = emb.word_embeddings.weight.detach().to(p.dtype)[ids].clone().requires_grad_(True)
    pos = emb.position_embeddings.weight.detach()[torch.arange(L, device=ids.device)][None].expand(n, L, -1)
    h = p.layer_norm(words + p.leaf(pos, "position"), emb.LayerNorm)
    heads = int(cfg.n_heads)
    scale = (int(cfg.dim) // heads) ** -0.5
    for layer in base.transformer.layer:
        at = layer.attention
        q, k, v = (_heads(p.linear(h, m), heads) for m in (at.q_lin, at.k_lin, at.v_lin))
        sa = p.layer_norm(p.linear(_merge(p.attention(q, k, v, valid, scale)), at.out_lin) + h, layer.sa_layer_norm)
        f = p.linear(p.act(p.linear(sa, layer.ffn.lin1), layer.ffn.activation), layer.ffn.lin2)
        h = p.layer_norm(f + sa, layer.output_layer_norm)
    pooled = p.act(p.linear(h[:, 0], model.pre_classifier), torch.relu)
    return words, p.linear(pooled, model.classifier)


_FORWARD = {"bert": _bert, "roberta": _bert, "distilbert": _distilbert}


def _rowsum(t, n):
    return t.reshape(n, -1).sum(dim=1)


class TextLRP(TextExplainer):
    """AttnLRP relevance per token (and per word) of a text classifier's logit, in one backward pass.

    Examples::

        >>> model = load_text_model("models/report-finding")
        >>> attr = TextLRP(model).attribute(["Small left pleural effusion."])
        >>> attr.self_check["kind"], attr.extras["input_share"]
        ('conservation', array([0.97]))
    """

    name = "text_lrp"

    def __init__(self, model, *, target=None, epsilon: float = 1e-6, precision: str = "float64", rtol: float = 1e-6,
                 batch_size: int = 32):
        self.model = model
        self.target = target
        self.epsilon = epsilon
        self.precision = precision
        self.rtol = rtol
        self.batch_size = batch_size

    def _check_model(self, adapter) -> None:
        super()._check_model(adapter)
        cfg = adapter.model.config
        if cfg.model_type not in FAMILIES:
            raise ExplanationError(f"method 'text_lrp' reads {', '.join(FAMILIES)} classifiers, not "
                                   f"{cfg.model_type!r}; use text_integrated_gradients")
        kind = getattr(cfg, "position_embedding_type", None) or "absolute"
        if kind != "absolute":
            raise ExplanationError(f"method 'text_lrp' needs absolute position embeddings, the model has {kind!r}")

    def _explain(self, X, *, target=None, epsilon=1e-6, precision="float64", rtol=1e-6, batch_size=32) -> Attribution:
        """Relevance of each token's embedding for the target logit (strings or token ids ``(n, L)``).

        Args:
            target: class index or label per row, or ``None`` (the predicted class).
            epsilon: the epsilon rule's stabiliser on linear layers (``0``: gradient x input).
            precision: ``"float64"`` (default) or ``"float32"`` for the re-run forward pass.
            rtol: tolerance of the conservation check, relative to ``max(1, |logit|)``.
            batch_size: sequences per pass.
        """
        import torch

        if precision not in ("float64", "float32"):
            raise ExplanationError(f"precision must be 'float64' or 'float32', got {precision!r}")
        if epsilon < 0:
            raise ExplanationError(f"epsilon must be >= 0, got {epsilon}")
        ad = self.model_
        enc = ad.encode(X)
        ids, mask = enc["input_ids"], enc["attention_mask"]
        with torch.no_grad():
            logits = ad.forward_ids(ids, mask).logits.double()
        tgt = self._targets(logits, target)
        n = len(ids)
        out = {k: np.zeros(n) for k in ("position", "bias", "softmax", "epsilon", "logit", "forward")}
        values = np.zeros(tuple(ids.shape))
        step = max(1, int(batch_size))
        for r0 in range(0, n, step):
            sl = slice(r0, min(n, r0 + step))
            vals, parts = self._relevance(ad, ids[sl], mask[sl], tgt[sl], logits[sl], float(epsilon),
                                          getattr(torch, precision))
            values[sl] = vals
            for k, v in parts.items():
                out[k][sl] = v
        values = values * mask.cpu().numpy()
        fx = logits[torch.arange(n), tgt].cpu().numpy()
        balance = values.sum(1) + out["position"] + out["bias"] + out["softmax"] + out["epsilon"]
        err = np.abs(balance - out["logit"])
        tol = float(rtol) * np.maximum(1.0, np.abs(out["logit"]))
        fwd_tol = 1e-4 * max(1.0, float(np.abs(logits.cpu().numpy()).max()))
        check = {"kind": "conservation", "max_abs_error": float(err.max()), "tolerance": float(tol.max()),
                 "passed": bool((err <= tol).all() and out["forward"].max() <= fwd_tol), "per_row": err,
                 "forward_max_abs_error": float(out["forward"].max()), "forward_tolerance": fwd_tol,
                 "input_share": values.sum(1) / np.where(fx == 0, 1.0, fx),
                 "note": "word-embedding relevance + position/segment embeddings + biases + what the softmax and "
                         "epsilon rules absorbed, against the target logit; the re-run forward pass against the "
                         "model's own logits"}
        extras = {"target_per_row": tgt.cpu().numpy(), "input_share": check["input_share"],
                  "absorbed": {k: out[k] for k in ("position", "bias", "softmax", "epsilon")},
                  **self._text_extras(enc, values)}
        return Attribution(values=values, base_values=np.zeros(n), feature_names=None, method=self.name,
                           output="logit", predictions=fx, target=target if isinstance(target, int) else None,
                           params={"epsilon": float(epsilon), "precision": precision, "rules": "AttnLRP",
                                   "softmax": "AttnLRP (gradient x input)", "products": "uniform (1/2 each)",
                                   "layer_norm": "std detached", "activations": "identity"},
                           self_check=check, extras=extras)

    @staticmethod
    def _relevance(ad, ids, mask, tgt, logits, epsilon, dtype):
        import torch

        n = len(ids)
        p = _Pass(n, dtype, epsilon)
        valid = mask.bool()
        family = ad.model.config.model_type
        with torch.enable_grad():
            words, z = _FORWARD[family](p, ad.model, ids, valid, family)
            rows = torch.arange(n, device=ids.device)
            y = z[rows, tgt]
            leaves = p.leaves["position"] + p.leaves["bias"]
            inner = [t for pair in p.softmax for t in pair[:2]] + [t for t, _ in p.stabilised]
            grads = torch.autograd.grad(y.sum(), [words] + leaves + inner, allow_unused=True)
        g = iter(grads)
        parts = {}
        values = (words * next(g)).sum(-1).detach().double().cpu().numpy()
        for kind in ("position", "bias"):
            tot = torch.zeros(n, dtype=torch.float64, device=ids.device)
            for leaf in p.leaves[kind]:
                gl = next(g)
                if gl is not None:
                    tot += _rowsum(leaf.detach() * gl, n).double()
            parts[kind] = tot.cpu().numpy()
        soft = torch.zeros(n, dtype=torch.float64, device=ids.device)
        for scores, probs, vmask in p.softmax:
            gx, gs = next(g), next(g)
            keep = vmask[:, None, None, :]
            r_in = torch.where(keep, scores.detach() * gx, torch.zeros_like(gx))
            soft += (_rowsum(probs.detach() * gs, n) - _rowsum(r_in, n)).double()
        parts["softmax"] = soft.cpu().numpy()
        eps = torch.zeros(n, dtype=torch.float64, device=ids.device)
        for zt, ratio in p.stabilised:
            gz = next(g)
            eps += _rowsum(zt.detach() * gz * (1 - ratio), n).double()
        parts["epsilon"] = eps.cpu().numpy()
        parts["logit"] = y.detach().double().cpu().numpy()
        parts["forward"] = (z.detach().double() - logits).abs().amax(dim=1).cpu().numpy()
        return values, parts


__all__ = ["FAMILIES", "TextLRP"]
