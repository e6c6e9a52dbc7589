"""Input-gradient passes on the image copy: its convolutions run through oneDNN with weights reordered once
per shape (the forward, and the input gradient as a transposed convolution), each route checked against
PyTorch's own convolution on its first input. Oracles: PyTorch's autograd on the plain module, and central
finite differences of the module's output.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from xai_reports.attribution import _onednn  # noqa: E402
from xai_reports.attribution._torch import image_module  # noqa: E402

# convolutions unlike the benchmark's 3x3 / 1x1 ones: strided, grouped, dilated, non-square kernels and strides
CASES = {
    "stride2_odd": dict(in_channels=8, out_channels=12, kernel_size=3, stride=2, padding=1),
    "groups4_bias": dict(in_channels=8, out_channels=16, kernel_size=3, padding=1, groups=4),
    "dilation2": dict(in_channels=8, out_channels=8, kernel_size=3, padding=2, dilation=2, bias=False),
    "nonsquare": dict(in_channels=8, out_channels=6, kernel_size=(3, 5), stride=(2, 1), padding=(1, 2)),
    "depthwise_s2_d2": dict(in_channels=8, out_channels=8, kernel_size=3, stride=2, padding=2, dilation=2, groups=8),
    "pointwise_s2": dict(in_channels=8, out_channels=12, kernel_size=1, stride=2),     # kernel < stride
}


def _net(case: str, seed: int):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(**CASES[case]), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.LazyLinear(5)).eval()


def _built(case: str, n: int, seed: int):
    m = _net(case, seed)
    x = torch.randn((n, 3, 13, 22), generator=torch.Generator().manual_seed(seed))   # non-square, odd
    with torch.no_grad():
        m(x)                                            # (materialises the lazy head)
    fm = image_module(m, x, fuse_bn=False)
    assert fm is not None
    return m, fm, x


def _backward_plans(conv):
    """The input-gradient plans a routed convolution kept, one per input shape it ran an input-gradient pass on."""
    return [e[1] for e in conv.__dict__.get("_xai_weights", {}).values() if e[1] is not _onednn._UNSET]


def _backward_checks(conv):
    """The outcomes of the input-gradient route's check, one per input shape apart from the batch size."""
    return [c[1] for c in conv.__dict__.get("_xai_checks", {}).values() if c[1] is not _onednn._UNSET]


def _input_grad(model, x, cl: bool):
    xg = (x.contiguous(memory_format=torch.channels_last) if cl else x.clone()).requires_grad_(True)
    with torch.enable_grad():
        out = model(xg)
        (g,) = torch.autograd.grad(out[:, 2].sum() - 0.5 * out[:, 4].sum(), xg)
    return g, out.grad_fn


@pytest.mark.parametrize("case", sorted(CASES))
def test_routed_input_gradient_equals_pytorchs_and_finite_differences(case):
    """Batch 3: the copy's input gradient (every convolution on the recorded route) equals autograd's on the
    plain module and central differences of the module's output; the convolution under test gave the
    route's own backward node, its reordered transposed weight was kept (PyTorch's own input gradient
    for a kernel smaller than its stride)."""
    m, fm, x = _built(case, 3, seed=len(case))
    got, _ = _input_grad(fm, x, cl=True)
    want, _ = _input_grad(m, x, cl=False)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)
    conv = fm[2]
    plans = _backward_plans(conv)
    if case == "pointwise_s2":          # a kernel smaller than its stride: PyTorch's own input gradient
        assert plans == [_onednn._NATIVE_BACKWARD]
    else:
        assert [type(p).__name__ for p in plans] == ["tuple"]      # (reordered weight, output padding)
    assert all(p is _onednn._NATIVE_BACKWARD for p in _backward_plans(fm[0]))   # the image reader: PyTorch's backward
    # the convolution alone, on a leaf, against autograd through torch's conv2d and a random output gradient
    a = torch.randn((3, 8, 13, 22), generator=torch.Generator().manual_seed(1)).contiguous(
        memory_format=torch.channels_last).requires_grad_(True)
    with torch.enable_grad():
        y = conv(a)
        assert type(y.grad_fn).__name__ == "InputGradConvBackward"
        go = torch.randn(y.shape, generator=torch.Generator().manual_seed(2))
        (ga,) = torch.autograd.grad(y, a, go)
        a2 = a.detach().clone().requires_grad_(True)
        y2 = nn.functional.conv2d(a2, conv.weight, conv.bias, conv.stride, conv.padding, conv.dilation, conv.groups)
        (gb,) = torch.autograd.grad(y2, a2, go)
    torch.testing.assert_close(y.detach(), y2.detach(), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(ga, gb, rtol=1e-4, atol=1e-5)
    # an independent oracle: central differences of the plain module in float64, on a few input entries
    md = _net(case, seed=len(case)).double()
    with torch.no_grad():
        md(x.double())
        md.load_state_dict({k: v.double() for k, v in m.state_dict().items()})
        xd = x.double()
        f = lambda z: float((md(z)[:, 2].sum() - 0.5 * md(z)[:, 4].sum()))    # noqa: E731
        for idx in [(0, 0, 0, 0), (1, 2, 6, 11), (2, 1, 12, 21), (2, 0, 5, 3)]:
            e = torch.zeros_like(xd)
            e[idx] = 1e-5
            fd = (f(xd + e) - f(xd - e)) / 2e-5
            assert abs(fd - float(got[idx])) <= 1e-4 * max(1.0, abs(fd)), (idx, fd, float(got[idx]))


def test_single_image_reader_routes_forward_and_keeps_pytorchs_backward():
    """One small image (PyTorch picks its native kernel for the first convolution): the recorded pass runs
    the reader's forward through oneDNN and its input gradient through PyTorch's own kernel; gradients equal."""
    m, fm, x = _built("stride2_odd", 1, seed=5)
    got, _ = _input_grad(fm, x, cl=True)
    want, _ = _input_grad(m, x, cl=False)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)
    assert _backward_plans(fm[0]) == [_onednn._NATIVE_BACKWARD]


def test_a_wrong_input_gradient_route_is_rejected_and_an_erroring_one_falls_back(monkeypatch):
    """A route whose input gradient differs from PyTorch's (as a changed private kernel would) is never used:
    the copy's gradient stays autograd's on the plain module (without the check it would be 1.5x off); a
    private entry point raising TypeError falls back the same way."""
    conv_cls, _ = _onednn._classes()
    real = conv_cls._input_grad
    calls = []

    def wrong(self, go, x, bwd):
        calls.append(1)
        return real(self, go, x, bwd) * 1.5

    monkeypatch.setattr(conv_cls, "_input_grad", wrong)
    m, fm, x = _built("groups4_bias", 3, seed=11)
    got, _ = _input_grad(fm, x, cl=True)
    want, _ = _input_grad(m, x, cl=False)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)
    assert calls, "the route's backward was never tried: the test could not see a wrong one"
    assert _backward_checks(fm[2]) == [False] and _backward_plans(fm[2]) == []

    def raising(self, go, x, bwd):
        raise TypeError("_convolution_transpose_pointwise() got an unexpected argument")

    monkeypatch.setattr(conv_cls, "_input_grad", raising)
    m, fm, x = _built("dilation2", 2, seed=12)
    got, _ = _input_grad(fm, x, cl=True)
    want, _ = _input_grad(m, x, cl=False)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)
    assert _backward_checks(fm[2]) == [False] and _backward_plans(fm[2]) == []


def test_hooked_or_trainable_convolutions_keep_pytorchs_recorded_forward():
    """A convolution with a forward hook sees PyTorch's own recorded output (same values, PyTorch's backward
    node) while the others take the route; one whose weight requires grad keeps PyTorch's path and still gets
    its weight gradient."""
    m, fm, x = _built("nonsquare", 2, seed=13)
    a = torch.randn((2, 8, 9, 10), generator=torch.Generator().manual_seed(3)).contiguous(
        memory_format=torch.channels_last).requires_grad_(True)
    seen = []
    h = fm[2].register_forward_hook(lambda mod, i, o: seen.append(o))
    try:
        with torch.enable_grad():
            fm[2](a)
    finally:
        h.remove()
    assert type(seen[0].grad_fn).__name__ == "ConvolutionBackward0"
    with torch.enable_grad():
        assert type(fm[2](a).grad_fn).__name__ == "InputGradConvBackward"
    fm[2].weight.requires_grad_(True)
    try:
        with torch.enable_grad():
            y = fm[2](a)
            assert type(y.grad_fn).__name__ == "ConvolutionBackward0"
            (gw,) = torch.autograd.grad(y.sum(), fm[2].weight)
        assert float(gw.abs().sum()) > 0
    finally:
        fm[2].weight.requires_grad_(False)
