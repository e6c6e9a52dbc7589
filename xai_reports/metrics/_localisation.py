"""Localisation metrics for image attributions: the pointing game and relevance mass."""

from __future__ import annotations

import numpy as np

from ..errors import ExplanationError


def as_maps(attributions) -> np.ndarray:
    """Attribution maps as ``(n, H, W)`` float64.

    Accepts an :class:`~xai_reports.attribution.Attribution` or an array of
    shape ``(H, W)``, ``(n, H, W)`` or ``(n, C, H, W)`` (channels summed).
    """
    values = getattr(attributions, "values", attributions)
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    a = np.asarray(values, dtype=np.float64)
    if a.ndim == 2:
        return a[None]
    if a.ndim == 3:
        return a
    if a.ndim == 4:
        return a.sum(axis=1)
    raise ExplanationError(f"attribution maps must be (H, W), (n, H, W) or (n, C, H, W); got shape {a.shape}")


def region_masks(shape, mask=None, boxes=None) -> np.ndarray:
    """Boolean region masks ``(n, H, W)`` from ``mask`` or ``boxes``.

    Args:
        shape: ``(n, H, W)`` of the maps.
        mask: boolean ``(H, W)`` (shared) or ``(n, H, W)``.
        boxes: ``(x0, y0, x1, y1)`` in pixels (``x1``, ``y1`` exclusive), one
            shared box ``(4,)``, one per image ``(n, 4)``, or a list per image
            of several boxes (their union).

    Returns:
        Boolean array ``(n, H, W)``.

    Examples::

        >>> region_masks((1, 4, 4), boxes=(1, 1, 3, 3)).sum()
        4
    """
    n, H, W = shape
    if (mask is None) == (boxes is None):
        raise ExplanationError("pass exactly one of mask= or boxes=")
    if mask is not None:
        m = np.asarray(mask.detach().cpu().numpy() if hasattr(mask, "detach") else mask).astype(bool)
        if m.ndim == 2:
            m = np.broadcast_to(m, (n, H, W))
        if m.shape != (n, H, W):
            raise ExplanationError(f"mask of shape {m.shape} does not match maps of shape {(n, H, W)}")
        return np.asarray(m)
    arr = boxes
    if isinstance(arr, np.ndarray) or (len(arr) == 4 and np.isscalar(arr[0])):
        b = np.asarray(arr, dtype=float)
        per_image = [[b]] * n if b.ndim == 1 else [[row] for row in b]
    else:
        per_image = [[np.asarray(bb, dtype=float)] if np.ndim(bb) == 1 else [np.asarray(x, float) for x in bb]
                     for bb in arr]
    if len(per_image) != n:
        raise ExplanationError(f"{len(per_image)} boxes for {n} maps")
    out = np.zeros((n, H, W), dtype=bool)
    for i, bxs in enumerate(per_image):
        for bx in bxs:
            if bx.shape != (4,):
                raise ExplanationError(f"a box is (x0, y0, x1, y1); got {bx.tolist()}")
            x0, y0, x1, y1 = (int(round(v)) for v in bx)
            if x1 <= x0 or y1 <= y0:
                raise ExplanationError(f"empty box {bx.tolist()} (x1 <= x0 or y1 <= y0)")
            out[i, max(0, y0):min(H, y1), max(0, x0):min(W, x1)] = True
    return out


def pointing_game(attributions, mask=None, *, boxes=None, tolerance: float = 0.0) -> np.ndarray:
    """Whether each map's maximum falls on the object (Zhang et al. 2016, https://arxiv.org/abs/1608.00507).

    A map scores a hit when its global maximum is reached at a pixel within
    ``tolerance`` pixels (Euclidean) of the region; the paper uses 15 pixels.
    With ties, it is a hit when any maximal pixel lies in the region; a
    constant map (no maximum to point with) is a miss.

    Args:
        attributions: :class:`Attribution` or array ``(n, H, W)`` /
            ``(n, C, H, W)`` (channels summed) / ``(H, W)``.
        mask: boolean region ``(H, W)`` or ``(n, H, W)``.
        boxes: instead of ``mask``: ``(x0, y0, x1, y1)`` per image (or shared),
            ``x1``/``y1`` exclusive.
        tolerance: distance in pixels from the region that still counts as a hit.

    Returns:
        Boolean array ``(n,)``: the hits. ``hits.mean()`` is the pointing-game accuracy.

    Examples::

        >>> m = np.zeros((1, 8, 8)); m[0, 2, 5] = 1.0
        >>> pointing_game(m, boxes=(4, 1, 7, 4)).tolist()
        [True]
    """
    maps = as_maps(attributions)
    region = region_masks(maps.shape, mask, boxes)
    if tolerance > 0:
        from scipy.ndimage import distance_transform_edt

        region = np.stack([distance_transform_edt(~r) <= tolerance if r.any() else r for r in region])
    hits = np.zeros(len(maps), dtype=bool)
    for i, (m, r) in enumerate(zip(maps, region)):
        top = m.max()
        if not np.isfinite(top) or top == m.min() or not r.any():
            continue
        hits[i] = bool(m[r].max() == top)
    return hits


def relevance_mass(attributions, mask=None, *, boxes=None) -> np.ndarray:
    """Share of the positive relevance that lies inside the region (Arras et al. 2022, https://arxiv.org/abs/2003.07258).

    ``sum(relu(R) inside) / sum(relu(R))`` per map; ``0`` for a map with no
    positive relevance.

    Args:
        attributions: :class:`Attribution` or array ``(n, H, W)`` /
            ``(n, C, H, W)`` (channels summed) / ``(H, W)``.
        mask: boolean region ``(H, W)`` or ``(n, H, W)``.
        boxes: instead of ``mask``: ``(x0, y0, x1, y1)`` per image (or shared).

    Returns:
        Float array ``(n,)`` in ``[0, 1]``.

    Examples::

        >>> m = np.zeros((1, 4, 4)); m[0, 0, 0] = 3.0; m[0, 3, 3] = 1.0
        >>> relevance_mass(m, boxes=(0, 0, 2, 2)).tolist()
        [0.75]
    """
    maps = as_maps(attributions)
    region = region_masks(maps.shape, mask, boxes)
    pos = np.clip(maps, 0.0, None)
    total = pos.reshape(len(pos), -1).sum(axis=1)
    inside = (pos * region).reshape(len(pos), -1).sum(axis=1)
    return np.where(total > 0, inside / np.where(total > 0, total, 1.0), 0.0)


def relevance_rank_accuracy(attributions, mask=None, *, boxes=None) -> np.ndarray:
    """Share of the region's ``K`` pixels that are among the ``K`` highest-ranked pixels (Arras et al. 2022).

    Args:
        attributions: as for :func:`relevance_mass`.
        mask, boxes: the region (``K`` = its pixel count).

    Returns:
        Float array ``(n,)`` in ``[0, 1]``.

    Examples::

        >>> m = np.arange(16.0).reshape(1, 4, 4)
        >>> relevance_rank_accuracy(m, boxes=(2, 2, 4, 4)).tolist()
        [0.5]
    """
    maps = as_maps(attributions)
    region = region_masks(maps.shape, mask, boxes)
    out = np.zeros(len(maps))
    for i, (m, r) in enumerate(zip(maps, region)):
        k = int(r.sum())
        if k == 0:
            continue
        top = np.argsort(-m.reshape(-1), kind="stable")[:k]
        out[i] = r.reshape(-1)[top].sum() / k
    return out


__all__ = ["pointing_game", "relevance_mass", "relevance_rank_accuracy", "region_masks", "as_maps"]
