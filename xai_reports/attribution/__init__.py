"""Attribution methods behind one entry point, :func:`explain`.

Each method lives in its own module as an :class:`~.base.Explainer` subclass and
is found through ``METHODS`` (name -> "module:Class"), imported only when used.
"""

from __future__ import annotations

import importlib

from ..errors import ExplanationError
from .base import Attribution, Explainer

METHODS: dict[str, str] = {
    "auto": "auto:AutoExplainer",
    "tree_shap": "tree_shap:TreeShap",
    "linear": "linear:LinearShap",
    "scorecard": "scorecard:ScorecardPoints",
    "shapley": "shapley:ExactShapley",
    "kernel_shap": "kernel_shap:KernelShap",
    "integrated_gradients": "integrated_gradients:IntegratedGradients",
    "saliency": "gradients:Saliency",
    "smoothgrad": "gradients:SmoothGrad",
    "gradient_x_input": "gradients:GradientXInput",
    "grad_cam": "grad_cam:GradCam",
    "grad_cam_pp": "grad_cam:GradCamPlusPlus",
    "lrp": "lrp:LRP",
    "occlusion": "occlusion:Occlusion",
    "lime": "lime:Lime",
    "attention_rollout": "attention:AttentionRollout",
}


def get_explainer_class(method: str) -> type[Explainer]:
    """The :class:`Explainer` subclass registered under ``method``."""
    try:
        target = METHODS[method]
    except KeyError:
        raise ExplanationError(
            f"unknown attribution method {method!r}; available: {', '.join(available_methods())}") from None
    module_name, cls_name = target.split(":")
    try:
        module = importlib.import_module(f"{__name__}.{module_name}")
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith(__name__):
            raise ExplanationError(f"attribution method {method!r} is not implemented yet") from None
        raise
    return getattr(module, cls_name)


def available_methods() -> list[str]:
    """Names of the methods whose module is present."""
    found = []
    for name, target in METHODS.items():
        spec = importlib.util.find_spec(f"{__name__}.{target.split(':')[0]}")
        if spec is not None:
            found.append(name)
    return found


def explain(model, X, method: str = "tree_shap", **options) -> Attribution:
    """Attribute the model's output on ``X`` to its input features.

    Args:
        model: a raw model (XGBoost, scikit-learn, torch) or an adapter from
            :func:`xai_reports.wrap_model`.
        X: a pandas DataFrame (categorical columns included), a numpy array, or
            a tensor/array of images for image methods.
        method: one of :data:`METHODS` (``"tree_shap"``, ``"linear"``, ``"shapley"``,
            ``"kernel_shap"``, ``"integrated_gradients"``, ...), or ``"auto"``: the most
            exact method the model allows (see :mod:`.auto`).
        **options: method options, named as in captum where they overlap
            (``target=``, ``baselines=``, ``n_steps=``) plus ``background=``,
            ``device="auto"``, ``batch_size=``.

    Returns:
        An :class:`Attribution`. For additive methods
        ``values.sum(axis=1) + base_values`` equals the model output in the
        ``output`` space, and ``self_check`` reports the largest error.

    Examples::

        >>> attr = explain(xgb_model, X, method="tree_shap")
        >>> attr.values.shape, attr.output
        ((100, 11), 'margin')
    """
    cls = get_explainer_class(method)
    return cls(model).attribute(X, **options)


__all__ = ["Attribution", "Explainer", "METHODS", "explain", "available_methods", "get_explainer_class"]
