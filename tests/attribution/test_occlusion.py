"""Occlusion: images against captum's Occlusion, tabular against linear-model truth, any model family."""

import numpy as np
import pandas as pd
import pytest
import torch

from xai_reports import ExplanationError, explain

from _torch_models import cnn, images, linear, mlp

captum_attr = pytest.importorskip("captum.attr")


@pytest.mark.parametrize("window,strides,cwin,cstr", [
    ((4, 4), 2, (3, 4, 4), (3, 2, 2)),
    ((3, 5), (2, 3), (3, 3, 5), (3, 2, 3)),
    ((1, 2, 2), (1, 2, 2), (1, 2, 2), (1, 2, 2)),
])
def test_image_occlusion_matches_captum(window, strides, cwin, cstr):
    m = cnn(double=True)
    x = images(2, 8, double=True)
    attr = explain(m, x, method="occlusion", window=window, strides=strides, baselines=0.25, target=2)
    ref = captum_attr.Occlusion(m).attribute(x, sliding_window_shapes=cwin, strides=cstr, baselines=0.25, target=2)
    assert attr.values.shape == (2, 3, 8, 8)
    np.testing.assert_allclose(attr.values, ref.detach().numpy(), rtol=1e-6, atol=1e-9)  # captum builds its masks in float32
    small = explain(m, x, method="occlusion", window=window, strides=strides, baselines=0.25, target=2,
                    internal_batch_size=3)
    np.testing.assert_allclose(small.values, attr.values, rtol=1e-12, atol=1e-14)


def test_image_occlusion_default_target_and_params():
    m = cnn()
    x = images(2, 16)
    attr = explain(m, x, method="occlusion", window=(4, 4), strides=4)
    assert attr.params["positions"] == 16 and attr.params["window"] == [3, 4, 4]
    ref = captum_attr.Occlusion(m).attribute(x, sliding_window_shapes=(3, 4, 4), strides=(3, 4, 4),
                                             target=m(x).argmax(1))
    np.testing.assert_allclose(attr.values, ref.numpy(), rtol=1e-4, atol=1e-6)
    with pytest.raises(ExplanationError, match="do not fit"):
        explain(m, x, method="occlusion", window=(20, 20))


def test_tabular_occlusion_linear_truth_and_background():
    m = linear(d=4)
    g = torch.Generator().manual_seed(0)
    x = torch.randn((6, 4), generator=g, dtype=torch.float64)
    bg = torch.randn((50, 4), generator=g, dtype=torch.float64)
    w = m.weight.detach().numpy()[0]
    a = explain(m, x.numpy(), method="occlusion")
    np.testing.assert_allclose(a.values, w * x.numpy(), rtol=1e-6, atol=1e-6)
    b = explain(m, x.numpy(), method="occlusion", background=bg.numpy())
    np.testing.assert_allclose(b.values, w * (x.numpy() - bg.numpy().mean(0)), rtol=1e-5, atol=1e-6)
    assert b.self_check["kind"] == "interaction_gap" and b.self_check["max_abs_error"] < 1e-5
    c = explain(m, x.numpy(), method="occlusion", baselines=[1.0, 2.0, 3.0, 4.0])
    np.testing.assert_allclose(c.values, w * (x.numpy() - [1, 2, 3, 4]), rtol=1e-5, atol=1e-6)


def test_tabular_occlusion_matches_captum_on_mlp():
    m = mlp(double=True)
    x = torch.randn((5, 5), generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    a = explain(m, x, method="occlusion", target=1)
    ref = captum_attr.Occlusion(m).attribute(x, sliding_window_shapes=(1,), target=1)
    np.testing.assert_allclose(a.values, ref.numpy(), rtol=1e-6, atol=1e-9)  # captum builds its masks in float32
    assert a.self_check["max_abs_error"] > 0  # a non-additive model shows interactions


def test_tabular_occlusion_sklearn_and_xgboost_dataframes():
    from sklearn.linear_model import LogisticRegression
    import xgboost as xgb

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(200, 3)), columns=["a", "b", "c"])
    y = (X["a"] - X["b"] > 0).astype(int)
    lr = LogisticRegression().fit(X, y)
    from xai_reports import wrap_model
    ad = wrap_model(lr, output_space="margin")
    a = explain(ad, X.iloc[:5], method="occlusion", background=X)
    np.testing.assert_allclose(a.values, lr.coef_[0] * (X.iloc[:5] - X.mean()).to_numpy(), rtol=1e-8)
    assert a.feature_names == ["a", "b", "c"]
    Xc = X.copy()
    Xc["d"] = pd.Categorical(np.where(rng.random(200) > 0.5, "x", "y"))
    model = xgb.XGBClassifier(n_estimators=5, max_depth=2, enable_categorical=True, tree_method="hist").fit(Xc, y)
    o = explain(model, Xc.iloc[:4], method="occlusion", background=Xc)
    ad = wrap_model(model)
    for j, c in enumerate(Xc.columns):
        rep = Xc.iloc[:4].copy()
        rep[c] = Xc[c].mean() if c != "d" else pd.Categorical([Xc["d"].mode()[0]] * 4, categories=["x", "y"])
        np.testing.assert_allclose(o.values[:, j], ad.predict(Xc.iloc[:4]) - ad.predict(rep), rtol=1e-6, atol=1e-6)
    assert o.extras["replacement_values"][3] == Xc["d"].mode()[0]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_equals_cpu():
    m = cnn()
    x = images(3, 16)
    cpu = explain(m, x, method="occlusion", window=(4, 4), strides=2, device="cpu")
    gpu = explain(m, x, method="occlusion", window=(4, 4), strides=2, device="cuda")
    np.testing.assert_allclose(gpu.values, cpu.values, rtol=1e-3, atol=1e-5)


def test_integer_columns_take_a_fractional_background_mean():
    import warnings

    from sklearn.linear_model import LinearRegression

    X = pd.DataFrame({"n": np.array([0, 1, 2, 3, 5, 7], dtype=np.int64), "x": np.linspace(0, 1, 6)})
    lr = LinearRegression().fit(X, X["n"] * 2.0 + X["x"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")       # no silent dtype casts
        o = explain(lr, X.iloc[:2], method="occlusion", background=X)
        li = explain(lr, X.iloc[:2], method="lime", background=X, n_samples=50, alpha=0.0)
    expected = lr.coef_ * (X.iloc[:2] - X.mean()).to_numpy()
    np.testing.assert_allclose(o.values, expected, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(li.values, expected, rtol=1e-6, atol=1e-8)
