"""Exact Shapley values (method="shapley") against brute force, linear truth and shap's Exact explainer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from _shap_oracles import brute_force_interventional
from xai_reports import ExplanationError, explain
from xai_reports.attribution.shapley import coefficient_matrix


def test_coefficient_matrix_is_the_shapley_formula():
    """phi = v @ C agrees with the permutation definition on a random 4-player game."""
    import itertools

    rng = np.random.default_rng(0)
    q = 4
    v = rng.normal(size=1 << q)
    phi = v @ coefficient_matrix(q)
    ref = np.zeros(q)
    perms = list(itertools.permutations(range(q)))
    for p in perms:
        s = 0
        for t in p:
            ref[t] += v[s | (1 << t)] - v[s]
            s |= 1 << t
    np.testing.assert_allclose(phi, ref / len(perms), atol=1e-12)


def test_linear_model_is_w_times_x_minus_mean():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 7))
    model = LinearRegression().fit(X, X @ rng.normal(size=7) + 1.0)
    bg = X[100:150]
    attr = explain(model, X[:10], method="shapley", background=bg)
    np.testing.assert_allclose(attr.values, model.coef_ * (X[:10] - bg.mean(axis=0)), atol=1e-10)
    np.testing.assert_allclose(attr.base_values, model.predict(bg).mean(), atol=1e-10)
    assert attr.self_check["passed"]


def test_logistic_margin_is_linear_too():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 5))
    model = LogisticRegression().fit(X, (X[:, 0] - X[:, 2] > 0).astype(int))
    bg = X[:30]
    attr = explain(model, X[40:45], method="shapley", background=bg, output="margin")
    assert attr.output == "margin"
    np.testing.assert_allclose(attr.values, model.coef_[0] * (X[40:45] - bg.mean(axis=0)), atol=1e-10)


def test_nonlinear_model_matches_brute_force():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 5))
    y = X[:, 0] * X[:, 1] + np.sin(2 * X[:, 2]) + X[:, 3] * X[:, 4] ** 2
    model = MLPRegressor(hidden_layer_sizes=(16,), max_iter=200, random_state=0).fit(X, y)
    bg = X[200:212]
    attr = explain(model, X[:4], method="shapley", background=bg)
    for r in range(4):
        phi, v0, v1 = brute_force_interventional(model.predict, X[r], bg)
        np.testing.assert_allclose(attr.values[r], phi, atol=1e-10)
        np.testing.assert_allclose(attr.base_values[r], v0, atol=1e-10)


def test_categorical_frame_pipeline_and_evaluation_reuse():
    """A scikit-learn Pipeline reading a DataFrame with categorical and integer columns."""
    rng = np.random.default_rng(4)
    n = 300
    df = pd.DataFrame({"num": rng.normal(size=n),
                       "cat": pd.Categorical(rng.choice(["a", "b", "c"], n)),
                       "grade": rng.integers(1, 4, n),
                       "flag": rng.choice(["yes", "no"], n)})
    y = df.num * (df.cat == "b") + df.grade * (df.flag == "yes") + rng.normal(scale=0.1, size=n)
    pre = ColumnTransformer([("oh", OneHotEncoder(handle_unknown="ignore"), ["cat", "flag"])],
                            remainder="passthrough")
    model = make_pipeline(pre, MLPRegressor(hidden_layer_sizes=(8,), max_iter=300, random_state=0)).fit(df, y)
    bg = df.iloc[100:115]
    X = df.iloc[:5]
    attr = explain(model, X, method="shapley", background=bg)
    for r in range(5):
        phi, _, _ = brute_force_interventional(model.predict, X.iloc[r], bg)
        np.testing.assert_allclose(attr.values[r], phi, atol=1e-10)
    # rows and references that agree on a column share evaluations
    assert attr.extras["model_evaluations"] < attr.extras["naive_evaluations"] / 2


def test_xgboost_categorical_model(hmda_model, hmda, finance_pack):
    from examples.finance_hmda import FEATURES
    from xai_reports.io.tabular import encode_like_pack

    X = encode_like_pack(hmda.iloc[:300][["applicant_id"] + FEATURES], finance_pack, FEATURES)
    bg = X.iloc[:6]
    attr = explain(hmda_model, X.iloc[200:202], method="shapley", background=bg)
    margin = (lambda F: hmda_model.get_booster().predict(xgb.DMatrix(F, enable_categorical=True),
                                                         output_margin=True))
    phi, _, _ = brute_force_interventional(margin, X.iloc[200], bg)
    np.testing.assert_allclose(attr.values[0], phi, atol=2e-5)
    assert attr.output == "margin" and attr.feature_names == FEATURES


def test_torch_model():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    rng = np.random.default_rng(5)
    X = rng.normal(size=(50, 5))
    bg = X[20:30]
    attr = explain(net, X[:3], method="shapley", background=bg)

    def f(M):
        with torch.no_grad():
            return net(torch.as_tensor(np.asarray(M, dtype=np.float32))).double().numpy()[:, 0]

    for r in range(3):
        phi, _, _ = brute_force_interventional(f, X[r], bg)
        np.testing.assert_allclose(attr.values[r], phi, atol=1e-5)   # the adapter runs float32
    assert attr.output == "logit"


def test_matches_shap_exact():
    shap = pytest.importorskip("shap")
    rng = np.random.default_rng(6)
    X = rng.normal(size=(200, 6))
    model = MLPRegressor(hidden_layer_sizes=(8,), max_iter=200, random_state=0).fit(X, X[:, 0] * X[:, 1] + X[:, 2])
    bg = X[100:120]
    ours = explain(model, X[:5], method="shapley", background=bg)
    ref = shap.explainers.Exact(model.predict, shap.maskers.Independent(bg, max_samples=len(bg)))(X[:5])
    np.testing.assert_allclose(ours.values, ref.values, atol=1e-9)
    np.testing.assert_allclose(ours.base_values, ref.base_values, atol=1e-9)


def test_multioutput_needs_target_and_limits():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(200, 4))
    y = np.digitize(X[:, 0], [-0.5, 0.5])
    model = LogisticRegression().fit(X, y)
    with pytest.raises(ExplanationError, match="target"):
        explain(model, X[:2], method="shapley", background=X[:5])
    attr = explain(model, X[:2], method="shapley", background=X[:5], target=1)
    np.testing.assert_allclose(attr.predictions, model.predict_proba(X[:2])[:, 1])
    with pytest.raises(ExplanationError, match="background"):
        explain(model, X[:2], method="shapley", target=1)
    with pytest.raises(ExplanationError, match="kernel_shap"):
        explain(model, X[:2], method="shapley", background=X[:5], target=1, max_features=3)


def test_batch_size_and_row_order_do_not_matter():
    rng = np.random.default_rng(8)
    X = rng.normal(size=(100, 6))
    X[:, 3] = rng.integers(0, 2, 100)
    model = MLPRegressor(hidden_layer_sizes=(8,), max_iter=100, random_state=0).fit(X, X[:, 0] + X[:, 3])
    a = explain(model, X[:8], method="shapley", background=X[50:60])
    b = explain(model, X[:8][::-1], method="shapley", background=X[50:60], batch_size=37)
    np.testing.assert_allclose(a.values, b.values[::-1], atol=1e-12)
