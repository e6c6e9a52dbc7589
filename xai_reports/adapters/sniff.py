"""Model formats recognised by their content, not their file name.

:func:`load_by_content` is called by :func:`~xai_reports.adapters.io.load_model`
after pickles are refused. It returns ``None`` for files it does not claim
(XGBoost, torch state dicts and TorchScript go on to their own loaders).

==========================  ====================================================
content                     format
==========================  ====================================================
zip with ``schema.json``    scikit-learn through skops (trusted types only)
zip with ``archive_format``  ``torch.export`` program (``.pt2``)
protobuf ``ModelProto``      ONNX
text: YAML/CSV points table  scorecard (feature, bin or category, points)
==========================  ====================================================
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from ..errors import ModelLoadError

SCORECARD_SUFFIXES = {".yaml", ".yml", ".csv"}


def _zip_names(path: Path):
    try:
        with zipfile.ZipFile(path) as zf:
            return zf.namelist()
    except (zipfile.BadZipFile, OSError):
        return None


def load_by_content(path: Path, *, feature_names=None, trusted=None, **adapter_options):
    """The adapter for ``path`` when its content is one of this module's formats, else ``None``."""
    with open(path, "rb") as fh:
        head = fh.read(4096)
    suffix = path.suffix.lower()
    names = _zip_names(path) if head[:2] == b"PK" else None
    if names is not None:
        if "schema.json" in names:
            from .skops_model import load_skops

            return load_skops(path, trusted=trusted, feature_names=feature_names, **adapter_options)
        if any(n.endswith("/archive_format") or n == "archive_format" for n in names):
            from .torch_export import load_exported_program

            return load_exported_program(path, feature_names=feature_names, **adapter_options)
        if suffix == ".skops":
            raise ModelLoadError(f"{path}: not a skops file (no schema.json in the archive)")
        return None
    if suffix == ".skops":
        raise ModelLoadError(f"{path}: not a skops file (not a zip archive)")
    from .onnx_model import looks_like_onnx

    if suffix == ".onnx" or head[:1] == b"\x08":
        if looks_like_onnx(path, head):
            from .onnx_model import load_onnx

            return load_onnx(path, feature_names=feature_names, **adapter_options)
        if suffix == ".onnx":
            raise ModelLoadError(f"{path}: not a valid ONNX model")
        return None
    from .scorecard import looks_like_scorecard

    if suffix in SCORECARD_SUFFIXES or looks_like_scorecard(head):
        from .scorecard import ScorecardAdapter, read_scorecard

        card = read_scorecard(path)
        return ScorecardAdapter(card, feature_names=feature_names, **adapter_options)
    return None
