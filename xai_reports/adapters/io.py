"""Loading model files safely.

Accepted, recognised by content (see :mod:`._tree_files`): XGBoost JSON/UBJ,
LightGBM text models and ``dump_model()`` JSON, CatBoost ``.cbm`` and JSON; torch TorchScript archives and
state dicts, both loaded without unpickling arbitrary objects
(``torch.load(weights_only=True)``, ``torch.jit.load``); and, recognised by
content (:mod:`.sniff`): scikit-learn ``.skops`` files (trusted types only),
ONNX graphs, points-table scorecards (YAML/CSV) and ``torch.export`` programs
(``.pt2``, after checking that nothing in them would be unpickled).
Refused: pickle and joblib files, whose loading runs arbitrary code.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from ..errors import ModelLoadError, UnsafeModelError, XaiReportsError
from ._library import library_reason
from .wrap import wrap_model

PICKLE_SUFFIXES = {".pkl", ".pickle", ".joblib", ".sav", ".dill", ".cloudpickle"}
TORCH_SUFFIXES = {".pt", ".pth", ".ts", ".torchscript"}


def _refuse(path: Path, why: str):
    raise UnsafeModelError(
        f"{path}: refused to load {why}: loading a pickle can execute arbitrary code. "
        "Save the model as XGBoost JSON/UBJ (booster.save_model('model.json')), scikit-learn skops "
        "(skops.io.dump), ONNX, or a torch state dict / TorchScript file instead.")


def _looks_like_pickle(head: bytes) -> bool:
    # Protocol 2+ pickles start with PROTO (0x80) then the protocol number.
    return len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5


def load_model(path, *, architecture=None, feature_names=None, trusted=None, **adapter_options):
    """Load a model file and return its adapter.

    Args:
        path: an XGBoost JSON/UBJ file, a LightGBM text model or JSON dump, a CatBoost
            ``.cbm`` or JSON model, a TorchScript archive, a torch state dict
            (``.pt``/``.pth``, then ``architecture`` is required), a ``.skops``,
            ``.onnx``, ``.pt2`` file or a scorecard ``.yaml``/``.csv``.
        architecture: a ``torch.nn.Module`` instance (or a zero-argument callable
            returning one) to receive a state dict.
        feature_names: column names, if the file does not carry them.
        trusted: for ``.skops`` files, dotted type names trusted beyond the default
            allow-list (scikit-learn, numpy dtypes and ufuncs, scipy sparse).

    Formats are recognised by content: XGBoost JSON/UBJ, torch state dicts and
    TorchScript, scikit-learn ``.skops``, ONNX, points-table scorecards (YAML/CSV)
    and ``torch.export`` programs (``.pt2``); see the README's table of formats.

    Raises:
        UnsafeModelError: a pickle/joblib file.
        ModelLoadError: a missing, empty or unreadable file.
    """
    from ..io.storage import is_remote

    if is_remote(path):  # s3://... : a private local copy, errors naming the URL without credentials
        from ..io.remote import local_file, relabelled
        from ..io.storage import scrub

        try:
            local = local_file(str(path))
        except XaiReportsError as exc:
            raise ModelLoadError(scrub(str(exc))) from None
        with relabelled(local, str(path)):
            return load_model(local, architecture=architecture, feature_names=feature_names, trusted=trusted,
                              **adapter_options)
    path = Path(path)
    if not path.exists():
        raise ModelLoadError(f"{path}: model file not found")
    if path.is_dir():
        raise ModelLoadError(f"{path}: is a folder, expected a model file")
    suffix = path.suffix.lower()
    if suffix in PICKLE_SUFFIXES:
        _refuse(path, f"a {suffix} file")
    with open(path, "rb") as fh:
        head = fh.read(8)
    if not head:
        raise ModelLoadError(f"{path}: model file is empty")
    if _looks_like_pickle(head):
        _refuse(path, "a pickle file")
    # skops, ONNX, points-table scorecards and torch.export programs, recognised by content
    from .sniff import load_by_content

    loaded = load_by_content(path, feature_names=feature_names, trusted=trusted, **adapter_options)
    if loaded is not None:
        return loaded

    from ._tree_files import load_tree_file

    with open(path, "rb") as fh:
        head = fh.read(256)
    tree_model = load_tree_file(path, head)
    if tree_model is not None:
        return wrap_model(tree_model, feature_names=feature_names, **adapter_options)

    if suffix in TORCH_SUFFIXES or zipfile.is_zipfile(path):
        return _load_torch(path, architecture, feature_names, adapter_options)
    raise ModelLoadError(
        f"{path}: unknown model format {suffix or '(no suffix)'}; expected XGBoost JSON/UBJ, a LightGBM "
        "text model or JSON dump, a CatBoost .cbm or JSON model, a torch .pt/.pth (state dict or TorchScript), "
        "scikit-learn .skops, .onnx, or a scorecard .yaml/.csv")


def _load_torch(path: Path, architecture, feature_names, adapter_options):
    try:
        import torch
    except ImportError:
        raise ModelLoadError(f"{path}: loading torch models needs PyTorch (pip install torch)") from None
    # TorchScript archives carry their own code and are loaded without pickle of user objects.
    try:
        with zipfile.ZipFile(path) as zf:
            is_script = any(n.endswith("constants.pkl") or "/code/" in n for n in zf.namelist())
    except zipfile.BadZipFile:
        is_script = False
    if is_script:
        try:
            module = torch.jit.load(str(path), map_location="cpu")
        except Exception as exc:  # noqa: BLE001 - report any torch failure as a load error
            raise ModelLoadError(f"{path}: not a valid TorchScript file ({library_reason(exc)})") from None
        return wrap_model(module, feature_names=feature_names, **adapter_options)
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001
        msg = library_reason(exc)
        if "weights_only" in str(exc) or "Unsupported global" in str(exc):
            _refuse(path, "a torch file that contains pickled Python objects (not plain weights)")
        raise ModelLoadError(f"{path}: not a readable torch state dict ({msg})") from None
    if not isinstance(state, dict):
        raise ModelLoadError(f"{path}: expected a state dict (a mapping of tensor names to tensors)")
    if architecture is None:
        raise ModelLoadError(
            f"{path}: a state dict holds weights only; name the architecture that receives them "
            "(the pack's model.architecture, or load_model(..., architecture=Module()))")
    module = architecture() if callable(architecture) and not isinstance(architecture, torch.nn.Module) else architecture
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:
        raise ModelLoadError(f"{path}: weights do not fit the architecture ({library_reason(exc)})") from None
    return wrap_model(module, feature_names=feature_names, **adapter_options)
