"""Model files loaded without unpickling, recognised by content: skops, ONNX (trees and black boxes),
points-table scorecards (YAML/CSV) and torch.export programs; exact attributions for each."""

from __future__ import annotations

import io
import pickle
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from xai_reports import ExplanationError, explain, load_model
from xai_reports.errors import InputError, ModelLoadError, UnsafeModelError

sys.path.insert(0, str(Path(__file__).parent / "attribution"))   # _shap_oracles
warnings.filterwarnings("ignore", category=DeprecationWarning)
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning",
                                        "ignore::UserWarning")


def _classification(n=400, d=6, seed=3, nan=False):
    from sklearn.datasets import make_classification

    X, y = make_classification(n, d, n_informative=4, random_state=seed)
    X = X.astype(np.float32)
    if nan:
        X[::13, 1] = np.nan
    return X, y


def _brute_force(adapter, X, B):
    """Exact interventional Shapley values of the adapter's own output (onnxruntime), by enumeration."""
    from _shap_oracles import brute_force_interventional

    return np.stack([brute_force_interventional(adapter.predict, X[i], B)[0] for i in range(len(X))])


# -- skops ---------------------------------------------------------------------------------------
_TOUCHED = []


class Touchy:
    """A custom estimator: loading it would run this module's code (it must never be loaded)."""

    def __init__(self, k=1):
        self.k = k

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return X

    def __setstate__(self, state):
        _TOUCHED.append("setstate")
        self.__dict__.update(state)


def test_skops_pipeline_loads_and_predicts(tmp_path):
    import skops.io as sio
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    rng = np.random.default_rng(0)
    df = pd.DataFrame({"region": rng.choice(["north", "south", "coast"], 200), "score": rng.normal(size=200)})
    y = (df.score + (df.region == "coast") > 0.3).astype(int)
    pipe = make_pipeline(ColumnTransformer([("c", OneHotEncoder(), ["region"]), ("n", StandardScaler(), ["score"])]),
                         LogisticRegression()).fit(df, y)
    path = tmp_path / "model.skops"
    sio.dump(pipe, path)
    adapter = load_model(path)
    assert adapter.family == "sklearn" and adapter.feature_names == ["region", "score"]
    np.testing.assert_allclose(adapter.predict_proba(df), pipe.predict_proba(df)[:, 1])
    # recognised by content, whatever the name
    other = tmp_path / "model.bin"
    other.write_bytes(path.read_bytes())
    assert load_model(other).family == "sklearn"


def test_skops_untrusted_type_is_named_and_never_loaded(tmp_path):
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    X = np.random.default_rng(0).normal(size=(50, 2))
    pipe = make_pipeline(Touchy(), LogisticRegression()).fit(X, X[:, 0] > 0)
    path = tmp_path / "custom.skops"
    sio.dump(pipe, path)
    _TOUCHED.clear()
    with pytest.raises(UnsafeModelError, match=r"untrusted type\(s\) .*Touchy.*nothing was loaded"):
        load_model(path)
    assert _TOUCHED == []
    from xai_reports.adapters.skops_model import is_trusted

    assert is_trusted("sklearn.linear_model._logistic.LogisticRegression") and is_trusted("numpy.dtype")
    assert is_trusted("numpy.float64") and is_trusted("numpy.log1p")
    for bad in ("builtins.eval", "os.system", "numpy.load", "sklearn.utils.fixes.nonexistent", "subprocess.Popen"):
        assert not is_trusted(bad), bad


def test_skops_garbage_and_pickles_are_refused(tmp_path):
    bad = tmp_path / "broken.skops"
    bad.write_bytes(b"not a zip at all")
    with pytest.raises(ModelLoadError, match="not a skops file"):
        load_model(bad)
    pk = tmp_path / "model.bin"
    pk.write_bytes(pickle.dumps({"a": 1}, protocol=4))
    with pytest.raises(UnsafeModelError, match="pickle"):
        load_model(pk)


# -- ONNX: trees ----------------------------------------------------------------------------------
def _skl(est, X, **kw):
    from skl2onnx import to_onnx

    return to_onnx(est, X[:1], options={"zipmap": False} if hasattr(est, "classes_") else None,
                   target_opset={"": 17, "ai.onnx.ml": 3}, **kw)


def _onnx_models():
    """(name, fitted original, ONNX model, X, output space, supports NaN)."""
    import lightgbm as lgb
    import xgboost as xgb
    from onnxmltools import convert_lightgbm, convert_xgboost
    from onnxmltools.convert.common.data_types import FloatTensorType
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier, RandomForestRegressor

    X, y = _classification()
    Xn, yn = _classification(nan=True, seed=4)
    out = []
    rf = RandomForestClassifier(12, max_depth=4, random_state=0).fit(X, y)
    out.append(("sk_rf", rf, _skl(rf, X), X, "probability"))
    gb = GradientBoostingClassifier(n_estimators=15, max_depth=3, random_state=0).fit(X, y)
    out.append(("sk_gb", gb, _skl(gb, X), X, "margin"))
    rfr = RandomForestRegressor(8, max_depth=5, random_state=0).fit(X, X[:, 0] * 2 + y)
    out.append(("sk_rf_reg", rfr, _skl(rfr, X), X, "value"))
    xm = xgb.XGBClassifier(n_estimators=25, max_depth=3, random_state=0).fit(Xn, yn)
    out.append(("xgb", xm, convert_xgboost(xm, initial_types=[("input", FloatTensorType([None, 6]))],
                                           target_opset=15), Xn, "margin"))
    lm = lgb.LGBMClassifier(n_estimators=25, num_leaves=8, verbose=-1, random_state=0).fit(Xn, yn)
    out.append(("lgbm", lm, convert_lightgbm(lm, initial_types=[("input", FloatTensorType([None, 6]))],
                                             target_opset=15, zipmap=False), Xn, "margin"))
    return out


@pytest.fixture(scope="module")
def onnx_models(tmp_path_factory):
    import onnx

    d = tmp_path_factory.mktemp("onnx")
    res = {}
    for name, est, model, X, space in _onnx_models():
        path = d / f"{name}.onnx"
        onnx.save(model, path)
        res[name] = (est, path, X, space)
    return res


@pytest.mark.parametrize("name", ["sk_rf", "sk_gb", "sk_rf_reg", "xgb", "lgbm"])
def test_onnx_trees_interventional_is_exact(onnx_models, name):
    est, path, X, space = onnx_models[name]
    adapter = load_model(path)
    assert adapter.family == "onnx" and adapter.is_tree_ensemble and adapter.output_space == space
    # the graph's own outputs are the original model's
    if hasattr(est, "predict_proba"):
        np.testing.assert_allclose(adapter.predict_proba(X[:50]), est.predict_proba(X[:50])[:, 1], atol=2e-6)
    else:
        np.testing.assert_allclose(adapter.predict(X[:50]), est.predict(X[:50]), rtol=1e-5, atol=1e-5)
    # worker threads block between runs (a spinning pool burns CPU after every prediction)
    assert adapter.session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning") == "0"
    rows, B = X[:4], X[200:212]
    attr = explain(adapter, rows, method="tree_shap", background=B)
    assert attr.output == space and attr.self_check["passed"]
    # oracle 1: brute-force coalition enumeration on onnxruntime's own predictions (black box)
    np.testing.assert_allclose(attr.values, _brute_force(adapter, rows, B), atol=5e-6)
    # oracle 2: shap's interventional TreeExplainer on the original model
    shap = pytest.importorskip("shap")
    bigB = X[100:160].astype(np.float64)
    ref = shap.TreeExplainer(est, data=bigB, feature_perturbation="interventional", model_output="raw")
    sv = np.asarray(ref.shap_values(X[:30].astype(np.float64)))
    if sv.ndim == 3:
        sv = sv[..., 1]
    ours = explain(adapter, X[:30], method="tree_shap", background=X[100:160])
    np.testing.assert_allclose(ours.values, sv, atol=1e-5)


def test_onnx_path_dependent_needs_real_hit_rates(onnx_models, tmp_path):
    import onnx
    from onnx import helper

    est, path, X, _ = onnx_models["sk_rf"]
    adapter = load_model(path)
    with pytest.raises(ExplanationError, match="nodes_hitrates absent or all 1.0"):
        explain(adapter, X[:3], method="tree_shap")
    # write the training covers (sklearn's weighted node counts) as hit-rates: path-dependent works
    m = onnx.load(path)
    node = m.graph.node[0]
    att = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    hits = [float(est.estimators_[t].tree_.weighted_n_node_samples[n])
            for t, n in zip(att["nodes_treeids"], att["nodes_nodeids"])]
    for a in node.attribute:
        if a.name == "nodes_hitrates":
            del a.floats[:]
            a.floats.extend(hits)
    p2 = tmp_path / "rf_hits.onnx"
    onnx.save(m, p2)
    ad2 = load_model(p2)
    attr = explain(ad2, X[:25], method="tree_shap")
    shap = pytest.importorskip("shap")
    sv = np.asarray(shap.TreeExplainer(est, feature_perturbation="tree_path_dependent").shap_values(
        X[:25].astype(np.float64)))
    sv = sv[..., 1] if sv.ndim == 3 else sv
    np.testing.assert_allclose(attr.values, sv, atol=1e-5)
    assert attr.self_check["passed"]


def _to_tree_ensemble_v5(legacy):
    """Re-encode a TreeEnsembleRegressor graph with the opset-5 ``TreeEnsemble`` op (independent writer)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    node = next(n for n in legacy.graph.node if n.op_type == "TreeEnsembleRegressor")
    a = {x.name: helper.get_attribute_value(x) for x in node.attribute}
    modes = [m.decode() for m in a["nodes_modes"]]
    code = {"BRANCH_LEQ": 0, "BRANCH_LT": 1, "BRANCH_GTE": 2, "BRANCH_GT": 3}
    leafw = {(t, n): w for t, n, w in zip(a["target_treeids"], a["target_nodeids"], a["target_weights"])}
    inner, leaves = {}, {}
    for k, (t, n, m) in enumerate(zip(a["nodes_treeids"], a["nodes_nodeids"], modes)):
        (leaves if m == "LEAF" else inner)[(t, n)] = k
    ikey, lkey = list(inner), list(leaves)
    iidx, lidx = {k: i for i, k in enumerate(ikey)}, {k: i for i, k in enumerate(lkey)}

    def ref(t, n):
        return (lidx[(t, n)], 1) if (t, n) in lidx else (iidx[(t, n)], 0)

    feats, splits, mds, tid, tl, fid, fl, miss = [], [], [], [], [], [], [], []
    for (t, n) in ikey:
        k = inner[(t, n)]
        feats.append(a["nodes_featureids"][k])
        splits.append(a["nodes_values"][k])
        mds.append(code[modes[k]])
        i1, l1 = ref(t, a["nodes_truenodeids"][k])
        i2, l2 = ref(t, a["nodes_falsenodeids"][k])
        tid.append(i1), tl.append(l1), fid.append(i2), fl.append(l2)
        miss.append(a["nodes_missing_value_tracks_true"][k] if a.get("nodes_missing_value_tracks_true") else 0)
    roots = [iidx[(t, 0)] for t in sorted(set(a["nodes_treeids"]))]
    n5 = helper.make_node(
        "TreeEnsemble", [node.input[0]], [node.output[0]], domain="ai.onnx.ml", n_targets=1,
        aggregate_function=1, post_transform=0, tree_roots=roots, nodes_featureids=feats,
        nodes_splits=numpy_helper.from_array(np.asarray(splits, np.float32)),
        nodes_modes=numpy_helper.from_array(np.asarray(mds, np.uint8)),
        nodes_truenodeids=tid, nodes_trueleafs=tl, nodes_falsenodeids=fid, nodes_falseleafs=fl,
        nodes_missing_value_tracks_true=miss, leaf_targetids=[0] * len(lkey),
        leaf_weights=numpy_helper.from_array(np.asarray([leafw[k] for k in lkey], np.float32)))
    g = helper.make_graph([n5], "v5", list(legacy.graph.input), [
        helper.make_tensor_value_info(node.output[0], TensorProto.FLOAT, [None, 1])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("ai.onnx.ml", 5)])
    m.ir_version = 10
    onnx.checker.check_model(m)
    return m


def test_onnx_tree_ensemble_opset5(onnx_models, tmp_path):
    import onnx

    est, path, X, _ = onnx_models["sk_rf_reg"]
    p5 = tmp_path / "v5.onnx"
    onnx.save(_to_tree_ensemble_v5(onnx.load(path)), p5)
    adapter = load_model(p5)
    assert adapter.is_tree_ensemble and adapter.tree_node.op_type == "TreeEnsemble"
    np.testing.assert_allclose(adapter.predict(X[:40]), est.predict(X[:40]), rtol=1e-5, atol=1e-5)
    attr = explain(adapter, X[:4], method="tree_shap", background=X[300:310])
    np.testing.assert_allclose(attr.values, _brute_force(adapter, X[:4], X[300:310]), atol=5e-6)


def test_onnx_multiclass_softmax_target(tmp_path):
    import onnx
    import xgboost as xgb
    from onnxmltools import convert_xgboost
    from onnxmltools.convert.common.data_types import FloatTensorType

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)
    m = xgb.XGBClassifier(n_estimators=10, max_depth=2).fit(X, y)
    path = tmp_path / "mc.onnx"
    onnx.save(convert_xgboost(m, initial_types=[("input", FloatTensorType([None, 4]))], target_opset=15), path)
    adapter = load_model(path)
    assert adapter.output_space == "logit" and adapter.post_transform == "SOFTMAX"
    np.testing.assert_allclose(adapter.predict_proba(X[:20]), m.predict_proba(X[:20]), atol=2e-6)
    with pytest.raises(ExplanationError, match="pass target="):
        explain(adapter, X[:2], method="tree_shap", background=X[:10])
    a = explain(adapter, X[:3], method="tree_shap", background=X[100:108], target=2)
    margins = m.get_booster().predict(xgb.DMatrix(X[:3]), output_margin=True)[:, 2]
    np.testing.assert_allclose(a.predictions, margins, atol=1e-5)
    assert a.self_check["passed"]


# -- ONNX: any graph as a black box ----------------------------------------------------------------
def test_onnx_black_box_with_text_inputs(tmp_path):
    import onnx
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType
    from sklearn.compose import ColumnTransformer
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    rng = np.random.default_rng(1)
    df = pd.DataFrame({"segment": rng.choice(["retail", "sme", "private"], 300), "ratio": rng.uniform(0, 2, 300),
                       "age_of_file": rng.uniform(0, 30, 300)})
    y = ((df.ratio > 1) ^ (df.segment == "sme")).astype(int)
    pipe = make_pipeline(ColumnTransformer([("c", OneHotEncoder(handle_unknown="ignore"), ["segment"]),
                                            ("n", StandardScaler(), ["ratio", "age_of_file"])]),
                         MLPClassifier((8,), max_iter=400, random_state=0)).fit(df, y)
    init = [("segment", StringTensorType([None, 1])), ("ratio", FloatTensorType([None, 1])),
            ("age_of_file", FloatTensorType([None, 1]))]
    path = tmp_path / "mlp.onnx"
    onnx.save(to_onnx(pipe, initial_types=init, options={id(pipe): {"zipmap": False}}), path)
    adapter = load_model(path)
    assert not adapter.is_tree_ensemble and adapter.feature_names == ["segment", "ratio", "age_of_file"]
    np.testing.assert_allclose(adapter.predict_proba(df.iloc[:50]), pipe.predict_proba(df.iloc[:50])[:, 1],
                               atol=1e-5)
    with pytest.raises(ExplanationError, match="tree_ensemble"):
        explain(adapter, df.iloc[:2], method="tree_shap")
    attr = explain(adapter, df.iloc[:3], method="auto", background=df.iloc[100:110])
    assert attr.method == "shapley" and attr.self_check["passed"]
    from _shap_oracles import brute_force_interventional

    phi, _, _ = brute_force_interventional(lambda Z: pipe.predict_proba(Z)[:, 1], df.iloc[0], df.iloc[100:110])
    np.testing.assert_allclose(attr.values[0], phi, atol=2e-5)


def test_onnx_sniffing_and_errors(onnx_models, tmp_path):
    import onnx

    _, path, X, _ = onnx_models["sk_gb"]
    renamed = tmp_path / "model.bin"
    renamed.write_bytes(path.read_bytes())
    assert load_model(renamed).family == "onnx"
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"\x08\x07garbage")
    with pytest.raises(ModelLoadError, match="not a valid ONNX model"):
        load_model(bad)
    m = onnx.load(path)
    onnx.helper.set_model_props(m, {"feature_names": '["a", "b", "c", "d", "e", "f"]'})
    named = tmp_path / "named.onnx"
    onnx.save(m, named)
    assert load_model(named).feature_names == list("abcdef")
    with pytest.raises(ModelLoadError, match="takes 6 columns but 2 feature names"):
        load_model(path, feature_names=["a", "b"])


# -- scorecards ------------------------------------------------------------------------------------
@pytest.fixture()
def cards(tmp_path):
    import _lender as L

    return L.write_scorecard_yaml(tmp_path / "card.yaml"), L.write_scorecard_csv(tmp_path / "card.csv")


def _apps():
    return pd.DataFrame({
        "seniority": [0.0, 0.999, 1.0, 4.9, 15.0, 30.0], "home": ["owner", "rent", "other", "priv", "parents", "ignore"],
        "records": ["no", "yes", "no", "yes", "no", "no"], "job": ["fixed", "partime", "others", "freelance", "fixed", "fixed"],
        "income": [79.9, 80.0, np.nan, 149.0, 150.0, 500.0], "amount": [100.0, 800.0, 1399.0, 1400.0, 5000.0, 799.0]})


def test_scorecard_yaml_and_csv_read_the_same_table(cards):
    a, b = (load_model(p) for p in cards)
    assert a.family == b.family == "scorecard" and a.output_space == "margin" and a.is_classifier
    X = _apps()
    pts = a.points(X)
    expected = np.array([  # seniority, home, records, job, income, amount (bins at their edges)
        [5, 40, 45, 40, 5, 40], [5, 15, 0, 5, 25, 25], [20, 15, 45, 5, 0, 25],
        [20, 10, 0, 20, 25, 10], [50, 25, 45, 40, 45, 10], [50, 10, 45, 40, 45, 40]], dtype=float)
    np.testing.assert_array_equal(pts, expected)
    np.testing.assert_array_equal(b.points(X), expected)
    factor = 20 / np.log(2)
    np.testing.assert_allclose(a.predict(X), (expected.sum(1) - (200 - factor * np.log(4))) / factor)
    with pytest.raises(InputError, match="'home'.*'castle' falls in no bin"):
        a.points(X.assign(home=["castle"] + list(X.home[1:])))


@pytest.mark.parametrize("rows,message", [
    ("seniority,\"[0, 5)\",10\nseniority,\"[4, 9)\",20\n", r"row 2, field 'bin': '\[4, 9\)' overlaps"),
    ("seniority,\"[0, x)\",10\n", r"row 1, field 'bin': cannot read '\[0, x\)' as an interval"),
    ("seniority,\"[0, 5)\",ten\n", r"row 1, field 'points': expected a number, got 'ten'"),
    (",\"[0, 5)\",10\n", r"row 1, field 'feature': missing"),
    ("home,owner,10\nhome,\"[owner, rent]\",5\n", r"row 2, field 'bin': category 'owner' of 'home' is also in row 1"),
])
def test_scorecard_bad_rows_one_line_errors(tmp_path, rows, message):
    p = tmp_path / "bad.csv"
    p.write_text("feature,bin,points\n" + rows, encoding="utf-8")
    with pytest.raises(ModelLoadError, match=message) as e:
        load_model(p)
    assert str(e.value).startswith(str(p)) and "\n" not in str(e.value)


def test_scorecard_yaml_is_safe_loaded(tmp_path):
    p = tmp_path / "evil.yaml"
    p.write_text("points: !!python/object/apply:os.system ['echo hacked']\n", encoding="utf-8")
    with pytest.raises(ModelLoadError, match="not valid YAML"):
        load_model(p)


def test_scorecard_reasons_points_below_maximum_and_reference(cards):
    from _shap_oracles import brute_force_interventional

    ad = load_model(cards[0])
    X = _apps()
    factor = 20 / np.log(2)
    attr = explain(ad, X, method="auto")
    assert attr.method == "scorecard" and attr.params["reference"] == "max_points"
    maxp = np.array([50, 40, 45, 40, 45, 40], dtype=float)
    np.testing.assert_allclose(attr.values, (ad.points(X) - maxp) / factor)
    assert attr.self_check["passed"]
    # against a reference population: exactly the interventional Shapley values of the score's margin
    B = X.iloc[[0, 4, 5]]
    a2 = explain(ad, X, method="scorecard", background=B)
    for i in range(len(X)):
        phi, v0, _ = brute_force_interventional(ad.predict, X.iloc[i], B)
        np.testing.assert_allclose(a2.values[i], phi, atol=1e-12)
        assert a2.base_values[i] == pytest.approx(v0)
    # reasons: the characteristics furthest below their maximum, in that order (Reg B 9(b)(2)-5)
    import tempfile

    import _lender as L
    from xai_reports import load_pack
    from xai_reports.documents.letter.reasons import Reference, select_reasons

    with tempfile.TemporaryDirectory() as d:
        pack = load_pack(L.write_pack(Path(d), L.SCORECARD_PACK_EXTRA))
    ref = Reference("all_applicants", np.zeros(6), ad.feature_names, 0, "max points")
    res = select_reasons(attr, 1, ref, pack)
    below = maxp - ad.points(X)[1]
    assert [r["score"] * factor for r in res.reasons] == pytest.approx(sorted(below[below > 0], reverse=True)[:4])
    for r in res.reasons:
        j = ad.feature_names.index(r["features"][0]["name"])
        assert r["score"] * factor == pytest.approx(below[j])


# -- torch.export ---------------------------------------------------------------------------------
def _exported(tmp_path):
    torch = pytest.importorskip("torch")

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = torch.nn.Linear(3, 5)
            self.b = torch.nn.Linear(5, 1)

        def forward(self, x):
            return self.b(torch.tanh(self.a(x)))

    torch.manual_seed(0)
    net = Net().eval()
    ep = torch.export.export(net, (torch.randn(4, 3),),
                             dynamic_shapes={"x": {0: torch.export.Dim("batch", min=1, max=100_000)}})
    path = tmp_path / "net.pt2"
    torch.export.save(ep, path)
    return net, path


def test_torch_export_program_loads(tmp_path):
    import torch

    net, path = _exported(tmp_path)
    adapter = load_model(path, feature_names=["x1", "x2", "x3"])
    assert adapter.family == "torch"
    X = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)
    with torch.no_grad():
        expected = net(torch.from_numpy(X))[:, 0].numpy()
    np.testing.assert_allclose(adapter.predict(X), expected, atol=1e-6)


_RAN = []


def _side_effect():
    _RAN.append(True)
    return {}


class _Evil:
    def __reduce__(self):
        return (_side_effect, ())


def test_torch_export_with_a_pickled_payload_is_refused(tmp_path):
    _, path = _exported(tmp_path)
    evil = tmp_path / "evil.pt2"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(evil, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if "/data/sample_inputs/" in item.filename:
                buf = io.BytesIO()
                import torch

                torch.save(_Evil(), buf)
                data = buf.getvalue()
            dst.writestr(item, data)
    _RAN.clear()
    with pytest.raises(UnsafeModelError, match="sample inputs is not plain tensors"):
        load_model(evil)
    assert _RAN == []
