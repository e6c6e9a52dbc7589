"""Tree-ensemble model files recognised by their content (not their suffix).

* ``CBM1`` magic: CatBoost binary model;
* ``tree`` then ``version=`` lines: LightGBM text model;
* JSON: an XGBoost model (``{"learner": ...}``), a LightGBM ``dump_model()``
  (``tree_info``, ``num_tree_per_iteration``) or a CatBoost JSON model
  (``oblivious_trees``, ``features_info``); any other JSON is refused;
* UBJSON whose first key is ``learner``: an XGBoost UBJ model.

Every loader is the library's own reader of its own format; nothing is unpickled.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..errors import ModelLoadError
from ._library import library_reason

_FIRST_KEY = re.compile(rb'^\s*\{\s*"([^"]{1,64})"')


def _first_line(exc) -> str:
    """The library's error as a short clause (first line, bounded: libraries quote whole inputs)."""
    return library_reason(exc)


def sniff(path: Path, head: bytes) -> str | None:
    """The tree format of a file from its first bytes: ``"catboost-cbm"``, ``"lightgbm-text"``,
    ``"xgboost-json"``, ``"xgboost-ubj"``, ``"json"`` (to be told apart by its keys) or ``None``."""
    if head.startswith(b"CBM1"):
        return "catboost-cbm"
    stripped = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if re.match(rb"tree\r?\n", stripped) and b"version=" in stripped[:200]:
        return "lightgbm-text"
    m = _FIRST_KEY.match(stripped)
    if m:
        return "xgboost-json" if m.group(1) == b"learner" else "json"
    if stripped.startswith(b"{") and b"learner" in stripped[:64]:
        return "xgboost-ubj"
    if stripped.startswith(b"{"):
        return "json"
    return None


def _xgboost(path: Path, kind: str):
    import xgboost as xgb

    import warnings

    booster = xgb.Booster()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            booster.load_model(str(path))
        except xgb.core.XGBoostError as exc:
            # the warnings of a file that is not a model are noise beside this one line
            raise ModelLoadError(f"{path}: not a valid XGBoost {kind} model ({_first_line(exc)})") from None
    for w in caught:  # a model that loads: pass its warnings on (an old format, say)
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return booster


def load_tree_file(path: Path, head: bytes):
    """The model object a tree-ensemble file holds, or ``None`` when it is not one of these formats.

    Raises:
        ModelLoadError: the file claims one of these formats but does not load, or is
            JSON of none of them.
    """
    kind = sniff(path, head)
    if kind is None:
        return None
    if kind == "catboost-cbm":
        from .catboost import load

        try:
            return load(path, "cbm")
        except Exception as exc:  # noqa: BLE001 - CatBoost raises CatBoostError or others
            raise ModelLoadError(f"{path}: not a valid CatBoost .cbm model ({_first_line(exc)})") from None
    if kind == "lightgbm-text":
        from .lightgbm import load_text

        try:
            return load_text(path)
        except Exception as exc:  # noqa: BLE001 - LightGBMError
            raise ModelLoadError(f"{path}: not a valid LightGBM text model ({_first_line(exc)})") from None
    if kind == "xgboost-json":
        return _xgboost(path, "JSON")
    if kind == "xgboost-ubj":
        return _xgboost(path, "UBJ")
    try:
        with open(path, "rb") as fh:
            doc = json.loads(fh.read().decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        if path.suffix.lower() == ".ubj":
            return _xgboost(path, "UBJ")
        raise ModelLoadError(f"{path}: not a valid XGBoost, LightGBM or CatBoost JSON model "
                             f"({_first_line(exc)})") from None
    from .catboost import looks_like_json
    from .lightgbm import load_dump, looks_like_dump

    if looks_like_dump(doc):
        try:
            return load_dump(doc)
        except Exception as exc:  # noqa: BLE001
            raise ModelLoadError(f"{path}: not a valid LightGBM JSON dump ({_first_line(exc)})") from None
    if looks_like_json(doc):
        from .catboost import load

        try:
            return load(path, "json")
        except Exception as exc:  # noqa: BLE001
            raise ModelLoadError(f"{path}: not a valid CatBoost JSON model ({_first_line(exc)})") from None
    if isinstance(doc, dict) and "learner" in doc:
        return _xgboost(path, "JSON")
    keys = sorted(doc)[:5] if isinstance(doc, dict) else type(doc).__name__
    raise ModelLoadError(
        f"{path}: JSON that is not a model this tool reads (an XGBoost model, a LightGBM dump_model() or a "
        f"CatBoost JSON model); found {keys}")


__all__ = ["sniff", "load_tree_file"]
