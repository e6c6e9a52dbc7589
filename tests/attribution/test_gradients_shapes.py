"""Gradient methods on a network shape the other tests do not use: a residual CNN with BatchNorm
(eval mode, non-identity statistics) on non-square 3x40x56 images, against captum.

The image path runs on a channels_last copy with conv + BatchNorm folded (IG, saliency) or a
channels_last copy with the graph cut before the target layer (Grad-CAM); these tests check that
the answers stay captum's, that completeness holds, and that the user's module is left untouched.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
captum_attr = pytest.importorskip("captum.attr")
from _torch_models import seed_batchnorm  # noqa: E402
nn = torch.nn


class _Block(nn.Module):
    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.skip = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                     if stride != 1 or cin != cout else None)

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + (x if self.skip is None else self.skip(x)))


class _ResBN(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 12, 5, 1, 2), nn.BatchNorm2d(12), nn.ReLU())
        self.a = _Block(12, 12)
        self.b = _Block(12, 20, stride=2)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(20, 5))

    def forward(self, x):
        return self.head(self.b(self.a(self.stem(x))))


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(11)
    m = _ResBN()
    seed_batchnorm(m, torch.Generator().manual_seed(3), var=(0.3, 2.0))
    x = torch.rand((3, 3, 40, 56), generator=torch.Generator().manual_seed(5))
    return m, x


def _corr(a, b):
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


def test_integrated_gradients_match_captum_and_are_complete(net):
    from xai_reports import explain
    from xai_reports.attribution._torch import image_module

    m, x = net
    assert image_module(m, x) is not None          # the folded, channels_last copy is what runs
    state = {k: v.clone() for k, v in m.state_dict().items()}
    tgt = m(x).argmax(dim=1)
    ref, delta = captum_attr.IntegratedGradients(m).attribute(x, target=tgt, n_steps=64, method="gausslegendre",
                                                             return_convergence_delta=True)
    ours = explain(m, x, method="integrated_gradients", target=tgt.numpy(), n_steps=64)
    assert ours.values.shape == tuple(x.shape)
    assert _corr(ours.values, ref.detach().numpy()) >= 0.999
    # completeness: the self-check is the true gap |sum(attr) - (f(x) - f(0))|, as captum's delta
    with torch.no_grad():
        gap = (m(x) - m(torch.zeros_like(x))).gather(1, tgt[:, None])[:, 0].double().numpy()
    sums = ours.values.reshape(len(x), -1).sum(axis=1)
    assert np.allclose(np.abs(sums - gap), ours.self_check["per_row"], rtol=1e-3, atol=1e-5)
    assert np.allclose(ours.self_check["per_row"], delta.abs().detach().numpy(), rtol=0.05, atol=1e-4)
    # the user's module is untouched: weights, memory format, mode
    assert m.training is False
    for k, v in m.state_dict().items():
        assert torch.equal(v, state[k])
    assert m.stem[0].weight.is_contiguous()


def test_integrated_gradients_auto_reaches_its_tolerance(net):
    from xai_reports import explain

    m, x = net
    tgt = m(x).argmax(dim=1)
    ref = captum_attr.IntegratedGradients(m).attribute(x, target=tgt, n_steps=128, method="gausslegendre")
    auto = explain(m, x, method="integrated_gradients", target=tgt.numpy(), n_steps="auto", rtol=5e-3)
    assert auto.self_check["passed"] and auto.self_check["max_rel_error"] <= 5e-3
    assert _corr(auto.values, ref.detach().numpy()) >= 0.999


def test_saliency_matches_captum(net):
    from xai_reports import explain

    m, x = net
    tgt = m(x).argmax(dim=1)
    ref = captum_attr.Saliency(m).attribute(x, target=tgt, abs=True)
    ours = explain(m, x, method="saliency", target=tgt.numpy())
    assert _corr(ours.values, ref.detach().numpy()) >= 0.999
    assert ours.self_check["passed"]


@pytest.mark.parametrize("layer", ["b.conv2", "a.conv1", "b"])
def test_grad_cam_matches_captum_at_any_layer(net, layer):
    from xai_reports import explain

    m, x = net
    tgt = m(x).argmax(dim=1)
    mod = dict(m.named_modules())[layer]
    cam = captum_attr.LayerGradCam(m, mod).attribute(x, target=tgt, relu_attributions=True)
    ref = captum_attr.LayerAttribution.interpolate(cam, (40, 56), interpolate_mode="bilinear")[:, 0]
    ours = explain(m, x, method="grad_cam", target=tgt.numpy(), layer=layer)
    assert ours.values.shape == (3, 40, 56)
    ref = ref.detach().numpy()
    assert np.allclose(ours.values, ref, rtol=1e-4, atol=1e-5 * float(np.abs(ref).max()))


def test_training_mode_and_untraceable_modules_use_the_module_itself(net):
    from xai_reports.attribution._torch import image_module

    m, x = net
    m.train()
    try:
        assert image_module(m, x) is None
    finally:
        m.eval()

    class Branchy(nn.Module):            # data-dependent control flow: torch.fx cannot trace it
        def __init__(self):
            super().__init__()
            self.c = nn.Conv2d(3, 4, 3)
            self.bn = nn.BatchNorm2d(4)

        def forward(self, z):
            y = self.bn(self.c(z))
            return y.mean(dim=(2, 3)) if float(y.sum()) > 0 else -y.mean(dim=(2, 3))

    b = Branchy().eval()
    assert image_module(b, x) is None
    assert image_module(b, x, fuse_bn=False) is not None


def test_cached_copy_follows_weights_flags_and_hooks(net):
    """The per-call cache key (one walk over the submodules) sees what would make a cached copy stale."""
    from xai_reports.attribution._torch import image_module

    m, x = net
    first = image_module(m, x, fuse_bn=False)
    assert first is not None and image_module(m, x, fuse_bn=False) is first      # cached
    w = m.head[2].weight
    with torch.no_grad():
        w.add_(0.0)                                       # an in-place write (version bump): a new copy
    second = image_module(m, x, fuse_bn=False)
    assert second is not None and second is not first
    m.a.bn1.eps = m.a.bn1.eps * 2                         # a plain attribute the forward reads
    third = image_module(m, x, fuse_bn=False)
    assert third is not second
    with torch.no_grad():
        assert torch.allclose(third(x.contiguous(memory_format=torch.channels_last)), m(x), atol=1e-5)
    m.a.bn1.eps = m.a.bn1.eps / 2
    h = m.b.conv2.register_forward_hook(lambda *a: None)  # a hook deep inside: the module itself
    try:
        assert image_module(m, x, fuse_bn=False) is None
    finally:
        h.remove()


def test_wrapping_puts_any_training_submodule_in_eval_mode(net):
    from xai_reports.adapters import wrap_model

    m, x = net
    m.a.bn1.train()                                       # only a submodule in training mode
    try:
        wrap_model(m)
        assert not any(mod.training for mod in m.modules())
        m.train()
        wrap_model(m)
        assert not any(mod.training for mod in m.modules())
    finally:
        m.eval()
