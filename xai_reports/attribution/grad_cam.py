"""Grad-CAM and Grad-CAM++ for convolutional torch models.

* Grad-CAM (Selvaraju et al. 2017, https://arxiv.org/abs/1610.02391):
  ``ReLU(sum_k w_k A_k)`` with ``w_k`` the spatial mean of ``d y / d A_k`` at a
  convolutional layer.
* Grad-CAM++ (Chattopadhyay et al. 2018, https://arxiv.org/abs/1710.11063):
  pixel-weighted gradients ``alpha = g^2 / (2 g^2 + sum(A) g^3)``, the
  closed form under an exponential output used by the paper and by
  pytorch-grad-cam.

The target layer is the last ``nn.Conv2d`` of the model unless ``layer=`` names
one (a dotted name from ``model.named_modules()``, e.g. ``"features.3"``). The
layer's activation is captured with a forward hook that is removed when the
call ends, also after an exception; gradients come from ``torch.autograd.grad``,
so no backward hook is ever registered.
"""

from __future__ import annotations

import numpy as np

from ..adapters._torch_state import module_state
from ..errors import ExplanationError
from . import _torch
from ._torch import TorchExplainer, auto_batch, to_numpy
from .base import Attribution


def find_layer(module, layer=None, kinds=None, *, state=None):
    """``(name, submodule)`` of the layer to hook.

    Args:
        module: a ``torch.nn.Module``.
        layer: a dotted name from ``module.named_modules()``, a submodule, or
            ``None`` for the last module of one of ``kinds`` (default ``nn.Conv2d``).
        kinds: module classes searched when ``layer`` is ``None``.
        state: the module's :func:`~xai_reports.adapters._torch_state.module_state`, when the
            caller has just taken it.

    Returns:
        ``(name, submodule)``.

    Examples::

        >>> find_layer(cnn)[0]
        'features.3'
    """
    import torch

    kinds = kinds or (torch.nn.Conv2d,)
    state = state or module_state(module)   # its (name, submodule) list, kept while nothing changes
    if layer is None:
        key = ("last_layer", tuple(kinds))
        if key not in state.facts:
            found = [(n, m) for n, m in state.modules(module) if isinstance(m, kinds)]
            state.facts[key] = found[-1] if found else None
        if state.facts[key] is None:
            raise ExplanationError(
                f"{type(module).__name__} has no {'/'.join(k.__name__ for k in kinds)} layer; "
                "pass layer= with the name of the layer to explain")
        return state.facts[key]
    if isinstance(layer, torch.nn.Module):
        for n, m in state.modules(module):
            if m is layer:
                return n, m
        raise ExplanationError("layer= is not a submodule of the model")
    named = dict(state.modules(module))
    if layer not in named:
        options = [n for n in named if n][:20]
        raise ExplanationError(f"no layer named {layer!r} in {type(module).__name__}; "
                               f"layers include: {', '.join(options)}")
    return layer, named[layer]


def _is_last_conv(module, mod, state) -> bool:
    """Whether ``mod`` is the module's last ``nn.Conv2d`` (a model without one: ``False``)."""
    try:
        return find_layer(module, None, state=state)[1] is mod
    except ExplanationError:
        return False


def _seed(out, idx):
    """The vector ``v`` with ``d(v . out) / dA`` equal to ``d(sum of the explained outputs) / dA``: ones for a
    single output, else one-hot at each row's target (what ``out.gather(1, t).sum()`` would send back through
    its ``gather``, with no gather, squeeze and sum recorded and differentiated); ``idx``: the targets as
    ``(n, 1)`` indices, or ``None``."""
    import torch

    if idx is None:
        return torch.ones_like(out)
    return torch.zeros_like(out).scatter_(1, idx, 1.0)


_ENGINE = []
#: the logger ``torch.autograd.graph`` checks before attaching its debug-logging hooks
_DEBUG_LOG = [None]


def _vjp(out, seed, act):
    """``d(seed . out) / d act``, as ``torch.autograd.grad(out, act, seed)`` computes it, through the
    function that ``torch.autograd.grad`` itself calls (its Python argument handling costs tens of
    microseconds per call, a noticeable part of a small CNN's Grad-CAM); ``torch.autograd.grad`` where
    that private function is missing."""
    import torch

    if not _ENGINE:
        from torch.autograd import graph
        from torch.autograd.variable import Variable

        engine = getattr(Variable, "_execution_engine", None)
        log = getattr(graph, "log", None)
        _ENGINE.extend((getattr(graph, "_engine_run_backward", None),
                        getattr(engine, "run_backward", None) if log is not None else None))
        _DEBUG_LOG[0] = log
    run, direct = _ENGINE
    if run is None or not (out.requires_grad and act.requires_grad):
        return torch.autograd.grad(out, act, seed)[0]     # its own errors for a graph that does not connect them
    try:
        if direct is not None and act.is_cpu and out.is_cpu:
            # a CPU graph is differentiated on this thread: what ``_engine_run_backward`` adds (the context it
            # stashes for device threads, debug-logging hooks) does not apply unless debug logging is on
            if not _DEBUG_LOG[0].isEnabledFor(10):
                return direct((out,), (seed,), False, False, (act,), False, False)[0]
        return run((out,), (seed,), False, False, (act,), False, accumulate_grad=False)[0]
    except TypeError:
        # private entry points whose signature another PyTorch version changed: the public function from now on
        _ENGINE[:] = [None, None]
        return torch.autograd.grad(out, act, seed)[0]


def _upsample(cam, size, mode):
    """``F.interpolate(cam, size, mode, align_corners=False)`` (``None`` for ``"nearest"``) of ``(n, 1, h, w)``
    maps; bilinear calls the kernel ``F.interpolate`` dispatches to directly (the same values, without its
    Python checks, ~10 us per call)."""
    import torch
    import torch.nn.functional as F

    size = (int(size[0]), int(size[1]))
    kernel = getattr(torch._C._nn, "upsample_bilinear2d", None)
    if mode == "bilinear" and cam.ndim == 4 and cam.is_cpu and kernel is not None:   # (a GPU may go elsewhere)
        try:
            return kernel(cam, size, False, None)
        except TypeError:       # a private signature another PyTorch version changed
            pass
    kw = {} if mode == "nearest" else {"align_corners": False}
    return F.interpolate(cam, size=size, mode=mode, **kw)


class _Capture:
    """A forward hook that keeps the layer's output; use as a context manager (always removed).

    With ``cut=True`` the forward pass is meant to run under ``torch.no_grad()``:
    at the layer the hook switches gradient recording on and hands the rest of
    the network a fresh leaf, so only the part after the layer records a graph
    (the part before it is not needed for ``d y / d A``).
    """

    def __init__(self, layer, cut: bool = False, keep: bool = False):
        self.layer = layer
        self.outputs = []
        self.handle = None
        self.cut = cut
        self.keep = keep        # the hook stays registered between uses (on a private copy only)
        self.active = False
        #: hand the rest of the network the recorded leaf itself (no ``leaf + 0``: one op and one backward
        #: node fewer); the caller checks afterwards that nothing wrote to it (``version``) and otherwise
        #: runs the pass again without it
        self.plain = False
        self.version = None
        #: hand the rest of the network an NCHW (contiguous) leaf: set for the model's last Conv2d on the
        #: channels_last copy, where no convolution with channels_last weights follows; its ReLU/pooling
        #: backward is slower in channels_last (measured 0.41 vs 0.50 ms for a 64x16x16 map and a head)
        self.nchw = False

    @classmethod
    def on_copy(cls, copy, name: str):
        """A cut capture at layer ``name`` of the private image copy, registered once and kept with the
        copy (registering and removing a hook on every call costs more than a small CNN's Grad-CAM);
        between uses its hook passes outputs through untouched."""
        caps = copy.__dict__.setdefault("_xai_grad_cam_captures", {})
        if name not in caps:
            cap = cls(copy.get_submodule(name), cut=True, keep=True)
            layer = cap.layer
            if "forward" in vars(layer):        # (already wrapped by someone: a hook, as on any module)
                cap.handle = layer.register_forward_hook(cap._hook)
            else:
                # the copy's own layer: its forward is wrapped instead of a hook registered (a module with a
                # forward hook takes ``nn.Module``'s slower call path on every call); the same call order
                # (the layer's forward, then the capture on its output) and the same replacement output
                inner = layer.forward

                def forward(*args, **kwargs):
                    out = inner(*args, **kwargs)
                    new = cap._hook(layer, args, out)
                    return out if new is None else new

                layer.__dict__["forward"] = forward
            caps[name] = cap
        return caps[name]

    def _hook(self, module, inputs, output):
        if self.keep and not self.active:
            return None
        first = output[0] if isinstance(output, tuple) else output
        if not self.cut:
            self.outputs.append(first)
            return None
        import torch

        torch.set_grad_enabled(True)
        leaf = first.detach()
        if self.nchw and leaf.ndim == 4 and not leaf.is_contiguous():
            leaf = leaf.contiguous()    # the recorded rest (ReLU, pooling, head) runs and differentiates faster
        leaf = leaf.requires_grad_(True)
        self.outputs.append(leaf)
        if self.plain:
            self.version = leaf._version
            out = leaf
        else:
            out = leaf + 0      # not the leaf itself: a later in-place op may not modify a leaf
        return (out, *output[1:]) if isinstance(output, tuple) else out

    def __enter__(self):
        if not self.keep:
            self.handle = self.layer.register_forward_hook(self._hook)
        self.active = True
        self.outputs = []
        return self

    def __exit__(self, *exc):
        self.active = False
        if self.handle is not None and not self.keep:
            self.handle.remove()
            self.handle = None
        self.outputs = []
        return False


class GradCam(TorchExplainer):
    """Grad-CAM class-activation maps at a convolutional layer, upsampled to the input.

    Examples::

        >>> attr = GradCam(cnn).attribute(images)          # last Conv2d, predicted class
        >>> attr.values.shape, attr.params["layer"]
        ((8, 32, 32), 'features.3')
    """

    name = "grad_cam"
    plus_plus = False

    def __init__(self, model, *, target=None, layer=None, relu_attributions: bool = True,
                 upsample: bool = True, interpolate_mode: str = "bilinear", output: str | None = None,
                 internal_batch_size: int | None = None, device: str = "auto"):
        """Store the model and the options (as :meth:`_explain` documents them); no work is done here."""
        self.model = model
        self.target = target
        self.layer = layer
        self.relu_attributions = relu_attributions
        self.upsample = upsample
        self.interpolate_mode = interpolate_mode
        self.output = output
        self.internal_batch_size = internal_batch_size
        self.device = device

    def _explain(self, X, *, target=None, layer=None, relu_attributions: bool = True,
                  upsample: bool = True, interpolate_mode: str = "bilinear", output: str | None = None,
                  internal_batch_size: int | None = None, device: str = "auto") -> Attribution:
        """Class-activation map of each image.

        Args:
            X: images ``(n, C, H, W)`` (tensor or array).
            target: output index (int or one per row); default: predicted class.
            layer: dotted layer name (``"features.3"``) or submodule; default:
                the last ``nn.Conv2d``.
            relu_attributions: apply the ReLU of the paper (captum's
                ``LayerGradCam`` does not by default).
            upsample: resize the maps to the input's ``H x W`` (else the
                layer's resolution).
            interpolate_mode: ``"bilinear"`` (default), ``"nearest"``, ``"bicubic"``.
            output: space explained (default: the adapter's, e.g. ``"logit"``).
            internal_batch_size: images per forward/backward pass.
            device: ``"auto"``, ``"cpu"`` or ``"cuda"``.

        Returns:
            :class:`Attribution` with ``values`` of shape ``(n, H, W)`` (or the
            layer's ``(n, h, w)``), ``params["layer"]`` the layer's name, and a
            ``self_check`` flagging all-zero (uninformative) maps.
        """
        import torch

        space = self._output_space(output)
        with self._on_device(device) as dev:
            state = self._call_state()                  # checked once: dtype, layer and the copy
            prep = self._prepare(X, dev, state)
            if prep.x.ndim != 4:
                raise ExplanationError(
                    f"{self.name} needs images of shape (n, C, H, W), got {tuple(prep.x.shape)}")
            name, mod = find_layer(self.module, layer, state=state)
            batch = auto_batch(prep.numel, internal_batch_size)
            # the number of outputs comes from the first pass itself (no separate probe pass)
            k = -1
            tgt = None
            maps, preds, tgts = [], [], []
            # the same weights in channels_last (layer names kept); the capture goes on the copy's layer
            # (``_torch.image_module`` looked up on its module, as :meth:`_fast_images` does: a switch can replace it)
            fast = _torch.image_module(self.module, prep.x, fuse_bn=False, state=state) if self._plain_adapter() else None
            self.__dict__["_fast_module"] = fast        # what :meth:`_forward` runs until the ``finally`` below
            cap_cm = None
            try:
                # on the copy, a capture kept registered there; on the model itself, a hook for this call only
                cap_cm = _Capture.on_copy(fast, name) if fast is not None else _Capture(mod, cut=True)
                cap = cap_cm.__enter__()
                cap.nchw = fast is not None and (layer is None or _is_last_conv(self.module, mod, state))
                # the leaf itself goes on to the rest of the network unless that was seen writing to it in place
                # (an in-place ReLU after the layer): then it is rejected (error or a changed version) and the
                # pass runs again with ``leaf + 0``; remembered per layer until the module changes
                added = ("grad_cam_leaf_add", name)
                for i in range(0, prep.n, batch):
                    xb = prep.x if batch >= prep.n else prep.x[i:i + batch]
                    cap.plain = added not in state.facts
                    try:
                        out, act = self._layer_pass(xb, space, cap, name)
                        kept = not cap.plain or act._version == cap.version
                    except RuntimeError:
                        if not (cap.plain and cap.outputs):     # raised before the leaf existed: not about it
                            with _torch.first_call(prep.x, first=i == 0 and not cap.outputs):
                                raise                           # (the model's error on X, from the first pass)
                        kept = False
                    if not kept:
                        state.facts[added] = True
                        cap.plain = False
                        with _torch.first_call(prep.x, first=i == 0):
                            out, act = self._layer_pass(xb, space, cap, name)
                    if k == -1:
                        if out.ndim not in (1, 2):
                            raise ExplanationError(f"model output of shape {tuple(out.shape)}: "
                                                   "expected (n,) or (n, k)")
                        k = None if out.ndim == 1 else int(out.shape[1])
                        tgt = self._check_target(prep, target, k)
                    tt = None if tgt is None else tgt if batch >= prep.n else tgt[i:i + batch]
                    od = out.detach()
                    if k is not None and tt is None:
                        tt = od.argmax(dim=1)       # the predicted class, same pass
                    idx = None if tt is None else tt.view(-1, 1)
                    s = od if idx is None else od.gather(1, idx).squeeze(1)
                    if act.ndim != 4:
                        raise ExplanationError(
                            f"layer {name!r} outputs shape {tuple(act.shape)}; Grad-CAM needs (n, K, h, w)")
                    g = _vjp(out, _seed(od, idx), act)
                    act = act.detach()
                    cam = self._cam(act, g)             # a new tensor (``g`` records no graph)
                    if relu_attributions:
                        cam = cam.relu_()
                    if upsample and cam.shape[-2:] != xb.shape[-2:]:
                        cam = _upsample(cam.unsqueeze(1), xb.shape[-2:], interpolate_mode).squeeze(1)
                    maps.append(cam)
                    preds.append(s)
                    tgts.append(tt)
            finally:
                if cap_cm is not None:
                    cap_cm.__exit__(None, None, None)
                self.__dict__.pop("_fast_module", None)
            one = len(maps) == 1                        # one pass: nothing to concatenate
            values = to_numpy(maps[0] if one else torch.cat(maps))
            fx = to_numpy(preds[0] if one else torch.cat(preds))
            tgt = tgts[0] if one or tgts[0] is None else torch.cat(tgts)
        flat = np.abs(values.reshape(prep.n, -1)).max(axis=1)
        check = {"kind": "nondegenerate", "max_abs_error": None, "tolerance": 0.0,
                 "passed": bool((flat > 0).all()), "per_row": flat,
                 "note": "a map that is zero everywhere carries no localisation (per_row: max |value|)"}
        t, tex = self._target_record(tgt)
        return Attribution(
            values=values, base_values=np.zeros(prep.n), feature_names=None, method=self.name,
            output=space, predictions=fx, target=t,
            params={"device": prep.device, "layer": name, "relu_attributions": bool(relu_attributions),
                    "upsample": bool(upsample), "interpolate_mode": interpolate_mode},
            self_check=check,
            extras={"input_kind": "image", "layer_shape": list(act.shape[1:]), **tex})

    def _layer_pass(self, xb, space, cap, name):
        """``(model output, the layer's output as a leaf)`` of one forward pass, recorded from the layer on."""
        import torch

        cap.outputs.clear()
        with torch.no_grad():       # the hook turns recording on at the layer
            out = self._forward(xb, space)
        if not cap.outputs:
            raise ExplanationError(f"layer {name!r} was not called in the forward pass")
        return out, cap.outputs[-1]

    @staticmethod
    def _cam(act, g):
        """``sum_k w_k A_k`` with ``w_k`` the mean gradient over the map."""
        w = g.mean(dim=(2, 3), keepdim=True)
        return (w * act).sum(dim=1)


class GradCamPlusPlus(GradCam):
    """Grad-CAM++: pixel-weighted positive gradients as channel weights.

    Examples::

        >>> GradCamPlusPlus(cnn).attribute(images, layer="features.0").params["layer"]
        'features.0'
    """

    name = "grad_cam_pp"
    plus_plus = True

    @staticmethod
    def _cam(act, g):
        import torch

        g2, g3 = g.pow(2), g.pow(3)
        denom = 2 * g2 + act.sum(dim=(2, 3), keepdim=True) * g3
        denom = torch.where(denom != 0, denom, torch.ones_like(denom))
        alpha = torch.where(g != 0, g2 / denom, torch.zeros_like(g))
        w = (alpha * torch.relu(g)).sum(dim=(2, 3), keepdim=True)
        return (w * act).sum(dim=1)


__all__ = ["GradCam", "GradCamPlusPlus", "find_layer"]
