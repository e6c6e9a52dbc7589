"""``torch.export`` programs (``.pt2``), loaded only when nothing in them would be unpickled.

``torch.export.load`` is documented to use pickle: weights and constants
marked ``use_pickle`` are read with ``torch.load(weights_only=False)``, custom
and opaque objects with ``pickle.loads``, and the sample inputs fall back to
``weights_only=False`` when the safe loader refuses them. So before calling
it, every payload it would unpickle is first read here with
``torch.load(weights_only=True)`` (which runs no code and accepts only
tensors and plain containers); an archive with custom or opaque objects, a
legacy constants file, or an AOTInductor (compiled code) payload is refused.
What is then unpickled has already passed the safe loader.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

from ..errors import ModelLoadError, UnsafeModelError
from .wrap import wrap_model


def check_pt2(path: Path) -> None:
    """Raise :class:`UnsafeModelError` unless every payload ``torch.export.load`` would unpickle is safe."""
    def refuse(why):
        raise UnsafeModelError(f"{path}: refused to load a torch.export program: {why}; nothing was loaded. "
                               "Export the model to ONNX or TorchScript instead.")

    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        for n in names:
            parts = n.split("/")
            if "aotinductor" in parts or n.endswith((".so", ".dll", ".dylib", ".cpp")):
                refuse(f"it holds compiled code ({n})")
            if "/data/constants/" in n and n.endswith(".pt"):
                refuse(f"it holds a legacy pickled constants file ({n})")
        for cfg_name in [n for n in names if n.endswith(("_weights_config.json", "_constants_config.json"))]:
            folder = cfg_name.rsplit("/", 1)[0]
            try:
                cfg = json.loads(zf.read(cfg_name)).get("config", {})
            except ValueError:
                refuse(f"unreadable payload config {cfg_name}")
            for fqn, meta in cfg.items():
                pname = str(meta.get("path_name", ""))
                if pname.startswith(("custom_obj", "opaque_obj")) or not pname.startswith(("weight", "tensor")):
                    refuse(f"constant {fqn!r} is a pickled Python object ({pname})")
                if meta.get("use_pickle"):
                    _safe_torch_load(zf.read(f"{folder}/{pname}"), refuse, fqn)
        for n in names:
            if "/data/sample_inputs/" in n:
                _safe_torch_load(zf.read(n), refuse, "sample inputs")


def _safe_torch_load(data: bytes, refuse, what):
    import torch

    try:
        torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - anything the safe loader refuses is refused
        refuse(f"{what} is not plain tensors ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})")


def load_exported_program(path: Path, *, feature_names=None, **adapter_options):
    """Check (:func:`check_pt2`), then ``torch.export.load`` and wrap ``program.module()``."""
    try:
        import torch
    except ImportError:
        raise ModelLoadError(f"{path}: loading torch.export programs needs PyTorch (pip install torch)") from None
    check_pt2(path)
    try:
        program = torch.export.load(str(path))
    except Exception as exc:  # noqa: BLE001
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelLoadError(f"{path}: not a readable torch.export program ({msg})") from None
    return wrap_model(program, feature_names=feature_names, **adapter_options)
