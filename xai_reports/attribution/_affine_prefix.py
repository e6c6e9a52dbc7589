"""Affine prefix hoisting for integrated gradients on torch image models.

A network's first layers up to its first non-linearity are often affine in the
input (a convolution with its BatchNorm folded, a linear layer, padding,
average pooling, reshapes, a constant shift or scale). Write the model as
``f = R(P(x))`` with ``P`` that affine prefix. On the straight path
``x_k = b + a_k (x - b)``, ``P(x_k) = P(b) + a_k (P(x) - P(b))`` exactly, and
``J_P`` is the same everywhere, so

    IG = (x - b) * J_P^T (sum_k w_k grad R(z_k)),   z_k = P(b) + a_k (P(x) - P(b)):

``P`` runs forward on two points per row instead of every step, and its
input-gradient pass (for an image stem, a slow 3-output-channel transposed
convolution) runs once per row instead of once per step.

:func:`affine_split` finds ``P`` in the ``torch.fx`` graph of the cached image
copy (:func:`._torch.image_module`): the longest chain from the input through
operations known to be affine in it, each node but the last used only by the
next (so an input also used by a skip connection stops it at once). Anything it
does not recognise ends the chain; no chain, a graph it cannot split, or a split
that does not reproduce the model (or is not affine on the probe rows) gives
``None``, and integrated gradients take the ordinary path.
"""

from __future__ import annotations

import operator
import weakref

_SPLITS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_NONE = object()
#: hoist only a prefix doing at least this many floating-point operations per element of its output:
#: the path is then followed in that (often wider) output space, and below this the interpolation and
#: the weighted sum there cost about what the prefix's own passes save (a 3x3 convolution of a
#: 3-channel image, 54 per element, measured 0.94x-1.15x; a 7x7 one, 294, 1.13x-1.21x)
MIN_FLOPS_PER_OUTPUT = 128

# call_method names that are affine in the tensor they are called on (with constant arguments)
_METHODS_VIEW = {"view", "reshape", "flatten", "permute", "transpose", "contiguous", "unsqueeze", "squeeze"}
_METHODS_ARITH = {"add", "sub", "mul", "div", "neg"}


def _module_kinds():
    from torch import nn

    heavy = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d,
             nn.Linear, nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.AvgPool1d, nn.AvgPool2d,
             nn.AvgPool3d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d)
    light = (nn.Flatten, nn.Unflatten, nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d,
             nn.ZeroPad1d, nn.ZeroPad2d, nn.ZeroPad3d, nn.ConstantPad1d, nn.ConstantPad2d, nn.ConstantPad3d,
             nn.ReflectionPad1d, nn.ReflectionPad2d, nn.ReplicationPad1d, nn.ReplicationPad2d)
    return heavy, light


def _function_kinds():
    import torch
    import torch.nn.functional as F

    heavy = {F.conv1d, F.conv2d, F.conv3d, F.linear, F.avg_pool1d, F.avg_pool2d, F.avg_pool3d,
             F.adaptive_avg_pool1d, F.adaptive_avg_pool2d, F.adaptive_avg_pool3d}
    light = {torch.flatten, torch.reshape, torch.permute, torch.transpose, torch.unsqueeze, torch.squeeze, F.pad}
    arith = {operator.add, operator.sub, operator.mul, operator.truediv, operator.neg,
             torch.add, torch.sub, torch.mul, torch.neg}
    return heavy, light, arith


def _nodes_in(args):
    from torch.fx import Node

    out = []

    def walk(a):
        if isinstance(a, Node):
            out.append(a)
        elif isinstance(a, (list, tuple)):
            for b in a:
                walk(b)
        elif isinstance(a, dict):
            for b in a.values():
                walk(b)
    walk(args)
    return out


def _constant(node, memo) -> bool:
    """The node's value does not depend on the input: a parameter/buffer, or computed from those only
    (a call with no parameter or buffer among its inputs, such as ``torch.randn(3)``, is not trusted)."""
    if node in memo:
        return memo[node]
    if node.op == "get_attr":
        ok = True
    elif node.op in ("call_function", "call_method"):
        deps = _nodes_in((node.args, node.kwargs))
        ok = bool(deps) and all(_constant(a, memo) for a in deps)
    else:
        ok = False
    memo[node] = ok
    return ok


def _affine_step(node, prev, gm, memo) -> str | None:
    """``"heavy"``/``"light"`` when ``node`` is affine in ``prev`` (its only non-constant input, used
    once), else ``None``."""
    deps = _nodes_in((node.args, node.kwargs))
    if deps.count(prev) != 1 or any(d is not prev and not _constant(d, memo) for d in deps):
        return None
    if node.op == "call_module":
        heavy, light = _module_kinds()
        mod = gm.get_submodule(node.target)
        cls = getattr(type(mod), "same_math_as", type(mod))    # the copy's oneDNN-routed Conv2d: a Conv2d
        kind = "heavy" if cls in heavy else "light" if cls in light else None
        if kind is None or len(node.args) != 1 or node.kwargs or node.args[0] is not prev:
            return None
        if getattr(mod, "training", False):     # BatchNorm on batch statistics, live Dropout: not affine
            return None
        if type(mod).__name__.startswith("BatchNorm") and getattr(mod, "running_mean", None) is None:
            return None
        return kind
    if node.op == "call_function":
        heavy, light, arith = _function_kinds()
        if node.target in heavy:
            return "heavy" if node.args and node.args[0] is prev else None
        if node.target in light:
            return "light" if node.args and node.args[0] is prev else None
        if node.target in arith:
            if node.kwargs and set(node.kwargs) - {"alpha"}:
                return None
            if node.target is operator.truediv and node.args[0] is not prev:
                return None
            return "light"
        return None
    if node.op == "call_method":
        if node.args[0] is not prev:
            return None
        if node.target in _METHODS_VIEW:
            return "light"
        if node.target in _METHODS_ARITH and not (set(node.kwargs) - {"alpha"}):
            return "light"
    return None


def _find_chain(gm):
    """The affine prefix's nodes in order (empty when there is none)."""
    graph = gm.graph
    inputs = [n for n in graph.nodes if n.op == "placeholder"]
    if len(inputs) != 1:
        return []
    memo: dict = {}
    chain, kinds, cur = [], [], inputs[0]
    while len(cur.users) == 1:
        (nxt,) = cur.users
        kind = _affine_step(nxt, cur, gm, memo)
        if kind is None:
            break
        chain.append(nxt)
        kinds.append(kind)
        cur = nxt
    return chain if "heavy" in kinds else []


def _copy_into(graph, node, env):
    """Copy ``node`` (and, first, any constant inputs not yet copied) into ``graph``."""
    for d in _nodes_in((node.args, node.kwargs)):
        if d not in env:
            _copy_into(graph, d, env)
    env[node] = graph.node_copy(node, lambda n: env[n])
    return env[node]


def _build(gm):
    import torch.fx as fx

    chain = _find_chain(gm)
    if not chain:
        return None
    inp = next(n for n in gm.graph.nodes if n.op == "placeholder")
    pg = fx.Graph()
    env = {inp: pg.placeholder("x")}
    for n in chain:
        _copy_into(pg, n, env)
    pg.output(env[chain[-1]])
    rg = fx.Graph()
    renv = {chain[-1]: rg.placeholder("z")}
    skip = set(chain) | {inp}
    for n in gm.graph.nodes:
        if n in skip or n in renv:
            continue
        renv[n] = rg.node_copy(n, lambda m: renv[m])
    P, R = fx.GraphModule(gm, pg), fx.GraphModule(gm, rg)
    if not _out_of_place(R):
        return None
    for part in (P, R):
        part.graph.eliminate_dead_code()
        part.recompile()
    return P, R


def _out_of_place(R) -> bool:
    """Make the ops that take ``R``'s input out-of-place (its input is the leaf differentiated); ``False``
    where an in-place use cannot be switched off (the split is then not used)."""
    import copy

    (z,) = [n for n in R.graph.nodes if n.op == "placeholder"]
    for i, node in enumerate(list(z.users)):
        if node.op == "call_module":
            mod = R.get_submodule(node.target)
            if getattr(mod, "inplace", False):
                new = copy.copy(mod)
                new.inplace = False
                name = f"_xai_out_of_place_{i}"
                R.add_submodule(name, new)
                node.target = name
        elif node.op == "call_function" and node.kwargs.get("inplace"):
            node.kwargs = {**node.kwargs, "inplace": False}
        elif node.op == "call_method" and str(node.target).endswith("_"):
            return False
    return True


def _verified(gm, split, x) -> bool:
    """The split reproduces the model on ``x[:2]`` and its prefix is affine there."""
    import torch

    P, R = split[0], split[1]
    with torch.no_grad():
        x2 = x[:2].contiguous(memory_format=torch.channels_last)
        full = gm(x2)
        z = P(x2)
        with torch.enable_grad():   # as the steps run it: on a leaf that requires grad
            out = R(z.clone().requires_grad_(True)).detach()
        if not (isinstance(full, torch.Tensor) and isinstance(out, torch.Tensor) and out.shape == full.shape):
            return False
        if not torch.allclose(out, full, rtol=1e-4, atol=1e-5 * max(1.0, float(full.abs().max()))):
            return False
        other = x2.flip(0) if x2.shape[0] > 1 else torch.zeros_like(x2)
        zo, zm = P(other), P((0.25 * x2 + 0.75 * other).contiguous(memory_format=torch.channels_last))
        lin = 0.25 * z + 0.75 * zo
        scale = 1e-5 * max(1.0, float(z.abs().max()), float(zo.abs().max()))
        return bool(torch.allclose(zm, lin, rtol=1e-4, atol=scale))


def _flops_per_output(P, x) -> float:
    """Multiply-add flops (2 per multiply-add) of ``P``'s convolutions and linear layers per element of
    its output, on one row (the other affine steps cost a few flops per element and are not counted)."""
    import torch
    import torch.fx as fx
    import torch.nn.functional as F
    from torch import nn

    total = [0]

    class Count(fx.Interpreter):
        def run_node(self, n):
            out = super().run_node(n)
            w, transposed = None, False
            if n.op == "call_module":
                mod = self.module.get_submodule(n.target)
                if isinstance(mod, (nn.modules.conv._ConvNd, nn.Linear)):
                    w, transposed = mod.weight, getattr(mod, "transposed", False)
            elif n.op == "call_function" and n.target in (F.conv1d, F.conv2d, F.conv3d, F.linear):
                arg = n.args[1] if len(n.args) > 1 else n.kwargs.get("weight")
                w = self.env.get(arg) if isinstance(arg, fx.Node) else arg
            if isinstance(w, torch.Tensor):
                if w.ndim == 2:                                 # linear: in_features per output
                    total[0] += 2 * out.numel() * w.shape[1]
                elif transposed:                                # (Cin, Cout/groups, k...): per input
                    total[0] += 2 * self.env[n.args[0]].numel() * w[0].numel()
                else:                                           # (Cout, Cin/groups, k...): per output
                    total[0] += 2 * out.numel() * w[0].numel()
            return out

    with torch.no_grad():
        z = Count(P).run(x[:1].contiguous(memory_format=torch.channels_last))
    return total[0] / max(1, z.numel())


def affine_split(fast, x):
    """``(P, R)`` with ``fast(x) == R(P(x))`` and ``P`` affine, for the cached image copy ``fast``
    (a ``torch.fx.GraphModule``), or ``None`` (also for a prefix too cheap to be worth hoisting, see
    :data:`MIN_FLOPS_PER_OUTPUT`). Found once per copy, checked on ``x[:2]``."""
    import torch.fx as fx

    if not isinstance(fast, fx.GraphModule):
        return None
    got = _SPLITS.get(fast)
    if got is None:
        try:
            split = _build(fast)
            ok = split is not None and _verified(fast, split, x)
            got = (*split, _flops_per_output(split[0], x)) if ok else _NONE
        except Exception:  # noqa: BLE001 - an unusual graph: the ordinary path
            got = _NONE
        _SPLITS[fast] = got
    if got is _NONE or got[2] < MIN_FLOPS_PER_OUTPUT:
        return None
    return got[:2]


def _order(t):
    """A permutation that makes ``t`` contiguous (channels_last 4-d tensors: NHWC), or ``None``."""
    import torch

    if t.ndim == 4 and not t.is_contiguous() and t.is_contiguous(memory_format=torch.channels_last):
        return (0, 2, 3, 1)
    return None


def _model_layout(t, perm):
    """``(k, r, *shape)`` in storage order -> ``(k * r, ...)`` as the model takes it (channels_last for NHWC)."""
    t = t.reshape(t.shape[0] * t.shape[1], *t.shape[2:])
    return t if perm is None else t.permute(0, 3, 1, 2)


class PrefixPath:
    """The straight paths of some rows in the affine prefix's output space: ``z0 = P(b)`` and
    ``dz = P(x) - P(b)``, laid out as the prefix's outputs are stored (NHWC for channels_last), so that
    the point at ``a`` is ``z0 + a dz``; gradients of the rest ``R`` there, and the pull-back through
    ``P`` to the input. Shared by the fixed rules (:func:`integrate_hoisted`) and ``n_steps="auto"``
    (:mod:`._ig_adaptive`)."""

    def __init__(self, split, x, base):
        import torch

        self.P, self.R = split
        self.layout = torch.channels_last if x.ndim == 4 else torch.contiguous_format
        with torch.no_grad():
            zx = self.P(x.contiguous(memory_format=self.layout))
            zb = self.P(base.contiguous(memory_format=self.layout))
        self.perm = _order(zx)
        zxp, zbp = (zx, zb) if self.perm is None else (zx.permute(self.perm), zb.permute(self.perm))
        self.z0, self.dz = zbp.contiguous(), (zxp - zbp).contiguous()
        self.zshape = tuple(self.z0.shape[1:])

    def grad(self, explainer, pts, target, space):
        """``(gradient in storage layout, explained scalar)`` of ``R`` at the points ``pts`` (``(m, *zshape)``,
        storage layout), detached."""
        import torch

        z = _model_layout(pts.unsqueeze(0), self.perm).detach().requires_grad_(True)
        with torch.enable_grad():
            o = explainer._in_space(self.R(z), space)
            s = o if target is None else o.gather(1, target.view(-1, 1)).squeeze(1)
            (g,) = torch.autograd.grad(s.sum(), z)
        return (g if self.perm is None else g.permute(0, 2, 3, 1)), s.detach()

    def pull_back(self, acc, x, base):
        """The maps ``(x - b) * J_P^T acc`` (float64) for ``acc`` (``(m, *zshape)``, storage layout)."""
        import torch

        # the prefix is affine: its Jacobian is the same at every point, so any input carries the product
        xin = torch.zeros(x.shape, dtype=x.dtype, device=x.device)
        xin = xin.contiguous(memory_format=self.layout).requires_grad_(True)
        with torch.enable_grad():
            z = self.P(xin)
            a = acc if self.perm is None else acc.permute(0, 3, 1, 2)
            (gx,) = torch.autograd.grad(z, xin, a.to(z.dtype))
        return gx.double() * (x - base).double()


def integrate_hoisted(explainer, split, x, base, target, space, alphas, weights, batch):
    """:meth:`IntegratedGradients._integrate` through the affine prefix: the same quadrature, the
    prefix's forward on ``x`` and ``base`` only and one vector-Jacobian product through it per row."""
    import torch

    n = x.shape[0]
    s = len(alphas)
    dev = x.device
    a_all = torch.as_tensor(alphas, dtype=x.dtype, device=dev)
    w_all = torch.as_tensor(weights, dtype=torch.float64, device=dev)
    out = torch.empty(x.shape, dtype=torch.float64, device=dev)
    rows = max(1, batch // s)
    steps_per = s if rows > 1 or batch >= s else max(1, batch)
    for i in range(0, n, rows):
        path = PrefixPath(split, x[i:i + rows], base[i:i + rows])
        r = path.z0.shape[0]
        tt = None if target is None else target[i:i + rows]
        view = (-1, 1) + (1,) * len(path.zshape)
        acc = torch.zeros((r, *path.zshape), dtype=torch.float64, device=dev)
        for j in range(0, s, steps_per):
            a = a_all[j:j + steps_per]
            w = w_all[j:j + steps_per]
            k = a.shape[0]
            # the points P(b) + a_k (P(x) - P(b)) in one pass
            pts = torch.addcmul(path.z0.unsqueeze(0), a.view(view), path.dz.unsqueeze(0)).reshape(k * r, *path.zshape)
            g, _ = path.grad(explainer, pts, None if tt is None else tt.repeat(k), space)
            # weighted in the gradients' precision (a k-term dot per element), accumulated in float64
            acc += torch.tensordot(w.to(g.dtype), g.reshape(k, r, *path.zshape), dims=1)
        out[i:i + rows] = path.pull_back(acc, x[i:i + rows], base[i:i + rows])
    return out


__all__ = ["PrefixPath", "affine_split", "integrate_hoisted"]
