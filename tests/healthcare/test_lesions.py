"""The synthetic lesion generator: determinism, the labelling rule, masks."""

from __future__ import annotations

import numpy as np

from examples.healthcare.lesions import make_lesion_set, spike_scale


def test_image_depends_only_on_seed_and_index():
    a = make_lesion_set(6, seed=3)
    b = make_lesion_set(2, seed=3, start=4)
    np.testing.assert_array_equal(a.images[4:], b.images)
    np.testing.assert_array_equal(a.masks[4:], b.masks)
    assert not np.array_equal(make_lesion_set(1, seed=4).images, a.images[:1])


def test_shapes_ranges_and_balance():
    ds = make_lesion_set(200, seed=0)
    assert ds.images.shape == (200, 1, 64, 64) and ds.images.dtype == np.float32
    assert ds.images.min() >= 0 and ds.images.max() <= 1
    assert 0.35 < ds.labels.mean() < 0.65
    assert (ds.masks.reshape(200, -1).sum(1) > 40).all()   # every image holds a lesion


def test_labelling_rule_is_margin_irregularity():
    ds = make_lesion_set(300, seed=1)
    np.testing.assert_array_equal(ds.labels, (ds.params["irregularity"] > 0.5).astype(int))
    # size, contrast and noise are drawn independently of the label
    for col in ("radius", "contrast", "noise"):
        a, b = ds.params.loc[ds.labels == 1, col], ds.params.loc[ds.labels == 0, col]
        assert abs(a.mean() - b.mean()) < 0.25 * ds.params[col].std() * 2


def test_malignant_masks_are_less_convex():
    """Spiculated margins show up in the ground-truth masks: lower solidity (area / convex-hull area)."""
    from skimage.morphology import convex_hull_image

    ds = make_lesion_set(120, seed=2, ambiguous_fraction=0.0)
    solidity = np.array([m.sum() / convex_hull_image(m).sum() for m in ds.masks])
    assert solidity[ds.labels == 1].max() < solidity[ds.labels == 0].min() + 0.05
    assert solidity[ds.labels == 1].mean() < solidity[ds.labels == 0].mean() - 0.15


def test_lesion_is_brighter_than_tissue():
    ds = make_lesion_set(50, seed=5)
    inside = np.array([im[0][m].mean() for im, m in zip(ds.images, ds.masks)])
    outside = np.array([im[0][~m].mean() for im, m in zip(ds.images, ds.masks)])
    assert (inside > outside + 0.05).all()


def test_spike_scale():
    assert spike_scale(0.0) == spike_scale(0.3) == 0.0
    assert spike_scale(1.0) == 1.0 and 0 < spike_scale(0.6) < 1
