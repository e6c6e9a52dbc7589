"""Performance of a binary classifier on labelled data, overall and by subgroup.

Discrimination (ROC AUC, Kolmogorov-Smirnov), calibration (reliability curve
with quantile bins, expected calibration error, Brier score) and the confusion
matrix at the decision threshold. Subgroups too small, or with one outcome
class only, are reported with the reason instead of a number.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

__all__ = ["binary_performance", "performance_by_group", "ks_statistic", "calibration_bins"]


def ks_statistic(y, score) -> float:
    """Kolmogorov-Smirnov statistic: the largest gap between the score distributions of the two classes.

    Equal to ``max(TPR - FPR)`` over thresholds and to
    ``scipy.stats.ks_2samp(score[y == 1], score[y == 0]).statistic``.

    Args:
        y: shape ``(n,)`` 0/1 labels with both classes present.
        score: shape ``(n,)`` scores (higher = more likely positive).

    Returns:
        The statistic in ``[0, 1]``.

    Examples::

        >>> ks_statistic([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
        0.5
    """
    y = np.asarray(y).astype(bool)
    s = np.asarray(score, dtype=float)
    pos, neg = np.sort(s[y]), np.sort(s[~y])
    grid = np.unique(s)
    cdf_pos = np.searchsorted(pos, grid, side="right") / len(pos)
    cdf_neg = np.searchsorted(neg, grid, side="right") / len(neg)
    return float(np.max(np.abs(cdf_pos - cdf_neg)))


def calibration_bins(y, p, n_bins: int = 10) -> tuple[list[dict], float]:
    """Reliability curve with (up to) ``n_bins`` quantile bins of ``p``.

    Args:
        y: shape ``(n,)`` 0/1 labels.
        p: shape ``(n,)`` predicted probabilities of class 1.
        n_bins: number of quantile bins (ties may merge bins).

    Returns:
        ``(bins, ece)``: each bin ``{"lo", "hi", "n", "mean_predicted", "observed_rate"}``
        and the expected calibration error ``sum_b n_b/n |observed_b - predicted_b|``.

    Examples::

        >>> bins, ece = calibration_bins(y, p, n_bins=10)
    """
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    n = len(p)
    if n == 0:
        return [], math.nan
    edges = np.unique(np.quantile(p, np.linspace(0, 1, n_bins + 1)))
    if len(edges) < 2:
        edges = np.array([p.min(), p.max()])
    idx = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, len(edges) - 2)
    bins, ece = [], 0.0
    for b in range(len(edges) - 1):
        m = idx == b
        k = int(m.sum())
        if k == 0:
            continue
        mp, obs = float(p[m].mean()), float(y[m].mean())
        bins.append({"lo": float(edges[b]), "hi": float(edges[b + 1]), "n": k,
                     "mean_predicted": mp, "observed_rate": obs})
        ece += k / n * abs(obs - mp)
    return bins, float(ece)


def binary_performance(y, p, threshold: float, *, n_bins: int = 10, min_rows: int = 1) -> dict:
    """Discrimination, calibration and confusion at ``threshold`` for one population.

    Args:
        y: shape ``(n,)`` 0/1 labels (1 = the model's positive class).
        p: shape ``(n,)`` predicted probability of class 1.
        threshold: the decision threshold; ``p >= threshold`` predicts 1.
        n_bins: calibration bins.
        min_rows: fewer rows than this: sizes only, and ``note`` says why.

    Returns:
        A dict with ``n``, ``positives``, ``base_rate``, ``predicted_rate``,
        ``auc``, ``ks``, ``brier``, ``ece``, ``calibration`` (bins),
        ``confusion`` (``tp``, ``fp``, ``tn``, ``fn``, ``tpr``, ``fpr``,
        ``precision``, ``accuracy``) and ``note`` ("" when everything was computed).
        Undefined numbers are NaN.

    Examples::

        >>> binary_performance([0, 1, 1, 0], [0.2, 0.7, 0.6, 0.4], 0.5)["auc"]
        1.0
    """
    from sklearn.metrics import brier_score_loss, roc_auc_score

    y = np.asarray(y).astype(int)
    p = np.asarray(p, dtype=float)
    n = len(y)
    pos = int(y.sum())
    pred = p >= threshold
    out = {"n": n, "positives": pos, "base_rate": pos / n if n else math.nan,
           "predicted_rate": float(pred.mean()) if n else math.nan,
           "auc": math.nan, "ks": math.nan, "brier": math.nan, "ece": math.nan,
           "calibration": [], "confusion": None, "note": ""}
    if n < min_rows:
        out["note"] = f"{n} rows, fewer than the minimum {min_rows}: not assessed"
        return out
    tp = int((pred & (y == 1)).sum())
    fp = int((pred & (y == 0)).sum())
    tn = int((~pred & (y == 0)).sum())
    fn = int((~pred & (y == 1)).sum())
    out["confusion"] = {
        "tp": tp, "fp": fp, "tn": tn, "fn": fn,
        "tpr": tp / (tp + fn) if tp + fn else math.nan,
        "fpr": fp / (fp + tn) if fp + tn else math.nan,
        "precision": tp / (tp + fp) if tp + fp else math.nan,
        "accuracy": (tp + tn) / n,
    }
    out["brier"] = float(brier_score_loss(y, p))
    out["calibration"], out["ece"] = calibration_bins(y, p, n_bins)
    if 0 < pos < n:
        out["auc"] = float(roc_auc_score(y, p))
        out["ks"] = ks_statistic(y, p)
    else:
        out["note"] = "one outcome class only: AUC and KS are undefined"
    return out


def performance_by_group(y, p, groups, threshold: float, *, n_bins: int = 10, min_rows: int = 30) -> pd.DataFrame:
    """:func:`binary_performance` for each group (one row per group, sorted by label).

    Args:
        y, p: as in :func:`binary_performance`, shape ``(n,)``.
        groups: shape ``(n,)`` group labels (missing values form ``"(missing)"``).
        threshold: decision threshold.
        min_rows: groups with fewer rows are reported with their size only.

    Returns:
        A DataFrame with a ``group`` column and the keys of :func:`binary_performance`.

    Examples::

        >>> performance_by_group(y, p, race, 0.5)[["group", "n", "auc"]]
    """
    from .fairness import _group_labels

    g = _group_labels(groups)
    y = np.asarray(y)
    p = np.asarray(p, dtype=float)
    rows = []
    for label in sorted(g.unique()):
        m = (g == label).to_numpy()
        rows.append({"group": label, **binary_performance(y[m], p[m], threshold, n_bins=n_bins, min_rows=min_rows)})
    return pd.DataFrame(rows)
