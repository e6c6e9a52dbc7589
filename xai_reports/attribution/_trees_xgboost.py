"""XGBoost boosters (their JSON model) flattened into a :class:`~._tree_ensemble.TreeEnsemble`."""

from __future__ import annotations

import json

import numpy as np

from ..errors import ExplanationError
from ._tree_ensemble import TreeEnsemble, _Builder


def _xgb_categories(model: dict, feature_types) -> dict:
    """The category values XGBoost (>= 3.1) stores per categorical feature, for re-coding."""
    cats = model.get("cats") or {}
    enc = cats.get("enc") or []
    out = {}
    for j, e in enumerate(enc):
        values = e.get("values") or []
        offsets = e.get("offsets") or []
        if not values:
            continue
        if offsets:  # strings: utf-8 bytes, split at offsets
            raw = bytes(int(v) & 0xFF for v in values)
            out[j] = [raw[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(len(offsets) - 1)]
        else:
            out[j] = list(values)
    return out


def parse_xgboost(adapter, target: int | None = None) -> TreeEnsemble:
    """Flatten an XGBoost booster (its JSON model) for class ``target`` (multi-class) or the only output."""
    model_json = json.loads(bytes(adapter.booster.save_raw("json")))
    learner = model_json["learner"]
    gb = learner["gradient_booster"]
    name = gb.get("name", "gbtree")
    weights = None
    if name == "dart":
        weights = gb.get("weight_drop")
        gb = gb["gbtree"]
    elif name != "gbtree":
        raise ExplanationError(f"tree_shap needs a tree booster; this XGBoost model uses {name!r}")
    model = gb["model"]
    tree_info = np.asarray(model["tree_info"], dtype=np.int64)
    n_groups = int(tree_info.max()) + 1 if tree_info.size else 1
    if n_groups > 1 and target is None:
        raise ExplanationError(f"the XGBoost model has {n_groups} outputs: pass target= (the class to explain)")
    group = 0 if target is None else int(target)
    n_features = int(learner["learner_model_param"]["num_feature"])
    b = _Builder()
    for t, tree in enumerate(model["trees"]):
        if int(tree.get("tree_param", {}).get("size_leaf_vector", "1") or 1) > 1:
            raise ExplanationError("multi-target XGBoost trees are not supported by tree_shap")
        if tree_info[t] != group:
            continue
        cat_sets = {}
        nodes = tree.get("categories_nodes") or []
        segs = tree.get("categories_segments") or []
        sizes = tree.get("categories_sizes") or []
        cats = tree.get("categories") or []
        for node, seg, size in zip(nodes, segs, sizes):
            cat_sets[int(node)] = cats[seg:seg + size]
        split_type = tree.get("split_type") or [0] * len(tree["left_children"])
        for i, st in enumerate(split_type):
            if st == 1 and i not in cat_sets:
                cat_sets[i] = []
        b.add_tree(tree["left_children"], tree["right_children"], tree["split_indices"],
                   np.asarray(tree["split_conditions"], dtype=np.float32), tree["default_left"],
                   tree["sum_hessian"], np.asarray(tree["split_conditions"], dtype=np.float32),
                   scale=1.0 if weights is None else float(weights[t]), cat_sets=cat_sets)
    return b.build(n_features=n_features, strict=True, output=adapter.output_space, offset=None,
                   float32=True, categories=_xgb_categories(model, learner.get("feature_types")))


__all__ = ["parse_xgboost"]
