"""Explanation-quality metrics on hand-computed cases, and captum's metrics as the oracle."""

import numpy as np
import pytest
import torch

from xai_reports import ExplanationError, explain, metrics, wrap_model


# -- localisation ---------------------------------------------------------------------------
def _map_with_max_at(r, c, shape=(10, 12), value=5.0):
    m = np.random.default_rng(0).uniform(0, 1, size=shape)
    m[r, c] = value
    return m


def test_pointing_game_known_maximum():
    m = np.stack([_map_with_max_at(2, 3), _map_with_max_at(8, 10)])
    box = (2, 1, 5, 4)  # x0, y0, x1, y1: columns 2..4, rows 1..3
    assert metrics.pointing_game(m, boxes=box).tolist() == [True, False]
    mask = np.zeros((10, 12), bool)
    mask[1:4, 2:5] = True
    assert metrics.pointing_game(m, mask).tolist() == [True, False]
    # per-image boxes; the second box contains (row 8, col 10)
    assert metrics.pointing_game(m, boxes=[box, (10, 8, 11, 9)]).tolist() == [True, True]
    # a box ending just before the max (x1 exclusive) misses
    assert metrics.pointing_game(m[:1], boxes=(0, 0, 3, 10)).tolist() == [False]


def test_pointing_game_tolerance_and_degenerate_maps():
    m = _map_with_max_at(5, 5)[None]
    box = (8, 5, 10, 7)  # columns 8..9: 3 pixels right of the max
    assert metrics.pointing_game(m, boxes=box).tolist() == [False]
    assert metrics.pointing_game(m, boxes=box, tolerance=2.9).tolist() == [False]
    assert metrics.pointing_game(m, boxes=box, tolerance=3.0).tolist() == [True]
    flat = np.zeros((1, 10, 12))
    assert metrics.pointing_game(flat, boxes=(0, 0, 12, 10)).tolist() == [False]  # nothing to point with
    chans = np.zeros((1, 3, 10, 12))
    chans[0, :, 4, 7] = 1.0  # channels are summed
    assert metrics.pointing_game(chans, boxes=(7, 4, 8, 5)).tolist() == [True]
    with pytest.raises(ExplanationError, match="exactly one"):
        metrics.pointing_game(m)
    with pytest.raises(ExplanationError, match="empty box"):
        metrics.pointing_game(m, boxes=(3, 3, 3, 5))


def test_relevance_mass_and_rank_accuracy_by_hand():
    m = np.zeros((2, 4, 4))
    m[0, 0, 0], m[0, 3, 3], m[0, 1, 1] = 3.0, 1.0, -5.0   # negatives do not count
    m[1] = -1.0                                          # no positive relevance at all
    mass = metrics.relevance_mass(m, boxes=(0, 0, 2, 2))
    np.testing.assert_allclose(mass, [0.75, 0.0])
    r = np.arange(16.0).reshape(1, 4, 4)
    assert metrics.relevance_rank_accuracy(r, boxes=(2, 2, 4, 4)).tolist() == [0.5]
    assert metrics.relevance_rank_accuracy(r, boxes=(0, 2, 4, 4)).tolist() == [1.0]


# -- faithfulness ---------------------------------------------------------------------------
def _linear_model(w):
    m = torch.nn.Linear(len(w), 1, bias=False).double()
    with torch.no_grad():
        m.weight[:] = torch.tensor([w], dtype=torch.float64)
    return m


def test_deletion_and_insertion_by_hand():
    w = [3.0, 1.0, 2.0]
    m = _linear_model(w)
    x = np.array([[1.0, 1.0, 1.0]])
    attr = np.array([[3.0, 1.0, 2.0]])  # order: feature 0, 2, 1
    d = metrics.deletion(m, x, attr, n_random=0)
    np.testing.assert_allclose(d.fractions, [0, 1 / 3, 2 / 3, 1])
    np.testing.assert_allclose(d.curves, [[6.0, 3.0, 1.0, 0.0]])
    np.testing.assert_allclose(d.auc, [(6 + 3) / 6 + (3 + 1) / 6 + (1 + 0) / 6])  # trapezoid, h = 1/3
    i = metrics.insertion(m, x, attr, n_random=0)
    np.testing.assert_allclose(i.curves, [[0.0, 3.0, 5.0, 6.0]])
    np.testing.assert_allclose(i.auc, [(0 + 3) / 6 + (3 + 5) / 6 + (5 + 6) / 6])
    # random orders of a linear model average to the straight line: E[auc] = f(x) / 2 for both
    d = metrics.deletion(m, x, attr, n_random=600, seed=1)
    assert abs(d.random_auc[0] - 3.0) < 0.1 and d.gain[0] > 0 and d.summary()["better_than_random"] == 1.0
    worst = metrics.deletion(m, x, -attr, n_random=0)
    np.testing.assert_allclose(worst.curves, [[6.0, 5.0, 3.0, 0.0]])


def test_deletion_images_pixels_and_baseline():
    # a model that sums channel 0 of the top-left 2x2 block
    class Block(torch.nn.Module):
        def forward(self, x):
            return x[:, 0, :2, :2].sum(dim=(1, 2))

    x = torch.ones(1, 3, 4, 4, dtype=torch.float64)
    good = np.zeros((1, 4, 4))
    good[0, :2, :2] = 1.0
    ad = wrap_model(Block(), output_space="value")
    res = metrics.deletion(ad, x, good, n_steps=16, n_random=3)
    assert res.params["unit"] == "pixel" and res.curves.shape == (1, 17)
    np.testing.assert_allclose(res.curves[0, :5], [4, 3, 2, 1, 0])
    assert res.auc[0] < res.random_auc[0]
    res = metrics.insertion(ad, x, good, n_steps=4, n_random=0, baselines=0.5)
    np.testing.assert_allclose(res.curves[0], [2, 4, 4, 4, 4])


def test_faithfulness_of_ig_beats_random_on_a_trained_model():
    torch.manual_seed(0)
    X = torch.randn(300, 6)
    y = (X[:, 0] * 2 - X[:, 1] + 0.5 * X[:, 2] > 0).long()
    m = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    opt = torch.optim.Adam(m.parameters(), lr=0.05)
    for _ in range(80):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(m(X), y).backward()
        opt.step()
    x = X[:20]
    attr = explain(m, x, method="integrated_gradients", n_steps=16, output="probability")
    d = metrics.deletion(m, x, attr, output="probability", n_random=3)
    ins = metrics.insertion(m, x, attr, output="probability", n_random=3)
    assert d.summary()["gain"] > 0.05 and ins.summary()["gain"] > 0.05


def test_infidelity_matches_captum_and_is_zero_for_exact_gradients():
    from captum.metrics import infidelity as c_infidelity

    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)).double()
    x = torch.randn(5, 4, dtype=torch.float64)
    attr = explain(m, x, method="integrated_gradients", n_steps=16)
    perts = torch.randn(5 * 7, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(3)) * 0.1

    def perturb_np(xx, rng):
        return perts.numpy(), xx - perts.numpy()

    def perturb_t(inputs):
        return perts, inputs - perts

    ours = metrics.infidelity(m, x, attr, perturb_func=perturb_np, n_perturb_samples=7)
    ref = c_infidelity(lambda z: m(z)[:, 0], perturb_t, x, torch.as_tensor(attr.values), n_perturb_samples=7)
    np.testing.assert_allclose(ours, ref.numpy(), rtol=1e-6, atol=1e-12)
    lin = _linear_model([1.0, -2.0, 0.5])
    xl = np.random.default_rng(0).normal(size=(6, 3))
    sal = explain(lin, xl, method="saliency", abs=False)  # the exact gradient of a linear model
    assert metrics.infidelity(lin, xl, sal).max() < 1e-20
    assert metrics.infidelity(lin, xl, sal.values * 2).max() > 1e-3
    assert metrics.infidelity(lin, xl, sal.values * 2, normalize=True).max() < 1e-20


def test_max_sensitivity_matches_captum():
    from captum.attr import Saliency
    from captum.metrics import sensitivity_max

    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2)).double()
    x = torch.randn(3, 4, dtype=torch.float64)
    deltas = torch.rand(3 * 5, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 0.04 - 0.02

    f = metrics.explanation_func(m, "saliency", target=1)
    ours = metrics.max_sensitivity(f, x, n_perturb_samples=5, perturb_func=lambda xx, rng: xx + deltas.numpy())
    ref = sensitivity_max(Saliency(m).attribute, x, perturb_func=lambda inp, r: inp + deltas,
                          n_perturb_samples=5, target=1)
    np.testing.assert_allclose(ours, ref.detach().numpy(), rtol=1e-6)
    lin = _linear_model([1.0, -2.0, 0.5])
    g = metrics.explanation_func(lin, "saliency", abs=False)
    assert metrics.max_sensitivity(g, np.ones((2, 3))).max() == 0.0
    # default perturbations are seeded
    a = metrics.max_sensitivity(f, x, seed=4)
    b = metrics.max_sensitivity(f, x, seed=4)
    assert np.array_equal(a, b) and (a > 0).all()
