"""Layer-wise relevance propagation for chains of layers.

Bach et al. 2015 (https://doi.org/10.1371/journal.pone.0130140); rules as in
Montavon et al. 2019, "Layer-Wise Relevance Propagation: An Overview"
(https://doi.org/10.1007/978-3-030-28954-6_10):

* ``"epsilon"``: ``R_i = sum_j a_i w_ij / (z_j + eps sign(z_j)) R_j`` (bias in ``z_j``);
* ``"zplus"``: the positive contributions only (``alpha=1, beta=0``), bias ignored;
* ``"alpha_beta"``: ``R_i = sum_j (alpha z+_ij / z+_j - beta z-_ij / z-_j) R_j`` with
  ``alpha - beta = 1`` (signs of inputs and weights both taken into account; a
  neuron with only positive or only negative contributions passes all its
  relevance through that part, so relevance is conserved);
* ``"gamma"``: ``w + gamma w+`` in the epsilon rule (captum's ``GammaRule``).

Supported layers: ``Linear``, ``Conv2d`` (the rules above), ``ReLU``,
``Dropout``, ``Identity`` (relevance passes through), ``MaxPool2d`` (winner takes
all), ``AvgPool2d`` / ``AdaptiveAvgPool2d`` (proportional), ``Flatten`` and any
reshape between layers, and ``BatchNorm1d/2d`` folded into the ``Linear`` /
``Conv2d`` before it. The model must be a chain: each layer takes the previous
layer's output (``nn.Sequential``, or a custom ``forward`` that calls its layers
one after another, with ``F.relu`` / ``flatten`` between them allowed). The chain
is read by tracing one forward pass and checked against the model's output;
any other layer, a branch or a residual connection raises
:class:`~xai_reports.errors.ExplanationError` naming the layer.

Relevance conservation (``sum(R_input) == f(x)``) is the self-check; biases and
``epsilon`` absorb some relevance, so the error is reported, not forced.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from ..errors import ExplanationError
from ._torch import TorchExplainer, auto_batch, to_numpy
from .base import Attribution

RULES = ("epsilon", "zplus", "alpha_beta", "gamma")


@dataclass
class _Step:
    name: str
    kind: str        # "linear", "relu", "maxpool", "avgpool", "reshape", "identity"
    module: object = None
    in_shape: tuple = ()
    out_shape: tuple = ()


def _kind(module):
    from torch import nn

    if isinstance(module, (nn.Linear, nn.Conv2d)):
        return "linear"
    if isinstance(module, nn.ReLU):
        return "relu"
    if isinstance(module, nn.MaxPool2d):
        return "maxpool"
    if isinstance(module, (nn.AvgPool2d, nn.AdaptiveAvgPool2d)):
        return "avgpool"
    if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        return "batchnorm"
    if isinstance(module, nn.Flatten):
        return "reshape"
    if isinstance(module, (nn.Dropout, nn.Identity)):
        return "identity"
    return None


def trace_chain(model, forward, x1) -> list[_Step]:
    """The model's layers in call order, checked to form a chain (hooks removed afterwards).

    Args:
        model: the ``nn.Module``.
        forward: the function computing the explained output from an input batch.
        x1: an input batch (one row is enough).

    Returns:
        The list of steps, with implicit ``reshape`` / ``relu`` steps inserted
        where the forward calls ``flatten`` or ``F.relu`` between layers.

    Examples::

        >>> m = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
        >>> [s.kind for s in trace_chain(m, m, torch.zeros(1, 3))]
        ['linear', 'relu', 'linear']
    """
    import torch

    calls = []
    leaves = [(n, m) for n, m in model.named_modules() if not list(m.children())]
    handles = []

    def hook(name):
        def f(module, inputs, output):
            calls.append((name, module, inputs[0].detach().clone() if inputs else None,
                          output.detach().clone() if isinstance(output, torch.Tensor) else None))
        return f

    try:
        for n, m in leaves:
            handles.append(m.register_forward_hook(hook(n)))
        with torch.no_grad():
            out = forward(x1)
    finally:
        for h in handles:
            h.remove()
    if not calls:
        raise ExplanationError("LRP found no layers in the model")
    steps: list[_Step] = []
    prev = x1.detach()
    seen = set()
    for name, module, inp, output in calls:
        kind = _kind(module)
        if kind is None:
            raise ExplanationError(
                f"LRP does not support layer {name!r} ({type(module).__name__}); supported: Linear, Conv2d, "
                "ReLU, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, Flatten, BatchNorm (after Linear/Conv2d), "
                "Dropout, Identity")
        if name in seen:
            raise ExplanationError(f"layer {name!r} is called more than once; LRP needs a chain of distinct layers")
        seen.add(name)
        if inp is None or output is None:
            raise ExplanationError(f"layer {name!r} does not map one tensor to one tensor")
        steps.extend(_link(prev, inp, name))
        steps.append(_Step(name=name, kind=kind, module=module, in_shape=tuple(inp.shape[1:]),
                           out_shape=tuple(output.shape[1:])))
        prev = output
    final = out.detach()
    if final.ndim == 1:
        final = final[:, None]
    steps.extend(_link(prev, final, "the model output"))
    return steps


def _link(prev, nxt, name):
    """Implicit steps taking ``prev`` to ``nxt``: nothing, a reshape, a ReLU, or an error."""
    import torch

    if prev.shape == nxt.shape and torch.equal(prev, nxt):
        return []
    if prev.numel() == nxt.numel():
        p = prev.reshape(nxt.shape)
        if torch.equal(p, nxt):
            return [_Step(name=f"reshape before {name}", kind="reshape", in_shape=tuple(prev.shape[1:]),
                          out_shape=tuple(nxt.shape[1:]))]
        if torch.equal(torch.relu(p), nxt):
            out = [_Step(name=f"relu before {name}", kind="relu", in_shape=tuple(prev.shape[1:]),
                         out_shape=tuple(prev.shape[1:]))]
            if prev.shape != nxt.shape:
                out.append(_Step(name=f"reshape before {name}", kind="reshape", in_shape=tuple(prev.shape[1:]),
                                 out_shape=tuple(nxt.shape[1:])))
            return out
    raise ExplanationError(
        f"LRP needs a chain of layers: {name} does not take the previous layer's output "
        "(a residual connection, a branch, or an operation between layers that LRP does not know)")


def fold_batchnorm(steps: list[_Step]) -> list[_Step]:
    """Steps with every BatchNorm folded into the Linear/Conv2d right before it (copies; the model is untouched).

    ``W' = W * gamma / sqrt(var + eps)``, ``b' = (b - mean) * gamma / sqrt(var + eps) + beta``.

    Examples::

        >>> [s.name for s in fold_batchnorm(trace_chain(conv_bn_relu, conv_bn_relu, x[:1]))]
        ['0+1', '2']
    """
    import torch

    out: list[_Step] = []
    for st in steps:
        if st.kind != "batchnorm":
            out.append(st)
            continue
        if not out or out[-1].kind != "linear":
            raise ExplanationError(f"BatchNorm layer {st.name!r} does not follow a Linear/Conv2d, so it cannot be "
                                   "folded for LRP")
        bn, lin = st.module, out[-1]
        layer = copy.deepcopy(lin.module)
        with torch.no_grad():
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps) if bn.affine else \
                1.0 / torch.sqrt(bn.running_var + bn.eps)
            shift = bn.bias if bn.affine else torch.zeros_like(scale)
            shape = (-1,) + (1,) * (layer.weight.ndim - 1)
            layer.weight.mul_(scale.view(shape))
            b = layer.bias if layer.bias is not None else torch.zeros_like(scale)
            new_b = (b - bn.running_mean) * scale + shift
            if layer.bias is None:
                layer.bias = torch.nn.Parameter(new_b)
            else:
                layer.bias.copy_(new_b)
        out[-1] = _Step(name=f"{lin.name}+{st.name}", kind="linear", module=layer, in_shape=lin.in_shape,
                        out_shape=st.out_shape)
    return out


def _op(module, x, w, bias=None):
    import torch.nn.functional as F
    from torch import nn

    if isinstance(module, nn.Linear):
        return F.linear(x, w, bias)
    return F.conv2d(x, w, bias, module.stride, module.padding, module.dilation, module.groups)


def _stab(z, eps):
    import torch

    sign = torch.where(z >= 0, torch.ones_like(z), -torch.ones_like(z))
    return z + eps * sign


class LRP(TorchExplainer):
    """Layer-wise relevance propagation (epsilon, z+, alpha-beta, gamma rules).

    Examples::

        >>> attr = LRP(cnn).attribute(images, rule="epsilon")
        >>> attr.values.shape, attr.self_check["kind"]
        ((8, 3, 32, 32), 'conservation')
        >>> LRP(cnn).attribute(images, rule="alpha_beta", alpha=2, beta=1, rules={"fc": "epsilon"})
    """

    name = "lrp"

    def __init__(self, model, *, target=None, rule: str = "epsilon", epsilon: float = 1e-9, alpha: float = 2.0,
                 beta: float = 1.0, gamma: float = 0.25, rules: dict | None = None, tolerance: float = 1e-2,
                 internal_batch_size: int | None = None, device: str = "auto"):
        """Store the model and the options (as :meth:`_explain` documents them); no work is done here."""
        self.model = model
        self.target = target
        self.rule = rule
        self.epsilon = epsilon
        self.alpha = alpha
        self.beta = beta
        self.gamma = gamma
        self.rules = rules
        self.tolerance = tolerance
        self.internal_batch_size = internal_batch_size
        self.device = device

    def _explain(self, X, *, target=None, rule: str = "epsilon", epsilon: float = 1e-9, alpha: float = 2.0,
                  beta: float = 1.0, gamma: float = 0.25, rules: dict | None = None, tolerance: float = 1e-2,
                  internal_batch_size: int | None = None, device: str = "auto") -> Attribution:
        """Relevance of each input element for the explained output.

        Args:
            X: ``(n, d)`` tabular or ``(n, C, H, W)`` images.
            target: output index (int or one per row); default: predicted class.
            rule: rule for ``Linear`` / ``Conv2d`` layers, one of :data:`RULES`.
            epsilon: stabiliser of the epsilon rule (captum's default ``1e-9``).
            alpha, beta: parameters of the alpha-beta rule (``alpha - beta`` must be 1).
            gamma: parameter of the gamma rule.
            rules: per-layer overrides, ``{"features.0": "zplus", "fc": "epsilon"}``.
            tolerance: relative conservation error the self-check accepts.
            internal_batch_size: rows per pass.
            device: ``"auto"``, ``"cpu"`` or ``"cuda"``.

        Returns:
            :class:`Attribution` with ``values`` shaped like ``X``,
            ``predictions = f(X)`` (the relevance started from), and a
            ``self_check`` of kind ``"conservation"``: ``|sum(R) - f(x)|`` per row.
        """
        import torch

        rules = dict(rules or {})
        for r in [rule, *rules.values()]:
            if r not in RULES:
                raise ExplanationError(f"unknown LRP rule {r!r}; expected one of {', '.join(RULES)}")
        if "alpha_beta" in [rule, *rules.values()] and abs(alpha - beta - 1.0) > 1e-12:
            raise ExplanationError(f"the alpha-beta rule needs alpha - beta = 1, got alpha={alpha}, beta={beta}")
        space = self.model_.output_space
        with self._on_device(device) as dev:
            prep = self._prepare(X, dev)
            batch = auto_batch(prep.numel, internal_batch_size, factor=4)
            tgt = self._resolve_target(prep, target, space, batch)
            steps = fold_batchnorm(trace_chain(self.module, lambda z: self._forward(z, space), prep.x[:1]))
            names = {s.name for s in steps}
            unknown = [k for k in rules if not any(n == k or n.startswith(k + "+") for n in names)]
            if unknown:
                raise ExplanationError(f"rules= names layers not in the chain: {', '.join(unknown)}")
            rel, outs = [], []
            for i in range(0, prep.n, batch):
                tt = None if tgt is None else tgt[i:i + batch]
                r, o = self._propagate(steps, prep.x[i:i + batch], tt, rule, rules, epsilon, alpha, beta, gamma)
                rel.append(r)
                outs.append(o)
            values = to_numpy(torch.cat(rel))
            fx = to_numpy(torch.cat(outs))
        n = prep.n
        total = values.reshape(n, -1).sum(axis=1)
        err = np.abs(total - fx)
        denom = np.maximum(np.abs(fx), 1e-12)
        relerr = err / denom
        check = {"kind": "conservation", "max_abs_error": float(err.max()), "max_rel_error": float(relerr.max()),
                 "tolerance": float(tolerance), "tolerance_kind": "relative to |f(x)|",
                 "passed": bool((relerr <= tolerance).all()), "per_row": err, "per_row_rel": relerr,
                 "note": "biases and the epsilon stabiliser absorb relevance; z+/alpha-beta ignore biases"}
        t, tex = self._target_record(tgt)
        chain = [s.name for s in steps]
        return Attribution(
            values=values, base_values=np.zeros(n), feature_names=prep.feature_names, method=self.name,
            output=space, predictions=fx, target=t,
            params={"device": prep.device, "rule": rule, "epsilon": float(epsilon), "alpha": float(alpha),
                    "beta": float(beta), "gamma": float(gamma), "rules": rules},
            self_check=check, extras={"input_kind": prep.kind, "layers": chain, **tex})

    def _propagate(self, steps, x, target, rule, rules, eps, alpha, beta, gamma):
        import torch
        import torch.nn.functional as F

        acts = [x]
        with torch.no_grad():
            a = x
            for st in steps:
                if st.kind == "linear" or st.kind in ("maxpool", "avgpool"):
                    a = st.module(a)
                elif st.kind == "relu":
                    a = F.relu(a)
                elif st.kind == "reshape":
                    a = a.reshape(a.shape[0], *st.out_shape)
                acts.append(a)
        out = acts[-1]
        if out.ndim == 1:
            out = out[:, None]
        out = out.reshape(out.shape[0], -1)
        if target is None:
            if out.shape[1] != 1:
                raise ExplanationError("internal error: multi-output model without a target")
            R = out.clone()
            f = out[:, 0]
        else:
            R = torch.zeros_like(out)
            idx = target.view(-1, 1)
            R.scatter_(1, idx, out.gather(1, idx))
            f = out.gather(1, idx)[:, 0]
        R = R.reshape(acts[-1].shape) if acts[-1].ndim > 1 else R[:, 0]
        for k in range(len(steps) - 1, -1, -1):
            st, a = steps[k], acts[k]
            if st.kind in ("relu", "identity"):
                continue
            if st.kind == "reshape":
                R = R.reshape(a.shape)
                continue
            r = rules.get(st.name) or next((v for key, v in rules.items() if st.name.startswith(key + "+")), rule)
            if st.kind in ("maxpool", "avgpool") or r in ("epsilon", "gamma"):
                R = self._epsilon(st, a, R, eps, gamma if (r == "gamma" and st.kind == "linear") else 0.0)
            else:
                R = self._alpha_beta(st, a, R, 1.0 if r == "zplus" else alpha, 0.0 if r == "zplus" else beta)
        return R.detach(), f.detach()

    @staticmethod
    def _epsilon(st, a, R, eps, gamma):
        import torch

        a = a.detach().requires_grad_(True)
        with torch.enable_grad():
            if st.kind == "linear" and gamma:
                w = st.module.weight
                z = _op(st.module, a, w + gamma * w.clamp(min=0), st.module.bias)
            else:
                z = st.module(a)
            s = (R / _stab(z, eps)).detach()
            (c,) = torch.autograd.grad(z, a, grad_outputs=s)
        return (a * c).detach()

    @staticmethod
    def _alpha_beta(st, a, R, alpha, beta):
        """alpha-beta (``beta = 0``: z+). A neuron with no negative (positive) contributions
        sends all its relevance through the other part, so alpha - beta = 1 conserves it; the
        plain z+ rule keeps its definition and drops the relevance of a neuron with ``z+ = 0``."""
        import torch

        w = st.module.weight.detach()
        wp, wn = w.clamp(min=0), w.clamp(max=0)
        ap = a.clamp(min=0).detach().requires_grad_(True)
        an = a.clamp(max=0).detach().requires_grad_(True)
        with torch.no_grad():
            zp = _op(st.module, ap, wp) + _op(st.module, an, wn)
            zn = _op(st.module, ap, wn) + _op(st.module, an, wp)
        if beta:
            ca = torch.where(zn == 0, torch.ones_like(zp), torch.where(zp == 0, torch.zeros_like(zp),
                                                                        torch.full_like(zp, alpha)))
            cb = torch.where(zp == 0, -torch.ones_like(zn), torch.where(zn == 0, torch.zeros_like(zn),
                                                                         torch.full_like(zn, beta)))
        else:
            ca, cb = torch.full_like(zp, alpha), None

        def part(w1, w2, coef, z):
            s = torch.where(z != 0, coef * R / torch.where(z != 0, z, torch.ones_like(z)), torch.zeros_like(z))
            with torch.enable_grad():
                zz = _op(st.module, ap, w1) + _op(st.module, an, w2)
                gp, gn = torch.autograd.grad(zz, (ap, an), grad_outputs=s.detach())
            return (ap * gp + an * gn).detach()

        out = part(wp, wn, ca, zp)
        if cb is not None:
            out = out - part(wn, wp, cb, zn)
        return out


__all__ = ["LRP", "RULES", "trace_chain", "fold_batchnorm"]
