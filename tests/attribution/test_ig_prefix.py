"""Integrated gradients with the model's affine prefix hoisted out of the quadrature steps.

On image models the first layers up to the first non-linearity (``P``, affine) run on the input and
the baseline only, the path is interpolated in ``P``'s output space, and one vector-Jacobian product
per row pulls the weighted gradient sum back (``xai_reports/attribution/_affine_prefix.py``). The
oracle is the same method with hoisting switched off (the ordinary path: every point through the
whole model) and completeness against the model's own outputs; the split itself is checked on
what it must find and where it must stop.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from _torch_models import seed_batchnorm  # noqa: E402
from xai_reports import explain  # noqa: E402
from xai_reports.attribution import _affine_prefix  # noqa: E402
from xai_reports.attribution._torch import image_module  # noqa: E402
from xai_reports.attribution.integrated_gradients import IntegratedGradients  # noqa: E402


class _Normalised(nn.Module):
    """Input normalisation written in ``forward`` (constant buffers), zero padding, conv, average pool."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor([0.4, 0.5, 0.6]))
        self.register_buffer("std", torch.tensor([0.2, 0.25, 0.3]))
        self.pad = nn.ZeroPad2d(1)
        self.conv = nn.Conv2d(3, 6, 3)
        self.pool = nn.AvgPool2d(2)
        self.body = nn.Sequential(nn.ReLU(inplace=True), nn.Conv2d(6, 8, 3, stride=2), nn.Tanh(),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))

    def forward(self, x):
        x = (x - self.mean.view(1, 3, 1, 1)) / self.std.view(1, 3, 1, 1)
        return self.body(self.pool(self.conv(self.pad(x))))


class _Residual(nn.Module):
    """The input is used twice (a skip connection around the first conv): no prefix."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.head = nn.Sequential(nn.ReLU(), nn.Conv2d(3, 5, 3, stride=2), nn.ReLU(),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(5, 3))

    def forward(self, x):
        return self.head(self.conv(x) + x)


def _plain():
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, stride=2), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5))


def _linear_first():
    return nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 32), nn.ReLU(), nn.Linear(32, 10))


def _bn_stem():
    # conv (no bias) -> BatchNorm (folded into the conv) -> ReLU(inplace) -> residual-free body
    return nn.Sequential(nn.Conv2d(3, 8, 5, stride=2, padding=2, bias=False), nn.BatchNorm2d(8),
                         nn.ReLU(inplace=True), nn.MaxPool2d(2), nn.Conv2d(8, 12, 3), nn.BatchNorm2d(12),
                         nn.SiLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(12, 1))


def _nonlinear_first():
    return nn.Sequential(nn.Tanh(), nn.Conv2d(3, 6, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(6, 4))


# name -> (builder, feature shape, prefix expected)
CASES = {
    "plain CNN 3x50x70": (_plain, (3, 50, 70), True),
    "Linear first 1x28x28": (_linear_first, (1, 28, 28), True),
    "conv-BN-ReLU stem, one output": (_bn_stem, (3, 50, 70), True),
    "normalise-pad-conv-avgpool stem": (_Normalised, (3, 33, 41), True),
    "nonlinear first op": (_nonlinear_first, (3, 20, 24), False),
    "input used twice (residual)": (_Residual, (3, 20, 24), False),
}


def _seeded(build, seed=0):
    torch.manual_seed(seed)
    m = build()
    return seed_batchnorm(m, torch.Generator().manual_seed(seed + 1))


def _ig(model, x, *, hoist, **kw):
    old = IntegratedGradients._hoist
    IntegratedGradients._hoist = hoist
    try:
        return explain(model, x, method="integrated_gradients", **kw)
    finally:
        IntegratedGradients._hoist = old


@pytest.fixture
def any_prefix(monkeypatch):
    """Hoist every prefix found, however cheap (the default skips prefixes cheaper than the hoisting)."""
    monkeypatch.setattr(_affine_prefix, "MIN_FLOPS_PER_OUTPUT", 0)


@pytest.mark.parametrize("name", list(CASES))
def test_hoisted_equals_ordinary_path_and_stays_complete(name, any_prefix):
    build, shape, has_prefix = CASES[name]
    model = _seeded(build)
    x = torch.rand((3, *shape), generator=torch.Generator().manual_seed(7))
    base = 0.3 * torch.rand(shape, generator=torch.Generator().manual_seed(8))     # a non-zero baseline
    split = _affine_prefix.affine_split(image_module(model, x), x)
    assert (split is not None) == has_prefix
    kw = dict(baselines=base.numpy(), n_steps=16, internal_batch_size=20)   # several rows per pass
    on = _ig(model, x, hoist=True, **kw)
    off = _ig(model, x, hoist=False, **kw)
    scale = np.abs(off.values).max()
    assert scale > 0
    np.testing.assert_allclose(on.values, off.values, rtol=0, atol=1e-5 * scale)
    if not has_prefix:
        np.testing.assert_array_equal(on.values, off.values)      # the very same path
    # completeness against the model itself: sum of the map vs f(x) - f(baseline)
    with torch.no_grad():
        fx, fb = model(x), model(base[None])
    if fx.shape[1] == 1:
        delta = (fx[:, 0] - fb[0, 0]).double().numpy()
    else:
        t = np.asarray(on.target if on.target is not None else on.extras["target_per_row"])
        t = np.array(np.broadcast_to(t, (len(x),)))
        delta = (fx[np.arange(len(x)), t] - fb[0, t]).double().numpy()
    gap_on = np.abs(on.values.reshape(len(x), -1).sum(1) - delta)
    gap_off = np.abs(off.values.reshape(len(x), -1).sum(1) - delta)
    np.testing.assert_allclose(gap_on, gap_off, rtol=1e-3, atol=1e-6 * np.abs(delta).max())
    np.testing.assert_allclose(on.self_check["per_row"], gap_off, rtol=1e-3, atol=1e-5 * np.abs(delta).max())


def test_steps_split_over_passes_and_auto_take_the_hoisted_path(any_prefix):
    """One row per pass with the steps split over passes, the probability output (sigmoid of the one
    logit), and ``n_steps="auto"`` (its Gauss-Legendre rules go through the same integration)."""
    model = _seeded(_bn_stem)           # max-pooling and SiLU: `auto` integrates by quadrature
    x = torch.rand((2, 3, 30, 26), generator=torch.Generator().manual_seed(3))
    for kw in (dict(n_steps=24, internal_batch_size=7), dict(n_steps=8, output="probability"),
               dict(n_steps="auto", rtol=1e-3)):
        on = _ig(model, x, hoist=True, **kw)
        off = _ig(model, x, hoist=False, **kw)
        np.testing.assert_allclose(on.values, off.values, rtol=0, atol=1e-5 * np.abs(off.values).max())
        assert on.extras["steps_used"] == off.extras["steps_used"]
        assert on.extras.get("integration", ["gausslegendre"]) == off.extras.get("integration", ["gausslegendre"])
    assert set(on.extras["integration"]) == {"gausslegendre"}


def test_prefix_stops_at_the_first_nonlinearity_and_the_module_is_left_alone(any_prefix):
    """The stem's conv + BatchNorm (folded into one conv) is the prefix, the in-place ReLU is not; the
    rest is switched to out-of-place on the split's copy only."""
    model = _seeded(_bn_stem)
    x = torch.rand((2, 3, 24, 24), generator=torch.Generator().manual_seed(2))
    fast = image_module(model, x)
    P, R = _affine_prefix.affine_split(fast, x)
    p_mods = [getattr(type(m), "same_math_as", type(m)) for _, m in P.named_modules() if not list(m.children())]
    assert p_mods == [nn.Conv2d]                        # (the copy may route it through oneDNN: same math)
    assert model[2].inplace is True                     # the user's ReLU untouched
    with torch.no_grad():
        xc = x.contiguous(memory_format=torch.channels_last)
        z = P(xc)
        torch.testing.assert_close(R(z.clone()), model(x), rtol=1e-4, atol=1e-5)
        # affine: P at a point of the path is the same point of the path between P(b) and P(x)
        b = torch.full_like(xc, 0.25)
        torch.testing.assert_close(P(b + 0.3 * (xc - b)), P(b) + 0.3 * (z - P(b)), rtol=1e-5, atol=1e-5)


def test_only_prefixes_worth_hoisting_are_hoisted():
    """A 3x3 convolution of a 3-channel image (54 flops per output element) is found but not hoisted by
    default; a 7x7 one (294) and a linear layer over 28x28 inputs (1568) are."""
    def stem(k):
        return nn.Sequential(nn.Conv2d(3, 4, k, padding=k // 2), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                             nn.Flatten(), nn.Linear(4, 2))

    for build, shape, hoisted, flops in ((lambda: stem(3), (3, 16, 16), False, 54),
                                         (lambda: stem(7), (3, 16, 16), True, 294),
                                         (_linear_first, (1, 28, 28), True, 1568)):
        model = _seeded(build)
        x = torch.rand((1, *shape), generator=torch.Generator().manual_seed(0))
        fast = image_module(model, x)
        assert (_affine_prefix.affine_split(fast, x) is not None) == hoisted
        assert _affine_prefix._SPLITS[fast][2] == flops
