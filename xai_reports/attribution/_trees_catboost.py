"""CatBoost oblivious trees flattened into a :class:`._trees.TreeEnsemble`.

Read from CatBoost's JSON export. An oblivious tree of depth ``D`` applies the
same split at every node of a level; the leaf index has bit ``l`` set when the
row passes level ``l``'s split (numeric: ``x > border`` in float32; one-hot
categorical: the category's hash equals the split's value). Each tree becomes
a full binary tree whose covers are the sums of CatBoost's ``leaf_weights``
(what ``ShapValues`` uses); the levels are nested deepest-first, the order
CatBoost's own SHAP walks them in.

Missing numeric values follow ``nan_value_treatment`` (``AsTrue`` passes the
split, ``AsFalse``/``AsIs`` do not). One-hot categorical splits are read by
asking the model which of its stored hashes a category matches (CatBoost does
not expose its hash function), once per distinct category. Splits on CTR
statistics (CatBoost's default for categories with more than
``one_hot_max_size`` values) and non-oblivious trees are refused.
"""

from __future__ import annotations

import json
import os
import tempfile

import numpy as np
import pandas as pd

from ..errors import ExplanationError
from ._tree_ensemble import TreeEnsemble, _Builder


def catboost_json(model) -> dict:
    """The model's JSON export (CatBoost writes it to a file only)."""
    fd, tmp = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    try:
        model.save_model(tmp, format="json")
        with open(tmp, encoding="utf-8") as fh:
            return json.load(fh)
    finally:
        os.unlink(tmp)


class _OneHotCodes:
    """Category values -> the index of the stored one-hot hash they match (``len(values)``: none)."""

    def __init__(self, adapter, trees, cat_info):
        self.adapter = adapter
        self.values = {}      # flat feature index -> list of hashes
        self.where = {}       # (flat feature, hash) -> (tree, level)
        for t, tree in enumerate(trees):
            for lvl, sp in enumerate(tree["splits"]):
                if sp.get("split_type") == "OneHotFeature":
                    j = cat_info[int(sp["cat_feature_index"])]
                    h = int(sp["value"])
                    self.values.setdefault(j, [])
                    if h not in self.values[j]:
                        self.values[j].append(h)
                    self.where.setdefault((j, h), (t, lvl))
        self.cache: dict = {}

    def index(self, j: int, h: int) -> int:
        return self.values[j].index(h)

    def __call__(self, j: int, col) -> np.ndarray:
        vals = pd.Series(np.asarray(col, dtype=object))
        strs = np.where(vals.isna(), "nan", vals.astype(str)).astype(object)
        known = self.cache.setdefault(j, {})
        new = sorted({s for s in strs if s not in known})
        if new:
            ad = self.adapter
            probe = {}
            for c in ad.feature_names:
                probe[c] = new if c == ad.feature_names[j] else (
                    ["a"] * len(new) if c in ad.cat_features else [0.0] * len(new))
            import catboost

            frame = pd.DataFrame(probe)
            leaves = np.asarray(ad.model.calc_leaf_indexes(catboost.Pool(frame, cat_features=ad.cat_features)))
            hashes = self.values.get(j, [])
            for r, s in enumerate(new):
                code = len(hashes)
                for k, h in enumerate(hashes):
                    t, lvl = self.where[(j, h)]
                    if (int(leaves[r, t]) >> lvl) & 1:
                        code = k
                        break
                known[s] = code
        return np.asarray([known[s] for s in strs], dtype=np.float64)


def parse_catboost(adapter, target: int | None = None) -> TreeEnsemble:
    """Flatten a CatBoost model (oblivious trees) for class ``target`` or its only output."""
    model = catboost_json(adapter.model)
    if "oblivious_trees" not in model:
        raise ExplanationError("tree_shap reads CatBoost oblivious trees only (grow_policy='SymmetricTree')")
    trees = model["oblivious_trees"]
    finfo = model.get("features_info", {})
    floats = {int(f["feature_index"]): f for f in finfo.get("float_features", [])}
    cats = {int(f["feature_index"]): int(f["flat_feature_index"]) for f in finfo.get("categorical_features", [])}
    n_features = len(adapter.feature_names) if adapter.feature_names else \
        1 + max([int(f["flat_feature_index"]) for f in floats.values()] + list(cats.values()) + [-1])
    scale, bias = 1.0, [0.0]
    sb = model.get("scale_and_bias")
    if sb:
        scale = float(sb[0])
        bias = [float(v) for v in (sb[1] if isinstance(sb[1], list) else [sb[1]])] or [0.0]
    dim = 1
    if trees:
        D0 = len(trees[0]["splits"])
        dim = max(1, len(trees[0]["leaf_values"]) // (1 << D0))
    if dim > 1 and target is None:
        raise ExplanationError(f"the CatBoost model has {dim} outputs: pass target= (the class to explain)")
    k = 0 if target is None else int(target)
    if k >= dim:
        raise ExplanationError(f"target={target} but the CatBoost model has {dim} output(s)")
    onehot = _OneHotCodes(adapter, trees, cats)
    b = _Builder()
    b.cat_width = max([len(v) for v in onehot.values.values()] + [0]) + 1
    for tree in trees:
        splits = tree["splits"]
        D = len(splits)
        lv = np.asarray(tree["leaf_values"], dtype=np.float64).reshape(1 << D, dim)[:, k]
        lw = np.asarray(tree.get("leaf_weights") or np.ones(1 << D), dtype=np.float64)
        if D == 0:
            b.add_tree(np.array([-1]), np.array([-1]), np.array([-2]), np.array([0.0]), np.array([True]),
                       np.array([1.0]), lv, scale=scale)
            continue
        feat, thr, dleft, cat_code = [], [], [], []
        for sp in splits:
            st = sp.get("split_type")
            if st == "FloatFeature":
                f = floats[int(sp["float_feature_index"])]
                feat.append(int(f["flat_feature_index"]))
                thr.append(float(np.float32(sp["border"])))
                dleft.append(f.get("nan_value_treatment", "AsIs") != "AsTrue")
                cat_code.append(None)
            elif st == "OneHotFeature":
                j = cats[int(sp["cat_feature_index"])]
                feat.append(j)
                thr.append(np.nan)
                dleft.append(True)
                cat_code.append(onehot.index(j, int(sp["value"])))
            else:
                raise ExplanationError(
                    f"tree_shap does not read CatBoost {st} splits (categorical features encoded as CTR "
                    "statistics); train with one_hot_max_size above the number of categories, or use "
                    "method='kernel_shap'")
        # a full binary tree, deepest level first: node at depth r tests level D-1-r
        n_int = (1 << D) - 1
        size = n_int + (1 << D)
        left = np.full(size, -1)
        right = np.full(size, -1)
        feature = np.full(size, -2)
        threshold = np.zeros(size)
        default_left = np.ones(size, dtype=bool)
        cover = np.zeros(size)
        value = np.zeros(size)
        cat_sets = {}
        for i in range(n_int):
            r = int(np.floor(np.log2(i + 1)))
            lvl = D - 1 - r
            left[i], right[i] = 2 * i + 1, 2 * i + 2
            feature[i] = feat[lvl]
            threshold[i] = thr[lvl]
            default_left[i] = dleft[lvl]
            if cat_code[lvl] is not None:
                cat_sets[i] = [cat_code[lvl]]
        for p in range(1 << D):           # heap leaf p: its path bits, root first, are levels D-1 .. 0
            leaf = 0
            for r in range(D):
                if (p >> (D - 1 - r)) & 1:
                    leaf |= 1 << (D - 1 - r)
            node = n_int + p
            value[node] = lv[leaf]
            cover[node] = lw[leaf]
        for i in range(n_int - 1, -1, -1):
            cover[i] = cover[left[i]] + cover[right[i]]
        b.add_tree(left, right, feature, threshold, default_left, cover, value, scale=scale, cat_sets=cat_sets)
    return b.build(n_features=n_features, strict=False, output=adapter.output_space, offset=bias[min(k, len(bias) - 1)],
                   float32=True, categories={j: [] for j in onehot.values}, cat_oob_left=True, recode=onehot)


__all__ = ["parse_catboost", "catboost_json"]
