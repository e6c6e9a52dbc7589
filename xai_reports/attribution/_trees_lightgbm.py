"""LightGBM boosters flattened into a :class:`._trees.TreeEnsemble`.

Read from ``Booster.dump_model()``. LightGBM's rules, reproduced exactly:

* numeric split: left when ``x <= threshold`` (double precision); a missing
  value goes the node's default way when its ``missing_type`` is ``NaN``, and
  is read as ``0.0`` when it is ``None`` (``Zero``, i.e. ``zero_as_missing``, is
  refused);
* categorical split: the categories listed in the threshold (``"1||3||5"``)
  go left; every other category, a negative value, and a missing value go right;
* the raw score is the sum of the leaf values (the initial score is folded into
  the first trees); ``average_output`` (random-forest mode) divides by the
  number of iterations;
* covers (for path-dependent TreeSHAP) are the training counts
  (``internal_count``/``leaf_count``), as LightGBM's own ``pred_contrib`` uses.
"""

from __future__ import annotations

import numpy as np

from ..errors import ExplanationError
from ._tree_ensemble import TreeEnsemble, _Builder


def _categories(dump: dict, names: list[str]) -> dict:
    """Feature index -> category values, for the columns LightGBM saw as pandas categoricals."""
    cats = dump.get("pandas_categorical") or []
    infos = dump.get("feature_infos") or {}
    cat_feats = [j for j, n in enumerate(names) if isinstance(infos.get(n), dict) and infos[n].get("values")]
    if not cats or len(cats) != len(cat_feats):
        return {}
    return {j: list(c) for j, c in zip(cat_feats, cats)}


def parse_lightgbm(adapter, target: int | None = None, *, player=None, n_players=None,
                   preprocess=None) -> TreeEnsemble:
    """Flatten a LightGBM model (its ``dump_model()``) for class ``target`` or its only output.

    ``player``/``n_players``/``preprocess``: when the booster ends a Pipeline, the map
    from its input columns to the Pipeline's original columns (see :mod:`._trees_pipeline`).
    """
    dump = adapter.booster.dump_model()
    K = int(dump.get("num_tree_per_iteration", 1))
    if K > 1 and target is None:
        raise ExplanationError(f"the LightGBM model has {K} outputs: pass target= (the class to explain)")
    group = 0 if target is None else int(target)
    if group >= K:
        raise ExplanationError(f"target={target} but the LightGBM model has {K} output(s)")
    trees = dump["tree_info"]
    n_iter = max(1, len(trees) // K)
    scale = 1.0 / n_iter if dump.get("average_output") else 1.0
    names = list(dump["feature_names"])
    # the largest category code any split lists: codes above it go right, like those not listed
    max_cat = 0
    for t in trees:
        stack = [t["tree_structure"]]
        while stack:
            nd = stack.pop()
            if "split_index" in nd:
                if nd["decision_type"] == "==":
                    max_cat = max([max_cat] + [int(c) for c in str(nd["threshold"]).split("||") if c])
                stack += [nd["left_child"], nd["right_child"]]
    all_cats = np.arange(max_cat + 1)
    b = _Builder()
    b.cat_width = max_cat + 1
    for ti, t in enumerate(trees):
        if ti % K != group:
            continue
        root = t["tree_structure"]
        left, right, feature, threshold, default_left, cover, value = [], [], [], [], [], [], []
        cat_sets = {}

        def new():
            for arr in (left, right, feature, threshold, default_left, cover, value):
                arr.append(0)
            return len(left) - 1

        stack = [(root, new())]
        while stack:
            nd, i = stack.pop()
            if "split_index" not in nd:
                if "leaf_coeff" in nd:
                    raise ExplanationError("tree_shap does not read LightGBM linear trees (linear_tree=True)")
                left[i] = right[i] = -1
                feature[i] = -2
                value[i] = float(nd["leaf_value"])
                cover[i] = float(nd.get("leaf_count", 0))
                continue
            feature[i] = int(nd["split_feature"])
            cover[i] = float(nd.get("internal_count", 0))
            missing = nd.get("missing_type", "None")
            if nd["decision_type"] == "==":
                listed = [int(c) for c in str(nd["threshold"]).split("||") if c]
                cat_sets[i] = np.setdiff1d(all_cats, listed)       # categories that go right
                threshold[i] = np.nan
                default_left[i] = False                               # a missing category goes right
            else:
                thr = float(nd["threshold"])
                threshold[i] = thr
                if missing == "NaN":
                    default_left[i] = bool(nd.get("default_left", False))
                elif missing == "None":
                    default_left[i] = 0.0 <= thr                      # NaN is read as 0.0
                else:
                    raise ExplanationError(
                        "tree_shap does not read LightGBM splits with missing_type='Zero' (zero_as_missing=True)")
            li, ri = new(), new()
            left[i], right[i] = li, ri
            stack += [(nd["left_child"], li), (nd["right_child"], ri)]
        if len(left) == 1:  # a single-leaf tree: a constant
            left, right = [-1], [-1]
        b.add_tree(np.asarray(left), np.asarray(right), np.asarray(feature), np.asarray(threshold, dtype=np.float64),
                   np.asarray(default_left, dtype=bool), np.asarray(cover, dtype=np.float64),
                   np.asarray(value, dtype=np.float64), scale=scale, cat_sets=cat_sets, player=player)
    n_features = len(names) if n_players is None else n_players
    return b.build(n_features=n_features, strict=False, output=adapter.output_space, offset=0.0, float32=False,
                   categories=_categories(dump, names) if player is None else {},
                   n_columns=None if player is None else len(names), cat_oob_left=False, preprocess=preprocess)


__all__ = ["parse_lightgbm"]
