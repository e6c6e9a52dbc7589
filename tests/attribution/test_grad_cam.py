"""Grad-CAM / Grad-CAM++: against an analytic oracle and captum's LayerGradCam; hooks always removed."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from xai_reports import ExplanationError, explain

from _torch_models import cnn, hooks_left, images

captum_attr = pytest.importorskip("captum.attr")


def _analytic(m, x, target):
    """Grad-CAM and Grad-CAM++ from first principles for SmallCNN at features.3.

    After the last conv come ReLU, global average pooling and a linear layer, so
    d y_c / d A_k(i, j) = W[c, k] / (h w) * 1[A_k(i, j) > 0] in closed form.
    """
    with torch.no_grad():
        A = m.features[:4](x)                                  # (n, K, h, w): conv output
    n, K, h, w = A.shape
    W = m.fc.weight.detach()[target]                          # (n, K)
    g = W[:, :, None, None] / (h * w) * (A > 0)
    cam = torch.relu((g.mean(dim=(2, 3), keepdim=True) * A).sum(dim=1))
    g2, g3 = g ** 2, g ** 3
    denom = 2 * g2 + A.sum(dim=(2, 3), keepdim=True) * g3
    alpha = torch.where(g != 0, g2 / torch.where(denom != 0, denom, torch.ones_like(denom)), torch.zeros_like(g))
    wpp = (alpha * torch.relu(g)).sum(dim=(2, 3), keepdim=True)
    campp = torch.relu((wpp * A).sum(dim=1))
    return cam.numpy(), campp.numpy()


def test_grad_cam_matches_closed_form_and_captum():
    m = cnn(double=True)
    x = images(4, 16, double=True)
    target = m(x).argmax(dim=1)
    attr = explain(m, x, method="grad_cam", upsample=False)
    cam, campp = _analytic(m, x, target)
    assert attr.params["layer"] == "features.3" and attr.values.shape == (4, 8, 8)
    np.testing.assert_allclose(attr.values, cam, rtol=1e-10, atol=1e-12)
    ref = captum_attr.LayerGradCam(m, m.features[3]).attribute(x, target=target, relu_attributions=True)
    np.testing.assert_allclose(attr.values, ref[:, 0].detach().numpy(), rtol=1e-10, atol=1e-12)
    pp = explain(m, x, method="grad_cam_pp", upsample=False)
    np.testing.assert_allclose(pp.values, campp, rtol=1e-8, atol=1e-12)
    assert pp.params["layer"] == "features.3" and pp.self_check["kind"] == "nondegenerate"


def test_grad_cam_upsampled_to_input_resolution():
    m = cnn(double=True)
    x = images(3, 16, double=True)
    attr = explain(m, x, method="grad_cam", target=1)
    assert attr.values.shape == (3, 16, 16) and attr.target == 1
    ref = captum_attr.LayerGradCam(m, m.features[3]).attribute(x, target=1, relu_attributions=True)
    up = captum_attr.LayerAttribution.interpolate(ref, (16, 16), interpolate_mode="bilinear")
    np.testing.assert_allclose(attr.values, up[:, 0].detach().numpy(), rtol=1e-10, atol=1e-12)
    raw = explain(m, x, method="grad_cam", target=1, relu_attributions=False, upsample=False)
    ref_raw = captum_attr.LayerGradCam(m, m.features[3]).attribute(x, target=1)
    np.testing.assert_allclose(raw.values, ref_raw[:, 0].detach().numpy(), rtol=1e-10, atol=1e-12)


def test_named_layer_and_errors():
    m = cnn()
    x = images(2, 16)
    a = explain(m, x, method="grad_cam", layer="features.0")
    ref = captum_attr.LayerGradCam(m, m.features[0]).attribute(x, target=m(x).argmax(1), relu_attributions=True)
    assert a.params["layer"] == "features.0" and a.extras["layer_shape"] == [8, 16, 16]
    np.testing.assert_allclose(a.values, ref[:, 0].detach().numpy(), rtol=1e-5, atol=1e-7)
    with pytest.raises(ExplanationError, match="no layer named 'features.9'"):
        explain(m, x, method="grad_cam", layer="features.9")
    with pytest.raises(ExplanationError, match=r"\(n, C, H, W\)"):
        explain(m, x[:, 0], method="grad_cam")
    with pytest.raises(ExplanationError, match="outputs shape"):
        explain(m, x, method="grad_cam", layer="fc")
    assert hooks_left(m) == 0


def test_no_conv_layer_is_a_clear_error():
    mlp = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 4 * 4, 2))
    with pytest.raises(ExplanationError, match="no Conv2d layer"):
        explain(mlp, images(1, 4), method="grad_cam")


@pytest.mark.parametrize("method", ["grad_cam", "grad_cam_pp"])
def test_hooks_removed_after_success_and_exception(method):
    m = cnn()
    x = images(2, 16)
    explain(m, x, method=method)
    assert hooks_left(m) == 0
    m.boom = True
    with pytest.raises(RuntimeError, match="boom"):
        explain(m, x, method=method)
    assert hooks_left(m) == 0
    m.boom = False
    explain(m, x, method=method)  # the model still works after the failure
    assert hooks_left(m) == 0


def test_batching_does_not_change_maps():
    m = cnn()
    x = images(5, 16)
    a = explain(m, x, method="grad_cam_pp")
    b = explain(m, x, method="grad_cam_pp", internal_batch_size=2)
    np.testing.assert_allclose(a.values, b.values, rtol=1e-5, atol=1e-7)


def test_localisation_on_a_planted_object():
    # a model that detects bright pixels in the top-left quadrant: its CAM must point there
    conv = torch.nn.Conv2d(3, 1, 1)
    with torch.no_grad():
        conv.weight.fill_(1.0)
        conv.bias.fill_(0.0)
    mask = torch.zeros(1, 1, 16, 16)
    mask[..., :8, :8] = 1.0

    class Det(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = conv

        def forward(self, x):
            return (F.relu(self.conv(x)) * mask).mean(dim=(1, 2, 3))

    x = torch.zeros(2, 3, 16, 16)
    x[0, :, 2:5, 3:6] = 1.0
    x[1, :, 5:7, 1:3] = 1.0
    a = explain(Det(), x, method="grad_cam")
    from xai_reports.metrics import pointing_game, relevance_mass
    assert pointing_game(a, boxes=[(3, 2, 6, 5), (1, 5, 3, 7)]).all()
    assert (relevance_mass(a, boxes=[(3, 2, 6, 5), (1, 5, 3, 7)]) > 0.99).all()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("method", ["grad_cam", "grad_cam_pp"])
def test_cuda_equals_cpu(method):
    m = cnn()
    x = images(4, 16)
    cpu = explain(m, x, method=method, device="cpu")
    gpu = explain(m, x, method=method, device="cuda")
    np.testing.assert_allclose(gpu.values, cpu.values, rtol=1e-3, atol=1e-5)
    assert hooks_left(m) == 0
