"""The per-call shortcuts of Grad-CAM and of the image copy, each against a hand-written oracle.

* Grad-CAM hands the rest of the network its recorded leaf itself (no ``leaf + 0``); a network that
  writes to it in place (an in-place ReLU under autograd, or a write under ``no_grad`` that only
  bumps its version) must still get the right map: the pass is run again with ``leaf + 0``.
* The copy's oneDNN routes (weights reordered once per shape, a Sequential's conv + ReLU pair fused)
  compute what the module computes, and never hide a convolution's own output from a hook.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from xai_reports.adapters._torch_state import module_state  # noqa: E402
from xai_reports.attribution._torch import image_module  # noqa: E402
from xai_reports.attribution.grad_cam import GradCam  # noqa: E402


class _WriteBack(nn.Module):
    """Doubles its input in place without recording it (a version bump autograd does not refuse)."""

    def forward(self, x):
        with torch.no_grad():
            x.mul_(2.0)
        return x


def _net(after, seed: int):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 5, 3, padding=1), nn.ReLU(), nn.Conv2d(5, 7, 3, stride=2, padding=1, bias=False),
                         after, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(7, 4)).eval()


def _by_hand(m, x, layer):
    acts = []
    h = layer.register_forward_hook(lambda mod, i, o: acts.append(o.clone()))
    try:
        with torch.no_grad():
            tgt = m(x).argmax(dim=1)
        a = acts[-1].requires_grad_(True)
        out = m[3:](a.clone())                          # the rest of the network on the captured activation
    finally:
        h.remove()
    (g,) = torch.autograd.grad(out.gather(1, tgt.view(-1, 1)).sum(), a)
    cam = torch.relu((g.mean(dim=(2, 3), keepdim=True) * a.detach()).sum(dim=1, keepdim=True))
    ref = nn.functional.interpolate(cam, size=tuple(x.shape[-2:]), mode="bilinear", align_corners=False)[:, 0]
    return ref.double().numpy()


@pytest.mark.parametrize("after", ["inplace_relu", "write_back", "relu"])
def test_leaf_handed_on_is_rerun_with_a_copy_when_the_network_writes_to_it(after):
    """Maps equal a hand-written Grad-CAM on the first and on later calls; an in-place write after the layer is
    remembered for the module (the shortcut is not tried again) and forgotten when the module changes."""
    mod = {"inplace_relu": nn.ReLU(inplace=True), "write_back": _WriteBack(), "relu": nn.ReLU()}[after]
    m = _net(mod, seed=3)
    x = torch.rand((2, 3, 12, 12), generator=torch.Generator().manual_seed(3))
    ref = _by_hand(m, x, m[2])
    for _ in range(2):
        a = GradCam(m).attribute(x, device="cpu")
        assert np.abs(a.values - ref).max() <= 1e-5 * max(1.0, float(np.abs(ref).max()))
        assert np.abs(ref).max() > 0
    added = ("grad_cam_leaf_add", "2") in module_state(m).facts
    assert added == (after != "relu")
    with torch.no_grad():
        m[2].weight.mul_(-1.0)                          # a new snapshot: the shortcut is tried again
    assert ("grad_cam_leaf_add", "2") not in module_state(m).facts
    ref2 = _by_hand(m, x, m[2])
    a2 = GradCam(m).attribute(x, device="cpu")
    assert np.abs(a2.values - ref2).max() <= 1e-5 * max(1.0, float(np.abs(ref2).max()))


def test_copy_routes_compute_what_the_module_computes_and_keep_hooks_honest():
    """Bias-free, grouped and strided convolutions followed by ReLUs (one in place) in a Sequential, a conv
    whose ReLU sits in another container, batch sizes 1 and 3: the copy's no-grad outputs equal the module's;
    the pairs run fused; a hook on a paired convolution sees its own, unrectified output."""
    torch.manual_seed(7)
    m = nn.Sequential(nn.Conv2d(4, 8, 3, padding=1, bias=False), nn.ReLU(inplace=True),
                      nn.Conv2d(8, 8, 3, padding=1, groups=4), nn.ReLU(),
                      nn.Sequential(nn.Conv2d(8, 16, 3, stride=2, padding=1)), nn.ReLU(),
                      nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 3)).eval()
    g = torch.Generator().manual_seed(7)
    for n in (1, 3):
        x = torch.randn((n, 4, 20, 20), generator=g)
        fm = image_module(m, x, fuse_bn=False)
        assert fm is not None
        xcl = x.contiguous(memory_format=torch.channels_last)
        with torch.no_grad():
            assert torch.allclose(fm(xcl), m(x), rtol=1e-5, atol=1e-6)
        assert type(fm).__name__ == "FusingSequential" and fm.__dict__["_xai_pairs"] == {0, 2}
        assert type(fm[4]) is nn.Sequential             # its conv's ReLU is not its sibling: not paired
        seen = []
        h = fm[2].register_forward_hook(lambda mod, i, o: seen.append(o.clone()))
        try:
            with torch.no_grad():
                out = fm(xcl)
                ref = m[:3](x)                          # the grouped conv's own output, before its ReLU
        finally:
            h.remove()
        assert torch.allclose(out, m(x), rtol=1e-5, atol=1e-6)
        assert (ref < 0).any() and torch.allclose(seen[-1], ref, rtol=1e-5, atol=1e-6)
    with torch.enable_grad():                           # input-gradient passes: the module's gradient
        xg = xcl.clone().requires_grad_(True)
        (gx,) = torch.autograd.grad(fm(xg).sum(), xg)
        xm = x.clone().requires_grad_(True)
        (gm,) = torch.autograd.grad(m(xm).sum(), xm)
    assert torch.allclose(gx, gm, rtol=1e-4, atol=1e-6)


def test_a_route_that_disagrees_with_pytorch_is_dropped_and_a_changed_engine_falls_back(monkeypatch):
    """The routes call private PyTorch entry points. A route whose output differs from PyTorch's own
    convolution on its first input (as a changed private kernel would) is not used, and a backward entry
    whose signature changed gives way to ``torch.autograd.grad``: the maps stay the hand-written ones."""
    from xai_reports.attribution import _onednn, grad_cam

    conv_cls, _ = _onednn._classes()
    real = conv_cls._run
    calls = []

    def wrong(self, x, plan, post):
        calls.append(post)
        return real(self, x, plan, post) * 1.5

    monkeypatch.setattr(conv_cls, "_run", wrong)
    monkeypatch.setattr(grad_cam, "_ENGINE", [_raises_type_error, _raises_type_error])
    m = _net(nn.ReLU(), seed=9)
    x = torch.rand((3, 3, 20, 20), generator=torch.Generator().manual_seed(9))
    got = GradCam(m, layer="2").fit().explain(x).values
    np.testing.assert_allclose(got, _by_hand(m, x, m[2]), rtol=1e-4, atol=1e-6)
    assert calls, "no convolution took a oneDNN route: the test would not see a wrong one"
    assert grad_cam._ENGINE == [None, None]


def _raises_type_error(*args, **kwargs):
    raise TypeError("run_backward() got an unexpected keyword argument")


def test_targets_from_a_read_only_array_are_not_shared_with_torch():
    """Targets are read without a copy where possible; a read-only array (a pandas column, a memory map)
    must still be copied, or torch warns that writing to the tensor is undefined behaviour."""
    import warnings

    m = _net(nn.ReLU(), seed=4)
    x = torch.rand((2, 3, 12, 12), generator=torch.Generator().manual_seed(4))
    t = np.array([1, 3], dtype=np.int64)
    t.setflags(write=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = GradCam(m).fit().explain(x, target=t)
    assert got.target is not None or got.extras.get("target_per_row") is not None
    np.testing.assert_array_equal(np.asarray(got.extras.get("target_per_row", got.target)), t)


def test_inputs_from_a_read_only_array_are_not_shared_with_torch():
    """A read-only input array (a memory map, a pandas block) is copied before torch sees it: no
    "not writable" warning, and the explanation equals the one of a writable copy."""
    import warnings

    from xai_reports import explain

    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 1)).double().eval()
    X = np.random.default_rng(0).normal(size=(5, 4))
    ro = X.copy()
    ro.setflags(write=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = explain(m, ro, method="integrated_gradients", n_steps=16)
    np.testing.assert_array_equal(got.values, explain(m, X, method="integrated_gradients", n_steps=16).values)
