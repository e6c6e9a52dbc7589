"""scikit-learn models from skops files (``.skops``), trusted types only.

A skops file is a zip archive with a ``schema.json`` that names every type
it would construct. Before anything is loaded, ``skops.io.get_untrusted_types``
lists the types skops itself does not trust; each must be on this module's
allow-list (:func:`is_trusted`: scikit-learn classes, numpy dtypes and
ufuncs, scipy sparse matrices) or named by the caller in ``trusted=``.
Anything else is refused with its name and never loaded. skops never
unpickles: it rebuilds objects from the schema.
"""

from __future__ import annotations

import importlib
import zipfile
from pathlib import Path

from ..errors import ModelLoadError, UnsafeModelError
from .wrap import wrap_model

#: module prefixes whose classes are trusted by default
TRUSTED_PREFIXES = ("sklearn.", "scipy.sparse.")


def is_skops_file(path: Path) -> bool:
    """A zip archive whose top level holds skops's ``schema.json``."""
    try:
        with zipfile.ZipFile(path) as zf:
            return "schema.json" in zf.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


def is_trusted(name: str) -> bool:
    """Whether the dotted type name ``name`` is on the default allow-list.

    Trusted: classes of scikit-learn and ``scipy.sparse``, and numpy's dtypes,
    scalar types and ufuncs (resolved in the installed numpy, never loaded
    from the file). Functions other than ufuncs (``numpy.load``, ``builtins.eval``,
    ``os.system`` ...) are not.
    """
    if name.startswith(TRUSTED_PREFIXES):
        module, _, attr = name.rpartition(".")
        try:
            obj = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError, ValueError):
            return False
        return isinstance(obj, type)
    if name.startswith("numpy."):
        import numpy as np

        module, _, attr = name.rpartition(".")
        try:
            obj = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError, ValueError):
            return False
        return (isinstance(obj, type) and (issubclass(obj, (np.generic, np.dtype)) or module.startswith("numpy.dtypes"))
                or isinstance(obj, np.ufunc) or name in ("numpy.dtype", "numpy.ndarray"))
    return False


def load_skops(path: Path, *, trusted=None, feature_names=None, **adapter_options):
    """Load a ``.skops`` file whose every type is trusted; return its adapter.

    Args:
        path: the file.
        trusted: extra dotted type names the caller trusts (e.g. ``["xgboost.sklearn.XGBClassifier"]``).

    Raises:
        UnsafeModelError: the file names a type that is neither trusted by skops,
            on the allow-list, nor in ``trusted``; the message names it.
        ModelLoadError: not a readable skops file.
    """
    try:
        import skops.io as sio
    except ImportError:
        raise ModelLoadError(f"{path}: loading .skops files needs skops (pip install skops)") from None
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as exc:  # noqa: BLE001 - any failure to read the schema is a load error
        raise ModelLoadError(f"{path}: not a readable skops file ({_first_line(exc)})") from None
    extra = set(trusted or ())
    refused = sorted(t for t in untrusted if t not in extra and not is_trusted(t))
    if refused:
        raise UnsafeModelError(
            f"{path}: refused to load a skops file with untrusted type(s) {', '.join(refused)}; nothing was "
            "loaded. If you trust them, pass load_model(..., trusted=[...]).")
    try:
        model = sio.load(path, trusted=list(untrusted))
    except Exception as exc:  # noqa: BLE001
        raise ModelLoadError(f"{path}: not a readable skops file ({_first_line(exc)})") from None
    try:
        return wrap_model(model, feature_names=feature_names, **adapter_options)
    except TypeError as exc:
        raise ModelLoadError(f"{path}: {exc}") from None


def _first_line(exc) -> str:
    s = str(exc).strip()
    return s.splitlines()[0] if s else type(exc).__name__
