"""LightGBM ``Booster`` / ``LGBMClassifier`` / ``LGBMRegressor``, and LightGBM's own files.

Files: the text model (``booster.save_model('model.txt')``) and the JSON dump
(``json.dump(booster.dump_model(), f)``). Neither is unpickled: the text model
is read by LightGBM's own parser, and the JSON dump is rewritten as the text
model it describes (:func:`dump_to_model_string`) and read the same way.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from .base import ModelAdapter, additive_output_space

# objectives whose raw score is the value itself (identity link)
_IDENTITY = ("regression", "regression_l1", "l1", "l2", "huber", "fair", "quantile", "mape")
_CLASSIFIERS = ("binary", "multiclass", "multiclassova")


class LightGBMAdapter(ModelAdapter):
    """Adapter for LightGBM models. Raw output: the raw score (log-odds for ``binary``).

    Tags: ``family="lightgbm"``, ``is_tree_ensemble``; TreeSHAP (path-dependent
    and interventional, categorical splits included) runs on CPU or CUDA.
    """

    family = "lightgbm"
    is_tree_ensemble = True
    supports_gpu = True

    def __init__(self, model, *, feature_names=None, output_space: str | None = None):
        import lightgbm as lgb

        booster = model.booster_ if hasattr(model, "booster_") else model
        if not isinstance(booster, lgb.Booster):
            raise TypeError(f"not a LightGBM model: {type(model).__name__}")
        self.booster = booster
        if feature_names is not None:
            names = feature_names
        elif getattr(model, "feature_names_in_", None) is not None:
            names = list(model.feature_names_in_)   # LightGBM's own names have spaces replaced by '_'
        else:
            names = booster.feature_name()
        super().__init__(model, feature_names=names)
        # the header (objective, num_class) is the same whatever the trees: serialise one iteration only
        header = booster.model_to_string(num_iteration=1).split("\nTree=", 1)[0]
        fields = dict(line.split("=", 1) for line in header.splitlines() if "=" in line)
        self.objective = fields.get("objective", "regression").split(" ")[0]
        self.num_class = int(fields.get("num_class", "1"))
        self.is_classifier = self.objective in _CLASSIFIERS
        self.output_space = additive_output_space(output_space, identity=self.objective in _IDENTITY, family="LightGBM")

    @property
    def max_path_features(self) -> int | None:
        """An upper bound on the distinct features on one root-to-leaf path, from the training parameters
        (``num_leaves - 1``, ``max_depth``, the number of features); ``None`` when the model records none."""
        params = getattr(self.booster, "params", None) or {}
        try:
            bound = int(params["num_leaves"]) - 1
        except (KeyError, TypeError, ValueError):
            return None
        depth = int(params.get("max_depth", -1) or -1)
        if depth > 0:
            bound = min(bound, depth)
        return min(bound, self.n_features) if self.n_features else bound

    @property
    def pandas_categorical(self):
        """The category values LightGBM recorded per categorical column of its training frame."""
        return getattr(self.booster, "pandas_categorical", None)

    def frame(self, X):
        """``X`` with the model's columns, in its order (a DataFrame) or as a float64 matrix."""
        if isinstance(X, pd.DataFrame):
            X = self.model_columns(X)
            return X
        arr = np.asarray(X, dtype=np.float64)
        return arr[None, :] if arr.ndim == 1 else arr

    def _raw_predict(self, X):
        return self.booster.predict(self.frame(X), raw_score=True)

    def library_input(self, X):
        """``X`` converted once for several calls of :meth:`contributions` and :meth:`predict`: a float64
        matrix in the model's column order when every column is numeric, else the reordered frame."""
        X = self.frame(X)
        if isinstance(X, pd.DataFrame) and all(pd.api.types.is_numeric_dtype(t) and
                                               not isinstance(t, pd.CategoricalDtype) for t in X.dtypes):
            return np.ascontiguousarray(X.to_numpy(np.float64))
        return X

    def contributions(self, X) -> np.ndarray:
        """LightGBM's own path-dependent TreeSHAP (``pred_contrib``); the last column is the bias."""
        return self.booster.predict(self.frame(X), pred_contrib=True)

    def model_bytes(self) -> bytes:
        return self.booster.model_to_string().encode("utf-8")


# -- the JSON dump -------------------------------------------------------------------
_MISSING = {"None": 0, "Zero": 1, "NaN": 2}


def _fmt(v) -> str:
    return repr(float(v)) if not isinstance(v, str) else v


def _tree_lines(t: dict) -> list[str]:
    """One tree of ``dump_model()['tree_info']`` as the lines of LightGBM's text model."""
    if t.get("is_linear"):
        raise ValueError("linear trees (linear_tree=True) are not supported")
    root = t["tree_structure"]
    n_leaves = int(t["num_leaves"])
    if "leaf_value" in root and "split_index" not in root:  # a single leaf
        return [f"Tree={t['tree_index']}", "num_leaves=1", "num_cat=0", "split_feature=", "split_gain=",
                "threshold=", "decision_type=", "left_child=", "right_child=",
                f"leaf_value={_fmt(root['leaf_value'])}", "leaf_weight=", "leaf_count=", "internal_value=",
                "internal_weight=", "internal_count=", "is_linear=0", f"shrinkage={_fmt(t.get('shrinkage', 1))}", ""]
    n_int = n_leaves - 1
    cols = {k: [None] * n_int for k in ("split_feature", "split_gain", "threshold", "decision_type", "left_child",
                                        "right_child", "internal_value", "internal_weight", "internal_count")}
    leaves = {k: [None] * n_leaves for k in ("leaf_value", "leaf_weight", "leaf_count")}
    cat_boundaries, cat_threshold = [0], []

    def ref(node):
        return int(node["split_index"]) if "split_index" in node else ~int(node.get("leaf_index", 0))

    stack = [root]
    while stack:
        node = stack.pop()
        if "split_index" not in node:
            if "leaf_coeff" in node:
                raise ValueError("linear trees (linear_tree=True) are not supported")
            i = int(node.get("leaf_index", 0))
            leaves["leaf_value"][i] = _fmt(node["leaf_value"])
            leaves["leaf_weight"][i] = _fmt(node.get("leaf_weight", 0))
            leaves["leaf_count"][i] = str(int(node.get("leaf_count", 0)))
            continue
        i = int(node["split_index"])
        dt = (2 if node.get("default_left") else 0) | (_MISSING[node.get("missing_type", "None")] << 2)
        if node["decision_type"] == "==":
            dt |= 1
            cats = [int(c) for c in str(node["threshold"]).split("||") if c != ""]
            words = np.zeros(max(cats, default=0) // 32 + 1, dtype=np.uint64)
            for c in cats:
                words[c // 32] |= np.uint64(1 << (c % 32))
            cols["threshold"][i] = str(len(cat_boundaries) - 1)
            cat_threshold += [str(int(w)) for w in words]
            cat_boundaries.append(len(cat_threshold))
        elif node["decision_type"] == "<=":
            cols["threshold"][i] = _fmt(node["threshold"])
        else:
            raise ValueError(f"unknown decision_type {node['decision_type']!r}")
        cols["split_feature"][i] = str(int(node["split_feature"]))
        cols["split_gain"][i] = _fmt(node.get("split_gain", 0))
        cols["decision_type"][i] = str(dt)
        cols["left_child"][i] = str(ref(node["left_child"]))
        cols["right_child"][i] = str(ref(node["right_child"]))
        cols["internal_value"][i] = _fmt(node.get("internal_value", 0))
        cols["internal_weight"][i] = _fmt(node.get("internal_weight", 0))
        cols["internal_count"][i] = str(int(node.get("internal_count", 0)))
        stack += [node["left_child"], node["right_child"]]
    if any(v is None for col in list(cols.values()) + list(leaves.values()) for v in col):
        raise ValueError(f"tree {t['tree_index']} has missing node indices")
    n_cat = len(cat_boundaries) - 1
    lines = [f"Tree={t['tree_index']}", f"num_leaves={n_leaves}", f"num_cat={n_cat}"]
    for k in ("split_feature", "split_gain", "threshold", "decision_type", "left_child", "right_child"):
        lines.append(f"{k}=" + " ".join(cols[k]))
    for k in ("leaf_value", "leaf_weight", "leaf_count"):
        lines.append(f"{k}=" + " ".join(leaves[k]))
    for k in ("internal_value", "internal_weight", "internal_count"):
        lines.append(f"{k}=" + " ".join(cols[k]))
    if n_cat:
        lines += ["cat_boundaries=" + " ".join(map(str, cat_boundaries)), "cat_threshold=" + " ".join(cat_threshold)]
    lines += ["is_linear=0", f"shrinkage={_fmt(t.get('shrinkage', 1))}", ""]
    return lines


def _feature_info(info) -> str:
    if not isinstance(info, dict):
        return "none"
    vals = info.get("values") or []
    if vals:
        return ":".join(str(int(v)) for v in vals)
    lo, hi = info.get("min_value"), info.get("max_value")
    if lo is None or hi is None:
        return "none"
    return f"[{_fmt(lo)}:{_fmt(hi)}]"


def dump_to_model_string(dump: dict) -> str:
    """Rewrite ``Booster.dump_model()`` output as LightGBM's text model (what ``Booster(model_str=)`` reads)."""
    names = list(dump["feature_names"])
    infos = dump.get("feature_infos") or {}
    head = ["tree", f"version={dump.get('version', 'v4')}", f"num_class={int(dump['num_class'])}",
            f"num_tree_per_iteration={int(dump['num_tree_per_iteration'])}",
            f"label_index={int(dump.get('label_index', 0))}", f"max_feature_idx={int(dump['max_feature_idx'])}",
            f"objective={dump.get('objective', 'regression')}"]
    if dump.get("average_output"):
        head.append("average_output")
    head += ["feature_names=" + " ".join(names),
             "feature_infos=" + " ".join(_feature_info(infos.get(n)) for n in names), ""]
    body = []
    for t in dump["tree_info"]:
        body += _tree_lines(t)
    tail = ["end of trees", "", "pandas_categorical:" + json.dumps(dump.get("pandas_categorical")), ""]
    return "\n".join(head + body + tail)


def looks_like_dump(obj) -> bool:
    """Whether a parsed JSON document is a LightGBM ``dump_model()`` output."""
    return isinstance(obj, dict) and "tree_info" in obj and "feature_names" in obj and \
        "num_tree_per_iteration" in obj


def load_text(path, text: str | None = None):
    """A ``lightgbm.Booster`` from a text model file (``text`` if already read)."""
    import lightgbm as lgb

    return lgb.Booster(model_str=text if text is not None else open(path, encoding="utf-8").read())


def load_dump(dump: dict):
    """A ``lightgbm.Booster`` from a parsed JSON dump."""
    import lightgbm as lgb

    return lgb.Booster(model_str=dump_to_model_string(dump))


__all__ = ["LightGBMAdapter", "dump_to_model_string", "looks_like_dump", "load_text", "load_dump"]
