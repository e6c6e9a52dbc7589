"""Device selection shared by every engine: ``device="auto"`` means CUDA when present."""

from __future__ import annotations


def _nvidia_driver_present() -> bool:
    # Cheap check first: without an NVIDIA driver there is no CUDA device, and
    # importing torch (seconds) just to learn that would slow every CLI run.
    import os
    import shutil

    return os.path.exists("/proc/driver/nvidia/version") or shutil.which("nvidia-smi") is not None


def cuda_available() -> bool:
    """True when torch is importable and sees a CUDA device."""
    import sys

    if "torch" not in sys.modules and not _nvidia_driver_present():
        return False
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def resolve_device(device: str | None = "auto") -> str:
    """Return ``"cuda"`` or ``"cpu"`` (or the explicit torch device string given).

    ``"auto"`` (and ``None``) pick CUDA when a GPU is visible, CPU otherwise.
    """
    if device in (None, "auto"):
        return "cuda" if cuda_available() else "cpu"
    device = str(device)
    if device.startswith("cuda") and not cuda_available():
        raise RuntimeError(f"device={device!r} was requested but no CUDA device is available")
    return device
