"""LRP: against captum's LRP (same rules), hand-computed rules, conservation, BatchNorm folding, clear errors."""

import copy

import numpy as np
import pytest
import torch
from torch import nn

from xai_reports import ExplanationError, explain

from _torch_models import cnn, hooks_left, images

captum_attr = pytest.importorskip("captum.attr")
from captum.attr._utils.lrp_rules import Alpha1_Beta0_Rule  # noqa: E402


def seq_cnn(bias=True, bn=False, seed=0):
    """An nn.Sequential CNN: conv [bn] relu maxpool conv relu avgpool Flatten linear relu dropout linear."""
    torch.manual_seed(seed)
    layers = [nn.Conv2d(3, 6, 3, padding=1, bias=bias)]
    if bn:
        layers.append(nn.BatchNorm2d(6))
    layers += [nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 8, 3, padding=1, bias=bias), nn.ReLU(),
               nn.AvgPool2d(2), nn.Flatten(), nn.Linear(8 * 2 * 2, 16, bias=bias), nn.ReLU(),
               nn.Dropout(0.5), nn.Linear(16, 3, bias=bias)]
    m = nn.Sequential(*layers).double().eval()
    if bn:
        with torch.no_grad():
            bnl = m[1]
            bnl.running_mean.uniform_(-0.5, 0.5)
            bnl.running_var.uniform_(0.5, 2.0)
            bnl.weight.uniform_(0.5, 1.5)
            bnl.bias.uniform_(-0.2, 0.2)
    return m


class NoFlatten(nn.Module):
    """The same network with the flatten done in forward (captum's LRP cannot pass nn.Flatten)."""

    def __init__(self, seq):
        super().__init__()
        k = next(i for i, layer in enumerate(seq) if isinstance(layer, nn.Flatten))
        self.features = seq[:k]
        self.head = seq[k + 1:]

    def forward(self, x):
        return self.head(self.features(x).flatten(1))


def _captum_lrp(model, x, target, rule_cls=None):
    m = copy.deepcopy(NoFlatten(model) if isinstance(model, nn.Sequential) else model)
    if rule_cls is not None:
        for layer in m.modules():
            if isinstance(layer, (nn.Linear, nn.Conv2d)):
                layer.rule = rule_cls()
    return captum_attr.LRP(m).attribute(x, target=target).detach().numpy()


def test_epsilon_rule_matches_captum_on_a_cnn():
    m = seq_cnn()
    x = images(3, 8, double=True)
    t = m(x).argmax(1)
    attr = explain(m, x, method="lrp", rule="epsilon")
    np.testing.assert_allclose(attr.values, _captum_lrp(m, x, t), rtol=1e-7, atol=1e-12)
    assert attr.values.shape == x.shape and attr.self_check["kind"] == "conservation"
    assert attr.extras["layers"][0] == "0" and "7" in attr.extras["layers"]
    assert hooks_left(m) == 0
    same = explain(NoFlatten(m), x, method="lrp")  # nn.Flatten and .flatten(1) give the same chain
    np.testing.assert_allclose(same.values, attr.values, rtol=1e-12)


def test_zplus_matches_captum_alpha1_beta0_on_nonnegative_inputs():
    m = seq_cnn()
    x = images(2, 8, double=True)  # pixels in [0, 1]: z+ on raw inputs is captum's Alpha1_Beta0
    attr = explain(m, x, method="lrp", rule="zplus", target=1)
    ref = _captum_lrp(m, x, 1, lambda: Alpha1_Beta0_Rule(set_bias_to_zero=True))
    np.testing.assert_allclose(attr.values, ref, rtol=1e-6, atol=1e-10)


def test_custom_forward_chain_with_flatten_matches_captum():
    m = cnn(double=True)  # SmallCNN: features, pool, then .flatten(1) inside forward
    x = images(2, 8, double=True)
    attr = explain(m, x, method="lrp", target=2)
    np.testing.assert_allclose(attr.values, _captum_lrp(m, x, 2), rtol=1e-7, atol=1e-12)
    assert any(name.startswith("reshape") for name in attr.extras["layers"])


def test_linear_model_by_hand_and_bias_reported_as_conservation_error():
    m = nn.Linear(3, 1).double()
    x = torch.tensor([[1.0, -2.0, 0.5], [0.3, 0.1, -1.0]], dtype=torch.float64)
    attr = explain(m, x, method="lrp")
    w, b = m.weight.detach().numpy()[0], float(m.bias)
    z = x.numpy() @ w + b
    np.testing.assert_allclose(attr.values, (x.numpy() * w) * (z / (z + 1e-9 * np.sign(z)))[:, None], rtol=1e-9)
    np.testing.assert_allclose(attr.self_check["per_row"], abs(b), rtol=1e-6)


def test_alpha_beta_by_hand():
    lin = nn.Linear(3, 1, bias=False).double()
    with torch.no_grad():
        lin.weight[:] = torch.tensor([[2.0, -1.0, 1.0]])
    x = torch.tensor([[1.0, 1.0, -1.0]], dtype=torch.float64)
    # contributions z_i = x_i w_i = [2, -1, -1]; f = 0, so start from a non-zero output instead
    m = nn.Sequential(lin)
    attr = explain(m, torch.tensor([[1.0, 1.0, 1.0]], dtype=torch.float64), method="lrp", rule="alpha_beta",
                   alpha=2.0, beta=1.0)
    # z = [2, -1, 1], f = 2; z+ = 3, z- = -1: R = 2 * f * [2, 0, 1] / 3 - 1 * f * [0, -1, 0] / -1
    np.testing.assert_allclose(attr.values[0], [8 / 3, -2.0, 4 / 3], rtol=1e-12)
    assert attr.self_check["max_abs_error"] < 1e-12  # alpha - beta = 1 conserves
    zp = explain(m, x, method="lrp", rule="zplus")
    np.testing.assert_allclose(zp.values[0], [0.0, 0.0, 0.0], atol=1e-12)  # f(x) = 0: nothing to share


def test_conservation_without_biases():
    m = seq_cnn(bias=False)
    x = images(3, 8, double=True)
    for rule in ("epsilon", "zplus", "alpha_beta"):
        attr = explain(m, x, method="lrp", rule=rule)
        assert attr.self_check["passed"], (rule, attr.self_check["max_rel_error"])
        assert attr.self_check["max_rel_error"] < 1e-5  # only epsilon = 1e-9 in denominators (pooling too) loses
    with_bias = explain(seq_cnn(bias=True), x, method="lrp")
    assert with_bias.self_check["max_abs_error"] > 1e-4  # biases absorb relevance: reported


def test_batchnorm_is_folded():
    m = seq_cnn(bn=True)
    x = images(2, 8, double=True)
    folded = seq_cnn(bn=False)
    with torch.no_grad():
        bn, conv = m[1], m[0]
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        folded[0].weight[:] = conv.weight * scale.view(-1, 1, 1, 1)
        folded[0].bias[:] = (conv.bias - bn.running_mean) * scale + bn.bias
        for i_src, i_dst in [(4, 3), (8, 7), (11, 10)]:
            folded[i_dst].load_state_dict(m[i_src].state_dict())
    torch.testing.assert_close(folded(x), m(x))
    attr = explain(m, x, method="lrp", target=0)
    np.testing.assert_allclose(attr.values, _captum_lrp(folded, x, 0), rtol=1e-7, atol=1e-12)
    assert "0+1" in attr.extras["layers"]
    assert m[0].weight.grad is None and torch.equal(m[1].running_mean, m[1].running_mean)  # model untouched
    torch.testing.assert_close(folded(x), m(x))


def test_per_layer_rules_and_errors():
    m = seq_cnn()
    x = images(2, 8, double=True)
    mixed = explain(m, x, method="lrp", rule="epsilon", rules={"0": "zplus"})
    eps = explain(m, x, method="lrp", rule="epsilon")
    assert not np.allclose(mixed.values, eps.values)
    with pytest.raises(ExplanationError, match="not in the chain"):
        explain(m, x, method="lrp", rules={"nope": "zplus"})
    with pytest.raises(ExplanationError, match="unknown LRP rule"):
        explain(m, x, method="lrp", rule="z")
    with pytest.raises(ExplanationError, match="alpha - beta = 1"):
        explain(m, x, method="lrp", rule="alpha_beta", alpha=3, beta=1)
    tanh = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2))
    with pytest.raises(ExplanationError, match=r"layer '1' \(Tanh\)"):
        explain(tanh, torch.randn(2, 4), method="lrp")
    assert hooks_left(tanh) == 0

    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(4, 4)
            self.b = nn.Linear(4, 2)

        def forward(self, x):
            return self.b(x + self.a(x))

    r = Residual()
    with pytest.raises(ExplanationError, match="chain of layers"):
        explain(r, torch.randn(2, 4), method="lrp")
    assert hooks_left(r) == 0
    bn_first = nn.Sequential(nn.BatchNorm1d(4), nn.Linear(4, 2)).eval()
    with pytest.raises(ExplanationError, match="cannot be folded"):
        explain(bn_first, torch.randn(2, 4), method="lrp")


def test_tabular_mlp_with_functional_relu():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(1)
            self.l1, self.l2 = nn.Linear(5, 8), nn.Linear(8, 1)

        def forward(self, x):
            return self.l2(torch.relu(self.l1(x)))

    m = Net().double()
    x = torch.randn(4, 5, dtype=torch.float64)
    attr = explain(m, x, method="lrp")
    ref = captum_attr.LRP(m).attribute(x).detach().numpy()
    np.testing.assert_allclose(attr.values, ref, rtol=1e-7, atol=1e-12)
    assert attr.values.shape == (4, 5) and attr.target is None


def test_hooks_removed_after_a_failing_forward():
    m = cnn(boom=True)
    with pytest.raises(RuntimeError, match="boom"):
        explain(m, images(1, 8), method="lrp")
    assert hooks_left(m) == 0


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("rule", ["epsilon", "alpha_beta"])
def test_cuda_equals_cpu(rule):
    m = seq_cnn().float()
    x = images(4, 8)
    cpu = explain(m, x, method="lrp", rule=rule, device="cpu")
    gpu = explain(m, x, method="lrp", rule=rule, device="cuda")
    np.testing.assert_allclose(gpu.values, cpu.values, rtol=1e-3, atol=1e-5)
