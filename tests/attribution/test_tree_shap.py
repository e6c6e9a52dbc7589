"""Interventional (and flat path-dependent) TreeSHAP against independent truths.

Truths: brute-force enumeration of coalitions on the model's own predictions
(hybrid rows built with pandas, categorical dtypes kept), the analytic answer
for additive models, shap.TreeExplainer where the definitions match, and
XGBoost's own pred_contribs for the path-dependent form.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.ensemble import (ExtraTreesClassifier, ExtraTreesRegressor, GradientBoostingClassifier,
                              GradientBoostingRegressor, RandomForestClassifier, RandomForestRegressor)
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from _shap_oracles import brute_force_interventional, path_dependent_brute_force
from xai_reports import ExplanationError, explain


def _mixed_frame(n, seed, missing=True):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "a": rng.normal(size=n),
        "c": pd.Categorical(rng.choice(["w", "x", "y", "z"], n)),
        "b": rng.normal(size=n),
        "k": pd.Categorical(rng.choice(["lo", "mid", "hi"], n), categories=["lo", "mid", "hi"]),
        "e": rng.integers(0, 4, n).astype(float),
    })
    if missing:
        df.loc[rng.random(n) < 0.1, "b"] = np.nan
    y = (df.a + df.c.isin(["y", "w"]) * 1.0 + np.nan_to_num(df.b) * (df.k == "hi") + 0.3 * df.e
         + rng.normal(scale=0.3, size=n) > 1.0).astype(int)
    return df, y


@pytest.fixture(scope="module")
def xgb_categorical():
    df, y = _mixed_frame(600, 0)
    model = xgb.XGBClassifier(n_estimators=12, max_depth=3, learning_rate=0.4, enable_categorical=True,
                              tree_method="hist", max_cat_to_onehot=1, n_jobs=1, random_state=0)
    model.fit(df, y)
    return model, df


def _margin(model):
    return lambda X: model.get_booster().predict(xgb.DMatrix(X, enable_categorical=True), output_margin=True)


def test_xgboost_categorical_missing_matches_brute_force(xgb_categorical):
    model, df = xgb_categorical
    # the model really splits on categories (partition splits), else this test proves less
    dump = model.get_booster().trees_to_dataframe()
    assert dump["Category"].notna().any()
    bg = df.iloc[100:110]
    X = df.iloc[:6]
    attr = explain(model, X, method="tree_shap", background=bg)
    assert attr.params["form"] == "interventional" and attr.output == "margin"
    for r in range(len(X)):
        phi, v0, v1 = brute_force_interventional(_margin(model), X.iloc[r], bg)
        np.testing.assert_allclose(attr.values[r], phi, atol=2e-5)
        np.testing.assert_allclose(attr.base_values[r], v0, atol=2e-5)
    assert attr.self_check["passed"] and attr.self_check["max_abs_error"] < 1e-4


def test_xgboost_recodes_categories_by_value(xgb_categorical):
    """A frame whose categorical columns list the categories in another order gives the same answer."""
    model, df = xgb_categorical
    other = df.copy()
    other["c"] = other["c"].cat.reorder_categories(["z", "y", "x", "w"])
    a = explain(model, df.iloc[:20], method="tree_shap", background=df.iloc[200:230])
    b = explain(model, other.iloc[:20], method="tree_shap", background=other.iloc[200:230])
    np.testing.assert_allclose(a.values, b.values, atol=1e-9)
    assert b.self_check["passed"]


def test_xgboost_multiclass_target():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(400, 4))
    y = np.digitize(X[:, 0] + X[:, 1] * X[:, 2], [-0.5, 0.5])
    model = xgb.XGBClassifier(n_estimators=6, max_depth=3, n_jobs=1, random_state=0).fit(X, y)
    with pytest.raises(ExplanationError, match="target"):
        explain(model, X[:3], method="tree_shap", background=X[50:60])
    for k in range(3):
        attr = explain(model, X[:4], method="tree_shap", background=X[50:60], target=k)
        for r in range(4):
            phi, _, _ = brute_force_interventional(lambda M: model.predict(M, output_margin=True)[:, k],
                                                   X[r], X[50:60])
            np.testing.assert_allclose(attr.values[r], phi, atol=2e-5)


@pytest.mark.parametrize("factory,space", [
    (lambda: DecisionTreeClassifier(max_depth=4, random_state=0), "probability"),
    (lambda: DecisionTreeRegressor(max_depth=5, random_state=0), "value"),
    (lambda: RandomForestClassifier(n_estimators=8, max_depth=4, random_state=0), "probability"),
    (lambda: RandomForestRegressor(n_estimators=6, max_depth=5, random_state=0), "value"),
    (lambda: ExtraTreesClassifier(n_estimators=6, max_depth=4, random_state=0), "probability"),
    (lambda: ExtraTreesRegressor(n_estimators=5, max_depth=6, random_state=0), "value"),
    (lambda: GradientBoostingClassifier(n_estimators=10, max_depth=3, random_state=0), "margin"),
    (lambda: GradientBoostingRegressor(n_estimators=10, max_depth=3, random_state=0), "value"),
])
def test_sklearn_ensembles_match_brute_force(factory, space):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 5))
    t = X[:, 0] + X[:, 1] * X[:, 2] - 0.5 * X[:, 3]
    model = factory()
    model.fit(X, (t > 0).astype(int) if space != "value" else t)
    bg = X[200:209]
    attr = explain(model, X[:5], method="tree_shap", background=bg)
    assert attr.output == space

    if space == "probability":
        def f(M):
            return model.predict_proba(M)[:, 1]
    elif space == "margin":
        f = model.decision_function
    else:
        f = model.predict
    for r in range(5):
        phi, v0, _ = brute_force_interventional(f, X[r], bg)
        np.testing.assert_allclose(attr.values[r], phi, atol=1e-10)
        np.testing.assert_allclose(attr.base_values[r], v0, atol=1e-10)
    assert attr.self_check["max_abs_error"] < 1e-10


def test_sklearn_multiclass_forest_needs_target():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 4))
    y = np.digitize(X[:, 0] + X[:, 1], [-0.5, 0.5])
    model = RandomForestClassifier(n_estimators=5, max_depth=4, random_state=0).fit(X, y)
    with pytest.raises(ExplanationError, match="target"):
        explain(model, X[:2], method="tree_shap", background=X[:10])
    attr = explain(model, X[:3], method="tree_shap", background=X[10:18], target=2)
    phi, _, _ = brute_force_interventional(lambda M: model.predict_proba(M)[:, 2], X[0], X[10:18])
    np.testing.assert_allclose(attr.values[0], phi, atol=1e-10)


def test_additive_model_has_the_analytic_answer():
    """Depth-1 trees make f a sum of per-feature functions g_j: phi_j = g_j(x_j) - mean_k g_j(z_kj)."""
    rng = np.random.default_rng(4)
    X = rng.normal(size=(500, 4))
    y = np.sin(X[:, 0]) + X[:, 1] ** 2 - X[:, 2]
    model = xgb.XGBRegressor(n_estimators=40, max_depth=1, learning_rate=0.3, n_jobs=1).fit(X, y)
    booster = model.get_booster()
    bg = X[100:140]
    attr = explain(model, X[:10], method="tree_shap", background=bg)
    base_row = np.zeros((1, 4))

    def g(j, values):  # the model's component along feature j, up to a constant
        M = np.repeat(base_row, len(values), axis=0)
        M[:, j] = values
        return booster.predict(xgb.DMatrix(M), output_margin=True).astype(float)

    for j in range(4):
        expected = g(j, X[:10, j]) - g(j, bg[:, j]).mean()
        np.testing.assert_allclose(attr.values[:, j], expected, atol=2e-5)


def test_matches_shap_tree_explainer_interventional():
    shap = pytest.importorskip("shap")
    rng = np.random.default_rng(5)
    X = rng.normal(size=(400, 6))
    y = (X[:, 0] + X[:, 1] * X[:, 2] + rng.normal(scale=0.3, size=400) > 0).astype(int)
    model = xgb.XGBClassifier(n_estimators=30, max_depth=4, n_jobs=1, random_state=0).fit(X, y)
    bg = X[300:350]
    ours = explain(model, X[:60], method="tree_shap", background=bg)
    ref = shap.TreeExplainer(model, bg, feature_perturbation="interventional").shap_values(X[:60])
    np.testing.assert_allclose(ours.values, ref, atol=1e-5)
    rf = RandomForestRegressor(n_estimators=10, max_depth=6, random_state=0).fit(X, X[:, 0] * X[:, 1])
    ours = explain(rf, X[:30], method="tree_shap", background=bg)
    ref = shap.TreeExplainer(rf, bg, feature_perturbation="interventional").shap_values(X[:30])
    np.testing.assert_allclose(ours.values, ref, atol=1e-8)


def test_table_and_direct_paths_agree(monkeypatch):
    """One row (computed pairwise) and a batch (per-leaf tables) give the same values."""
    from xai_reports.attribution import _tree_shap_flat as tree_shap

    rng = np.random.default_rng(6)
    X = rng.normal(size=(300, 6))
    model = xgb.XGBRegressor(n_estimators=10, max_depth=5, n_jobs=1).fit(X, X[:, 0] * X[:, 1] + X[:, 2])
    bg = X[100:130]
    batch = explain(model, X[:50], method="tree_shap", background=bg)
    single = np.vstack([explain(model, X[i:i + 1], method="tree_shap", background=bg).values for i in range(3)])
    np.testing.assert_allclose(single, batch.values[:3], atol=1e-10)
    monkeypatch.setattr(tree_shap, "_TABLE_MAX", 0)
    direct = explain(model, X[:50], method="tree_shap", background=bg)
    np.testing.assert_allclose(direct.values, batch.values, atol=1e-10)
    monkeypatch.setattr(tree_shap, "_PAIR_CHUNK", 7)   # tiny blocks: the chunking itself is exercised
    chunked = explain(model, X[:5], method="tree_shap", background=bg)
    np.testing.assert_allclose(chunked.values, batch.values[:5], atol=1e-10)


def test_batch_size_does_not_change_values(xgb_categorical):
    model, df = xgb_categorical
    a = explain(model, df.iloc[:40], method="tree_shap", background=df.iloc[300:320])
    b = explain(model, df.iloc[:40], method="tree_shap", background=df.iloc[300:320], batch_size=7)
    np.testing.assert_allclose(a.values, b.values, atol=1e-12)


# -- path-dependent, flat engine -----------------------------------------------------------
def test_flat_path_dependent_equals_xgboost_pred_contribs(xgb_categorical):
    """Two independent implementations (ours and XGBoost's C++) on categorical splits and missing values."""
    model, df = xgb_categorical
    ours = explain(model, df.iloc[:80], method="tree_shap", engine="flat")
    theirs = explain(model, df.iloc[:80], method="tree_shap")
    assert ours.params["implementation"] != theirs.params["implementation"]
    np.testing.assert_allclose(ours.values, theirs.values, atol=2e-5)
    np.testing.assert_allclose(ours.base_values, theirs.base_values, atol=2e-5)
    one = explain(model, df.iloc[:2], method="tree_shap", engine="flat")   # direct (no table) path
    np.testing.assert_allclose(one.values, theirs.values[:2], atol=2e-5)


@pytest.mark.parametrize("kind", ["tree", "forest", "boosting"])
def test_sklearn_path_dependent_matches_brute_force(kind):
    rng = np.random.default_rng(7)
    X = rng.normal(size=(300, 4))
    t = X[:, 0] + X[:, 1] * X[:, 2]
    if kind == "tree":
        model = DecisionTreeRegressor(max_depth=4, random_state=0).fit(X, t)
        trees, vals = [model], [lambda n, m=model: m.tree_.value[n, 0, 0]]
        offset = 0.0
    elif kind == "forest":
        model = RandomForestClassifier(n_estimators=4, max_depth=3, random_state=0).fit(X, t > 0)
        trees = model.estimators_
        vals = [lambda n, m=m: (m.tree_.value[n, 0] / m.tree_.value[n, 0].sum())[1] / 4 for m in trees]
        offset = 0.0
    else:
        model = GradientBoostingRegressor(n_estimators=5, max_depth=2, learning_rate=0.5, random_state=0).fit(X, t)
        trees = model.estimators_[:, 0]
        vals = [lambda n, m=m: 0.5 * m.tree_.value[n, 0, 0] for m in trees]
        offset = float(model.init_.constant_.ravel()[0])
    attr = explain(model, X[:4], method="tree_shap")
    assert attr.params["form"] == "path_dependent"
    for r in range(4):
        phi, v0 = path_dependent_brute_force(trees, vals, X[r])
        np.testing.assert_allclose(attr.values[r], phi, atol=1e-10)
        np.testing.assert_allclose(attr.base_values[r], v0 + offset, atol=1e-10)
    assert attr.self_check["max_abs_error"] < 1e-9


def test_sklearn_path_dependent_matches_shap():
    shap = pytest.importorskip("shap")
    rng = np.random.default_rng(8)
    X = rng.normal(size=(300, 6))
    model = RandomForestRegressor(n_estimators=10, max_depth=7, random_state=0).fit(X, X[:, 0] * X[:, 1] + X[:, 2])
    ours = explain(model, X[:40], method="tree_shap")
    ref = shap.TreeExplainer(model).shap_values(X[:40])
    np.testing.assert_allclose(ours.values, ref, atol=1e-9)


# -- the demo's model ---------------------------------------------------------------------
def test_hmda_model_interventional_equals_exact_shapley(hmda_model, hmda, finance_pack):
    """The finance demo model (pandas categoricals): TreeSHAP vs model-agnostic exact Shapley."""
    from examples.finance_hmda import FEATURES
    from xai_reports.io.tabular import encode_like_pack

    X = encode_like_pack(hmda.iloc[:2000][["applicant_id"] + FEATURES], finance_pack, FEATURES)
    ref = X.iloc[:100]
    rows = X.iloc[1900:1906]
    tree = explain(hmda_model, rows, method="tree_shap", background=ref.iloc[:20])
    exact = explain(hmda_model, rows, method="shapley", background=ref.iloc[:20])
    np.testing.assert_allclose(tree.values, exact.values, atol=2e-5)
    full = explain(hmda_model, X.iloc[1900:], method="tree_shap", background=ref)
    assert full.self_check["passed"] and full.self_check["max_abs_error"] < 1e-4
    assert full.feature_names == FEATURES
    margin = hmda_model.get_booster().predict(xgb.DMatrix(ref, enable_categorical=True), output_margin=True)
    np.testing.assert_allclose(full.base_values, margin.mean(), atol=1e-5)


def test_errors():
    rng = np.random.default_rng(9)
    X = rng.normal(size=(100, 3))
    model = xgb.XGBRegressor(n_estimators=3, max_depth=2, n_jobs=1).fit(X, X[:, 0])
    with pytest.raises(ExplanationError, match="no rows"):
        explain(model, X[:2], method="tree_shap", background=X[:0])
    with pytest.raises(ExplanationError, match="background"):
        explain(model, X[:2], method="tree_shap", feature_perturbation="interventional")
    with pytest.raises(ExplanationError, match="features"):
        explain(model, X[:2, :2], method="tree_shap", background=X[:5])


# -- torch engine (CUDA when present; the same code checked on CPU) ----------------------------
def _torch_vs_numpy(ens, X, B):
    from xai_reports.attribution._tree_shap_torch import TorchTreeShap
    from xai_reports.attribution._tree_shap_flat import _FlatTreeShap

    ref = _FlatTreeShap(ens, X.shape[0], B).shap_values(X)
    dev = "cuda" if torch_cuda() else "cpu"
    got = TorchTreeShap(ens, X.shape[0], B, dev).shap_values(X)
    return ref, got


def torch_cuda():
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def test_torch_engine_equals_numpy_engine(xgb_categorical, monkeypatch):
    pytest.importorskip("torch")
    from xai_reports.attribution import _tree_shap_flat as tree_shap
    from xai_reports.attribution._trees import parse_ensemble
    from xai_reports.adapters import wrap_model

    model, df = xgb_categorical
    adapter = wrap_model(model)
    ens = parse_ensemble(adapter)
    X = ens.encode(df.iloc[:400], adapter.feature_names)
    B = ens.encode(df.iloc[300:320], adapter.feature_names)
    ref, got = _torch_vs_numpy(ens, X, B)
    np.testing.assert_allclose(got, ref, atol=1e-12)
    monkeypatch.setattr(tree_shap, "_TABLE_MAX", 0)       # the direct (no table) groups too
    ref, got = _torch_vs_numpy(ens, X[:5], B)
    np.testing.assert_allclose(got, ref, atol=1e-12)


@pytest.mark.gpu
@pytest.mark.skipif(not torch_cuda(), reason="needs a CUDA device")
def test_cuda_equals_cpu(xgb_categorical):
    model, df = xgb_categorical
    cpu = explain(model, df.iloc[:100], method="tree_shap", background=df.iloc[300:350], device="cpu")
    gpu = explain(model, df.iloc[:100], method="tree_shap", background=df.iloc[300:350], device="cuda")
    np.testing.assert_allclose(gpu.values, cpu.values, atol=1e-10)
    assert gpu.params["device"] == "cuda"


def test_cell_tables_equal_leaf_tables(xgb_categorical, monkeypatch):
    """Per-tree cell tables (numeric intervals, categorical patterns, missing values) = per-leaf tables."""
    from xai_reports.adapters import wrap_model
    from xai_reports.attribution import _tree_shap_flat as tree_shap
    from xai_reports.attribution._trees import parse_ensemble

    model, df = xgb_categorical
    adapter = wrap_model(model)
    ens = parse_ensemble(adapter)
    X = ens.encode(df, adapter.feature_names)
    B = ens.encode(df.iloc[300:330], adapter.feature_names)
    assert np.isnan(X).any()
    plan = tree_shap._FlatTreeShap(ens, X.shape[0], B)
    assert plan.cells is not None and plan.cells["offs"].size == ens.n_trees   # every tree has cells here
    monkeypatch.setattr(tree_shap, "_USE_CELLS", False)
    leafwise = tree_shap._FlatTreeShap(ens, X.shape[0], B)
    assert leafwise.cells is None
    np.testing.assert_allclose(plan.shap_values(X), leafwise.shap_values(X), atol=1e-12)
    # sklearn (x <= threshold) too
    rng = np.random.default_rng(10)
    Xs = rng.normal(size=(400, 5))
    Xs[rng.random(Xs.shape) < 0.05] = np.nan
    rf = RandomForestRegressor(n_estimators=5, max_depth=4, random_state=0).fit(Xs, np.nan_to_num(Xs).sum(1))
    a = explain(rf, Xs, method="tree_shap", background=Xs[:20])
    monkeypatch.setattr(tree_shap, "_USE_CELLS", True)
    b = explain(rf, Xs, method="tree_shap", background=Xs[:20])
    np.testing.assert_allclose(a.values, b.values, atol=1e-12)
    assert b.self_check["max_abs_error"] < 1e-10


@pytest.mark.parametrize("family", ["sklearn", "xgboost"])
def test_sibling_leaf_pairs_equal_brute_force_with_missing_values(family, monkeypatch):
    """Sibling leaves looked up as one unit (pair tables, ``._tree_units``) = leaf by leaf = brute force;
    numeric splits only, missing values in the rows and the reference (x <= t with NaN to either side for
    scikit-learn, x < t with learned default directions for XGBoost)."""
    from xai_reports.adapters import wrap_model
    from xai_reports.attribution import _tree_shap_flat as flat
    from xai_reports.attribution._tree_units import LookupUnits
    from xai_reports.attribution._trees import parse_ensemble

    rng = np.random.default_rng(21)
    X = rng.normal(size=(400, 5))
    X[rng.random(X.shape) < 0.12] = np.nan
    Z = np.nan_to_num(X)
    y = Z @ [1.0, -2.0, 0.5, 0.0, 1.0] + Z[:, 0] * Z[:, 1] + np.isnan(X[:, 2])
    if family == "sklearn":
        model = RandomForestRegressor(n_estimators=4, max_depth=5, random_state=0).fit(X, y)
    else:
        model = xgb.XGBRegressor(n_estimators=4, max_depth=5, n_jobs=1).fit(X, y)
    rows, bg = X[:64], X[300:340]
    adapter = wrap_model(model)
    ens = parse_ensemble(adapter)
    monkeypatch.setattr(flat, "_USE_CELLS", False)            # every table leaf goes through the units
    plan = flat._FlatTreeShap(ens, rows.shape[0], ens.encode(bg))
    got = plan.shap_values(ens.encode(rows))
    units = plan._units()
    assert any(g[3] for g in units.st.groups), "no sibling pair was formed"
    assert units.n_units < plan.table_leaves.size
    leafwise = np.zeros_like(got)
    LookupUnits(ens, plan.table_leaves, plan.table_offs, plan.slot_table_t, pair=False).add_to(
        leafwise, ens.go_left(ens.encode(rows)))
    np.testing.assert_allclose(got, leafwise, atol=1e-12)
    from xai_reports.attribution import _tree_units
    monkeypatch.setattr(_tree_units, "_PAIR_MAX", 64)           # over budget: the deeper pairs stay two leaves
    part = flat._FlatTreeShap(ens, rows.shape[0], ens.encode(bg))
    np.testing.assert_allclose(part.shap_values(ens.encode(rows)), got, atol=1e-12)
    assert units.n_units < part._units().n_units < plan.table_leaves.size
    predict = (lambda Q: model.predict(np.asarray(Q, dtype=np.float64))) if family == "sklearn" else \
        (lambda Q: model.get_booster().inplace_predict(np.asarray(Q, dtype=np.float32), predict_type="margin"))
    nan_rows = np.flatnonzero(np.isnan(rows).any(axis=1))[:3]
    for i in np.r_[nan_rows, 0]:
        ref = brute_force_interventional(predict, rows[i], bg)[0]
        np.testing.assert_allclose(got[i], ref, atol=1e-6 if family == "xgboost" else 1e-10)
    monkeypatch.setattr(flat, "_USE_CELLS", True)
    attr = explain(model, rows, method="tree_shap", background=bg)       # the public path, cells allowed
    np.testing.assert_allclose(attr.values, got, atol=1e-10)
    assert attr.self_check["max_abs_error"] < 1e-5


def test_flat_engine_explains_zero_rows():
    """An empty batch gives an empty result (rows are split into equal chunks: none here)."""
    from xai_reports.adapters import wrap_model
    from xai_reports.attribution._tree_shap_flat import _FlatTreeShap
    from xai_reports.attribution._trees import parse_ensemble

    rng = np.random.default_rng(3)
    X = rng.normal(size=(60, 4))
    ens = parse_ensemble(wrap_model(RandomForestRegressor(3, max_depth=3, random_state=0).fit(X, X[:, 0])))
    for bg in (ens.encode(X[:10]), None):
        assert _FlatTreeShap(ens, 0, bg).shap_values(ens.encode(X[:0])).shape == (0, 4)
