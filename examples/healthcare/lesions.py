"""A procedurally generated, SYNTHETIC lesion-classification image set.

No medical image data set can be downloaded where xai-reports is built, so the
imaging model of the healthcare pack is trained on images generated here. They
are **synthetic**: they resemble no real modality, and every document made from
them says so.

Each image is ``size x size`` grey levels in ``[0, 1]``:

* **tissue background**: smoothed Gaussian noise at three scales plus oriented
  fibre-like waves (random orientation and frequency), so the background has
  texture a model could latch on to;
* **one lesion**, brighter than the tissue, whose boundary in polar form is
  ``r(theta) = r0 * (1 + e cos 2(theta - phi) + lobulation(theta)) + spicules(theta)``
  where the spicules are 6-12 narrow radial spikes of length
  ``1.3 r0 * max(0, (s - 0.3) / 0.7)`` for margin irregularity ``s``, with a soft edge of width ``edge`` pixels, radius ``r0`` in ``[5, 11]`` px and
  contrast in ``[0.18, 0.45]``;
* additive Gaussian noise (sigma in ``[0.005, 0.03]``).

**Labelling rule** (the ground truth): a lesion is *malignant* (label 1) when its
margin irregularity ``s`` exceeds 0.5, *benign* (label 0) otherwise. ``s`` sets
the length of the spicules (none below 0.3); size, contrast, ellipticity,
lobulation, edge softness, position, texture and noise are drawn independently
of the label, so only the margin carries the class. Most lesions are clearly on
one side (``s`` in ``[0, 0.35]`` or ``[0.65, 1]``); a fraction
``ambiguous_fraction`` is drawn from ``[0.35, 0.65]`` and is genuinely hard.

The **ground-truth lesion mask** is ``{d <= r(theta)}`` (spicules included); it is
what evidence maps are scored against (pointing game, relevance mass).

Image ``i`` of seed ``seed`` depends only on ``(seed, i)``, so any image can be
regenerated alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

SYNTHETIC_NOTICE = ("SYNTHETIC DATA: procedurally generated lesion images (examples.healthcare.lesions); "
                    "not medical images; for demonstration and testing only.")
LABELLING_RULE = ("malignant if the lesion's margin irregularity (spicule length scale s) exceeds 0.5, "
                  "benign otherwise; size, contrast, shape, texture and noise are independent of the label")
CLASSES = ("benign", "malignant")


@dataclass
class LesionSet:
    """A batch of synthetic lesion images.

    Attributes:
        images: float32 ``(n, 1, size, size)`` in ``[0, 1]``.
        masks: bool ``(n, size, size)``, the lesion (ground truth for localisation).
        labels: int64 ``(n,)``, 1 = malignant (the labelling rule above).
        params: DataFrame of the generating parameters, one row per image
            (``irregularity``, ``radius``, ``contrast``, ``noise``, ``cx``, ``cy``, ...).
    """

    images: np.ndarray
    masks: np.ndarray
    labels: np.ndarray
    params: pd.DataFrame

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def as_uint8(self) -> np.ndarray:
        """Images as 8-bit grey levels ``(n, size, size)`` (what a PNG file holds)."""
        return to_uint8(self.images[:, 0])


def to_uint8(img: np.ndarray) -> np.ndarray:
    """``[0, 1]`` floats -> uint8 grey levels (rounded, clipped)."""
    return np.clip(np.rint(np.asarray(img) * 255.0), 0, 255).astype(np.uint8)


def _tissue(rng, size: int) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    img = np.zeros((size, size))
    for sigma, w in ((7.0, 0.55), (2.5, 0.3), (0.8, 0.12)):
        n = gaussian_filter(rng.standard_normal((size, size)), sigma, mode="wrap")
        img += w * n / (n.std() + 1e-9)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    theta = rng.uniform(0, np.pi)
    freq = rng.uniform(0.08, 0.2)
    warp = gaussian_filter(rng.standard_normal((size, size)), 5.0, mode="wrap")
    warp /= warp.std() + 1e-9
    fibres = np.sin(2 * np.pi * freq * (xx * np.cos(theta) + yy * np.sin(theta)) + 1.5 * warp)
    img += rng.uniform(0.1, 0.35) * fibres
    img /= img.std() + 1e-9
    return 0.42 + rng.uniform(0.05, 0.09) * img


def spike_scale(s: float) -> float:
    """Spicule length (in units of ``1.3 r0``) for margin irregularity ``s``: none up to 0.3, then linear to 1."""
    return float(np.clip((s - 0.3) / 0.7, 0.0, 1.0))


def _one(seed: int, i: int, size: int, ambiguous_fraction: float, irregularity=None):
    rng = np.random.default_rng([seed, i])
    bg = _tissue(rng, size)
    if irregularity is None:
        u = rng.uniform()
        if u < ambiguous_fraction:
            s = rng.uniform(0.35, 0.65)
        elif u < ambiguous_fraction + (1 - ambiguous_fraction) / 2:
            s = rng.uniform(0.0, 0.35)
        else:
            s = rng.uniform(0.65, 1.0)
    else:
        s = float(irregularity)
        rng.uniform()
    r0 = rng.uniform(5.0, 11.0)
    contrast = rng.uniform(0.18, 0.45)
    ecc = rng.uniform(0.0, 0.25)
    phi = rng.uniform(0, np.pi)
    edge = rng.uniform(0.6, 1.6)
    noise = rng.uniform(0.005, 0.03)
    n_spic = int(rng.integers(6, 13))
    spic_angles = rng.uniform(0, 2 * np.pi, n_spic)
    spic_len = rng.uniform(0.7, 1.3, n_spic)
    lob_k = rng.integers(3, 6, 2)
    lob_a = rng.uniform(0.0, 0.08, 2)
    lob_p = rng.uniform(0, 2 * np.pi, 2)
    margin = r0 * (1 + ecc) + 1.3 * r0 * spike_scale(s) * 1.3 + 2
    lo, hi = margin, size - 1 - margin
    if lo >= hi:
        cx = cy = (size - 1) / 2
    else:
        cx, cy = rng.uniform(lo, hi, 2)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    dx, dy = xx - cx, yy - cy
    d = np.hypot(dx, dy)
    th = np.arctan2(dy, dx)
    r = 1 + ecc * np.cos(2 * (th - phi))
    for k, a, p in zip(lob_k, lob_a, lob_p):
        r += a * np.cos(k * th + p)
    r *= r0
    spikes = np.zeros_like(th)
    for ang, ln in zip(spic_angles, spic_len):
        c = np.cos(th - ang)
        spikes = np.maximum(spikes, ln * np.clip(c, 0, None) ** 60)
    r = r + 1.3 * r0 * spike_scale(s) * spikes
    profile = 1.0 / (1.0 + np.exp((d - r) / (edge * 0.5)))
    # spicules are thin: fade their intensity a little with distance from the core
    core = np.clip(1.0 - np.clip(d - r0, 0, None) / (2.5 * r0), 0.55, 1.0)
    img = bg + contrast * profile * core
    img += rng.normal(0, noise, img.shape)
    img = np.clip(img, 0.0, 1.0)
    mask = d <= r
    label = int(s > 0.5)
    params = {"irregularity": s, "radius": r0, "contrast": contrast, "eccentricity": ecc, "edge": edge,
              "noise": noise, "n_spicules": n_spic, "cx": cx, "cy": cy, "label": label}
    return img.astype(np.float32), mask, label, params


def make_lesion_set(n: int, *, size: int = 64, seed: int = 0, start: int = 0,
                    ambiguous_fraction: float = 0.1, irregularity=None) -> LesionSet:
    """Generate ``n`` synthetic lesion images with masks and labels.

    Args:
        n: number of images.
        size: image side in pixels (the shipped model uses 64).
        seed: data-set seed; image ``start + k`` depends only on ``(seed, start + k)``.
        start: index of the first image (use disjoint ranges for train/test).
        ambiguous_fraction: share of lesions with irregularity near the 0.5 cut-off.
        irregularity: force every lesion's margin irregularity (for controlled examples).

    Returns:
        :class:`LesionSet` with ``images`` ``(n, 1, size, size)`` float32,
        ``masks`` ``(n, size, size)`` bool and ``labels`` ``(n,)``.

    Examples::

        >>> ds = make_lesion_set(8, seed=0)
        >>> ds.images.shape, ds.masks.shape, ds.labels.shape
        ((8, 1, 64, 64), (8, 64, 64), (8,))
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    imgs = np.empty((n, 1, size, size), dtype=np.float32)
    masks = np.empty((n, size, size), dtype=bool)
    labels = np.empty(n, dtype=np.int64)
    rows = []
    for k in range(n):
        img, mask, label, params = _one(seed, start + k, size, ambiguous_fraction, irregularity)
        imgs[k, 0] = img
        masks[k] = mask
        labels[k] = label
        rows.append({"index": start + k, **params})
    return LesionSet(imgs, masks, labels, pd.DataFrame(rows))


__all__ = ["LesionSet", "make_lesion_set", "to_uint8", "SYNTHETIC_NOTICE", "LABELLING_RULE", "CLASSES"]
