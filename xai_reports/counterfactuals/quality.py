"""Quality of counterfactuals: sparsity, closeness, plausibility, diversity.

All distances are L1 over features with numeric differences divided by the
feature's median absolute deviation (MAD) in the background data
(Wachter et al. 2017; the measure DiCE reports as 'proximity'), and 1 for each
categorical feature that changes.

Free functions over encoded arrays (numeric values as floats, categorical
features as category codes), so the benchmark scores any method's output the
same way.
"""

from __future__ import annotations

import numpy as np

from .encoding import changed_mask


def mad_scale(Z: np.ndarray, numeric: np.ndarray) -> np.ndarray:
    """Per-feature scale: the median absolute deviation of ``Z`` (background rows).

    Where the MAD is 0 (a feature with one dominant value), the mean absolute
    deviation from the median is used, then 1. Categorical features get 1.

    Args:
        Z: ``(n, d)`` encoded background rows.
        numeric: ``(d,)`` bool, which features are numeric.

    Returns:
        ``(d,)`` positive scales.

    Examples::

        >>> mad_scale(np.array([[1.0], [2.0], [4.0]]), np.array([True]))
        array([1.])
    """
    d = Z.shape[1]
    scale = np.ones(d)
    for j in range(d):
        if not numeric[j]:
            continue
        col = Z[:, j]
        col = col[~np.isnan(col)]
        if len(col) == 0:
            continue
        med = np.median(col)
        dev = np.abs(col - med)
        s = float(np.median(dev))
        if not s > 0:
            s = float(np.mean(dev))
        scale[j] = s if s > 0 else 1.0
    return scale


def l1_distance(Z0: np.ndarray, Z: np.ndarray, scale: np.ndarray, numeric: np.ndarray,
                weights: np.ndarray | None = None) -> np.ndarray:
    """MAD-normalised L1 distance between aligned rows.

    Args:
        Z0, Z: ``(n, d)`` encoded rows (originals, counterfactuals).
        scale: ``(d,)`` MADs; numeric: ``(d,)`` bool; weights: optional ``(d,)`` costs.

    Returns:
        ``(n,)`` distances; NaN == NaN counts as no change, a categorical change as 1.

    Examples::

        >>> l1_distance(np.array([[0.3, 1.0]]), np.array([[0.25, 2.0]]), np.array([0.05, 1.0]),
        ...             np.array([True, False]))
        array([2.])
    """
    diff = np.abs(Z - Z0)
    both_nan = np.isnan(Z) & np.isnan(Z0)
    diff = np.where(both_nan, 0.0, diff)
    diff = np.where(np.isnan(diff), 1.0, diff)  # a value appearing or disappearing
    per = np.where(numeric[None, :], diff / scale[None, :], (diff > 0).astype(float))
    if weights is not None:
        per = per * weights[None, :]
    return per.sum(axis=1)


def n_changed(Z0: np.ndarray, Z: np.ndarray) -> np.ndarray:
    """Number of features changed per row (sparsity), shape ``(n,)``.

    Examples::

        >>> n_changed(np.array([[1.0, 2.0]]), np.array([[1.0, 3.0]]))
        array([1])
    """
    return changed_mask(Z0, Z).sum(axis=1)


def nearest_distance(Z: np.ndarray, background: np.ndarray, scale: np.ndarray, numeric: np.ndarray,
                     chunk: int = 512) -> np.ndarray:
    """Plausibility: MAD-L1 distance from each row of ``Z`` to its nearest background row.

    Args:
        Z: ``(n, d)`` encoded rows; background: ``(m, d)``; scale, numeric: as in :func:`l1_distance`.

    Returns:
        ``(n,)`` distances (0 for a row that equals a background row).

    Examples::

        >>> nearest_distance(np.array([[0.5]]), np.array([[0.0], [1.0], [0.4]]), np.array([0.1]), np.array([True]))
        array([1.])
    """
    from scipy.spatial.distance import cdist

    out = np.full(len(Z), np.nan)
    if len(background) == 0 or len(Z) == 0:
        return out
    has_nan = np.isnan(Z).any(axis=0) | np.isnan(background).any(axis=0)
    num = numeric & ~has_nan
    cat = ~numeric & ~has_nan
    odd = np.flatnonzero(has_nan)
    Bn = background[:, num] / scale[num]
    Bc = background[:, cat]
    for s in range(0, len(Z), chunk):
        q = Z[s:s + chunk]
        D = np.zeros((len(q), len(background)))
        if num.any():
            D += cdist(q[:, num] / scale[num], Bn, "cityblock")
        if cat.any():
            D += cdist(q[:, cat], Bc, "hamming") * cat.sum()
        for j in odd:  # columns with missing values: NaN == NaN is no change, NaN vs a value counts 1
            a, b = q[:, j][:, None], background[:, j][None, :]
            diff = np.abs(a - b)
            diff = np.where(np.isnan(a) & np.isnan(b), 0.0, np.where(np.isnan(diff), 1.0, diff))
            D += diff / scale[j] if numeric[j] else (diff > 0)
        out[s:s + chunk] = D.min(axis=1)
    return out


def diversity(Zs: np.ndarray, scale: np.ndarray, numeric: np.ndarray) -> float:
    """Mean pairwise MAD-L1 distance between the counterfactuals of one row (``nan`` if fewer than 2).

    Examples::

        >>> diversity(np.array([[0.0], [1.0], [3.0]]), np.array([1.0]), np.array([True]))
        2.0
    """
    k = len(Zs)
    if k < 2:
        return float("nan")
    total, pairs = 0.0, 0
    for a in range(k):
        for b in range(a + 1, k):
            total += float(l1_distance(Zs[a:a + 1], Zs[b:b + 1], scale, numeric)[0])
            pairs += 1
    return total / pairs


def feature_diversity(Z0: np.ndarray, Zs: np.ndarray) -> float:
    """DiCE's 'count diversity' for one row: mean fraction of features on which two counterfactuals differ.

    Examples::

        >>> feature_diversity(np.zeros(2), np.array([[1.0, 0.0], [0.0, 1.0]]))
        1.0
    """
    k = len(Zs)
    if k < 2:
        return float("nan")
    vals = []
    for a in range(k):
        for b in range(a + 1, k):
            vals.append(changed_mask(Zs[a], Zs[b]).mean())
    return float(np.mean(vals))
