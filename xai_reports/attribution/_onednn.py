"""oneDNN routes for the convolutions of the private ``channels_last`` image copy (:func:`._torch.image_module`).

Passes without gradient recording take these routes (Grad-CAM's pass up to its layer, the
predictions and finite-difference checks), and so do input-gradient passes (see the last point).
Every convolution goes where PyTorch itself would send it, with these differences, each decided by
PyTorch's own backend selector (``torch._C._select_conv_backend``, asked once per input shape) and
never by a size of ours or by timing:

* **The convolutions that read the image** run through oneDNN where PyTorch would give them its
  native (im2col) kernel: that kernel is fast in NCHW but several times slower in ``channels_last``
  (a 3->16 3x3 convolution of one 64x64 image: ~0.24 ms against ~0.11 ms), while oneDNN takes the
  ``channels_last`` input as it is and keeps the output in ``channels_last`` for the next layer. Only
  with more than one input channel (a one-channel tensor is laid out the same either way). Deeper,
  wider layers keep PyTorch's choice (routing them too was measured 2x slower on ResNet-18 at 64x64).
* **Weights reordered once** per input shape for every convolution that goes to oneDNN (PyTorch's
  choice or the rule above; ``torch.ops.mkldnn._reorder_convolution_weight``, what ``torch.compile``
  does), instead of on every call as ``torch.conv2d`` does: the same oneDNN convolution (outputs
  equal to the bit on the shapes measured), ~5 us less per call for a small one and much more for a
  wide one (ResNet-18 at 224x224). At most :data:`MAX_SHAPES` shapes are kept.
* **A ReLU that follows a convolution in an ``nn.Sequential``** is applied by the convolution as a
  oneDNN post-op (one pass over the output instead of two, and two module calls fewer). The
  ``nn.Sequential`` does it in its own forward, for that position only (a convolution called from
  anywhere else returns its own output), and only when neither module has hooks and no global
  module hooks are registered (a hook must see each module's own output, e.g. Grad-CAM's capture).
  Not in passes that record a graph (the ReLU's own backward needs its own output there).
* **Input-gradient passes** (gradient recording on, the input requires grad, the weights do not: the
  copy's parameters never do) take the same routed forward through an ``autograd.Function`` whose
  backward computes the input gradient only, as a oneDNN transposed convolution of the output
  gradient with the weight reordered once per shape for it
  (``torch.ops.mkldnn._convolution_transpose_pointwise`` /
  ``_reorder_convolution_transpose_weight``): PyTorch's recorded convolution reorders the weight on
  every call, forward and backward (ResNet-18 at 64x64, 17 rows: ~9 ms of each ~60 ms direction per
  pass). The convolutions that read the image keep PyTorch's own backward (a transposed
  convolution to the image's few channels measured slower through oneDNN: 1.5 vs 0.9 ms for a 7x7
  stem on one 64x64 image), and so do those whose kernel is smaller than their stride (the
  transposed convolution leaves pixels no tap reaches; a 1x1 stride-2 32->64 one on 8 rows of
  96x96 measured 3.5-6.7 ms through oneDNN against 2.2 ms). A convolution with hooks of its own, a wrapped forward, or global module
  hooks registered keeps PyTorch's recorded forward; so does one whose weight or bias requires grad.

Each route is used only after it reproduced PyTorch's own convolution on the first two rows of its
first input of a shape apart from the batch size (output, and for input-gradient passes also the
input gradient for a pseudo-random output gradient; another batch size is the same computation),
and a private entry point that is missing or raises ``TypeError``/``RuntimeError`` there gives
PyTorch's own path.
"""

from __future__ import annotations

#: input shapes whose reordered weights a convolution keeps (the least recently used is dropped beyond it): a
#: copy of the weights per shape for the forward and, once an input-gradient pass ran, one for its backward
#: (ResNet-18: ~45 MB each); a dropped shape that comes back costs one reorder, as each of PyTorch's calls does
MAX_SHAPES = 4
#: input shapes whose backend choice, and shapes apart from the batch size whose route checks, a convolution
#: keeps (the oldest dropped beyond)
MAX_KEYS = 64

_CLASSES: dict = {}
#: the plan "call ``torch.mkldnn_convolution``" (no reordered weights: an older PyTorch without them)
_DIRECT = object()
#: the forward plan "a reordered weight" (before it is made), and "not decided yet"
_REORDER, _UNSET = object(), object()
#: the backward plan "PyTorch's own input-gradient kernel" (``aten.convolution_backward``: the image readers)
_NATIVE_BACKWARD = object()


def _classes():
    """``(conv class, Sequential class)``, built on first use (torch is imported lazily)."""
    if _CLASSES:
        return _CLASSES["conv"], _CLASSES["seq"]
    import torch
    from torch.autograd.function import once_differentiable
    from torch.nn.modules import module as _module

    pointwise = getattr(torch.ops.mkldnn, "_convolution_pointwise", None) if torch.backends.mkldnn.is_available() else None
    reorder = getattr(torch.ops.mkldnn, "_reorder_convolution_weight", None) if pointwise is not None else None
    t_pointwise = getattr(torch.ops.mkldnn, "_convolution_transpose_pointwise", None) if reorder is not None else None
    t_reorder = (getattr(torch.ops.mkldnn, "_reorder_convolution_transpose_weight", None)
                 if t_pointwise is not None else None)

    class InputGradConv(torch.autograd.Function):
        """The routed convolution, differentiable in its input only (the weights are constants here)."""

        @staticmethod
        def forward(ctx, x, conv, plans):
            plan, bwd = plans           # (a tuple: the opaque reordered weights are not autograd inputs)
            ctx.conv, ctx.bwd = conv, bwd
            if bwd is _NATIVE_BACKWARD:
                ctx.save_for_backward(x)
            return conv._run(x, plan, "none")

        @staticmethod
        @once_differentiable
        def backward(ctx, go):
            x = ctx.saved_tensors[0] if ctx.bwd is _NATIVE_BACKWARD else None
            return ctx.conv._input_grad(go, x, ctx.bwd), None, None

    class OneDnnConv2d(torch.nn.Conv2d):
        """``nn.Conv2d`` with the routes of this module's docstring (the copy's convolutions take this class)."""

        same_math_as = torch.nn.Conv2d      # what it computes (the affine-prefix finder reads this)

        def _kind(self, x, key):
            """``None`` (PyTorch's forward), ``_DIRECT`` (``torch.mkldnn_convolution``) or ``_REORDER`` (a
            reordered weight) for input shape ``key``, by PyTorch's own backend choice for it."""
            backend = torch._C._select_conv_backend(x, self.weight, self.bias, self.stride, self.padding,
                                                    self.dilation, False, [0, 0], self.groups, None).name
            native = backend.startswith("Slow")
            reader = self.__dict__.get("_xai_reader", False) and self.in_channels > 1
            if reader:
                choice = self.__dict__.setdefault("_onednn_choice", {})
                if len(choice) >= MAX_KEYS:
                    choice.clear()
                choice[key] = native
            if not (backend == "Mkldnn" or (reader and native)):
                return None
            if reorder is None:
                return _DIRECT if reader and native else None
            return _REORDER

        def _checked_plan(self, x, kind):
            """The forward plan of ``kind`` (``_DIRECT`` or a reordered weight), kept only if its route gives
            PyTorch's own output on ``x`` (with and without the ReLU), else ``None``: these are private
            PyTorch entry points, so another PyTorch version that renamed or changed them falls back to
            PyTorch's forward instead of failing or drifting."""
            try:
                plan = kind if kind is _DIRECT else reorder(self.weight, self.padding, self.stride, self.dilation,
                                                            self.groups, list(x.shape))
                xin = x if x.is_contiguous(memory_format=torch.channels_last) else x.contiguous(
                    memory_format=torch.channels_last)
                want = torch.nn.Conv2d.forward(self, xin)
                for post in ("none", "relu") if plan is not _DIRECT else ("none",):
                    got = self._run(xin, plan, post)
                    ref = want if post == "none" else torch.relu(want)
                    if got.shape != ref.shape or not torch.allclose(got, ref, rtol=1e-4, atol=1e-5):
                        return None
                return plan
            except (TypeError, RuntimeError, AttributeError):
                return None

        def _run(self, x, plan, post):
            if plan is _DIRECT:
                return torch.mkldnn_convolution(x, self.weight, self.bias, self.padding, self.stride, self.dilation,
                                                self.groups)
            return pointwise(x, plan, self.bias, self.padding, self.stride, self.dilation, self.groups, post, [], "")

        def _input_grad(self, go, x, bwd):
            """``d out / d x`` contracted with the output gradient ``go``, by the backward plan ``bwd``."""
            if not go.is_contiguous(memory_format=torch.channels_last):
                go = go.contiguous(memory_format=torch.channels_last)
            if bwd is _NATIVE_BACKWARD:
                return torch.ops.aten.convolution_backward(go, x, self.weight, None, self.stride, self.padding,
                                                           self.dilation, False, [0, 0], self.groups,
                                                           [True, False, False])[0]
            weight, opad = bwd
            return t_pointwise(go, weight, None, self.padding, opad, self.stride, self.dilation, self.groups,
                               "none", [], "")

        def _backward_plan(self, x):
            """The input-gradient plan for input shape ``x.shape``: ``_NATIVE_BACKWARD`` (PyTorch's own kernel)
            or ``(transposed weight reordered once, output padding)``; ``None`` if there is none."""
            if self.__dict__.get("_xai_reader", False) or any(k < s for k, s in zip(self.kernel_size, self.stride)):
                return _NATIVE_BACKWARD
            if t_reorder is None:
                return None
            size = [x.shape[0], self.out_channels]
            opad = []
            for i in range(2):
                span = self.dilation[i] * (self.kernel_size[i] - 1) + 1
                out = (x.shape[2 + i] + 2 * self.padding[i] - span) // self.stride[i] + 1
                size.append(out)
                opad.append(x.shape[2 + i] - ((out - 1) * self.stride[i] - 2 * self.padding[i] + span))
            if any(not 0 <= o < max(self.stride[i], self.dilation[i]) for i, o in enumerate(opad)):
                return None
            return (t_reorder(self.weight, self.padding, opad, self.stride, self.dilation, self.groups, size), opad)

        def _checked_backward(self, x, kind) -> bool:
            """Whether an input-gradient pass through the routes (forward of ``kind``, :meth:`_backward_plan`)
            gives PyTorch's own output and input gradient on ``x`` (for a pseudo-random output gradient)."""
            if kind is not _REORDER:
                return False
            try:
                xin = x.detach()
                if not xin.is_contiguous(memory_format=torch.channels_last):
                    xin = xin.contiguous(memory_format=torch.channels_last)
                plan = self._checked_plan(xin, kind)
                bwd = self._backward_plan(xin)
                if plan is None or bwd is None:
                    return False
                gen = torch.Generator().manual_seed(0)
                with torch.enable_grad():
                    xr = xin.clone().requires_grad_(True)
                    want = torch.nn.Conv2d.forward(self, xr)
                    go = torch.randn(want.shape, generator=gen, dtype=want.dtype)
                    (gwant,) = torch.autograd.grad(want, xr, go)
                    xg = xin.clone().requires_grad_(True)
                    got = InputGradConv.apply(xg, self, (plan, bwd))
                    (ggot,) = torch.autograd.grad(got, xg, go)
                for a, b in ((got.detach(), want.detach()), (ggot, gwant)):
                    scale = 1e-5 * max(1.0, float(b.abs().max()))
                    if a.shape != b.shape or not torch.allclose(a, b, rtol=1e-4, atol=scale):
                        return False
                return True
            except (TypeError, RuntimeError, AttributeError):
                return False

        def _weights_for(self, x, kind):
            """The forward plan for input shape ``x.shape`` (weights reordered for it), ``None`` if it fails."""
            if kind is _DIRECT:
                return _DIRECT
            try:
                return reorder(self.weight, self.padding, self.stride, self.dilation, self.groups, list(x.shape))
            except (TypeError, RuntimeError, AttributeError):
                return None

        def _recordable(self) -> bool:
            """An input-gradient pass may take the route: constant weights, no hooks of any kind."""
            return not (self.weight.requires_grad or (self.bias is not None and self.bias.requires_grad)
                        or self._forward_hooks or self._forward_pre_hooks or self._backward_hooks
                        or self._backward_pre_hooks or "forward" in self.__dict__
                        or _module._global_forward_hooks or _module._global_forward_pre_hooks
                        or _module._global_backward_hooks or _module._global_backward_pre_hooks)

        def _routed(self, x, post: str):
            """The convolution (with ``post`` = ``"relu"``: rectified) through this pass's oneDNN route, or
            ``None`` where PyTorch's own forward applies (another device or dtype, a recorded pass that
            may not take the route...)."""
            if (x.device.type != "cpu" or x.dtype != torch.float32
                    or self.padding_mode != "zeros" or isinstance(self.padding, str)):
                return None
            recorded = torch.is_grad_enabled() and (
                x.requires_grad or self.weight.requires_grad or (self.bias is not None and self.bias.requires_grad))
            if recorded and (post != "none" or not x.requires_grad or not self._recordable()):
                return None
            d = self.__dict__
            threads = torch.get_num_threads()
            key = (x.shape, threads)
            kinds = d.get("_xai_kinds")
            if kinds is None:
                kinds = d["_xai_kinds"] = {}
                d["_xai_weights"], d["_xai_checks"] = {}, {}
            kind = kinds.get(key, _UNSET)
            if kind is _UNSET:
                if len(kinds) >= MAX_KEYS:
                    del kinds[next(iter(kinds))]
                kind = kinds[key] = self._kind(x, key)
            if kind is None or (post != "none" and kind is _DIRECT):
                return None
            # the routes are checked once per input shape apart from the batch size (on its first input's first
            # two rows); the weights are reordered per full shape (oneDNN may want another layout for another
            # batch size: a layout made for 2 rows ran ~7 % slower at 170 rows on ResNet-18's convolutions)
            checks = d["_xai_checks"]
            skey = (x.shape[1:], key[1])
            chk = checks.get(skey)
            if chk is None:
                if len(checks) >= MAX_KEYS:
                    del checks[next(iter(checks))]
                with torch.no_grad():
                    chk = checks[skey] = [self._checked_plan(x[:2].detach(), kind) is not None, _UNSET]
            if not chk[0]:
                return None
            weights = d["_xai_weights"]
            entry = weights.pop(key, None)          # (put back last: the least recently used goes first)
            if entry is None:
                if len(weights) >= MAX_SHAPES:
                    del weights[next(iter(weights))]
                with torch.no_grad():
                    entry = [self._weights_for(x, kind), _UNSET]
            weights[key] = entry
            plan = entry[0]
            if plan is None:
                return None
            if recorded:
                if chk[1] is _UNSET:
                    chk[1] = self._checked_backward(x[:2], kind)
                if not chk[1]:
                    return None
                if entry[1] is _UNSET:
                    try:
                        entry[1] = self._backward_plan(x)
                    except (TypeError, RuntimeError, AttributeError):
                        entry[1] = None
                bwd = entry[1]
                if bwd is None:
                    return None
            if not x.is_contiguous(memory_format=torch.channels_last):     # (a check, not a dispatched no-op)
                x = x.contiguous(memory_format=torch.channels_last)
            return InputGradConv.apply(x, self, (plan, bwd)) if recorded else self._run(x, plan, post)

        def forward(self, x):
            out = self._routed(x, "none")
            return super().forward(x) if out is None else out

    class FusingSequential(torch.nn.Sequential):
        """``nn.Sequential`` whose forward runs each marked convolution + ReLU pair as one rectified
        convolution (when neither has hooks); every other child is called as ``nn.Sequential`` calls it."""

        def forward(self, x):
            pairs = self.__dict__["_xai_pairs"]
            kids = list(self._modules.values())
            i, n = 0, len(kids)
            while i < n:
                m = kids[i]
                if i in pairs and i + 1 < n:
                    r = kids[i + 1]
                    if not (m._forward_hooks or m._forward_pre_hooks or r._forward_hooks or r._forward_pre_hooks
                            or _module._global_forward_hooks or _module._global_forward_pre_hooks
                            or "forward" in m.__dict__ or "forward" in r.__dict__):    # (a wrapped forward: Grad-CAM's capture)
                        out = m._routed(x, "relu") if type(m) is OneDnnConv2d and type(r) is torch.nn.ReLU else None
                        if out is not None:
                            x = out
                            i += 2
                            continue
                x = m(x)
                i += 1
            return x

    _CLASSES.update(conv=OneDnnConv2d, seq=FusingSequential)
    return OneDnnConv2d, FusingSequential


def route(copy, readers) -> None:
    """Give the copy's ``nn.Conv2d`` modules (CPU) the oneDNN routes (``readers``: those that read the
    image), and its ``nn.Sequential`` modules (exact type: a subclass may run its children otherwise)
    with a convolution followed by a ``nn.ReLU`` the fused pair."""
    import torch

    if not hasattr(torch, "mkldnn_convolution"):
        return
    conv_cls, seq_cls = _classes()
    for m in copy.modules():
        if type(m) is torch.nn.Conv2d:
            m.__class__ = conv_cls
            m.__dict__["_xai_reader"] = any(m is r for r in readers)
    for m in copy.modules():
        if type(m) is not torch.nn.Sequential:
            continue
        kids = list(m._modules.values())
        pairs = {i for i in range(len(kids) - 1) if type(kids[i]) is conv_cls and type(kids[i + 1]) is torch.nn.ReLU}
        if pairs:
            m.__class__ = seq_cls
            m.__dict__["_xai_pairs"] = frozenset(pairs)


__all__ = ["MAX_KEYS", "MAX_SHAPES", "route"]
