"""Shared machinery of the torch attribution methods.

:class:`TorchExplainer` is the base of every method that needs a
differentiable ``torch.nn.Module`` (integrated gradients, saliency, SmoothGrad,
gradient x input, Grad-CAM, LRP, attention rollout). It turns ``X`` (DataFrame,
array or tensor; tabular ``(n, d)`` or images ``(n, C, H, W)``) into a tensor on
the chosen device, resolves ``target=`` (captum's name), evaluates the scalar
output being explained, and runs row chunks so memory stays bounded.

Helpers used by the perturbation methods (occlusion, LIME) live here as well:
:func:`model_fn` gives a batched ``numpy -> numpy`` callable for any adapter.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._device import resolve_device
from ..adapters._torch_state import module_state
from ..errors import ExplanationError, ModelCallError, XaiReportsError
from ._onednn import route
from .base import Explainer

#: elements (floats) of input per forward/backward pass when ``internal_batch_size`` is not given
ELEMENT_BUDGET = 1 << 21
#: never more than this many examples per pass
MAX_BATCH = 1 << 16


def no_check(reason: str) -> dict:
    """The ``self_check`` of a method that has no axiom it can verify about itself."""
    return {"kind": "none", "max_abs_error": None, "tolerance": None, "passed": None,
            "per_row": None, "note": reason}


@contextlib.contextmanager
def first_call(x, first: bool = True):
    """Around a model's first call with ``x``: what the model raises (``X`` of other channels, image size
    or columns, a bug in its forward) becomes a one-line :class:`ModelCallError` naming ``x``'s row
    shape, the model's own error chained; with ``first=False`` (a later call) nothing is changed."""
    try:
        yield
    except XaiReportsError:
        raise
    except (RuntimeError, ValueError, TypeError, IndexError) as exc:
        if not first:
            raise
        line = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), "")
        dtype = getattr(x, "dtype", None)       # (a DataFrame has none: its columns have theirs)
        kind = "" if dtype is None else f" ({str(dtype).replace('torch.', '')})"
        raise ModelCallError(f"X: the model could not be run on rows of shape {tuple(x.shape[1:])}{kind}: "
                             f"{type(exc).__name__}: {line}"[:600]) from exc


def auto_batch(per_example_numel: int, requested: int | None = None, factor: int = 1) -> int:
    """Examples per pass: ``requested`` or a size that keeps ``ELEMENT_BUDGET`` floats of input."""
    if requested is not None:
        if int(requested) < 1:
            raise ExplanationError(f"internal_batch_size must be >= 1, got {requested}")
        return int(requested)
    return int(max(1, min(MAX_BATCH, ELEMENT_BUDGET // max(1, per_example_numel * factor))))


def image_module(module, x, *, fuse_bn: bool = True, state=None):
    """A copy of an eval-mode module tuned for gradient passes on image batches, or ``None``.

    The copy holds the same weights in ``channels_last`` memory format (faster
    convolutions on CPU with oneDNN, and with cuDNN), its parameters do not
    require gradients (passes differentiate the input only), and with
    ``fuse_bn`` each BatchNorm that follows a convolution is folded into it
    (``torch.fx``; one layer instead of two, forward and backward). Layer names
    are kept, so hooks by name still apply (without ``fuse_bn``). On CPU, passes
    without gradient recording and input-gradient passes take the oneDNN routes
    of :mod:`._onednn`. The copy is checked against the module on ``x[:2]`` and
    cached per module until its weights, submodules, attributes or hooks change (checked per call by
    :func:`~xai_reports.adapters._torch_state.module_state`); ``None`` (use the module
    itself) for a module in training mode or with hooks registered, a
    non-image input, a module ``torch.fx`` cannot trace when fusing, or
    outputs that differ. ``state``: the module's :func:`module_state`, when the caller
    has just taken it.
    """
    import torch

    if x.ndim != 4:
        return None
    state = state or module_state(module)   # one flat pass; a new snapshot when anything changed
    if state.training or state.hooked:  # hooks registered: the module itself (a copy would not carry them)
        return None
    key = ("image_module", bool(fuse_bn), str(x.device))
    if key in state.facts:
        return state.facts[key]
    for k in [k for k in state.facts if k[0] == "image_module"]:
        del state.facts[k]              # one copy per module
    fm = None
    try:
        if fuse_bn:
            from torch.fx.experimental.optimization import fuse

            fm = fuse(module)               # a traced copy; conv + BatchNorm (eval) folded
        else:
            fm = copy.deepcopy(module)
        fm = fm.to(memory_format=torch.channels_last)
        for p in fm.parameters():
            p.requires_grad_(False)
        xin = x[:2].contiguous(memory_format=torch.channels_last)
        readers = []                    # the convolutions that read the image itself
        hooks = [m.register_forward_pre_hook(lambda mod, args: readers.append(mod) if args and args[0] is xin else None)
                 for m in fm.modules() if type(m) is torch.nn.Conv2d] if x.device.type == "cpu" else []
        try:
            with torch.no_grad():
                a = module(x[:2])
                fm(xin)
        finally:
            for h in hooks:
                h.remove()
        if x.device.type == "cpu":
            route(fm, readers)          # oneDNN routes (see ._onednn)
        with torch.no_grad():
            b = fm(xin)                 # the copy as it will run, checked against the module
        if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.shape == b.shape
                and torch.allclose(a, b, rtol=1e-4, atol=1e-5 * max(1.0, float(a.abs().max())))):
            fm = None
    except Exception:  # noqa: BLE001 - untraceable or unusual modules: the module itself
        fm = None
    state.facts[key] = fm
    return fm


@dataclass
class Prepared:
    """Inputs as the torch methods see them."""

    x: "object"                 # float tensor on the device, shape (n, *feature_shape)
    kind: str                   # "tabular" (2-d) or "image" (any higher rank)
    feature_names: list | None
    device: str
    dtype: "object"

    @property
    def n(self) -> int:
        return int(self.x.shape[0])

    @property
    def feature_shape(self) -> tuple:
        return tuple(self.x.shape[1:])

    @property
    def numel(self) -> int:
        return math.prod(self.feature_shape)


@contextlib.contextmanager
def on_device(adapter, device):
    """Context manager: a torch adapter's module on ``device`` for the block, back where it was after
    (also after an exception). Yields the device string; other adapters are left alone."""
    dev = resolve_device(device)
    module = getattr(adapter, "model", None)
    old = getattr(adapter, "device", None)
    move = adapter.family == "torch" and str(dev) != str(old)
    if move and module is not None:
        # already there (a freshly wrapped module has no recorded device): nothing to move or restore
        here = {str(t.device) for t in itertools.chain(module.parameters(), module.buffers())}
        move = not here or here != {str(dev)}
    if move:
        if getattr(adapter, "checked_state", None) is not None:
            adapter.checked_state = None    # the snapshot taken when it was wrapped no longer describes it
        module.to(dev)
        adapter.device = dev
    try:
        yield dev
    finally:
        if move:
            module.to(old)
            adapter.device = old


class _Here:
    """The context manager of :meth:`TorchExplainer._on_device` when the module is already on the device."""

    __slots__ = ("dev",)

    def __init__(self, dev):
        self.dev = dev

    def __enter__(self):
        return self.dev

    def __exit__(self, *exc):
        return False


class TorchExplainer(Explainer):
    """Base of the methods that differentiate a torch module.

    Subclasses call :meth:`_prepare` and then :meth:`_scalar` / :meth:`_grad`
    inside ``with self._on_device(dev):``, which puts the module on ``dev`` for
    the call and back where it was afterwards, even after an exception.
    """

    requires = frozenset({"differentiable"})

    def attribute(self, X, **options):
        """As :meth:`Explainer.attribute`; the module snapshot the freshly built adapter was checked against
        is handed to this call's :meth:`_call_state` (nothing runs in between that could change the module)."""
        self.fit(options.pop("background", None))
        st = getattr(self.model_, "checked_state", None)
        if st is None or self.model_ is self.model:     # an adapter passed in: checked when it was built, not now
            return self.explain(X, **options)
        self.__dict__["_checked_state"] = st
        try:
            return self.explain(X, **options)
        finally:
            self.__dict__.pop("_checked_state", None)

    def _call_state(self):
        """The module's :func:`module_state` for this call: the snapshot :meth:`attribute` just checked when the
        module has not been moved since (:func:`on_device` drops it), else a fresh check."""
        st = self.__dict__.pop("_checked_state", None)
        if st is None or getattr(self.model_, "checked_state", None) is not st:
            return module_state(self.module)
        return st

    # -- device ------------------------------------------------------------------
    def _on_device(self, device):
        """Run with the module on ``device`` (``"auto"`` = CUDA when present); restore afterwards."""
        adapter = self.model_
        dev = resolve_device(device)
        if adapter.family != "torch" or str(dev) == str(getattr(adapter, "device", None)):
            return _Here(dev)               # nothing to move (what :func:`on_device` would find), no generator
        return on_device(adapter, device)

    @property
    def module(self):
        return self.model_.model

    def _param_dtype(self, X=None, state=None):
        """The module's floating dtype (for a module without parameters: ``X``'s, else float32);
        ``state``: the module's current :func:`module_state`, which keeps the answer."""
        import torch

        if state is not None:
            if "param_dtype" not in state.facts:
                state.facts["param_dtype"] = next(
                    (p.dtype for p in self.module.parameters() if p.is_floating_point()), None)
            if state.facts["param_dtype"] is not None:
                return state.facts["param_dtype"]
        else:
            for p in self.module.parameters():
                if p.is_floating_point():
                    return p.dtype
        if isinstance(X, torch.Tensor) and X.is_floating_point():
            return X.dtype
        return torch.float32

    # -- inputs ------------------------------------------------------------------
    def _prepare(self, X, dev, state=None) -> Prepared:
        """``X`` as a tensor on ``dev`` in the module's dtype (``state``: as for :meth:`_param_dtype`)."""
        import torch

        dtype = self._param_dtype(X, state)
        names = None
        if isinstance(X, pd.DataFrame):
            names = [str(c) for c in (self.model_.feature_names or list(X.columns))]
            try:
                arr = np.array(X[list(self.model_.feature_names or X.columns)].to_numpy(dtype=np.float64))
            except (ValueError, TypeError) as exc:
                raise ExplanationError(
                    f"method {self.name!r} needs numeric columns (encode categoricals first): {exc}") from None
            x = torch.as_tensor(arr, dtype=dtype, device=dev)
        elif isinstance(X, torch.Tensor):
            x = X.detach()
            if not (x.dtype == dtype and x.is_cpu and str(dev) == "cpu"):     # (else ``.to`` would return it)
                x = x.to(device=dev, dtype=dtype)
        else:
            arr = np.asarray(X, dtype=np.float64)
            if not arr.flags.writeable:     # (a read-only array: torch would warn, and share it)
                arr = arr.copy()
            x = torch.as_tensor(arr, dtype=dtype, device=dev)
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim < 2 or x.shape[0] == 0:
            raise ExplanationError(f"method {self.name!r} needs a non-empty batch, got shape {tuple(x.shape)}")
        # a finite sum proves every value finite (NaN and inf propagate); only then is the per-value pass skipped
        if not math.isfinite(float(x.sum())) and not torch.isfinite(x).all():
            bad = int((~torch.isfinite(x.reshape(x.shape[0], -1))).any(dim=1).nonzero()[0, 0])
            raise ExplanationError(f"row {bad} of X contains NaN or infinite values")
        kind = "tabular" if x.ndim == 2 else "image"
        if kind == "tabular" and names is None:
            names = self.model_.feature_names
            if names is not None and len(names) != x.shape[1]:
                names = None
        return Prepared(x=x, kind=kind, feature_names=names if kind == "tabular" else None,
                        device=str(dev), dtype=dtype)

    def _like(self, value, prep: Prepared, what: str = "baselines"):
        """A per-row tensor shaped like ``prep.x`` from a scalar, one example, or one per row."""
        import torch

        x = prep.x
        if value is None:
            return torch.zeros_like(x)
        if isinstance(value, pd.DataFrame):
            value = value[list(self.model_.feature_names or value.columns)].to_numpy(dtype=np.float64)
        if isinstance(value, pd.Series):
            value = value.to_numpy(dtype=np.float64)
        t = value.detach() if isinstance(value, torch.Tensor) else torch.as_tensor(np.asarray(value, dtype=np.float64))
        t = t.to(device=x.device, dtype=x.dtype)
        if t.ndim == 0:
            return torch.full_like(x, float(t))
        if tuple(t.shape) == prep.feature_shape:
            return t.unsqueeze(0).expand_as(x).contiguous()
        if t.shape[0] == 1 and tuple(t.shape[1:]) == prep.feature_shape:
            return t.expand_as(x).contiguous()
        if tuple(t.shape) == tuple(x.shape):
            return t.contiguous()
        if x.ndim > 2 and t.ndim == 1 and t.shape[0] == x.shape[1]:  # one value per channel
            return t.view(1, -1, *([1] * (x.ndim - 2))).expand_as(x).contiguous()
        raise ExplanationError(
            f"{what} of shape {tuple(t.shape)} do not match the input: expected a scalar, "
            f"{prep.feature_shape} or {tuple(x.shape)}")

    def _plain_adapter(self) -> bool:
        """Whether the model is wrapped by the torch adapter with its own forward (so a copy may stand in)."""
        return getattr(self.model_, "family", None) == "torch" and type(self.model_).forward is _adapter_forward()

    @contextlib.contextmanager
    def _fast_images(self, prep, fuse_bn: bool = True, state=None):
        """Within the block, image forwards run on :func:`image_module`'s copy (when there is one)."""
        fast = None
        if self._plain_adapter():
            fast = image_module(self.module, prep.x, fuse_bn=fuse_bn, state=state)
        self.__dict__["_fast_module"] = fast
        try:
            yield fast
        finally:
            self.__dict__.pop("_fast_module", None)

    # -- outputs -----------------------------------------------------------------
    def _output_space(self, output: str | None) -> str:
        space = output or self.model_.output_space
        if space not in ("logit", "margin", "probability", "value"):
            raise ExplanationError(f"unknown output space {space!r}")
        if space == "probability" and self.model_.output_space not in ("logit", "margin", "probability"):
            raise ExplanationError(f"{self.model_!r} has no probability output")
        return space

    def _forward(self, x, space: str):
        """Model output in ``space``: ``(n,)`` for a single output, ``(n, k)`` otherwise."""
        import torch

        fast = self.__dict__.get("_fast_module")
        if fast is not None and x.ndim == 4:
            return self._in_space(fast(x.contiguous(memory_format=torch.channels_last)), space)
        return self._in_space(self.model_.forward(x), space, raw=False)

    def _in_space(self, out, space: str, raw: bool = True):
        """A forward's output in ``space``; ``raw`` outputs (not from the adapter) squeezed as the adapter does."""
        import torch

        if raw and out.ndim == 2 and out.shape[1] == 1:     # as the torch adapter's forward
            out = out[:, 0]
        if space == "probability" and self.model_.output_space in ("logit", "margin"):
            out = torch.sigmoid(out) if out.ndim == 1 else torch.softmax(out, dim=1)
        return out

    def _check_target(self, prep: Prepared, target, k: int | None):
        """``target=`` as a LongTensor ``(n,)`` (``None`` stays ``None``), validated against ``k`` outputs."""
        import torch

        if k is None:
            if target not in (None, 0):
                raise ExplanationError(f"the model has a single output; target={target!r} is not valid")
            return None
        if target is None:
            if not self.model_.is_classifier:
                raise ExplanationError(f"the model has {k} outputs; pass target= (an output index)")
            return None
        # validated on the host (numpy: no per-row torch reductions, no device syncs), then one transfer
        if isinstance(target, (int, np.integer)) and not isinstance(target, bool):
            if not 0 <= int(target) < k:
                raise ExplanationError(f"target= out of range for a model with {k} outputs")
            return torch.full((prep.n,), int(target), dtype=torch.long, device=prep.x.device)
        try:
            a = target.detach().cpu().numpy() if isinstance(target, torch.Tensor) else np.asarray(target)
            a = a.astype(np.int64, copy=False)     # (read only; the record is built from host ints)
        except (TypeError, ValueError):
            raise ExplanationError(f"target= must be output indices (ints), got {target!r}") from None
        if a.ndim == 0:
            a = np.full(prep.n, a[()])
        if a.shape != (prep.n,):
            raise ExplanationError(f"target= must be an int or one index per row ({prep.n}), got shape {tuple(a.shape)}")
        lo, hi = (min(v := a.tolist()), max(v)) if a.size <= 256 else (a.min(), a.max())   # small: no ufunc calls
        if lo < 0 or hi >= k:
            raise ExplanationError(f"target= out of range for a model with {k} outputs")
        t = torch.from_numpy(a if a.flags.writeable else a.copy())     # (a read-only array: torch would warn)
        return t if prep.x.is_cpu else t.to(prep.x.device)

    def _n_outputs(self, prep: Prepared, space: str):
        """``None`` for a single-output model, else the number of outputs (one row probed)."""
        import torch

        with first_call(prep.x), torch.no_grad():
            probe = self._forward(prep.x[:1], space)
        if probe.ndim == 1:
            return None
        if probe.ndim != 2:
            raise ExplanationError(f"model output of shape {tuple(probe.shape)}: expected (n,) or (n, k)")
        return int(probe.shape[1])

    def _resolve_target(self, prep: Prepared, target, space: str, batch: int, with_outputs: bool = False):
        """Output index per row (LongTensor ``(n,)``; default: the predicted class), or ``None`` for
        single-output models; with ``with_outputs`` also the explained output ``(n,)`` of every row,
        from the same forward passes."""
        import torch

        k = self._n_outputs(prep, space)
        t = self._check_target(prep, target, k)
        if not with_outputs and (k is None or t is not None):
            return t
        outs = []
        with torch.no_grad():
            for i in range(0, prep.n, batch):
                outs.append(self._forward(prep.x[i:i + batch], space))
        out = torch.cat(outs)
        if k is not None and t is None:
            t = out.argmax(dim=1)
        if not with_outputs:
            return t
        fx = out if t is None else out.gather(1, t.view(-1, 1)).squeeze(1)
        return t, fx

    def _grad_auto(self, x, target, space: str, k):
        """Like :meth:`_grad` but with ``target=None`` on a multi-output model it explains each row's
        predicted class, found in the same forward pass. Returns ``(grad, scalar, target)``."""
        import torch

        x = x.detach().requires_grad_(True)
        with torch.enable_grad():
            out = self._forward(x, space)
            if k is not None and target is None:
                target = out.detach().argmax(dim=1)
            s = out if target is None else out.gather(1, target.view(-1, 1)).squeeze(1)
            (g,) = torch.autograd.grad(s.sum(), x)
        return g.detach(), s.detach(), target

    def _scalar(self, x, target, space: str):
        """The explained scalar per example: output ``target`` (or the single output)."""
        out = self._forward(x, space)
        if target is None:
            if out.ndim != 1:
                raise ExplanationError("internal error: multi-output model without a target")
            return out
        return out.gather(1, target.view(-1, 1)).squeeze(1)

    def _grad(self, x, target, space: str):
        """``(d scalar / d x, scalar)`` for a chunk, detached."""
        import torch

        x = x.detach().requires_grad_(True)
        with torch.enable_grad():
            s = self._scalar(x, target, space)
            (g,) = torch.autograd.grad(s.sum(), x)
        return g.detach(), s.detach()

    def _predict(self, prep: Prepared, target, space: str, batch: int, x=None):
        """Explained scalar for every row of ``x`` (default ``prep.x``), chunked, no grad."""
        import torch

        x = prep.x if x is None else x
        outs = []
        with torch.no_grad():
            for i in range(0, x.shape[0], batch):
                tt = None if target is None else target[i:i + batch]
                outs.append(self._scalar(x[i:i + batch], tt, space))
        return torch.cat(outs)

    @staticmethod
    def _target_record(target):
        """``(Attribution.target, extras)`` for the resolved targets."""
        if target is None:
            return None, {}
        t = target.tolist()                 # one transfer; host ints (no numpy comparisons per call)
        first = t[0]
        if t.count(first) == len(t):
            return int(first), {}
        return None, {"target_per_row": [int(v) for v in t]}


def _adapter_forward():
    """``TorchAdapter.forward`` (imported on first use; the relative import costs microseconds per call)."""
    global _ADAPTER_FORWARD
    if _ADAPTER_FORWARD is None:
        from ..adapters.torch import TorchAdapter

        _ADAPTER_FORWARD = TorchAdapter.forward
    return _ADAPTER_FORWARD


_ADAPTER_FORWARD = None


def row_keys(X) -> np.ndarray:
    """A content hash per row (uint64), to seed per-row randomness.

    Seeding from ``(seed, row content)`` makes a seeded method give a row the
    same answer wherever it sits and whatever batch it is explained in (a letter
    regenerated for one applicant matches the batch run).
    """
    import zlib

    if isinstance(X, pd.DataFrame):
        return pd.util.hash_pandas_object(X, index=False).to_numpy().astype(np.uint64)
    if hasattr(X, "detach"):
        X = X.detach().cpu().numpy()
    a = np.ascontiguousarray(np.asarray(X, dtype=np.float64))
    a = a[None] if a.ndim == 1 else a
    return np.array([zlib.crc32(r.tobytes()) for r in a.reshape(len(a), -1)], dtype=np.uint64)


def to_numpy(t) -> np.ndarray:
    """A float64 numpy copy of a tensor."""
    if t.requires_grad:
        t = t.detach()
    if not t.is_cpu:
        t = t.cpu()
    d = t.dtype
    if d.is_floating_point and d.itemsize == 4:      # float32: numpy widens it (exactly) without a torch op
        return t.numpy().astype(np.float64)
    return t.double().numpy()


# -- model-agnostic helpers (perturbation methods) ---------------------------------
def model_fn(adapter, *, output: str | None = None, target=None, batch_size: int = 4096):
    """A batched ``f(rows) -> (m,)`` over numpy arrays (or DataFrames) for any adapter. The model's error on
    the first call (``X`` of other columns, say) is a :class:`ModelCallError` naming ``X``'s row shape."""
    space = output or adapter.output_space
    first = [True]                  # (the model's first call: errors name X's shape)

    def f(X):
        n = len(X)
        outs = []
        for i in range(0, n, batch_size):
            chunk = X.iloc[i:i + batch_size] if isinstance(X, pd.DataFrame) else X[i:i + batch_size]
            with first_call(chunk, first=first[0]):
                out = np.asarray(adapter.predict(chunk, output=space), dtype=np.float64)
            first[0] = False
            outs.append(out)
        out = np.concatenate(outs) if outs else np.zeros(0)
        return out

    return f


__all__ = ["TorchExplainer", "on_device", "row_keys", "Prepared", "no_check", "auto_batch", "to_numpy", "model_fn"]
