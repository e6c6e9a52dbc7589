"""Exact TreeSHAP for LightGBM, CatBoost, HistGradientBoosting and Pipelines, against independent truths.

Oracles: LightGBM's ``pred_contrib`` and CatBoost's ``ShapValues`` (path-dependent),
shap's interventional TreeExplainer where it reads the model, and brute-force
coalition enumeration over the ORIGINAL columns (hybrid rows through the model's
own predict). Data: scikit-learn's breast-cancer set and synthetic frames with
categorical columns and missing values (labelled synthetic), unlike the HMDA demo.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from xai_reports import wrap_model
from xai_reports.attribution.tree_shap import TreeShap
from xai_reports.errors import ExplanationError

from _shap_oracles import brute_force_interventional

lgb = pytest.importorskip("lightgbm")
catboost = pytest.importorskip("catboost")


def synthetic(seed=7, n=500):
    """Synthetic: two numeric columns (one with NaNs), an 8-level categorical, an integer column."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({
        "income_k": rng.lognormal(3.5, 0.4, n),
        "utilisation": rng.uniform(0, 1.2, n),
        "region": pd.Categorical(rng.choice(["north", "south", "east", "west", "alpha", "beta", "gamma", "delta"],
                                            size=n)),
        "late_payments": rng.integers(0, 6, n).astype(float),
    })
    X.loc[rng.random(n) < 0.15, "utilisation"] = np.nan
    z = (-(X.income_k - 33) / 10 + X.utilisation.fillna(0.9) * 2 + X.region.isin(["south", "beta", "delta"]) * 1.2
         + X.late_payments * 0.4 + rng.normal(0, 0.5, n))
    return X, (z > z.median()).astype(int).to_numpy()


@pytest.fixture(scope="module")
def cancer():
    from sklearn.datasets import load_breast_cancer

    d = load_breast_cancer(as_frame=True)
    X = d.data.rename(columns=lambda c: c.replace(" ", "_"))   # LightGBM stores names without spaces
    return X, d.target.to_numpy()


def brute(adapter, X, bg, rows=3):
    """Brute-force interventional values on the original columns, through the model's own raw output."""
    ts = TreeShap(adapter).fit()
    ens = ts._ensemble(None)
    f = lambda H: ts._predict(H, ens, None)  # noqa: E731 - the library's own prediction, not the trees
    return np.array([brute_force_interventional(f, X.iloc[i], bg)[0] for i in range(rows)])


# ---------------------------------------------------------------- LightGBM
@pytest.fixture(scope="module")
def lgb_cat():
    X, y = synthetic()
    m = lgb.LGBMClassifier(n_estimators=40, num_leaves=15, min_child_samples=5, min_data_per_group=5, cat_smooth=1,
                           random_state=3, verbose=-1).fit(X, y)
    return m, X


def test_lightgbm_path_dependent_equals_pred_contrib(lgb_cat):
    m, X = lgb_cat
    Xt = X.iloc[:60].copy()
    Xt.loc[Xt.index[:4], "region"] = np.nan          # a missing category goes right, as LightGBM sends it
    attr = TreeShap(m).attribute(Xt, engine="flat")       # this package's engine, not LightGBM's
    assert attr.params["implementation"] == "xai_reports flat TreeSHAP"
    ref = m.booster_.predict(Xt, pred_contrib=True)
    np.testing.assert_allclose(attr.values, ref[:, :-1], atol=1e-9)
    np.testing.assert_allclose(attr.base_values, ref[:, -1], atol=1e-9)
    assert attr.self_check["passed"] and attr.output == "margin"
    assert any(e["decision_type"] == "==" for e in _splits(m))   # the model does use categorical splits


def _splits(m):
    out = []
    for t in m.booster_.dump_model()["tree_info"]:
        stack = [t["tree_structure"]]
        while stack:
            nd = stack.pop()
            if "split_index" in nd:
                out.append(nd)
                stack += [nd["left_child"], nd["right_child"]]
    return out


def test_lightgbm_interventional_equals_brute_force(lgb_cat):
    m, X = lgb_cat
    bg = X.iloc[300:325]
    attr = TreeShap(m).attribute(X.iloc[:3], background=bg)
    np.testing.assert_allclose(attr.values, brute(wrap_model(m), X, bg), atol=1e-9)
    assert attr.self_check["passed"]


def test_lightgbm_interventional_equals_shap_on_numeric_data(cancer):
    shap = pytest.importorskip("shap")
    X, y = cancer
    m = lgb.LGBMClassifier(n_estimators=30, num_leaves=8, random_state=11, verbose=-1).fit(X, y)
    bg = X.sample(50, random_state=2)
    ours = TreeShap(m).attribute(X.iloc[:20], background=bg)
    ref = shap.TreeExplainer(m, data=bg, feature_perturbation="interventional", model_output="raw").shap_values(
        X.iloc[:20])
    ref = ref[1] if isinstance(ref, list) else ref
    np.testing.assert_allclose(ours.values, np.asarray(ref).reshape(ours.values.shape), atol=1e-6)


def test_lightgbm_multiclass_and_regression(cancer):
    X, y = cancer
    X = X.iloc[:, :6]
    y3 = np.digitize(X["mean_radius"], [12, 16])
    m = lgb.LGBMClassifier(n_estimators=10, num_leaves=6, random_state=1, verbose=-1).fit(X, y3)
    with pytest.raises(ExplanationError, match="pass target="):
        TreeShap(m).attribute(X.iloc[:5])
    ref = m.booster_.predict(X.iloc[:10], pred_contrib=True).reshape(10, 3, -1)
    for k in range(3):
        a = TreeShap(m).attribute(X.iloc[:10], target=k, engine="flat")
        np.testing.assert_allclose(a.values, ref[:, k, :-1], atol=1e-9)
        lib = TreeShap(m).attribute(X.iloc[:10], target=k, engine="library")     # LightGBM's own pred_contrib
        assert lib.params["implementation"] == "lightgbm pred_contrib" and lib.self_check["passed"]
        np.testing.assert_allclose(lib.values, a.values, atol=1e-9)
        auto = TreeShap(m).attribute(X.iloc[:10], target=k)    # 6 leaves: paths of <= 5 features, the flat engine
        assert auto.params["implementation"] == "xai_reports flat TreeSHAP" and auto.self_check["passed"]
        np.testing.assert_allclose(auto.values, a.values, atol=1e-9)


def test_lightgbm_auto_engine_follows_path_width(cancer):
    """engine="auto" keeps pred_contrib where paths may hold many distinct features (31 leaves, 30 features)
    and its additivity check catches a wrong attribution (one value shifted)."""
    from xai_reports.attribution.base import additivity_check
    from xai_reports.attribution.tree_shap import FLAT_MAX_PATH_FEATURES

    X, y = cancer
    m = lgb.LGBMClassifier(n_estimators=5, num_leaves=31, random_state=0, verbose=-1).fit(X, y)
    assert wrap_model(m).max_path_features == 30 > FLAT_MAX_PATH_FEATURES
    a = TreeShap(m).attribute(X.iloc[:8])
    assert a.params["implementation"] == "lightgbm pred_contrib" and a.self_check["passed"]
    wrong = a.values.copy()
    wrong[3, 0] += 0.01
    assert not additivity_check(wrong, a.base_values, a.predictions, 1e-3)["passed"]
    r = lgb.LGBMRegressor(n_estimators=15, random_state=1, verbose=-1).fit(X, X["mean_area"] / 100)
    ad = wrap_model(r)
    assert ad.output_space == "value" and not ad.is_classifier
    a = TreeShap(r).attribute(X.iloc[:10], background=X.iloc[100:130])
    assert a.self_check["passed"]


def test_lightgbm_zero_as_missing_is_refused(cancer):
    X, y = cancer
    m = lgb.LGBMClassifier(n_estimators=3, zero_as_missing=True, verbose=-1).fit(X.iloc[:, :4], y)
    if not any(nd.get("missing_type") == "Zero" for nd in _splits(m)):
        pytest.skip("LightGBM chose no zero-missing split")
    with pytest.raises(ExplanationError, match="zero_as_missing"):
        TreeShap(m).attribute(X.iloc[:3, :4], background=X.iloc[10:20, :4])


# ---------------------------------------------------------------- CatBoost
@pytest.fixture(scope="module")
def cb_onehot():
    X, y = synthetic(seed=21)
    Xc = X.assign(region=X.region.astype(str))
    m = catboost.CatBoostClassifier(iterations=40, depth=4, one_hot_max_size=10, cat_features=["region"],
                                    random_seed=5, verbose=0, thread_count=1, allow_writing_files=False).fit(Xc, y)
    return m, Xc


def test_catboost_path_dependent_equals_shap_values(cb_onehot):
    m, X = cb_onehot
    attr = TreeShap(m).attribute(X.iloc[:50], engine="flat")
    ref = m.get_feature_importance(catboost.Pool(X.iloc[:50], cat_features=["region"]), type="ShapValues")
    np.testing.assert_allclose(attr.values, ref[:, :-1], atol=1e-9)
    np.testing.assert_allclose(attr.base_values, ref[:, -1], atol=1e-9)


def test_catboost_interventional_equals_brute_force(cb_onehot):
    m, X = cb_onehot
    bg = X.iloc[400:420]
    attr = TreeShap(m).attribute(X.iloc[:3], background=bg)
    np.testing.assert_allclose(attr.values, brute(wrap_model(m), X, bg), atol=1e-9)


def test_catboost_numeric_regression_against_shap(cancer):
    shap = pytest.importorskip("shap")
    X, _ = cancer
    m = catboost.CatBoostRegressor(iterations=30, depth=5, random_seed=2, verbose=0, thread_count=1,
                                   allow_writing_files=False).fit(
        X, X["worst_area"] / 1000)
    ad = wrap_model(m)
    assert ad.output_space == "value"
    attr = TreeShap(m).attribute(X.iloc[:15], engine="flat")
    ref = m.get_feature_importance(catboost.Pool(X.iloc[:15]), type="ShapValues")
    np.testing.assert_allclose(attr.values, ref[:, :-1], atol=1e-9)
    bg = X.sample(40, random_state=4)
    ours = TreeShap(m).attribute(X.iloc[:15], background=bg)
    try:
        ref_i = shap.TreeExplainer(m, data=bg, feature_perturbation="interventional").shap_values(X.iloc[:15])
    except Exception as exc:  # noqa: BLE001 - shap may not read CatBoost interventionally
        pytest.skip(f"shap cannot explain this CatBoost model interventionally: {exc}")
    np.testing.assert_allclose(ours.values, ref_i, atol=1e-6)


def test_catboost_multiclass(cancer):
    X, _ = cancer
    X = X.iloc[:, :5]
    y3 = np.digitize(X["mean_radius"], [12, 16])
    m = catboost.CatBoostClassifier(iterations=10, depth=3, loss_function="MultiClass", random_seed=1, verbose=0,
                                    thread_count=1, allow_writing_files=False).fit(X, y3)
    ref = m.get_feature_importance(catboost.Pool(X.iloc[:8]), type="ShapValues")     # (n, k, d+1)
    for k in range(3):
        a = TreeShap(m).attribute(X.iloc[:8], target=k, engine="flat")
        np.testing.assert_allclose(a.values, ref[:, k, :-1], atol=1e-9)
        lib = TreeShap(m).attribute(X.iloc[:8], target=k, engine="library")
        assert lib.params["implementation"] == "catboost ShapValues" and lib.self_check["passed"]
        auto = TreeShap(m).attribute(X.iloc[:8], target=k, engine="table")   # per-leaf tables of the oblivious trees
        assert auto.params["implementation"] == "xai_reports oblivious-tree tables" and auto.self_check["passed"]
        np.testing.assert_allclose(auto.values, ref[:, k, :-1], atol=1e-9)


def test_catboost_ctr_splits_are_refused():
    X, y = synthetic(seed=3)
    Xc = X.assign(region=X.region.astype(str))
    m = catboost.CatBoostClassifier(iterations=20, depth=4, one_hot_max_size=2, cat_features=["region"],
                                    random_seed=5, verbose=0, thread_count=1, allow_writing_files=False).fit(Xc, y)
    with pytest.raises(ExplanationError, match="CTR"):
        TreeShap(m).attribute(Xc.iloc[:3], background=Xc.iloc[10:20])


# ---------------------------------------------------------------- scikit-learn HistGB and Pipelines
def test_hist_gradient_boosting_categorical_bitsets():
    from sklearn.ensemble import HistGradientBoostingClassifier

    X, y = synthetic(seed=13)
    m = HistGradientBoostingClassifier(max_iter=25, categorical_features="from_dtype", random_state=0).fit(X, y)
    ad = wrap_model(m)
    assert ad.is_tree_ensemble
    bg = X.iloc[300:320]
    attr = TreeShap(m).attribute(X.iloc[:3], background=bg)
    np.testing.assert_allclose(attr.values, brute(ad, X, bg), atol=1e-9)
    np.testing.assert_allclose(attr.predictions, m.decision_function(X.iloc[:3]), atol=1e-12)
    pd_attr = TreeShap(m).attribute(X.iloc[:40])
    assert pd_attr.self_check["passed"]


def test_hist_gradient_boosting_path_dependent_against_shap(cancer):
    shap = pytest.importorskip("shap")
    from sklearn.ensemble import HistGradientBoostingRegressor

    X, _ = cancer
    m = HistGradientBoostingRegressor(max_iter=20, max_leaf_nodes=8, random_state=0).fit(X, X["worst_area"])
    ours = TreeShap(m).attribute(X.iloc[:10])
    ref = shap.TreeExplainer(m).shap_values(X.iloc[:10])
    np.testing.assert_allclose(ours.values, ref, atol=1e-6 * float(np.abs(ref).max()))


def test_pipeline_one_hot_groups_are_one_player():
    from sklearn.compose import make_column_transformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    X, y = synthetic(seed=17)
    pipe = make_pipeline(
        make_column_transformer((OneHotEncoder(handle_unknown="ignore"), ["region"]),
                                (make_pipeline(SimpleImputer(), StandardScaler()), ["utilisation", "income_k"]),
                                remainder="passthrough"),
        RandomForestClassifier(n_estimators=15, max_depth=5, random_state=0)).fit(X, y)
    ad = wrap_model(pipe)
    assert ad.is_tree_ensemble
    bg = X.iloc[200:215]
    attr = TreeShap(pipe).attribute(X.iloc[:3], background=bg)
    assert attr.feature_names == list(X.columns)     # one value per ORIGINAL column
    np.testing.assert_allclose(attr.values, brute(ad, X, bg), atol=1e-9)
    np.testing.assert_allclose(attr.predictions, pipe.predict_proba(X.iloc[:3])[:, 1], atol=1e-12)


def test_pipeline_ending_in_lightgbm_and_refusals():
    from sklearn.compose import make_column_transformer
    from sklearn.decomposition import PCA
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    X, y = synthetic(seed=19)
    Xf = X.fillna({"utilisation": 0.5})
    pipe = make_pipeline(make_column_transformer((OneHotEncoder(drop="first"), ["region"]), remainder="passthrough"),
                         lgb.LGBMClassifier(n_estimators=20, num_leaves=7, verbose=-1, random_state=0)).fit(Xf, y)
    bg = Xf.iloc[250:265]
    attr = TreeShap(pipe).attribute(Xf.iloc[:3], background=bg)
    np.testing.assert_allclose(attr.values, brute(wrap_model(pipe), Xf, bg), atol=1e-9)
    mixed = make_pipeline(make_column_transformer((OneHotEncoder(), ["region"]), remainder="passthrough"),
                          PCA(3), GradientBoostingClassifier(n_estimators=5)).fit(Xf, y)
    assert not wrap_model(mixed).is_tree_ensemble
    with pytest.raises(ExplanationError):
        TreeShap(wrap_model(mixed)).fit()


# ---------------------------------------------------------------- the torch engine (CUDA path), on CPU and GPU
def _torch_plan_values(ens, Xm, Bm, device):
    from xai_reports.attribution._tree_shap_torch import TorchTreeShap

    return TorchTreeShap(ens, Xm.shape[0], Bm, device).shap_values(Xm)


@pytest.mark.parametrize("family", ["lightgbm", "catboost", "hist"])
def test_torch_engine_matches_numpy_engine(family, lgb_cat, cb_onehot):
    pytest.importorskip("torch")
    from sklearn.ensemble import HistGradientBoostingClassifier

    if family == "lightgbm":
        m, X = lgb_cat
    elif family == "catboost":
        m, X = cb_onehot
    else:
        X, y = synthetic(seed=13)
        m = HistGradientBoostingClassifier(max_iter=10, categorical_features="from_dtype").fit(X, y)
    ts = TreeShap(m).fit()
    ens = ts._ensemble(None)
    cols = ts._columns(X)
    Xm, Bm = ens.encode(X.iloc[:30], cols), ens.encode(X.iloc[300:340], cols)
    ref = TreeShap(m).attribute(X.iloc[:30], background=X.iloc[300:340]).values
    np.testing.assert_allclose(_torch_plan_values(ens, Xm, Bm, "cpu"), ref, atol=1e-9)


@pytest.mark.gpu
@pytest.mark.parametrize("family", ["lightgbm", "catboost"])
def test_tree_paths_on_cuda(family, lgb_cat, cb_onehot):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    m, X = lgb_cat if family == "lightgbm" else cb_onehot
    bg = X.iloc[300:340]
    cpu = TreeShap(m).attribute(X.iloc[:50], background=bg, device="cpu")
    gpu = TreeShap(m).attribute(X.iloc[:50], background=bg, device="cuda")
    assert gpu.params["device"].startswith("cuda")
    np.testing.assert_allclose(gpu.values, cpu.values, atol=1e-9)


@pytest.mark.parametrize("D", [1, 3, 6, 10])
def test_superset_sum_slot_tables_equal_pairwise_leaf_games(D):
    """The slot tables of deep leaves (superset sums over background codes) equal the pairwise games."""
    from xai_reports.attribution._tree_shap_flat import interventional_leaf_phi, interventional_slot_table

    rng = np.random.default_rng(D)
    L, m = 5, 60
    b = rng.integers(0, 1 << D, (m, L))
    b[:8] = (1 << D) - 1                       # some background rows reach the leaf
    scale = rng.normal(size=L)
    table = interventional_slot_table(b, D, scale, max_floats=5000)      # small chunks on purpose
    codes = np.ascontiguousarray(np.broadcast_to(np.arange(1 << D)[:, None], (1 << D, L)))
    pairwise = interventional_leaf_phi(codes, b, D, scale).transpose(1, 0, 2)
    np.testing.assert_allclose(table, pairwise, atol=1e-12)


@pytest.mark.parametrize("D,m", [(3, 60), (7, 20), (8, 60)])
def test_weight_matrix_tables_equal_pairwise_leaf_games(D, m):
    """Leaf tables built as background-code counts times the universal weights, one slot at a time (written
    slot-major in place, as the engine does), equal the pairwise games, also with fewer background rows than
    codes (2**D > m)."""
    from xai_reports.attribution._tree_shap_flat import _FlatTreeShap, interventional_leaf_phi

    rng = np.random.default_rng(D)
    L = 5
    b = rng.integers(0, 1 << D, (m, L))
    b[:4] = (1 << D) - 1
    scale = rng.normal(size=L)
    plan = _FlatTreeShap.__new__(_FlatTreeShap)
    plan.m = m
    out = np.full((D + 1, L << D), np.nan)                 # a wider slot-major table: only its first D rows written
    plan._table({"D": D, "idx": np.arange(L), "b": b, "scale": scale}, out=out[:D])
    codes = np.ascontiguousarray(np.broadcast_to(np.arange(1 << D)[:, None], (1 << D, L)))
    pairwise = interventional_leaf_phi(codes, b, D, scale).transpose(1, 0, 2)      # (L, 2**D, D)
    np.testing.assert_allclose(out[:D], pairwise.reshape(L << D, D).T, atol=1e-12)
    assert np.isnan(out[D]).all()


@pytest.mark.parametrize("D", [2, 7, 13])
def test_deduplicated_background_pairs_equal_pairwise_leaf_games(D):
    """Deep leaves' games over distinct foreground x distinct background codes (with counts) equal the plain
    pairwise sums over every row and background row."""
    from xai_reports.attribution._tree_shap_flat import _BackgroundPairs, interventional_leaf_phi

    rng = np.random.default_rng(100 + D)
    L, m, B = 6, 50, 21
    b = rng.integers(0, 1 << D, (m, L))
    b[:20] = b[0]                              # repeated background codes
    b[20:25] = (1 << D) - 1
    a = rng.integers(0, 1 << D, (B, L))
    a[:4] = (1 << D) - 1
    a[10:15] = a[9]                            # repeated foreground codes (computed once each)
    scale = rng.normal(size=L)
    np.testing.assert_allclose(_BackgroundPairs(b, D, scale).phi(a), interventional_leaf_phi(a, b, D, scale),
                               atol=1e-12)
