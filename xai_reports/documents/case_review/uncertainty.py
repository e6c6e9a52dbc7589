"""Calibration and uncertainty for binary classifiers, fitted on a held-out calibration split.

* :class:`PlattCalibrator`: ``p = sigmoid(a * score + b)`` fitted by maximum
  likelihood on the calibration split (Platt 1999), with a **bootstrap** over
  the calibration cases (refit on resamples) giving an interval for the
  calibrated probability at any score. The interval reflects the uncertainty of
  the calibration map given the finite calibration set, not that of the model's
  weights.
* :func:`conformal_threshold` / :func:`conformal_set`: **split conformal**
  prediction sets (Vovk et al. 2005; Angelopoulos and Bates 2021) with the
  score ``1 - p(true class)``: the set of classes with ``p >= 1 - qhat`` covers
  the true class with probability at least ``level`` over exchangeable cases.
"""

from __future__ import annotations

import numpy as np


def _sigmoid(z):
    from scipy.special import expit

    return expit(np.asarray(z, dtype=np.float64))


def _fit_platt(s, y, iters: int = 100):
    """Maximum-likelihood logistic fit of ``y`` on ``s`` with Platt's target smoothing.

    Damped Newton steps (halved until the loss decreases), so separable
    calibration sets and bootstrap resamples converge to a finite fit.
    """
    from scipy.special import expit, log_expit

    s = np.asarray(s, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    # Platt's smoothed targets keep the slope finite on separable calibration sets.
    n1, n0 = y.sum(), len(y) - y.sum()
    t = np.where(y > 0.5, (n1 + 1) / (n1 + 2), 1 / (n0 + 2))

    def loss(a, b):
        z = a * s + b
        return -np.sum(t * log_expit(z) + (1 - t) * log_expit(-z))

    a, b = 1.0, 0.0
    cur = loss(a, b)
    for _ in range(iters):
        p = expit(a * s + b)
        g = np.array([np.sum((p - t) * s), np.sum(p - t)])
        w = p * (1 - p) + 1e-12
        H = np.array([[np.sum(w * s * s), np.sum(w * s)], [np.sum(w * s), np.sum(w)]]) + 1e-9 * np.eye(2)
        step = np.linalg.solve(H, g)
        lam = 1.0
        while lam > 1e-8:
            na, nb = a - lam * step[0], b - lam * step[1]
            new = loss(na, nb)
            if new <= cur:
                break
            lam /= 2
        if lam <= 1e-8 or cur - new < 1e-12:
            a, b = (na, nb) if lam > 1e-8 else (a, b)
            break
        a, b, cur = na, nb, new
    return float(a), float(b)


class PlattCalibrator:
    """Platt scaling with a bootstrap interval.

    Args:
        n_bootstrap: resamples of the calibration set for the interval.
        random_state: seed of the resampling.

    Attributes:
        a_, b_: the fitted slope and intercept.
        boot_: ``(n_bootstrap, 2)`` refitted ``(a, b)`` pairs.

    Examples::

        >>> cal = PlattCalibrator().fit(scores, y)
        >>> cal.predict(scores[:3]), cal.interval(scores[:3], level=0.9)
    """

    def __init__(self, n_bootstrap: int = 200, random_state: int = 0):
        self.n_bootstrap = n_bootstrap
        self.random_state = random_state

    def fit(self, scores, y) -> "PlattCalibrator":
        """Fit on calibration scores ``(n,)`` and 0/1 labels ``(n,)``; returns ``self``."""
        s = np.asarray(scores, dtype=np.float64)
        y = np.asarray(y, dtype=np.int64)
        if s.shape != y.shape or s.ndim != 1 or len(s) < 10:
            raise ValueError("calibration needs matching 1-d scores and labels (at least 10 cases)")
        if y.min() == y.max():
            raise ValueError("calibration needs both classes")
        self.a_, self.b_ = _fit_platt(s, y)
        rng = np.random.default_rng(self.random_state)
        boot = []
        while len(boot) < self.n_bootstrap:
            idx = rng.integers(0, len(s), len(s))
            if y[idx].min() == y[idx].max():
                continue
            boot.append(_fit_platt(s[idx], y[idx]))
        self.boot_ = np.asarray(boot, dtype=np.float64).reshape(-1, 2)
        return self

    def predict(self, scores) -> np.ndarray:
        """Calibrated probability of the positive class, shape ``(n,)``."""
        return _sigmoid(self.a_ * np.asarray(scores, dtype=np.float64) + self.b_)

    def interval(self, scores, level: float = 0.9) -> np.ndarray:
        """Bootstrap percentile interval ``(n, 2)`` of the calibrated probability at each score."""
        s = np.atleast_1d(np.asarray(scores, dtype=np.float64))
        p = _sigmoid(self.boot_[:, :1] * s[None, :] + self.boot_[:, 1:])
        q = (1 - level) / 2
        return np.stack([np.quantile(p, q, axis=0), np.quantile(p, 1 - q, axis=0)], axis=1)

    def to_dict(self) -> dict:
        """JSON form (stored in the model card)."""
        return {"method": "platt", "a": self.a_, "b": self.b_, "n_bootstrap": int(len(self.boot_)),
                "bootstrap": np.round(self.boot_, 8).tolist(), "random_state": self.random_state}

    @classmethod
    def from_dict(cls, d: dict) -> "PlattCalibrator":
        """Inverse of :meth:`to_dict`."""
        obj = cls(n_bootstrap=int(d["n_bootstrap"]), random_state=int(d.get("random_state", 0)))
        obj.a_, obj.b_ = float(d["a"]), float(d["b"])
        obj.boot_ = np.asarray(d["bootstrap"], dtype=np.float64).reshape(-1, 2)
        return obj


def conformal_threshold(p_positive, y, level: float = 0.9) -> float:
    """Split-conformal ``qhat`` for the score ``1 - p(true class)``.

    Args:
        p_positive: calibrated probabilities of class 1 on the calibration split, ``(n,)``.
        y: true 0/1 labels ``(n,)``.
        level: target coverage (``1 - alpha``).

    Returns:
        ``qhat``, the ``ceil((n + 1) level) / n`` empirical quantile of the scores
        (``1.0`` when ``n`` is too small for the level: every set is both classes).

    Examples::

        >>> conformal_threshold(np.array([0.9, 0.1] * 50), np.array([1, 0] * 50), 0.9)
        0.1
    """
    p = np.asarray(p_positive, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    scores = np.where(y == 1, 1 - p, p)
    n = len(scores)
    k = int(np.ceil((n + 1) * level))
    if k > n:
        return 1.0
    return float(np.sort(scores)[k - 1])


def conformal_set(p_positive, qhat: float, classes=("benign", "malignant")) -> list[list[str]]:
    """Prediction sets: the classes whose calibrated probability is at least ``1 - qhat``.

    Examples::

        >>> conformal_set([0.95, 0.5], qhat=0.2)
        [['malignant'], []]
    """
    return _sets(p_positive, qhat, classes)


def _sets(p_positive, qhat, classes):
    out = []
    for p in np.atleast_1d(np.asarray(p_positive, dtype=np.float64)):
        s = []
        if p <= qhat + 1e-12:          # score of class 0 is 1 - p0 = p
            s.append(classes[0])
        if 1 - p <= qhat + 1e-12:      # score of class 1 is 1 - p
            s.append(classes[1])
        out.append(s)
    return out


def wilson_interval(k: int, n: int, level: float = 0.95) -> tuple[float, float] | None:
    """Wilson score interval of a proportion ``k / n`` (``None`` when ``n == 0``).

    Examples::

        >>> [round(x, 3) for x in wilson_interval(45, 50)]
        [0.786, 0.957]
    """
    if n == 0:
        return None
    from statistics import NormalDist

    z = NormalDist().inv_cdf(0.5 + level / 2)
    p = k / n
    den = 1 + z * z / n
    c = (p + z * z / (2 * n)) / den
    h = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return float(max(0.0, c - h)), float(min(1.0, c + h))


__all__ = ["PlattCalibrator", "conformal_threshold", "conformal_set", "wilson_interval"]
