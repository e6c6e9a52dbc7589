"""Adaptive trapezoid integration for ``n_steps="auto"`` on many-kink paths (``_ig_adaptive.py``).

Oracles: a separable model whose integrated gradients are known in closed form
(``f(x) = sum_i g_i(x_i)`` gives ``IG_i = g_i(x_i) - g_i(b_i)`` exactly), a fine
Gauss-Legendre rule on ReLU CNNs, completeness against the model's own outputs,
and the same method with the affine prefix hoisting switched off.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from xai_reports import explain  # noqa: E402
from xai_reports.attribution import _affine_prefix  # noqa: E402
from xai_reports.attribution._ig_adaptive import adaptive_trapezoid  # noqa: E402
from xai_reports.attribution.integrated_gradients import IntegratedGradients  # noqa: E402


class _Kinks(nn.Module):
    """``sum_i s_i relu(x_i - c_i)``: each feature's path integrand is a step at its own point."""

    def __init__(self, c, s):
        super().__init__()
        self.register_buffer("c", c)
        self.register_buffer("s", s)

    def forward(self, x):
        return (self.s * torch.relu(x - self.c)).sum(dim=1, keepdim=True)


def _separable_case():
    g = torch.Generator().manual_seed(4)
    d = 12
    c = 0.1 + 0.8 * torch.rand(d, generator=g, dtype=torch.float64)
    s = 0.5 + torch.rand(d, generator=g, dtype=torch.float64)
    model = _Kinks(c, s).eval()
    x = 0.95 + 0.05 * torch.rand((3, d), generator=g, dtype=torch.float64)
    base = torch.zeros_like(x)
    with torch.no_grad():
        exact = s * (torch.relu(x - c) - torch.relu(base - c))
        delta = (model(x) - model(base))[:, 0]
    return model, x, base, exact, delta


def _run(model, x, base, delta, *, rtol_map, max_steps, rtol=1e-7):
    ig = IntegratedGradients(model).fit()
    prep = ig._prepare(x, "cpu")
    return adaptive_trapezoid(ig, None, prep.x, base, None, ig._output_space(None), 256,
                              rtol * delta.abs(), delta, rtol_map, max_steps)


def test_adaptive_refinement_reaches_the_known_answer_with_fewer_points_than_a_uniform_mesh():
    model, x, base, exact, delta = _separable_case()
    vals, pts = _run(model, x, base, delta, rtol_map=1e-3, max_steps=1024, rtol=1e-6)
    err = np.abs(vals.numpy() - exact.numpy()).max() / np.abs(exact.numpy()).max()
    assert err < 1e-4 and pts.max() < 1024
    # the uniform trapezoid rule with as many points as the most refined row is far less accurate
    m = int(pts.max())
    a = torch.linspace(0, 1, m, dtype=torch.float64)
    w = torch.full((m,), 1.0 / (m - 1), dtype=torch.float64)
    w[0] = w[-1] = 0.5 / (m - 1)
    pts_all = base[None] + a.view(-1, 1, 1) * (x - base)[None]
    p = pts_all.reshape(-1, x.shape[1]).requires_grad_(True)
    (g,) = torch.autograd.grad(model(p).sum(), p)
    uniform = torch.tensordot(w, g.view(m, *x.shape), dims=1) * (x - base)
    err_u = np.abs(uniform.numpy() - exact.numpy()).max() / np.abs(exact.numpy()).max()
    assert err_u > 10 * err


def test_a_row_stops_only_when_both_its_gap_and_its_map_have_settled():
    model, x, base, exact, delta = _separable_case()
    _, loose = _run(model, x, base, delta, rtol_map=0.5, max_steps=1024, rtol=1e-2)
    _, tight = _run(model, x, base, delta, rtol_map=1e-4, max_steps=1024, rtol=1e-2)
    assert (tight > loose).all()         # the same gap rule, a stricter map rule: more points
    _, capped = _run(model, x, base, delta, rtol_map=1e-9, max_steps=40, rtol=1e-12)
    assert (capped <= 41).all()          # never past max_steps (+ the closing point)


def test_each_row_is_refined_on_its_own():
    model, x, base, exact, delta = _separable_case()
    vals, pts = _run(model, x, base, delta, rtol_map=1e-3, max_steps=1024)
    one, pts1 = _run(model, x[1:2], base[1:2], delta[1:2], rtol_map=1e-3, max_steps=1024)
    assert pts1[0] == pts[1]
    np.testing.assert_allclose(one.numpy()[0], vals.numpy()[1], rtol=1e-12, atol=1e-15)


def _kinky_cnn():
    torch.manual_seed(3)
    # a 7x7 stem (worth hoisting), then enough ReLUs that the path crosses many kinks
    return nn.Sequential(nn.Conv2d(3, 16, 7, stride=2, padding=3), nn.ReLU(), nn.Conv2d(16, 32, 3, padding=1),
                         nn.ReLU(), nn.Conv2d(32, 32, 3, stride=2, padding=1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 5)).eval()


@pytest.mark.parametrize("hoist", [True, False])
def test_auto_on_a_many_kink_cnn_matches_a_fine_rule_and_is_complete(hoist):
    model = _kinky_cnn()
    x = torch.rand((3, 3, 40, 36), generator=torch.Generator().manual_seed(5))     # not square, odd sizes
    tgt = model(x).argmax(dim=1).numpy()
    old = IntegratedGradients._hoist
    IntegratedGradients._hoist = hoist
    try:
        auto = explain(model, x, method="integrated_gradients", target=tgt, n_steps="auto", rtol=1e-3,
                       max_steps=256)
    finally:
        IntegratedGradients._hoist = old
    assert set(auto.extras["integration"]) == {"adaptive_trapezoid"}
    assert auto.self_check["passed"] and max(auto.extras["steps_used"]) < 256
    fine = explain(model, x, method="integrated_gradients", target=tgt, n_steps=400)
    for r in range(len(x)):
        corr = np.corrcoef(auto.values[r].ravel(), fine.values[r].ravel())[0, 1]
        assert corr >= 0.9998      # a 17-point rule gives 0.9995 here
    # completeness against the model itself
    with torch.no_grad():
        out = model(x) - model(torch.zeros_like(x))
    delta = out[torch.arange(len(x)), torch.as_tensor(tgt)].double().numpy()
    gap = np.abs(auto.values.reshape(len(x), -1).sum(1) - delta)
    np.testing.assert_allclose(gap, auto.self_check["per_row"], rtol=1e-3, atol=1e-7)
    assert (gap <= 1e-3 * np.abs(delta) + 1e-6).all()


def test_hoisted_and_ordinary_paths_refine_alike(monkeypatch):
    monkeypatch.setattr(_affine_prefix, "MIN_FLOPS_PER_OUTPUT", 0)
    model = _kinky_cnn()
    x = torch.rand((2, 3, 32, 32), generator=torch.Generator().manual_seed(6))
    res = {}
    for hoist in (True, False):
        old = IntegratedGradients._hoist
        IntegratedGradients._hoist = hoist
        try:
            res[hoist] = explain(model, x, method="integrated_gradients", target=1, n_steps="auto", rtol=2e-3,
                                 max_steps=128)
        finally:
            IntegratedGradients._hoist = old
    assert res[True].extras["steps_used"] == res[False].extras["steps_used"]
    scale = np.abs(res[False].values).max()
    np.testing.assert_allclose(res[True].values, res[False].values, rtol=0, atol=1e-5 * scale)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_auto_on_cuda_refines_as_on_the_cpu():
    model = _kinky_cnn()
    x = torch.rand((2, 3, 32, 32), generator=torch.Generator().manual_seed(8))
    kw = dict(method="integrated_gradients", target=1, n_steps="auto", rtol=2e-3, max_steps=128)
    cpu = explain(model, x, device="cpu", **kw)
    gpu = explain(model, x, device="cuda", **kw)
    assert gpu.params["device"].startswith("cuda") and gpu.self_check["passed"]
    assert set(gpu.extras["integration"]) == {"adaptive_trapezoid"}
    # the same rule on another device: steps may differ by a round where a gap sits at the tolerance
    for r in range(len(x)):
        assert np.corrcoef(gpu.values[r].ravel(), cpu.values[r].ravel())[0, 1] >= 0.9995
