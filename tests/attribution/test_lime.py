"""LIME: exact on linear models, identical reruns with one seed, any model family, images via superpixels."""

import numpy as np
import pandas as pd
import pytest
import torch

from xai_reports import explain, wrap_model
from xai_reports.attribution.lime import weighted_ridge

from _torch_models import mlp


def test_linear_model_recovered_exactly():
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 5))
    y = X @ [1.0, -2.0, 0.5, 0.0, 3.0] + 0.3
    lr = LinearRegression().fit(X, y)
    a = explain(lr, X[:4], method="lime", background=X, alpha=0.0, n_samples=200)
    np.testing.assert_allclose(a.values, lr.coef_ * (X[:4] - X.mean(0)), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(a.base_values, lr.predict(X.mean(0, keepdims=True))[0], rtol=1e-10)
    assert a.self_check["kind"] == "surrogate_fit" and a.self_check["min_r2"] > 1 - 1e-10
    assert a.params["n_samples"] == 200 and a.params["kernel_width"] == pytest.approx(0.75 * np.sqrt(5))
    # the default small ridge penalty shrinks only slightly
    b = explain(lr, X[:4], method="lime", background=X, n_samples=200, kernel_width=3.0)
    np.testing.assert_allclose(b.values, a.values, rtol=1e-3, atol=1e-4)
    assert b.params["kernel_width"] == 3.0


def test_same_seed_same_answer_and_batch_invariance():
    m = mlp(d=5, k=3)
    x = torch.randn(6, 5, generator=torch.Generator().manual_seed(0)).numpy()
    a = explain(m, x, method="lime", seed=7, n_samples=300)
    b = explain(m, x, method="lime", seed=7, n_samples=300)
    c = explain(m, x, method="lime", seed=8, n_samples=300)
    assert np.array_equal(a.values, b.values) and np.array_equal(a.base_values, b.base_values)
    assert not np.array_equal(a.values, c.values)
    # a row gets the same answer wherever it sits in X
    tgt = a.extras.get("target_per_row", [a.target] * 6)[3]
    one = explain(m, x[3:4], method="lime", seed=7, n_samples=300, target=tgt)
    moved = explain(m, x[[5, 3]], method="lime", seed=7, n_samples=300, target=tgt)
    np.testing.assert_allclose(one.values[0], a.values[3], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(moved.values[1], a.values[3], rtol=1e-6, atol=1e-8)
    assert a.params["seed"] == 7


def test_weighted_ridge_matches_sklearn():
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(1)
    Z = rng.integers(0, 2, size=(60, 4)).astype(float)
    y = rng.normal(size=60)
    w = rng.uniform(0.1, 1, size=60)
    coef, b, r2, _ = weighted_ridge(Z, y, w, alpha=0.5)
    ref = Ridge(alpha=0.5).fit(Z, y, sample_weight=w)
    np.testing.assert_allclose(coef, ref.coef_, rtol=1e-8)
    np.testing.assert_allclose(b, ref.intercept_, rtol=1e-8)
    assert r2 == pytest.approx(ref.score(Z, y, sample_weight=w), rel=1e-8)


def test_xgboost_with_categorical_dataframe():
    import xgboost as xgb

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300),
                      "c": pd.Categorical(rng.choice(["x", "y", "z"], size=300))})
    y = 2 * X["a"] + 3 * (X["c"] == "z")  # additive in a and c; b unused
    model = xgb.XGBRegressor(n_estimators=30, max_depth=2, enable_categorical=True, tree_method="hist").fit(X, y)
    a = explain(model, X.iloc[:3], method="lime", background=X, n_samples=400, seed=0)
    assert a.values.shape == (3, 3) and a.feature_names == ["a", "b", "c"] and a.output == "value"
    occ = explain(model, X.iloc[:3], method="occlusion", background=X)  # additive model: LIME = occlusion
    np.testing.assert_allclose(a.values, occ.values, atol=0.05 * np.abs(occ.values).max())
    b = explain(model, X.iloc[:3], method="lime", background=X, n_samples=400, seed=0)
    assert np.array_equal(a.values, b.values)


def test_images_via_superpixels():
    from xai_reports.metrics import pointing_game

    class Region(torch.nn.Module):
        """Brightness of the top-left quadrant."""

        def forward(self, x):
            return x[:, :, :16, :16].mean(dim=(1, 2, 3))

    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 32, 32, generator=g) * 0.1
    x[:, :, 4:12, 4:12] += 0.8  # a bright patch inside the quadrant
    ad = wrap_model(Region(), output_space="value")
    a = explain(ad, x, method="lime", n_samples=150, n_segments=16, seed=0, baselines=0.0)
    assert a.values.shape == (2, 32, 32) and a.extras["segments"].shape == (2, 32, 32)
    assert pointing_game(a, boxes=(0, 0, 16, 16)).all()
    assert np.abs(a.values[:, 20:, 20:]).max() < 0.05 * a.values.max()  # pixels the model ignores
    b = explain(ad, x, method="lime", n_samples=150, n_segments=16, seed=0, baselines=0.0)
    assert np.array_equal(a.values, b.values) and a.params["superpixels"] == "slic"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_equals_cpu():
    m = mlp(d=5, k=3)
    x = torch.randn(4, 5, generator=torch.Generator().manual_seed(0)).numpy()
    from xai_reports import wrap_model
    cpu = explain(wrap_model(mlp(d=5, k=3), device="cpu"), x, method="lime", n_samples=200)
    gpu = explain(wrap_model(m, device="cuda"), x, method="lime", n_samples=200)
    np.testing.assert_allclose(gpu.values, cpu.values, rtol=1e-3, atol=1e-5)
