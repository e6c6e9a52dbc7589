"""ONNX image classifiers as torch modules without gradients (for perturbation methods).

An ONNX graph that maps ``(n, C, H, W)`` floats to ``(n, K)`` logits runs in
onnxruntime; :func:`load_onnx_image` wraps it in a ``torch.nn.Module`` whose
forward pass calls onnxruntime, so occlusion and the rest of the image pipeline
run unchanged. No gradient flows through it: gradient methods (Grad-CAM,
integrated gradients, saliency) cannot be used, and the case-review pack
refuses them for ``model_format: onnx``. The graph's bytes are a buffer of the
module, so the adapter's model hash is the graph's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ModelLoadError


def load_onnx_image(path, **adapter_options):
    """A :class:`~xai_reports.adapters.torch.TorchAdapter` around the ONNX image classifier at ``path``.

    Raises:
        ModelLoadError: onnxruntime missing, or not a readable ONNX graph with one input.
    """
    import torch

    from .wrap import wrap_model

    path = Path(path)
    try:
        import onnxruntime as ort
    except ImportError:  # pragma: no cover - optional dependency
        raise ModelLoadError(f"{path}: ONNX models need onnxruntime (pip install 'xai-reports[onnx]')") from None
    raw = path.read_bytes()
    try:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        session = ort.InferenceSession(raw, sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - any onnxruntime failure is a load error
        raise ModelLoadError(f"{path}: not a readable ONNX graph ({str(exc).splitlines()[0][:200]})") from None
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise ModelLoadError(f"{path}: an ONNX image classifier has one input (an image batch); this one has "
                             f"{len(inputs)}")

    class OnnxImageModule(torch.nn.Module):
        """Forward pass in onnxruntime; no gradients."""

        def __init__(self):
            super().__init__()
            self.register_buffer("onnx_graph", torch.frombuffer(bytearray(raw), dtype=torch.uint8))
            self._name = inputs[0].name

        def forward(self, x):
            arr = x.detach().to("cpu", torch.float32).numpy()
            out = session.run(None, {self._name: np.ascontiguousarray(arr)})[0]
            return torch.from_numpy(np.asarray(out, dtype=np.float32)).to(x.device)

    # a torch adapter (occlusion slides its window through it); the pack refuses gradient methods for ONNX
    return wrap_model(OnnxImageModule(), **adapter_options)


__all__ = ["load_onnx_image"]
