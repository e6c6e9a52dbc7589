"""``method="auto"``: the most exact method the model allows.

* tree ensembles: ``tree_shap`` (path-dependent without ``background=``,
  interventional with it);
* points-table scorecards: ``scorecard`` (points below the maximum or the reference);
* scikit-learn linear models, pipelines with column-wise encoders included: ``linear``
  (exact interventional SHAP per original column);
* any other model: exact ``shapley`` against the background when it has at most
  ``max_exact_features`` features, else ``kernel_shap`` (its estimated standard
  error in ``extras["std"]`` and ``self_check["estimated_std_max"]``).

The result is the chosen method's :class:`~.base.Attribution` (its ``method``
names the method that ran); ``params["chosen_by"]`` is ``"auto"``.
"""

from __future__ import annotations

from ..errors import ExplanationError
from .base import Attribution, Explainer

#: most features for which ``auto`` runs exact Shapley (2**d coalitions per row and reference at worst)
MAX_EXACT_FEATURES = 12
#: reference rows kept for the perturbation methods (exact Shapley, KernelSHAP): evenly spaced, deterministic
MAX_PERTURBATION_BACKGROUND = 100


def choose_method(adapter, n_features: int | None = None, *, max_exact_features: int = MAX_EXACT_FEATURES) -> str:
    """The method ``auto`` runs for ``adapter`` (a :class:`~xai_reports.adapters.ModelAdapter`)."""
    from .linear import is_linear_model

    if adapter.is_tree_ensemble:
        return "tree_shap"
    if getattr(adapter, "family", None) == "scorecard":
        return "scorecard"
    if is_linear_model(adapter):
        return "linear"
    d = n_features if n_features is not None else adapter.n_features
    if d is None:
        d = getattr(adapter.model, "n_features_in_", None)
    if d is not None and d <= max_exact_features:
        return "shapley"
    return "kernel_shap"


def resolve_method(method: str, adapter, n_features: int | None = None) -> str:
    """``method``, with ``"auto"`` replaced by the method it runs for ``adapter``."""
    return choose_method(adapter, n_features) if method == "auto" else method


def background_options(method: str, adapter, reference) -> dict:
    """``{"background": rows}`` when ``method`` (as run for ``adapter``) explains against a population.

    Used by the document pipelines (letters, audit) so the pack's reference
    population is the background of every method that takes one. Path-dependent
    TreeSHAP (``tree_shap``, and ``auto`` on a tree ensemble) takes none: it
    keeps the training baseline the trees record; trees that record no
    covers (most ONNX exports) are explained interventionally against the reference. Exact Shapley and KernelSHAP
    get at most :data:`MAX_PERTURBATION_BACKGROUND` evenly spaced reference rows.

    Raises:
        ExplanationError: the method needs a reference population and ``reference`` is ``None``.
    """
    from ..adapters import wrap_model

    adapter = wrap_model(adapter)
    chosen = resolve_method(method, adapter)
    if chosen in _NO_BACKGROUND:
        return {}
    if chosen == "tree_shap" and getattr(adapter, "cover_known", True):
        return {}      # path-dependent, on the trees' own training covers
    if chosen == "tree_shap" and reference is not None:
        return {"background": reference}   # trees without covers (ONNX): interventional
    if chosen == "scorecard" and reference is None:
        return {}      # points below each characteristic's maximum
    if reference is None:
        raise ExplanationError(
            f"attribution method {chosen!r} explains against a reference population: give reference data "
            "(--reference, or reference= in Python)")
    if chosen in ("shapley", "kernel_shap") and len(reference) > MAX_PERTURBATION_BACKGROUND:
        import numpy as np

        idx = np.unique(np.linspace(0, len(reference) - 1, MAX_PERTURBATION_BACKGROUND).round().astype(int))
        reference = reference.iloc[idx] if hasattr(reference, "iloc") else reference[idx]
    return {"background": reference}


_NO_BACKGROUND = frozenset({"integrated_gradients", "saliency", "smoothgrad", "gradient_x_input", "grad_cam",
                            "grad_cam_pp", "lrp", "attention_rollout"})


class AutoExplainer(Explainer):
    """Runs :func:`choose_method`'s method for the model (see the module docstring).

    Examples::

        >>> attr = AutoExplainer(logistic_pipeline).attribute(X, background=X_reference)
        >>> attr.method
        'linear'
    """

    name = "auto"
    additive = True
    claims = "additivity"

    def _explain(self, X, **options) -> Attribution:
        """Attribute ``X`` with the chosen method; ``options`` go to it (``background=``, ``target=``, ...)."""
        from . import get_explainer_class

        d = X.shape[1] if hasattr(X, "shape") and len(getattr(X, "shape", ())) == 2 else None
        chosen = choose_method(self.model_, d)
        if chosen in ("shapley", "kernel_shap", "linear") and options.get("background") is None:
            raise ExplanationError(f"method 'auto' chose {chosen!r} for {self.model_!r}, which needs background= "
                                   "(the reference rows)")
        attr = get_explainer_class(chosen)(self.model_).attribute(X, **options)
        attr.params = {**attr.params, "chosen_by": "auto"}
        return attr


__all__ = ["AutoExplainer", "choose_method", "resolve_method", "background_options", "MAX_EXACT_FEATURES"]
