"""Fast model calls for the counterfactual search: predict straight from the encoded matrix.

The search calls the model on hundreds of thousands of candidate rows. For
XGBoost boosters, LightGBM scikit-learn models, other scikit-learn estimators
(not Pipelines) and torch models on numeric features it can skip building a DataFrame per call and
predict from the encoded float matrix directly. :meth:`.search.Engine.enable_fast_path`
uses such a predictor only where it gives the adapter's own outputs on the query
and background rows.
"""

from __future__ import annotations

import numpy as np

from .encoding import Codec


def xgboost_fast_path(adapter, codec: Codec, output: str):
    """A predictor from encoded rows for XGBoost boosters whose feature types match the codec."""
    if getattr(adapter, "family", None) != "xgboost" or not hasattr(adapter, "booster"):
        return None
    import json

    import xgboost as xgb

    booster = adapter.booster
    names = booster.feature_names
    types = booster.feature_types
    if names is None or list(names) != codec.features or types is None:
        return None
    for j, t in enumerate(types):
        if (t == "c") != (not codec.numeric[j]):
            return None
    try:
        nthread = int(json.loads(booster.save_config())["learner"]["generic_param"].get("nthread", "0"))
    except (KeyError, ValueError, TypeError):
        nthread = 0
    nthread = nthread if nthread > 0 else -1

    def predict(Z):
        Z32 = np.ascontiguousarray(Z, dtype=np.float32)
        try:
            raw = booster.inplace_predict(Z32, predict_type="margin", missing=np.nan)
        except (xgb.core.XGBoostError, TypeError, ValueError):
            dm = xgb.DMatrix(Z32, feature_names=names, feature_types=types, nthread=nthread, missing=np.nan)
            raw = booster.predict(dm, output_margin=True)
        return adapter.convert(np.asarray(raw, dtype=np.float64), adapter.output_space, output)

    return predict


def lightgbm_fast_path(adapter, codec: Codec, output: str):
    """A predictor from encoded rows for LightGBM scikit-learn models on numeric features (its booster)."""
    if getattr(adapter, "family", None) != "sklearn" or not codec.numeric.all():
        return None
    booster = getattr(adapter.model, "booster_", None)
    if booster is None or type(booster).__module__.split(".")[0] != "lightgbm":
        return None
    try:
        if list(booster.feature_name()) != codec.features:
            return None
    except Exception:  # noqa: BLE001 - any surprise: the adapter's own path
        return None
    space = adapter.output_space
    if space not in ("probability", "margin"):
        return None

    def predict(Z):
        raw = booster.predict(np.ascontiguousarray(Z, dtype=np.float64), raw_score=(space == "margin"))
        return adapter.convert(np.asarray(raw, dtype=np.float64), space, output)

    return predict


def sklearn_fast_path(adapter, codec: Codec, output: str):
    """A predictor from encoded rows for a scikit-learn estimator (not a Pipeline) on numeric features.

    The estimator gets the float matrix instead of a DataFrame per call: no frame is built and
    its input validation takes the array route (a DataFrame is checked column by column, which
    dominates the call for a fast model such as HistGradientBoosting). Only when the estimator
    was fitted on exactly the codec's columns, in order (then the array's columns are the same).
    """
    if getattr(adapter, "family", None) != "sklearn" or not codec.numeric.all():
        return None
    model = adapter.model
    if hasattr(model, "steps") or getattr(model, "booster_", None) is not None:
        return None                         # Pipelines transform columns by name; LightGBM has its own path
    names = getattr(model, "feature_names_in_", None)
    if names is None or list(names) != list(codec.features):
        return None
    space = adapter.output_space
    call = {"probability": getattr(model, "predict_proba", None), "margin": getattr(model, "decision_function", None),
            "value": getattr(model, "predict", None)}.get(space)
    if call is None:
        return None

    def predict(Z):
        import warnings

        with warnings.catch_warnings():     # the array has the fitted columns, in order (checked above)
            warnings.filterwarnings("ignore", message="X does not have valid feature names")
            raw = np.asarray(call(np.ascontiguousarray(Z, dtype=np.float64)), dtype=np.float64)
        if space == "probability" and raw.ndim == 2 and raw.shape[1] == 2:
            raw = raw[:, 1]
        return adapter.convert(raw, space, output)

    return predict


def fast_path(adapter, codec: Codec, output: str):
    """The fastest predictor from encoded rows this model allows, or ``None`` (then the adapter's own path).

    Args:
        adapter: the model adapter.
        codec: the codec of the model's features.
        output: the output space the search targets.

    Returns:
        ``predict(Z) -> (n,)`` outputs, or ``None``. The caller checks it against the adapter before use.
    """
    fast = xgboost_fast_path(adapter, codec, output)
    if fast is None:
        fast = lightgbm_fast_path(adapter, codec, output)
    if fast is None:
        fast = sklearn_fast_path(adapter, codec, output)
    if fast is None and getattr(adapter, "family", None) == "torch" and codec.numeric.all():
        def fast(Z, adapter=adapter, output=output):
            return np.asarray(adapter.predict(np.ascontiguousarray(Z), output=output), dtype=np.float64)
    return fast
