"""Integrated gradients, saliency, SmoothGrad, gradient x input: against analytic answers,
finite differences and captum (test-only oracle)."""

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from xai_reports import ExplanationError, explain
from xai_reports.attribution.integrated_gradients import IntegratedGradients, quadrature

from _torch_models import cnn, images, linear, mlp

captum_attr = pytest.importorskip("captum.attr")


def _x(n=12, d=5, seed=3, double=True):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn((n, d), generator=g)
    return x.double() if double else x


# -- integrated gradients -------------------------------------------------------------------
def test_ig_linear_model_is_exact():
    m = linear(d=4)
    x, b = _x(6, 4), _x(6, 4, seed=9)
    w = m.weight.detach().numpy()[0]
    for steps in (1, 3, 50):
        attr = explain(m, x, method="integrated_gradients", baselines=b, n_steps=steps)
        np.testing.assert_allclose(attr.values, w * (x - b).numpy(), rtol=1e-12, atol=1e-12)
        assert attr.self_check["kind"] == "completeness" and attr.self_check["max_abs_error"] < 1e-12
    np.testing.assert_allclose(attr.predictions, m(x).detach().numpy()[:, 0])
    np.testing.assert_allclose(attr.base_values, m(b).detach().numpy()[:, 0])
    np.testing.assert_allclose(attr.additivity_error, 0, atol=1e-12)


def test_ig_quadratic_model_exact_with_gauss_legendre():
    # f(x) = sum(a * x^2): IG_i = a_i (x_i^2 - b_i^2) exactly; 2-point Gauss-Legendre integrates it exactly
    a = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)

    class Quad(nn.Module):
        def forward(self, x):
            return (a * x ** 2).sum(dim=1)

    x, b = _x(5, 3), _x(5, 3, seed=4)
    attr = IntegratedGradients(_value(Quad())).attribute(x, baselines=b, n_steps=2)
    np.testing.assert_allclose(attr.values, (a * (x ** 2 - b ** 2)).numpy(), atol=1e-12)
    assert attr.output == "value"
    # the path integrand is linear in alpha: the trapezoid rule is exact too, and midpoint as well
    for rule in ("riemann_trapezoid", "riemann_middle"):
        t = IntegratedGradients(_value(Quad())).attribute(x, baselines=b, n_steps=3, method=rule)
        np.testing.assert_allclose(t.values, (a * (x ** 2 - b ** 2)).numpy(), atol=1e-12)


# captum's riemann_trapezoid weights sum to (n - 1) / n (endpoints halved on a 1/n grid), so it is
# checked on a model where the right answer is known instead (test_ig_quadratic_model...)
@pytest.mark.parametrize("method", ["gausslegendre", "riemann_middle", "riemann_left", "riemann_right"])
def test_ig_matches_captum_on_mlp(method):
    m = mlp(double=True)
    x = _x()
    b = _x(seed=5) * 0.1
    attr = IntegratedGradients(m).attribute(x, baselines=b, n_steps=20, method=method)
    pred = m(x).argmax(dim=1)
    ref, delta = captum_attr.IntegratedGradients(m).attribute(
        x, baselines=b, target=pred, n_steps=20, method=method, return_convergence_delta=True)
    np.testing.assert_allclose(attr.values, ref.detach().numpy(), rtol=1e-6, atol=1e-10)  # captum keeps float32 weights
    np.testing.assert_allclose(attr.self_check["per_row"], delta.abs().numpy(), atol=1e-7)
    assert attr.target is None or attr.target == int(pred[0])


def test_ig_images_match_captum_and_targets():
    m = cnn(double=True)
    x = images(3, 8, double=True)
    attr = explain(m, x, method="integrated_gradients", target=2, n_steps=16, baselines=0.5)
    ref = captum_attr.IntegratedGradients(m).attribute(x, baselines=0.5, target=2, n_steps=16)
    assert attr.values.shape == (3, 3, 8, 8) and attr.feature_names is None and attr.target == 2
    np.testing.assert_allclose(attr.values, ref.detach().numpy(), rtol=1e-6, atol=1e-10)  # captum keeps float32 weights


def test_ig_completeness_smooth_model_and_auto_steps():
    m = mlp(act=nn.Tanh, double=True)
    x = _x(20)
    fixed = explain(m, x, method="integrated_gradients", n_steps=64)
    assert fixed.self_check["max_rel_error"] < 1e-8 and fixed.self_check["passed"]
    auto = explain(m, x, method="integrated_gradients", n_steps="auto", rtol=1e-6)
    steps = np.asarray(auto.extras["steps_used"])
    assert auto.self_check["passed"] and auto.self_check["max_rel_error"] <= 1e-6
    assert steps.min() >= 8 and steps.max() <= 64 and auto.params["n_steps"] == "auto"
    # each row got the first rule of the schedule that meets rtol: one step fewer does not
    for i in np.nonzero(steps > 8)[0][:3]:
        prev = explain(m, x[i:i + 1], method="integrated_gradients", n_steps=int(steps[i]) // 2)
        assert prev.self_check["max_rel_error"] > 1e-6


def test_ig_auto_reports_unconverged_rows():
    m = mlp(act=nn.Tanh, double=True)
    x = _x(6)
    auto = explain(m, x, method="integrated_gradients", n_steps="auto", rtol=1e-14, max_steps=8)
    assert not auto.self_check["passed"] and max(auto.extras["steps_used"]) == 8
    assert set(auto.extras["integration"]) == {"gausslegendre"}


def _exact_ig_one_hidden_layer(lin1, lin2, x, b):
    """Closed form for f = v . relu(W x + c) + d along the straight path: each hidden unit is active
    on a sub-interval of [0, 1] whose length is known, so IG_i = sum_j v_j W_ji (x_i - b_i) len_j."""
    W, c = lin1.weight.detach().numpy(), lin1.bias.detach().numpy()
    v = lin2.weight.detach().numpy()[0]
    z0, z1 = b @ W.T + c, x @ W.T + c                   # (n, h): z(alpha) = z0 + alpha (z1 - z0)
    dz = z1 - z0
    with np.errstate(divide="ignore", invalid="ignore"):
        cross = np.clip(-z0 / dz, 0, 1)
    length = np.where(dz > 0, 1 - cross, np.where(dz < 0, cross, (z0 > 0).astype(float)))
    return (length * v) @ W * (x - b)


def test_ig_auto_is_exact_on_relu_networks():
    torch.manual_seed(0)
    lin1, lin2 = nn.Linear(5, 32), nn.Linear(32, 1)
    m = nn.Sequential(lin1, nn.ReLU(), lin2).double().eval()
    x, b = _x(10, 5).numpy(), (_x(10, 5, seed=8) * 0.5).numpy()
    truth = _exact_ig_one_hidden_layer(lin1, lin2, x, b)
    auto = explain(m, x, method="integrated_gradients", n_steps="auto", baselines=b)
    assert set(auto.extras["integration"]) == {"piecewise_linear"}
    np.testing.assert_allclose(auto.values, truth, rtol=1e-9, atol=1e-12)
    assert auto.self_check["max_rel_error"] < 1e-9
    # steps used = linear pieces walked = 1 + the hidden units that switch on the path
    z0 = b @ lin1.weight.detach().numpy().T + lin1.bias.detach().numpy()
    z1 = x @ lin1.weight.detach().numpy().T + lin1.bias.detach().numpy()
    assert auto.extras["steps_used"] == (1 + ((z0 > 0) != (z1 > 0)).sum(axis=1)).tolist()
    # fixed Gauss-Legendre converges only like 1/n here
    fixed = explain(m, x, method="integrated_gradients", n_steps=50, baselines=b)
    assert fixed.self_check["max_rel_error"] > 1e3 * auto.self_check["max_rel_error"]
    # float32 and leaky ReLU, deeper, multi-class, in-place ReLU
    torch.manual_seed(1)
    deep = nn.Sequential(nn.Linear(5, 16), nn.ReLU(inplace=True), nn.Linear(16, 16), nn.LeakyReLU(0.1),
                         nn.Linear(16, 3)).eval()
    a32 = explain(deep, x.astype(np.float32), method="integrated_gradients", n_steps="auto")
    assert set(a32.extras["integration"]) == {"piecewise_linear"} and a32.self_check["passed"]
    ref = explain(deep.double(), x, method="integrated_gradients", n_steps="auto")
    np.testing.assert_allclose(a32.values, ref.values, rtol=1e-3, atol=1e-5)


def test_ig_auto_falls_back_when_a_kink_is_hidden_from_the_walk():
    class Hidden(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(2)
            self.a, self.act, self.b, self.c = nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 16), nn.Linear(16, 1)

        def forward(self, x):
            return self.c(torch.relu(self.b(self.act(self.a(x)))))   # the second ReLU is functional

    m = Hidden().double().eval()
    x = _x(8)
    auto = explain(m, x, method="integrated_gradients", n_steps="auto", rtol=1e-4, max_steps=128)
    assert "gausslegendre" in auto.extras["integration"]       # the walk missed kinks on some rows
    how = np.asarray(auto.extras["integration"])
    rel = np.asarray(auto.self_check["per_row_rel"])
    assert (rel[how == "piecewise_linear"] <= 1e-4).all()     # only rows the walk got right are kept from it
    # the reported error is the real one
    with torch.no_grad():
        delta = (m(x) - m(torch.zeros_like(x)))[:, 0].numpy()
    np.testing.assert_allclose(auto.self_check["per_row"], np.abs(auto.values.sum(1) - delta), atol=1e-12)
    assert auto.self_check["passed"] == bool((rel <= 1e-4).all())


def test_ig_dataframe_names_batching_and_binary_output():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1)).double().eval()
    X = pd.DataFrame(_x(10, 3).numpy(), columns=["a", "b", "c"])
    one = explain(m, X, method="integrated_gradients", n_steps=10)
    small = explain(m, X, method="integrated_gradients", n_steps=10, internal_batch_size=3)
    tiny = explain(m, X, method="integrated_gradients", n_steps=10, internal_batch_size=1)
    assert one.feature_names == ["a", "b", "c"] and one.values.shape == (10, 3) and one.target is None
    np.testing.assert_allclose(one.values, small.values, rtol=1e-12)
    np.testing.assert_allclose(one.values, tiny.values, rtol=1e-12)
    with pytest.raises(ExplanationError, match="single output"):
        explain(m, X, method="integrated_gradients", target=2)


def test_ig_per_row_targets_and_probability_output():
    m = mlp(double=True)
    x = _x(4)
    t = [0, 2, 1, 2]
    attr = explain(m, x, method="integrated_gradients", target=t, n_steps=30, output="probability")
    ref = captum_attr.IntegratedGradients(lambda z: torch.softmax(m(z), dim=1)).attribute(
        x, target=torch.tensor(t), n_steps=30)
    np.testing.assert_allclose(attr.values, ref.numpy(), rtol=1e-6, atol=1e-10)
    assert attr.extras["target_per_row"] == t and attr.output == "probability"
    with pytest.raises(ExplanationError, match="out of range"):
        explain(m, x, method="integrated_gradients", target=7)


def test_bad_inputs_are_clear_errors():
    m = mlp(double=True)
    x = _x(3)
    x[1, 2] = float("nan")
    with pytest.raises(ExplanationError, match="row 1"):
        explain(m, x, method="integrated_gradients")
    with pytest.raises(ExplanationError, match="baselines"):
        explain(m, _x(3), method="integrated_gradients", baselines=np.zeros(7))
    with pytest.raises(ExplanationError, match="n_steps"):
        explain(m, _x(3), method="integrated_gradients", n_steps="many")
    with pytest.raises(ExplanationError, match="differentiable"):
        from sklearn.linear_model import LinearRegression
        explain(LinearRegression().fit(np.eye(3), [1, 2, 3]), np.eye(3), method="saliency")


def test_quadrature_rules_integrate_polynomials():
    for n in (1, 4, 9):
        a, w = quadrature(n)
        assert abs(w.sum() - 1) < 1e-14
        # Gauss-Legendre with n points is exact for degree 2n - 1
        assert abs((w * a ** (2 * n - 1)).sum() - 1 / (2 * n)) < 1e-13
    a, w = quadrature(5, "riemann_trapezoid")
    assert a[0] == 0 and a[-1] == 1 and abs(w.sum() - 1) < 1e-14


# -- saliency, gradient x input, smoothgrad ------------------------------------------------
def _fd_grad(f, x, h=1e-6):
    g = torch.zeros_like(x)
    for j in range(x.shape[1]):
        e = torch.zeros_like(x)
        e[:, j] = h
        g[:, j] = (f(x + e) - f(x - e)) / (2 * h)
    return g


def test_saliency_matches_finite_differences_and_captum():
    m = mlp(act=nn.Tanh, double=True)
    x = _x(8)
    attr = explain(m, x, method="saliency", target=1, abs=False)
    fd = _fd_grad(lambda z: m(z)[:, 1], x)
    np.testing.assert_allclose(attr.values, fd.detach().numpy(), rtol=1e-6, atol=1e-9)
    ref = captum_attr.Saliency(m).attribute(x, target=1)
    np.testing.assert_allclose(explain(m, x, method="saliency", target=1).values, ref.numpy(), rtol=1e-12)
    assert attr.self_check["kind"] == "finite_difference" and attr.self_check["passed"]


def test_saliency_self_check_catches_a_non_differentiable_model():
    w = torch.tensor([1.0, 2.0, -1.0], dtype=torch.float64)

    class Detached(nn.Module):
        def forward(self, x):
            return (x.detach() * w).sum(dim=1) + 0.0 * x.sum(dim=1)

    attr = explain(Detached(), _x(4, 3), method="saliency", abs=False)
    assert not attr.self_check["passed"]


def test_saliency_on_images_matches_captum():
    m = cnn()
    x = images(2, 8)
    attr = explain(m, x, method="saliency", target=3)
    ref = captum_attr.Saliency(m).attribute(x, target=3)
    assert attr.values.shape == (2, 3, 8, 8)
    np.testing.assert_allclose(attr.values, ref.numpy(), rtol=1e-5, atol=1e-7)


def test_gradient_x_input_matches_captum_and_linear_truth():
    m = mlp(double=True)
    x = _x(6)
    pred = m(x).argmax(dim=1)
    attr = explain(m, x, method="gradient_x_input")
    ref = captum_attr.InputXGradient(m).attribute(x, target=pred)
    np.testing.assert_allclose(attr.values, ref.detach().numpy(), rtol=1e-12)
    lin = nn.Linear(4, 1, bias=False).double()
    x4 = _x(5, 4)
    a = explain(lin, x4, method="gradient_x_input")
    np.testing.assert_allclose(a.values.sum(axis=1), lin(x4).detach().numpy()[:, 0], rtol=1e-12)


class Cubic(nn.Module):
    def forward(self, x):
        return (x ** 3).sum(dim=1)


def test_smoothgrad_expectation_seed_and_captum():
    # E[d/dx (x + e)^3] = 3 x^2 + 3 sigma^2 exactly
    x = _x(3, 4)
    sigma = 0.3
    a = explain(_value(Cubic()), x, method="smoothgrad", stdevs=sigma, nt_samples=4000, seed=1)
    truth = 3 * x.numpy() ** 2 + 3 * sigma ** 2
    se = 3 * np.sqrt(np.var(2 * 3 * x.numpy()[..., None] * np.random.default_rng(0).normal(0, sigma, 4000), axis=-1)
                     / 4000)
    assert np.all(np.abs(a.values - truth) < 5 * se + 0.02)
    b = explain(_value(Cubic()), x, method="smoothgrad", stdevs=sigma, nt_samples=4000, seed=1)
    c = explain(_value(Cubic()), x, method="smoothgrad", stdevs=sigma, nt_samples=4000, seed=2)
    assert np.array_equal(a.values, b.values) and not np.array_equal(a.values, c.values)
    assert a.params["seed"] == 1 and a.params["nt_samples"] == 4000
    torch.manual_seed(0)
    ref = captum_attr.NoiseTunnel(captum_attr.Saliency(Cubic())).attribute(
        x, nt_type="smoothgrad", nt_samples=4000, stdevs=sigma, abs=False)
    assert np.all(np.abs(ref.numpy() - truth) < 5 * se + 0.02)


def _value(module):
    from xai_reports import wrap_model
    return wrap_model(module, output_space="value")


def test_smoothgrad_images_batched_equals_unbatched():
    m = cnn()
    x = images(3, 8)
    a = explain(m, x, method="smoothgrad", nt_samples=6, seed=0)
    b = explain(m, x, method="smoothgrad", nt_samples=6, seed=0, internal_batch_size=5)
    assert a.values.shape == (3, 3, 8, 8)
    np.testing.assert_allclose(a.values, b.values, rtol=1e-5, atol=1e-7)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("method,opts", [("integrated_gradients", {"n_steps": 32}), ("saliency", {}),
                                         ("smoothgrad", {"nt_samples": 8}), ("gradient_x_input", {})])
def test_cuda_equals_cpu(method, opts):
    m = cnn()
    x = images(4, 16)
    cpu = explain(m, x, method=method, device="cpu", **opts)
    gpu = explain(m, x, method=method, device="cuda", **opts)
    assert gpu.params["device"].startswith("cuda")
    np.testing.assert_allclose(gpu.values, cpu.values, rtol=1e-3, atol=1e-5)
    assert next(m.parameters()).device.type == "cpu"  # the module is put back where it was


def test_hooks_removed_when_the_model_fails_during_the_walk():
    from _torch_models import hooks_left

    class Fussy(nn.Module):
        """Fails on batches larger than 10 rows (the walk's forward pass doubles the batch)."""

        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.net = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 1)).double()

        def forward(self, x):
            if x.shape[0] > 10:
                raise RuntimeError("batch too large")
            return self.net(x)

    m = Fussy().eval()
    with pytest.raises(RuntimeError, match="batch too large"):
        explain(m, _x(8), method="integrated_gradients", n_steps="auto", internal_batch_size=12)
    assert hooks_left(m) == 0
    a = explain(m, _x(8), method="integrated_gradients", n_steps="auto", internal_batch_size=10)
    assert a.self_check["passed"] and hooks_left(m) == 0


def test_smoothgrad_row_gets_same_noise_wherever_it_is():
    m = mlp(act=nn.Tanh, double=True)
    x = _x(5)
    a = explain(m, x, method="smoothgrad", nt_samples=10, seed=3, target=0)
    b = explain(m, x[[4, 2]], method="smoothgrad", nt_samples=10, seed=3, target=0)
    np.testing.assert_allclose(b.values, a.values[[4, 2]], rtol=1e-12)


def test_ig_auto_skips_the_walk_when_the_path_has_too_many_kinks():
    torch.manual_seed(0)
    wide = nn.Sequential(nn.Linear(5, 400), nn.ReLU(), nn.Linear(400, 1)).double().eval()
    x = _x(3) * 5
    a = explain(wide, x, method="integrated_gradients", n_steps="auto", max_steps=64, rtol=1e-2)
    # too many kinks for the walk: adaptive trapezoid refinement instead
    assert set(a.extras["integration"]) == {"adaptive_trapezoid"}
    assert a.self_check["passed"] and max(a.extras["steps_used"]) <= 65
    b = explain(wide, x, method="integrated_gradients", n_steps="auto", rtol=1e-2)
    assert set(b.extras["integration"]) == {"piecewise_linear"} and b.self_check["max_rel_error"] < 1e-9
