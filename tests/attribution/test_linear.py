"""method="linear": exact interventional SHAP of scikit-learn linear models per original column,
against brute-force coalition enumeration and shap's LinearExplainer (interventional)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge, SGDClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, PolynomialFeatures, StandardScaler

from _shap_oracles import brute_force_interventional
from xai_reports import ExplanationError, explain, wrap_model
from xai_reports.attribution.auto import choose_method


def _frame(n=400, seed=11):
    """Synthetic applications (labelled synthetic): text categories, a numeric column with missing values."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "tenure": rng.choice(["owns", "rents", "with family"], n, p=[0.5, 0.3, 0.2]),
        "utilisation": rng.uniform(0, 1.2, n),
        "channel": rng.choice(["branch", "web", "broker", "phone"], n),
        "months_on_book": rng.integers(0, 240, n).astype(float),
    })
    df.loc[rng.random(n) < 0.1, "months_on_book"] = np.nan
    logit = 2.5 * (df.utilisation - 0.6) + (df.tenure == "rents") * 0.8 - 0.004 * df.months_on_book.fillna(60)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return df, y


def _pipeline(est, drop=None):
    ct = ColumnTransformer([
        ("cat", OneHotEncoder(handle_unknown="ignore", drop=drop), ["tenure", "channel"]),
        ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), ["utilisation", "months_on_book"]),
    ])
    return make_pipeline(ct, est)


@pytest.mark.parametrize("est,space,drop", [
    (LogisticRegression(C=0.5, max_iter=500), "margin", None),
    (LogisticRegression(max_iter=500), "margin", "first"),
    (Ridge(alpha=2.0), "value", None),
    (SGDClassifier(loss="log_loss", random_state=0), "margin", "if_binary"),
])
def test_pipeline_matches_brute_force_per_original_column(est, space, drop):
    df, y = _frame()
    target = y if space == "margin" else df.utilisation.to_numpy() * 3 + y
    pipe = _pipeline(est, drop).fit(df, target)
    X, B = df.iloc[:6], df.iloc[200:240]
    attr = explain(pipe, X, method="linear", background=B)
    assert attr.output == space and attr.feature_names == list(df.columns)
    f = pipe.decision_function if space == "margin" else pipe.predict
    for i in range(len(X)):
        phi, v0, v1 = brute_force_interventional(f, X.iloc[i], B)
        np.testing.assert_allclose(attr.values[i], phi, atol=1e-9)
        assert attr.base_values[i] == pytest.approx(v0, abs=1e-9)
        assert attr.predictions[i] == pytest.approx(v1, abs=1e-9)
    assert attr.self_check["passed"] and attr.self_check["max_abs_error"] < 1e-9


def test_one_hot_groups_equal_shap_linear_explainer_summed():
    """shap's LinearExplainer (interventional, on the transformed columns) summed per original column."""
    shap = pytest.importorskip("shap")
    df, y = _frame(seed=5)
    pipe = _pipeline(LogisticRegression(max_iter=500)).fit(df, y)
    pre, lr = pipe[:-1], pipe[-1]
    B = df.iloc[100:300]
    TB = np.asarray(pre.transform(B).todense() if hasattr(pre.transform(B), "todense") else pre.transform(B))
    TX = pre.transform(df.iloc[:20])
    TX = np.asarray(TX.todense() if hasattr(TX, "todense") else TX)
    ex = shap.LinearExplainer(lr, shap.maskers.Independent(TB, max_samples=len(TB)))
    sv = ex(TX).values
    names = pre.get_feature_names_out()
    owner = [next(c for c in df.columns if n.split("__", 1)[1].startswith(c)) for n in names]
    expected = np.stack([sv[:, [k for k, o in enumerate(owner) if o == c]].sum(axis=1) for c in df.columns], axis=1)
    attr = explain(pipe, df.iloc[:20], method="linear", background=B)
    np.testing.assert_allclose(attr.values, expected, atol=1e-8)


def test_plain_estimator_on_an_array_and_multiclass_target():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1)
    lr = LogisticRegression(max_iter=500).fit(X, y)
    with pytest.raises(ExplanationError, match="3 outputs: pass target="):
        explain(lr, X[:3], method="linear", background=X[:50])
    attr = explain(lr, X[:5], method="linear", background=X[50:90], target=2)
    expected = lr.coef_[2] * (X[:5] - X[50:90].mean(axis=0))
    np.testing.assert_allclose(attr.values, expected, atol=1e-12)
    reg = LinearRegression().fit(X, X @ [1.0, -2.0, 0.5, 0.0])
    a = explain(reg, X[:5], method="linear", background=X[:100])
    np.testing.assert_allclose(a.values, reg.coef_ * (X[:5] - X[:100].mean(axis=0)), atol=1e-12)


def test_refusals_name_the_cause():
    df, y = _frame()
    pipe = _pipeline(LogisticRegression(max_iter=500)).fit(df, y)
    with pytest.raises(ExplanationError, match="reference population: pass background="):
        explain(pipe, df.iloc[:3], method="linear")
    with pytest.raises(ExplanationError, match="exact in its 'margin' space only"):
        explain(pipe, df.iloc[:3], method="linear", background=df.iloc[:20], output="probability")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 3))
    poly = make_pipeline(PolynomialFeatures(2), LogisticRegression()).fit(X, X[:, 0] * X[:, 1] > 0)
    with pytest.raises(ExplanationError, match="PolynomialFeatures may mix columns"):
        explain(poly, X[:3], method="linear", background=X[:20])
    mlp = MLPClassifier((4,), max_iter=50, random_state=0).fit(X, X[:, 0] > 0)
    with pytest.raises(ExplanationError, match="needs a scikit-learn linear estimator"):
        explain(mlp, X[:3], method="linear", background=X[:20])


def test_auto_picks_the_most_exact_method():
    df, y = _frame()
    pipe = _pipeline(LogisticRegression(max_iter=500)).fit(df, y)
    assert choose_method(wrap_model(pipe)) == "linear"
    attr = explain(pipe, df.iloc[:4], method="auto", background=df.iloc[:30])
    assert attr.method == "linear" and attr.params["chosen_by"] == "auto"
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 5))
    mlp = MLPClassifier((4,), max_iter=200, random_state=0).fit(X, X[:, 0] + X[:, 3] > 0)
    assert choose_method(wrap_model(mlp)) == "shapley"
    a = explain(mlp, X[:3], method="auto", background=X[:10])
    assert a.method == "shapley"
    phi, _, _ = brute_force_interventional(lambda Z: mlp.predict_proba(Z)[:, 1], X[0], X[:10])
    np.testing.assert_allclose(a.values[0], phi, atol=1e-9)
    wide = rng.normal(size=(60, 14))
    mlp14 = MLPClassifier((3,), max_iter=100, random_state=0).fit(wide, wide[:, 0] > 0)
    assert choose_method(wrap_model(mlp14)) == "kernel_shap"
    k = explain(mlp14, wide[:2], method="auto", background=wide[:8], n_samples=256)
    assert k.method == "kernel_shap" and "std" in k.extras          # the estimate states its error
    import xgboost as xgb

    booster = xgb.XGBClassifier(n_estimators=5, max_depth=2).fit(X, X[:, 0] > 0)
    assert explain(booster, X[:3], method="auto").method == "tree_shap"
