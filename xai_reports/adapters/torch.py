"""``torch.nn.Module`` models (tabular or image inputs)."""

from __future__ import annotations

import hashlib

import numpy as np

from .._device import resolve_device
from . import _torch_state
from .base import ModelAdapter


class TorchAdapter(ModelAdapter):
    """Adapter for a ``torch.nn.Module``.

    Args:
        model: the module; it is put in ``eval()`` mode.
        feature_names: column names for tabular inputs.
        output_space: ``"logit"`` (default: the module returns pre-sigmoid/softmax
            scores), ``"probability"`` or ``"value"``.
        device: ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``.
        batch_size: rows per forward pass, so memory stays bounded on large inputs.
    """

    family = "torch"
    is_differentiable = True
    supports_gpu = True

    def __init__(self, model, *, feature_names=None, output_space: str = "logit",
                 device: str = "auto", batch_size: int = 1024, classifier: bool = True):
        super().__init__(model, feature_names=feature_names)
        self.output_space = output_space
        self.is_classifier = classifier and output_space != "value"
        self.device = resolve_device(device)
        self.batch_size = batch_size
        training, placed, st = _state(model, self.device)
        #: the module snapshot this adapter was checked against (an explainer's ``attribute`` reuses it
        #: for the rest of the same call, instead of checking the module a second time)
        self.checked_state = st if not training and placed else None
        if training:
            model.eval()
        if not placed:
            model.to(self.device)

    def to_tensor(self, X):
        """``X`` (array, DataFrame or tensor) as a tensor on the adapter's device, in the module's float dtype."""
        import pandas as pd
        import torch

        dtype = next((p.dtype for p in self.model.parameters() if p.is_floating_point()), torch.float32)
        if isinstance(X, torch.Tensor):
            return X.to(self.device, dtype=dtype)
        if isinstance(X, pd.DataFrame):
            X = X[self.feature_names].to_numpy(dtype=np.float64) if self.feature_names else X.to_numpy(np.float64)
        return torch.from_numpy(np.array(X, dtype=np.float64)).to(self.device, dtype=dtype)

    def forward(self, x):
        """Differentiable forward pass on a tensor; binary single-logit outputs are squeezed."""
        out = self.model(x)
        if out.ndim == 2 and out.shape[1] == 1:
            out = out[:, 0]
        return out

    def _raw_predict(self, X):
        import torch

        x = self.to_tensor(X)
        outs = []
        with torch.no_grad():
            for i in range(0, x.shape[0], self.batch_size):
                outs.append(self.forward(x[i:i + self.batch_size]).detach().cpu())
        return torch.cat(outs).numpy().astype(np.float64)

    def model_bytes(self) -> bytes:
        h = hashlib.sha256()
        for name, tensor in sorted(self.model.state_dict().items()):
            h.update(name.encode())
            h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        return h.digest()


def _state(model, device: str) -> tuple:
    """``(any submodule in training mode, every parameter and buffer already on device, the snapshot)`` from the
    module's cached snapshot (``eval()`` and ``.to`` walk every submodule even when there is nothing
    to change; the snapshot is checked in one flat pass)."""
    import torch

    dev = torch.device(device)
    st = _torch_state.module_state(model)   # (looked up on the module: tests count the calls)
    placed = not (dev.type == "cuda" and dev.index is None) and st.on(dev)    # bare "cuda": let ``.to`` resolve it
    return st.training, placed, st


def as_module(program):
    """An ``nn.Module`` running ``program.module()``; ``eval()``/``train()`` leave the graph as exported
    (exported graphs refuse them: their mode was fixed at export)."""
    import torch

    class ExportedModule(torch.nn.Module):
        def __init__(self, gm):
            super().__init__()
            self.gm = gm

        def forward(self, x):
            return self.gm(x)

        def train(self, mode: bool = True):
            self.training = mode
            return self

    return ExportedModule(program.module())
