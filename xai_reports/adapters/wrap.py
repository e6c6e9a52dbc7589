"""``wrap_model``: the adapter for a raw model object, chosen by the model's type.

The concrete adapters are imported only when a model of their kind arrives, so
wrapping an XGBoost model never imports torch or ONNX Runtime.
"""

from __future__ import annotations

from .base import ModelAdapter


def _is_xgboost(obj) -> bool:
    mod = type(obj).__module__
    return mod.startswith("xgboost")


def _family(obj) -> str:
    return type(obj).__module__.split(".")[0]


def _is_torch(obj) -> bool:
    # A torch module instance cannot exist unless torch is imported: no need to pay
    # for importing it (seconds) to learn that an XGBoost or sklearn model is not one.
    import sys

    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.nn.Module)


def _torch_adapter():
    """:class:`~.torch.TorchAdapter`, imported on first use (then kept: a function-level import costs about
    a microsecond on every call, and explainers wrap their torch module on every ``attribute``)."""
    global _TORCH_ADAPTER
    if _TORCH_ADAPTER is None:
        from .torch import TorchAdapter

        _TORCH_ADAPTER = TorchAdapter
    return _TORCH_ADAPTER


_TORCH_ADAPTER = None


def wrap_model(obj, *, feature_names=None, **options) -> ModelAdapter:
    """Return the adapter for ``obj``.

    Args:
        obj: an XGBoost ``Booster`` / ``XGBClassifier`` / ``XGBRegressor``, a
            LightGBM ``Booster`` / ``LGBMClassifier`` / ``LGBMRegressor``, a CatBoost
            model, a
            scikit-learn estimator or ``Pipeline`` (with ``predict_proba``,
            ``decision_function`` or ``predict``), a ``torch.nn.Module`` or
            ``torch.export.ExportedProgram``, an ``onnx.ModelProto``, a
            :class:`~xai_reports.adapters.scorecard.Scorecard`, or an adapter
            (returned unchanged).
        feature_names: column names, when the model does not carry them.
        **options: adapter options, e.g. ``output_space="probability"`` or
            ``device="cuda"`` for torch modules.

    Returns:
        A :class:`ModelAdapter` stating ``output_space`` and capability tags.

    Examples::

        >>> adapter = wrap_model(xgb_classifier)
        >>> adapter.output_space, adapter.is_tree_ensemble
        ('margin', True)
    """
    if isinstance(obj, ModelAdapter):
        if feature_names is not None:
            obj.feature_names = list(feature_names)
        return obj
    if _is_torch(obj) and _family(obj) != "transformers":      # the common case first (checked per call)
        return _torch_adapter()(obj, feature_names=feature_names, **options)
    kind = type(obj).__module__ + "." + type(obj).__name__
    if kind == "onnx.onnx_ml_pb2.ModelProto" or kind.endswith("onnx_pb.ModelProto") or type(obj).__name__ == "ModelProto":
        from .onnx_model import OnnxAdapter

        return OnnxAdapter(obj, feature_names=feature_names, **options)
    if type(obj).__name__ == "Scorecard" and type(obj).__module__.startswith("xai_reports"):
        from .scorecard import ScorecardAdapter

        return ScorecardAdapter(obj, feature_names=feature_names, **options)
    if type(obj).__name__ == "ExportedProgram":        # torch.export: run its module
        from .torch import as_module

        return wrap_model(as_module(obj), feature_names=feature_names, **options)
    if _is_xgboost(obj):
        from .xgboost import XGBoostAdapter

        return XGBoostAdapter(obj, feature_names=feature_names, **options)
    if _family(obj) == "lightgbm":
        from .lightgbm import LightGBMAdapter

        return LightGBMAdapter(obj, feature_names=feature_names, **options)
    if _family(obj) == "catboost":
        from .catboost import CatBoostAdapter

        return CatBoostAdapter(obj, feature_names=feature_names, **options)
    if _family(obj) == "transformers" and _is_torch(obj):     # a HuggingFace model (token ids in, logits out)
        from .transformers_text import TextModelAdapter

        return TextModelAdapter(obj, feature_names=feature_names, **options)
    if _is_torch(obj):
        from .torch import TorchAdapter

        return TorchAdapter(obj, feature_names=feature_names, **options)
    if hasattr(obj, "fit") and any(hasattr(obj, m) for m in ("predict_proba", "decision_function", "predict")):
        from .sklearn import SklearnAdapter

        return SklearnAdapter(obj, feature_names=feature_names, **options)
    raise TypeError(
        f"cannot wrap a {type(obj).__module__}.{type(obj).__name__}: expected an XGBoost, LightGBM, "
        "CatBoost, scikit-learn, ONNX, scorecard or torch model")
