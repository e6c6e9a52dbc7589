"""Attribution methods behind one entry point, :func:`explain`.

Each method lives in its own module as an :class:`~.base.Explainer` subclass
(scikit-learn's conventions: ``Cls(model, **options).fit(background).explain(X)``)
and is found through ``METHODS`` (name -> ``"module:Class"``), imported only when
used. :func:`register_method` adds a method from another package;
:func:`~.checks.check_explainer` is the conformance suite every method passes.
"""

from __future__ import annotations

import importlib

from ..errors import ExplanationError
from .base import Attribution, Explainer

METHODS: dict[str, str | type] = {
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
    "text_integrated_gradients": "text_gradients:TextIntegratedGradients",
    "text_attention_rollout": "text_attention:TextAttentionRollout",
    "text_attention_flow": "text_attention:TextAttentionFlow",
    "text_lrp": "text_lrp:TextLRP",
}


def get_explainer_class(method: str) -> type[Explainer]:
    """The :class:`Explainer` subclass registered under ``method``."""
    try:
        target = METHODS[method]
    except KeyError:
        raise ExplanationError(
            f"unknown attribution method {method!r}; available: {', '.join(available_methods())}") from None
    if isinstance(target, type):
        return target
    module_name, cls_name = target.split(":")
    full = _module_path(module_name)
    try:
        module = importlib.import_module(full)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith(full.rsplit(".", 1)[0]):
            raise ExplanationError(f"attribution method {method!r} is not implemented yet") from None
        raise
    return getattr(module, cls_name)


def _module_path(module_name: str) -> str:
    """A registry module name as an import path: bare names are this package's modules."""
    return module_name if "." in module_name else f"{__name__}.{module_name}"


def register_method(name: str, target, *, replace: bool = False) -> None:
    """Register an attribution method under ``name`` (then ``explain(model, X, method=name)`` runs it).

    Args:
        name: the method's registry name (its class's ``name`` should match).
        target: an :class:`Explainer` subclass, or ``"package.module:Class"`` (imported when first used).
        replace: allow replacing an existing method.

    Raises:
        ExplanationError: ``name`` is taken (without ``replace``), or ``target`` is neither.
    """
    if name in METHODS and not replace:
        raise ExplanationError(f"attribution method {name!r} is already registered (pass replace=True)")
    if isinstance(target, type):
        if not issubclass(target, Explainer):
            raise ExplanationError(f"{target.__name__} is not an Explainer subclass")
    elif not (isinstance(target, str) and target.count(":") == 1):
        raise ExplanationError(f"register_method needs an Explainer subclass or 'module:Class', got {target!r}")
    METHODS[name] = target


def available_methods() -> list[str]:
    """Names of the methods whose module is present."""
    found = []
    for name, target in METHODS.items():
        if isinstance(target, type):
            found.append(name)
            continue
        try:
            spec = importlib.util.find_spec(_module_path(target.split(":")[0]))
        except ModuleNotFoundError:
            spec = None
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

    Same as ``get_explainer_class(method)(model).attribute(X, **options)``: the
    explainer is built, fitted with ``background=`` (when given) and explains ``X``.

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


__all__ = ["Attribution", "Explainer", "METHODS", "explain", "available_methods", "get_explainer_class",
           "register_method"]
