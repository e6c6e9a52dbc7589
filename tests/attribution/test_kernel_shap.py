"""KernelSHAP: reproducible under a seed, exact where the budget allows, error shrinking and honestly reported."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression
from sklearn.neural_network import MLPRegressor

from xai_reports import explain
from xai_reports.attribution.kernel_shap import coalition_design


@pytest.fixture(scope="module")
def wide_mlp():
    """11 continuous features, interactions: every (row, reference) pair differs on all features."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 11))
    y = X[:, 0] * X[:, 1] + np.sin(2 * X[:, 2]) + X[:, 3:].sum(axis=1) + X[:, 4] * X[:, 5] * X[:, 6]
    model = MLPRegressor(hidden_layer_sizes=(24,), max_iter=300, random_state=0).fit(X, y)
    return model, X


@pytest.fixture(scope="module")
def wide_exact(wide_mlp):
    model, X = wide_mlp
    return explain(model, X[:8], method="shapley", background=X[200:215])


def test_design_weights_and_pairs():
    Z, w, draws = coalition_design(10, 300, np.random.default_rng(0))
    assert Z.shape[0] == 300 and np.isclose(w.sum(), 1.0)
    sizes = Z.sum(axis=1)
    assert not ((sizes == 0) | (sizes == 10)).any()
    assert len({z.tobytes() for z in Z}) == len(Z)              # repeated draws add weight, not rows
    # sizes 1, 9, 2, 8 are enumerated (10 + 10 + 45 + 45 = 110), the rest sampled in complementary pairs
    enumerated = np.setdiff1d(np.arange(len(Z)), draws.reshape(-1))
    assert enumerated.size == 110 and set(sizes[enumerated]) == {1, 2, 8, 9}
    for a, b in draws:
        np.testing.assert_array_equal(Z[a] + Z[b], np.ones(10))
    # each enumerated coalition carries its exact Shapley-kernel weight
    from math import comb
    k = (10 - 1) / (np.arange(1, 10) * (10 - np.arange(1, 10)))
    k /= k.sum()
    s1 = enumerated[sizes[enumerated] == 1]
    np.testing.assert_allclose(w[s1], k[0] / comb(10, 1))
    # and the sampled ones share the rest of the mass
    assert np.isclose(w[np.unique(draws)].sum(), 1 - sum(k[j - 1] for j in (1, 2, 8, 9)))


def test_same_seed_same_answer_other_seed_other_answer(wide_mlp):
    model, X = wide_mlp
    kw = dict(method="kernel_shap", background=X[200:215], n_samples=128)
    a = explain(model, X[:4], random_state=3, **kw)
    b = explain(model, X[:4], random_state=3, **kw)
    c = explain(model, X[:4], random_state=4, **kw)
    np.testing.assert_array_equal(a.values, b.values)
    assert not np.allclose(a.values, c.values)
    # a row's answer does not depend on the other rows in the batch
    d = explain(model, X[2:3], random_state=3, **kw)
    np.testing.assert_allclose(d.values[0], a.values[2], atol=1e-12)
    assert a.params["random_state"] == 3 and a.params["n_samples"] == 128


def test_error_shrinks_with_samples_and_estimate_is_honest(wide_mlp, wide_exact):
    model, X = wide_mlp
    errs, stds = {}, {}
    for ns in (64, 512):
        e, s = [], []
        for seed in range(3):
            attr = explain(model, X[:8], method="kernel_shap", background=X[200:215], n_samples=ns,
                           random_state=seed)
            assert attr.self_check["passed"]  # efficiency holds exactly whatever the sample
            e.append(np.sqrt(np.mean((attr.values - wide_exact.values) ** 2)))
            s.append(np.sqrt(np.mean(attr.extras["std"] ** 2)))
        errs[ns], stds[ns] = np.mean(e), np.mean(s)
    assert errs[512] < 0.5 * errs[64]
    for ns in errs:  # the reported standard error is the right size
        assert stds[ns] / 3 < errs[ns] < 3 * stds[ns], (ns, errs[ns], stds[ns])


def test_full_budget_is_exact(wide_mlp, wide_exact):
    model, X = wide_mlp
    attr = explain(model, X[:8], method="kernel_shap", background=X[200:215], n_samples=2 ** 11 - 2)
    np.testing.assert_allclose(attr.values, wide_exact.values, atol=1e-9)
    assert attr.extras["exact_pair_fraction"] == 1.0
    plain = explain(model, X[:8], method="kernel_shap", background=X[200:215], n_samples=2 ** 11 - 2,
                    exact_pairs=False)
    np.testing.assert_allclose(plain.values, wide_exact.values, atol=1e-9)
    assert plain.params["designs"] == {11: {"coalitions": 2046, "sampled": 0}}
    assert np.all(plain.extras["std"] == 0)


def test_features_equal_to_every_reference_are_dropped(wide_mlp, wide_exact):
    """A feature on which the row equals all references gets exactly 0 and no budget."""
    model, X = wide_mlp
    bg = X[200:215].copy()
    bg[:, 4] = X[0, 4]
    attr = explain(model, X[:1], method="kernel_shap", background=bg, n_samples=300, exact_pairs=False)
    assert attr.values[0, 4] == 0.0
    assert list(attr.params["designs"]) == [10]


def test_linear_model_is_exact_from_any_sample():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 12))
    model = LinearRegression().fit(X, X @ rng.normal(size=12))
    bg = X[100:120]
    attr = explain(model, X[:5], method="kernel_shap", background=bg, n_samples=60, exact_pairs=False)
    assert attr.params["sampled_coalitions"] > 0
    np.testing.assert_allclose(attr.values, model.coef_ * (X[:5] - bg.mean(axis=0)), atol=1e-9)
    assert attr.extras["std"].max() < 1e-9


def test_categorical_data_pairs_are_exact(hmda_model, hmda, finance_pack):
    """On the finance demo's categorical frame most (row, reference) pairs are small games, computed exactly."""
    from examples.finance_hmda import FEATURES
    from xai_reports.io.tabular import encode_like_pack

    X = encode_like_pack(hmda.iloc[:400][["applicant_id"] + FEATURES], finance_pack, FEATURES)
    bg = X.iloc[:20]
    attr = explain(hmda_model, X.iloc[300:304], method="kernel_shap", background=bg, n_samples=256)
    truth = explain(hmda_model, X.iloc[300:304], method="tree_shap", background=bg)
    assert attr.extras["exact_pair_fraction"] > 0.5
    err = np.abs(attr.values - truth.values)
    assert np.all(err <= 4 * attr.extras["std"] + 2e-5)


def test_matches_shap_kernel_explainer_in_expectation(wide_mlp, wide_exact):
    """shap's KernelExplainer and ours estimate the same quantity (both close to exact)."""
    shap = pytest.importorskip("shap")
    model, X = wide_mlp
    ref = shap.KernelExplainer(model.predict, X[200:215]).shap_values(X[:2], nsamples=1024, silent=True)
    ours = explain(model, X[:2], method="kernel_shap", background=X[200:215], n_samples=1024)
    scale = np.abs(wide_exact.values[:2]).max()
    assert np.abs(ref - wide_exact.values[:2]).max() < 0.1 * scale
    assert np.abs(ours.values - wide_exact.values[:2]).max() < 0.1 * scale


def test_dataframe_and_array_inputs_agree():
    rng = np.random.default_rng(2)
    df = pd.DataFrame(rng.normal(size=(100, 5)), columns=list("abcde"))
    model = MLPRegressor(hidden_layer_sizes=(8,), max_iter=100, random_state=0).fit(df, df.a * df.b)
    a = explain(model, df.iloc[:3], method="kernel_shap", background=df.iloc[50:60], n_samples=20)
    b = explain(model, df.iloc[:3].to_numpy(), method="kernel_shap", background=df.iloc[50:60].to_numpy(),
                n_samples=20)
    np.testing.assert_allclose(a.values, b.values, atol=1e-12)
    assert a.feature_names == list("abcde")
