"""ONNX models (``.onnx``): any graph through onnxruntime; tree ensembles parsed into trees.

Every graph runs through onnxruntime as a black box, so the model-agnostic
methods (``shapley``, ``kernel_shap``, ``lime``, ``occlusion``, permutation
importance) apply. A graph whose work is one ``ai.onnx.ml`` tree-ensemble
node (``TreeEnsembleClassifier``, ``TreeEnsembleRegressor`` or the newer
``TreeEnsemble``) reading the graph's single float input is also parsed into
the project's tree representation (:class:`~xai_reports.attribution._trees.TreeEnsemble`),
so ``tree_shap`` is exact: interventional always; path-dependent only when the
node hit-rates (``nodes_hitrates``) hold real covers (converters that do not
know them write 1.0 everywhere, which is refused).

Spaces: a tree node with ``post_transform`` ``LOGISTIC`` is explained in its
``margin`` (the summed leaf weights plus ``base_values``, before the
sigmoid; computed by onnxruntime on a copy of the graph whose node has
``post_transform="NONE"``), ``SOFTMAX`` in per-class ``logit``; ``NONE``
classifiers (random forests) in ``probability``, regressors in ``value``.

Feature names: a single-tensor graph names its columns in the metadata
property ``feature_names`` (a JSON list, or comma-separated), else
``load_model(..., feature_names=[...])``; a graph with one input per column
(skl2onnx pipelines) is named by its inputs.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import ExplanationError, ModelLoadError
from .base import ModelAdapter

_TREE_OPS = ("TreeEnsembleClassifier", "TreeEnsembleRegressor", "TreeEnsemble")
_PASS_OPS = ("Cast", "Identity")


def _session_options(ort):
    """Quiet sessions whose worker threads block instead of spinning between runs (onnxruntime's default spin
    burns CPU after every call, time taken from the caller's own numpy work on a busy machine)."""
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return opts


# TreeEnsemble (ai.onnx.ml opset 5) integer enums
_MODES5 = {0: "BRANCH_LEQ", 1: "BRANCH_LT", 2: "BRANCH_GTE", 3: "BRANCH_GT", 4: "BRANCH_EQ", 5: "BRANCH_NEQ",
           6: "BRANCH_MEMBER"}
_POST5 = {0: "NONE", 1: "SOFTMAX", 2: "LOGISTIC", 3: "SOFTMAX_ZERO", 4: "PROBIT"}
_AGG5 = {0: "AVERAGE", 1: "SUM", 2: "MIN", 3: "MAX"}


def looks_like_onnx(path: Path, head: bytes) -> bool:
    """An ONNX ``ModelProto``: field 1 (``ir_version``, a varint) first, and it parses with a graph."""
    if not head or head[0] != 0x08:
        return False
    try:
        import onnx

        m = onnx.load_model(str(path), load_external_data=False)
    except Exception:  # noqa: BLE001 - not ONNX
        return False
    return m.ir_version > 0 and len(m.graph.node) > 0


def load_onnx(path: Path, *, feature_names=None, **adapter_options):
    """Load an ``.onnx`` file (no code runs but onnxruntime's own operators)."""
    try:
        import onnx
    except ImportError:
        raise ModelLoadError(f"{path}: loading ONNX models needs onnx and onnxruntime (pip install onnxruntime)") from None
    try:
        model = onnx.load_model(str(path), load_external_data=False)
        if any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer):
            raise ModelLoadError(f"{path}: the ONNX graph keeps weights in external files; save it as one file")
        return OnnxAdapter(model, feature_names=feature_names, **adapter_options)
    except ModelLoadError:
        raise
    except Exception as exc:  # noqa: BLE001 - any onnx/onnxruntime failure is a load error
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(f"{path}: not a usable ONNX model ({msg})") from None


def _attrs(node) -> dict:
    from onnx import helper, numpy_helper

    out = {}
    for a in node.attribute:
        v = helper.get_attribute_value(a)
        if hasattr(v, "dims"):   # a TensorProto
            v = numpy_helper.to_array(v)
        if isinstance(v, bytes):
            v = v.decode()
        elif isinstance(v, list) and v and isinstance(v[0], bytes):
            v = [b.decode() for b in v]
        out[a.name] = v
    return out


class OnnxAdapter(ModelAdapter):
    """Adapter for an ONNX model run by onnxruntime.

    Args:
        model: an ``onnx.ModelProto``.
        feature_names: column names (default: the ``feature_names`` metadata
            property, or the graph's input names when it has one input per column).
        output_space: override the space (e.g. ``"probability"`` for a LOGISTIC tree model).
        providers: onnxruntime execution providers (default: CPU).
    """

    family = "onnx"

    def __init__(self, model, *, feature_names=None, output_space: str | None = None, providers=None):
        import onnxruntime as ort

        self.proto = model
        self._bytes = model.SerializeToString()
        opts = _session_options(ort)
        self._providers = providers or ["CPUExecutionProvider"]
        self.session = ort.InferenceSession(self._bytes, opts, providers=self._providers)
        inputs = self.session.get_inputs()
        self.per_column = len(inputs) > 1 or (len(inputs) == 1 and _width(inputs[0]) == 1 and feature_names is None
                                               and not _meta_names(model))
        if feature_names is None:
            feature_names = _meta_names(model)
        if feature_names is None and self.per_column:
            feature_names = [i.name for i in inputs]
        super().__init__(model, feature_names=feature_names)
        if not self.per_column:
            w = _width(inputs[0])
            if self.feature_names is not None and w is not None and w != len(self.feature_names):
                raise ModelLoadError(f"the ONNX input takes {w} columns but {len(self.feature_names)} feature "
                                     "names were given")
        outs = self.session.get_outputs()
        self._prob_output = next((o.name for o in outs if o.name in ("probabilities", "output_probability")
                                  or (o.type.startswith("seq(map") and len(outs) > 1)), None)
        self.is_classifier = self._prob_output is not None
        self._value_output = outs[-1].name if not self.is_classifier else None
        self.tree_node = self._find_tree_node()
        self.post_transform = None
        self.is_tree_ensemble = self.tree_node is not None
        self._raw_session = None
        if self.is_tree_ensemble:
            self.post_transform = self._tree_attrs().get("post_transform", "NONE")
            if isinstance(self.post_transform, (int, np.integer)):
                self.post_transform = _POST5.get(int(self.post_transform), str(self.post_transform))
        if output_space is None:
            if not self.is_classifier:
                output_space = "value"
            elif self.is_tree_ensemble and self.post_transform == "LOGISTIC":
                output_space = "margin"
            elif self.is_tree_ensemble and self.post_transform in ("SOFTMAX", "SOFTMAX_ZERO"):
                output_space = "logit"
            else:
                output_space = "probability"
        self.output_space = output_space

    # -- graph inspection -------------------------------------------------------------
    def _find_tree_node(self):
        """The tree node, if the graph's one input reaches it through casts only and it is the only work."""
        g = self.proto.graph
        trees = [n for n in g.node if n.op_type in _TREE_OPS and n.domain == "ai.onnx.ml"]
        if len(trees) != 1 or self.per_column or len(g.input) != 1:
            return None
        node = trees[0]
        src = node.input[0]
        producers = {o: n for n in g.node for o in n.output}
        while src in producers:
            p = producers[src]
            if p.op_type not in _PASS_OPS:
                return None
            src = p.input[0]
        if src != g.input[0].name:
            return None
        # other nodes may only post-process the tree outputs (labels, zipmap, casts)
        allowed = {"Cast", "Identity", "ZipMap", "ArgMax", "ArrayFeatureExtractor", "Mul", "Add", "Reshape",
                   "Concat", "Sub", "Sigmoid", "Softmax", "LabelEncoder", "Shape", "ConstantOfShape", "Slice",
                   "Unsqueeze", "Squeeze", "Constant"}
        if any(n.op_type not in allowed for n in g.node if n is not node and n.op_type not in _TREE_OPS):
            return None
        return node

    @property
    def cover_known(self) -> bool:
        """Whether the tree node records real hit-rates (path-dependent TreeSHAP possible)."""
        if not self.is_tree_ensemble:
            return False
        a = self._tree_attrs()
        hit = a.get("nodes_hitrates_as_tensor", a.get("nodes_hitrates"))
        return hit is not None and len(hit) > 0 and not np.all(np.asarray(hit, dtype=np.float64) == 1.0)

    def _tree_attrs(self) -> dict:
        if not hasattr(self, "_tattrs"):
            self._tattrs = _attrs(self.tree_node)
        return self._tattrs

    # -- prediction -------------------------------------------------------------------
    def _feed(self, X) -> dict:
        inputs = self.session.get_inputs()
        if self.per_column:
            if not isinstance(X, pd.DataFrame):
                arr = np.asarray(X, dtype=object)
                arr = arr[None, :] if arr.ndim == 1 else arr
                X = pd.DataFrame(arr, columns=[i.name for i in inputs])
            feed = {}
            for i in inputs:
                col = X[i.name]
                if "string" in i.type:
                    v = np.asarray(col.astype(object).where(col.notna(), ""), dtype=object).astype(str)
                elif "int64" in i.type:
                    v = np.asarray(pd.to_numeric(col), dtype=np.int64)
                elif "double" in i.type:
                    v = np.asarray(pd.to_numeric(col), dtype=np.float64)
                else:
                    v = np.asarray(pd.to_numeric(col), dtype=np.float32)
                feed[i.name] = v.reshape(-1, 1)
            return feed
        return {inputs[0].name: self.matrix(X).astype(_np_type(inputs[0].type))}

    def matrix(self, X) -> np.ndarray:
        """``X`` as the float matrix the single-tensor graph reads (model column order)."""
        if isinstance(X, pd.DataFrame):
            cols = self.feature_names or list(X.columns)
            missing = [c for c in cols if c not in X.columns]
            if missing:
                raise ValueError(f"X lacks the model's feature(s) {missing}")
            out = np.empty((len(X), len(cols)), dtype=np.float64)
            for j, c in enumerate(cols):
                col = X[c]
                if isinstance(col.dtype, pd.CategoricalDtype):
                    col = col.astype(object)
                try:
                    out[:, j] = pd.to_numeric(col).to_numpy(dtype=np.float64, na_value=np.nan)
                except (TypeError, ValueError):
                    raise ValueError(f"column {c!r} holds text; this ONNX graph reads one float tensor") from None
            return out
        arr = np.asarray(X, dtype=np.float64)
        return arr[None, :] if arr.ndim == 1 else arr

    def _run(self, session, X, name):
        out = session.run([name], self._feed(X))[0]
        if isinstance(out, list):          # ZipMap: a list of {label: probability}
            keys = list(out[0].keys()) if out else []
            out = np.array([[d[k] for k in keys] for d in out], dtype=np.float64)
        return np.asarray(out, dtype=np.float64)

    def _raw_predict(self, X):
        if self.output_space in ("margin", "logit") and self.is_tree_ensemble:
            raw = self.raw_scores(X)
        elif self.is_classifier:
            raw = self._run(self.session, X, self._prob_output)
            if self.output_space in ("margin", "logit"):
                raw = ModelAdapter.convert(raw[:, 1] if raw.shape[1] == 2 else raw, "probability", "margin")
                return raw
        else:
            raw = self._run(self.session, X, self._value_output)
        if raw.ndim == 2 and raw.shape[1] == 2 and self.is_classifier:
            return raw[:, 1]
        if raw.ndim == 2 and raw.shape[1] == 1:
            return raw[:, 0]
        return raw

    def raw_scores(self, X) -> np.ndarray:
        """The tree node's scores before ``post_transform`` (onnxruntime on a copy with ``post_transform=NONE``)."""
        if self._raw_session is None:
            import onnx
            import onnxruntime as ort

            m = onnx.ModelProto()
            m.CopyFrom(self.proto)
            node = next(n for n in m.graph.node if n.op_type in _TREE_OPS and n.domain == "ai.onnx.ml")
            for a in node.attribute:
                if a.name == "post_transform":
                    if a.type == onnx.AttributeProto.INT:
                        a.i = 0
                    else:
                        a.s = b"NONE"
            # the node's score output becomes a graph output
            score = node.output[-1] if node.op_type == "TreeEnsembleClassifier" else node.output[0]
            del m.graph.output[:]
            m.graph.output.append(onnx.helper.make_tensor_value_info(score, onnx.TensorProto.FLOAT, None))
            opts = _session_options(ort)
            self._raw_session = ort.InferenceSession(m.SerializeToString(), opts, providers=self._providers)
            self._score_name = score
        raw = self._run(self._raw_session, X, self._score_name)
        if self.tree_node.op_type == "TreeEnsembleClassifier" and raw.ndim == 2 and raw.shape[1] == 2 \
                and self._binary_single_id():
            raw = raw[:, 1]    # the binary case: one score, onnxruntime reports [-s, s] or [1 - s, s]
        return raw

    def predict(self, X, output=None):
        out = output or self.output_space
        if out == "probability" and self.output_space in ("margin", "logit") and self.is_classifier:
            # the graph's own probabilities (onnxruntime applies its post-transform)
            p = self._run(self.session, X, self._prob_output)
            return p[:, 1] if p.shape[1] == 2 else p
        return super().predict(X, output)

    def _binary_single_id(self) -> bool:
        a = self._tree_attrs()
        ids = set(np.asarray(a.get("class_ids", []), dtype=np.int64).tolist())
        labels = a.get("classlabels_int64s") or a.get("classlabels_strings") or []
        return len(ids) == 1 and len(labels) == 2

    # -- trees ------------------------------------------------------------------------
    def tree_ensemble(self, target: int | None = None):
        """The tree node as a :class:`~xai_reports.attribution._trees.TreeEnsemble` for output ``target``."""
        cache = self.__dict__.setdefault("_ens_cache", {})
        if target not in cache:
            if not self.is_tree_ensemble:
                raise ExplanationError(f"tree_shap: this ONNX graph is not a single tree-ensemble node ({self!r})")
            cache[target] = parse_onnx_trees(self.tree_node, self._tree_attrs(), self, target)
        return cache[target]

    # -- provenance -------------------------------------------------------------------
    def model_bytes(self) -> bytes:
        return self._bytes

    def describe(self) -> dict:
        d = super().describe()
        d["class"] = "onnx.ModelProto"
        d["graph"] = {"producer": self.proto.producer_name, "nodes": [n.op_type for n in self.proto.graph.node],
                      "post_transform": self.post_transform}
        return d

    def __repr__(self) -> str:
        ops = ",".join(sorted({n.op_type for n in self.proto.graph.node}))
        return f"OnnxAdapter({ops}, output_space={self.output_space!r})"


def _width(inp):
    shape = inp.shape
    if len(shape) == 2 and isinstance(shape[1], int):
        return shape[1]
    return None


def _np_type(t: str):
    return np.float64 if "double" in t else np.int64 if "int64" in t else np.float32


def _meta_names(model):
    for p in model.metadata_props:
        if p.key == "feature_names":
            v = p.value.strip()
            try:
                names = json.loads(v)
            except ValueError:
                names = [s.strip() for s in v.split(",") if s.strip()]
            return [str(n) for n in names]
    return None


def parse_onnx_trees(node, a: dict, adapter, target):
    """Flatten an ``ai.onnx.ml`` tree-ensemble node into a ``TreeEnsemble`` (see the module docstring)."""
    from ..attribution._tree_ensemble import _Builder

    if node.op_type == "TreeEnsemble":
        a = _legacy_attrs(a)
        kind = "regressor"
    else:
        kind = "classifier" if node.op_type == "TreeEnsembleClassifier" else "regressor"
    agg = a.get("aggregate_function", "SUM")
    if isinstance(agg, (int, np.integer)):
        agg = _AGG5[int(agg)]
    if agg not in ("SUM", "AVERAGE"):
        raise ExplanationError(f"tree_shap: the ONNX trees aggregate with {agg}, which is not a sum of leaves")
    pfx = "class_" if kind == "classifier" else "target_"
    t_tree = np.asarray(a[pfx + "treeids"], dtype=np.int64)
    t_node = np.asarray(a[pfx + "nodeids"], dtype=np.int64)
    t_id = np.asarray(a[pfx + "ids"], dtype=np.int64)
    t_w = np.asarray(a.get(pfx + "weights_as_tensor", a.get(pfx + "weights")), dtype=np.float64)
    ids = np.unique(t_id)
    if target is None:
        if ids.size > 1:
            raise ExplanationError(f"the ONNX trees have {ids.size} outputs: pass target= (the class to explain)")
        tid = int(ids[0]) if ids.size else 0
    else:
        tid = int(target) if ids.size > 1 else int(ids[0])
    base = np.asarray(a.get("base_values_as_tensor", a.get("base_values", [])) or [], dtype=np.float64)
    offset = float(base[tid]) if base.size > tid else (float(base[0]) if base.size == 1 else 0.0)

    n_tree = np.asarray(a["nodes_treeids"], dtype=np.int64)
    n_id = np.asarray(a["nodes_nodeids"], dtype=np.int64)
    feat = np.asarray(a["nodes_featureids"], dtype=np.int64)
    vals = np.asarray(a.get("nodes_values_as_tensor", a.get("nodes_values")), dtype=np.float64)
    modes = list(a["nodes_modes"])
    tnode = np.asarray(a["nodes_truenodeids"], dtype=np.int64)
    fnode = np.asarray(a["nodes_falsenodeids"], dtype=np.int64)
    miss = np.asarray(a.get("nodes_missing_value_tracks_true") or np.zeros(len(n_id)), dtype=np.int64)
    hit = a.get("nodes_hitrates_as_tensor", a.get("nodes_hitrates"))
    hit = None if hit is None or len(hit) == 0 else np.asarray(hit, dtype=np.float64)
    cover_known = hit is not None and not np.all(hit == 1.0)
    bad = sorted({m for m in modes if m not in ("BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "LEAF")})
    if bad:
        raise ExplanationError(f"tree_shap: the ONNX trees use {', '.join(bad)} splits (equality / membership), "
                               "which the tree representation does not read; use a model-agnostic method")
    # leaf weight per (tree, node) for the chosen output
    sel = t_id == tid
    leafw: dict[tuple[int, int], float] = {}
    for tr, nd, w in zip(t_tree[sel], t_node[sel], t_w[sel]):
        leafw[(int(tr), int(nd))] = leafw.get((int(tr), int(nd)), 0.0) + float(w)
    trees = np.unique(n_tree)
    scale = 1.0 / len(trees) if agg == "AVERAGE" else 1.0
    b = _Builder()
    f32 = np.float32
    for tr in trees:
        rows = np.flatnonzero(n_tree == tr)
        local = {int(n_id[r]): k for k, r in enumerate(rows)}
        K = rows.size
        left = np.full(K, -1, np.int64)
        right = np.full(K, -1, np.int64)
        feature = np.zeros(K, np.int64)
        thr = np.zeros(K, np.float64)
        dleft = np.ones(K, bool)
        leafv = np.zeros(K, np.float64)
        cover = np.ones(K, np.float64) if not cover_known else hit[rows]
        for k, r in enumerate(rows):
            m = modes[r]
            if m == "LEAF":
                leafv[k] = leafw.get((int(tr), int(n_id[r])), 0.0)
                continue
            t_, f_ = local[int(tnode[r])], local[int(fnode[r])]
            v = f32(vals[r])
            feature[k] = feat[r]
            # one strict comparison "x < thr" for every mode, in float32 as onnxruntime compares
            if m == "BRANCH_LT":
                left[k], right[k], thr[k], dleft[k] = t_, f_, v, bool(miss[r])
            elif m == "BRANCH_LEQ":      # x <= v  <=>  x < nextafter(v)
                left[k], right[k], thr[k], dleft[k] = t_, f_, np.nextafter(v, f32(np.inf)), bool(miss[r])
            elif m == "BRANCH_GTE":      # x >= v  <=>  not x < v
                left[k], right[k], thr[k], dleft[k] = f_, t_, v, not bool(miss[r])
            else:                        # BRANCH_GT: x > v  <=>  not x <= v
                left[k], right[k], thr[k], dleft[k] = f_, t_, np.nextafter(v, f32(np.inf)), not bool(miss[r])
        b.add_tree(left, right, feature, thr, dleft, cover, leafv, scale=scale)
    n_features = adapter.n_features or _width(adapter.session.get_inputs()[0]) or int(feat.max()) + 1
    ens = b.build(n_features=n_features, strict=True, output=adapter.output_space
                  if adapter.output_space in ("margin", "logit", "value") else "probability",
                  offset=offset, float32=True)
    ens.cover_known = cover_known
    return ens


def _legacy_attrs(a: dict) -> dict:
    """The ``TreeEnsemble`` (opset 5) attributes rewritten as the legacy regressor's, one row per node or leaf."""
    roots = np.asarray(a["tree_roots"], dtype=np.int64)
    feat = np.asarray(a["nodes_featureids"], dtype=np.int64)
    splits = np.asarray(a["nodes_splits"], dtype=np.float64)
    modes = np.asarray(a["nodes_modes"], dtype=np.int64)
    tid, tleaf = np.asarray(a["nodes_truenodeids"], np.int64), np.asarray(a["nodes_trueleafs"], np.int64)
    fid, fleaf = np.asarray(a["nodes_falsenodeids"], np.int64), np.asarray(a["nodes_falseleafs"], np.int64)
    miss = np.asarray(a.get("nodes_missing_value_tracks_true", np.zeros(feat.size)), np.int64)
    ltarget = np.asarray(a["leaf_targetids"], np.int64)
    lw = np.asarray(a["leaf_weights"], np.float64)
    out = {k: [] for k in ("nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_values", "nodes_modes",
                           "nodes_truenodeids", "nodes_falsenodeids", "nodes_missing_value_tracks_true",
                           "target_treeids", "target_nodeids", "target_ids", "target_weights")}
    for t, root in enumerate(roots):
        # walk the tree; interior node i -> id 2*i, leaf j -> id 2*j + 1 (unique within the tree)
        stack = [(int(root), False)]
        seen = set()
        while stack:
            i, is_leaf = stack.pop()
            nid = 2 * i + (1 if is_leaf else 0)
            if (nid in seen):
                continue
            seen.add(nid)
            out["nodes_treeids"].append(t)
            out["nodes_nodeids"].append(nid)
            if is_leaf:
                out["nodes_featureids"].append(0)
                out["nodes_values"].append(0.0)
                out["nodes_modes"].append("LEAF")
                out["nodes_truenodeids"].append(0)
                out["nodes_falsenodeids"].append(0)
                out["nodes_missing_value_tracks_true"].append(0)
                out["target_treeids"].append(t)
                out["target_nodeids"].append(nid)
                out["target_ids"].append(int(ltarget[i]))
                out["target_weights"].append(float(lw[i]))
                continue
            out["nodes_featureids"].append(int(feat[i]))
            out["nodes_values"].append(float(splits[i]))
            out["nodes_modes"].append(_MODES5[int(modes[i])])
            out["nodes_truenodeids"].append(2 * int(tid[i]) + int(tleaf[i]))
            out["nodes_falsenodeids"].append(2 * int(fid[i]) + int(fleaf[i]))
            out["nodes_missing_value_tracks_true"].append(int(miss[i]))
            stack.append((int(tid[i]), bool(tleaf[i])))
            stack.append((int(fid[i]), bool(fleaf[i])))
    for k in ("aggregate_function", "post_transform", "n_targets"):
        if k in a:
            out[k] = a[k]
    return out


__all__ = ["OnnxAdapter", "load_onnx", "looks_like_onnx", "parse_onnx_trees"]
