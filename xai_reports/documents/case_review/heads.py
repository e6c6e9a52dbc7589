"""Outputs of any number of classes: softmax over 3+ classes and multi-label (sigmoid) models.

Two-class models keep Platt scaling of ``logit(positive) - logit(negative)``
(:mod:`.uncertainty`). Here:

* :class:`TemperatureCalibrator`: softmax over ``logits / T``, ``T`` fitted by
  maximum likelihood on the calibration split (Guo et al. 2017), with a
  bootstrap over the calibration cases giving an interval for each class's
  calibrated probability.
* :class:`LabelwiseCalibrator`: one Platt calibrator per label of a sigmoid
  (multi-label) model, on that label's logit.
* :func:`multiclass_qhat` / :func:`multiclass_set`: split-conformal sets with
  the score ``1 - p(true class)``; multi-label models get one binary conformal
  set per label (:func:`~.uncertainty.conformal_threshold` on each column).
* :func:`per_class_metrics`: one-vs-rest sensitivity, specificity (Wilson 95 %
  intervals) and AUC per class, at the model's decision (the most probable class,
  or each label's threshold).
"""

from __future__ import annotations

import numpy as np

from .uncertainty import PlattCalibrator, conformal_threshold, wilson_interval


def softmax(z) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _fit_temperature(z, y) -> float:
    from scipy.optimize import minimize_scalar
    from scipy.special import logsumexp

    def nll(log_t):
        s = z / np.exp(log_t)
        return float(np.mean(logsumexp(s, axis=1) - s[np.arange(len(y)), y]))

    r = minimize_scalar(nll, bounds=(-4.0, 4.0), method="bounded", options={"xatol": 1e-6})
    return float(np.exp(r.x))


class TemperatureCalibrator:
    """Temperature scaling of softmax logits with a bootstrap interval.

    Examples::

        >>> cal = TemperatureCalibrator().fit(logits, y)      # logits (n, K), y (n,) class indices
        >>> cal.predict(logits[:2]).sum(axis=1)
        array([1., 1.])
    """

    def __init__(self, n_bootstrap: int = 200, random_state: int = 0):
        self.n_bootstrap = n_bootstrap
        self.random_state = random_state

    def fit(self, logits, y) -> "TemperatureCalibrator":
        z = np.asarray(logits, dtype=np.float64)
        y = np.asarray(y, dtype=np.int64)
        if z.ndim != 2 or len(z) != len(y) or len(y) < 10:
            raise ValueError("temperature scaling needs (n, K) logits and n class indices (at least 10 cases)")
        if y.min() < 0 or y.max() >= z.shape[1]:
            raise ValueError(f"class indices must lie in 0..{z.shape[1] - 1}")
        self.t_ = _fit_temperature(z, y)
        rng = np.random.default_rng(self.random_state)
        self.boot_ = np.array([_fit_temperature(z[idx], y[idx])
                               for idx in (rng.integers(0, len(y), len(y)) for _ in range(self.n_bootstrap))])
        return self

    def predict(self, logits) -> np.ndarray:
        """Calibrated class probabilities ``(n, K)``."""
        return softmax(np.atleast_2d(np.asarray(logits, dtype=np.float64)) / self.t_)

    def interval(self, logits, level: float = 0.9) -> np.ndarray:
        """Bootstrap percentile interval ``(n, K, 2)`` of each class's calibrated probability."""
        z = np.atleast_2d(np.asarray(logits, dtype=np.float64))
        p = softmax(z[None] / self.boot_[:, None, None])            # (B, n, K)
        q = (1 - level) / 2
        return np.stack([np.quantile(p, q, axis=0), np.quantile(p, 1 - q, axis=0)], axis=-1)

    def to_dict(self) -> dict:
        return {"method": "temperature", "t": self.t_, "n_bootstrap": int(len(self.boot_)),
                "bootstrap": np.round(self.boot_, 8).tolist(), "random_state": self.random_state}

    @classmethod
    def from_dict(cls, d: dict) -> "TemperatureCalibrator":
        obj = cls(n_bootstrap=int(d["n_bootstrap"]), random_state=int(d.get("random_state", 0)))
        obj.t_ = float(d["t"])
        obj.boot_ = np.asarray(d["bootstrap"], dtype=np.float64)
        return obj


class LabelwiseCalibrator:
    """One :class:`~.uncertainty.PlattCalibrator` per label of a sigmoid (multi-label) model."""

    def __init__(self, n_bootstrap: int = 200, random_state: int = 0):
        self.n_bootstrap = n_bootstrap
        self.random_state = random_state

    def fit(self, logits, y) -> "LabelwiseCalibrator":
        z = np.asarray(logits, dtype=np.float64)
        y = np.asarray(y, dtype=np.int64)
        if z.shape != y.shape or z.ndim != 2:
            raise ValueError("multi-label calibration needs (n, K) logits and (n, K) 0/1 labels")
        self.labels_ = []
        for j in range(z.shape[1]):
            try:
                self.labels_.append(PlattCalibrator(self.n_bootstrap, self.random_state).fit(z[:, j], y[:, j]))
            except ValueError as exc:
                raise ValueError(f"label {j}: {exc}") from None
        return self

    def predict(self, logits) -> np.ndarray:
        z = np.atleast_2d(np.asarray(logits, dtype=np.float64))
        return np.stack([c.predict(z[:, j]) for j, c in enumerate(self.labels_)], axis=1)

    def interval(self, logits, level: float = 0.9) -> np.ndarray:
        z = np.atleast_2d(np.asarray(logits, dtype=np.float64))
        return np.stack([c.interval(z[:, j], level) for j, c in enumerate(self.labels_)], axis=1)

    def to_dict(self) -> dict:
        return {"method": "platt_per_label", "labels": [c.to_dict() for c in self.labels_]}

    @classmethod
    def from_dict(cls, d: dict) -> "LabelwiseCalibrator":
        obj = cls()
        obj.labels_ = [PlattCalibrator.from_dict(x) for x in d["labels"]]
        return obj


class IsotonicCalibrator:
    """Isotonic regression of the positive class on a two-class score (Zadrozny and Elkan 2002), with a
    bootstrap interval; an alternative to Platt scaling when the score's relation to the probability is
    not logistic. The fitted step function is stored as its knots (no pickle)."""

    def __init__(self, n_bootstrap: int = 100, random_state: int = 0):
        self.n_bootstrap = n_bootstrap
        self.random_state = random_state

    @staticmethod
    def _knots(s, y):
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(s, y)
        return np.asarray(iso.X_thresholds_, dtype=np.float64), np.asarray(iso.y_thresholds_, dtype=np.float64)

    def fit(self, scores, y) -> "IsotonicCalibrator":
        s, y = np.asarray(scores, dtype=np.float64), np.asarray(y, dtype=np.int64)
        if s.shape != y.shape or s.ndim != 1 or len(s) < 10 or y.min() == y.max():
            raise ValueError("isotonic calibration needs matching 1-d scores and labels of both classes (10+ cases)")
        self.knots_ = self._knots(s, y)
        rng = np.random.default_rng(self.random_state)
        self.boot_ = [self._knots(s[i], y[i]) for i in (rng.integers(0, len(s), len(s)) for _ in range(self.n_bootstrap))]
        return self

    def predict(self, scores) -> np.ndarray:
        return np.interp(np.asarray(scores, dtype=np.float64), *self.knots_)

    def interval(self, scores, level: float = 0.9) -> np.ndarray:
        s = np.atleast_1d(np.asarray(scores, dtype=np.float64))
        p = np.stack([np.interp(s, xs, ys) for xs, ys in self.boot_])
        q = (1 - level) / 2
        return np.stack([np.quantile(p, q, axis=0), np.quantile(p, 1 - q, axis=0)], axis=1)

    def to_dict(self) -> dict:
        r = lambda k: [np.round(k[0], 8).tolist(), np.round(k[1], 8).tolist()]  # noqa: E731
        return {"method": "isotonic", "knots": r(self.knots_), "n_bootstrap": len(self.boot_),
                "bootstrap": [r(k) for k in self.boot_], "random_state": self.random_state}

    @classmethod
    def from_dict(cls, d: dict) -> "IsotonicCalibrator":
        obj = cls(n_bootstrap=int(d["n_bootstrap"]), random_state=int(d.get("random_state", 0)))
        obj.knots_ = tuple(np.asarray(v, dtype=np.float64) for v in d["knots"])
        obj.boot_ = [tuple(np.asarray(v, dtype=np.float64) for v in k) for k in d["bootstrap"]]
        return obj


def calibrator_from_dict(d: dict):
    """The calibrator a model card records (``platt``, ``isotonic``, ``temperature`` or ``platt_per_label``)."""
    return {"platt": PlattCalibrator, "isotonic": IsotonicCalibrator, "temperature": TemperatureCalibrator,
            "platt_per_label": LabelwiseCalibrator}[d.get("method", "platt")].from_dict(d)


def multiclass_qhat(p, y, level: float = 0.9) -> float:
    """Split-conformal ``qhat`` for the score ``1 - p(true class)`` of ``(n, K)`` probabilities.

    Examples::

        >>> multiclass_qhat(np.tile([[0.8, 0.1, 0.1]], (20, 1)), np.zeros(20, int), 0.9)
        0.2
    """
    p = np.asarray(p, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    scores = np.sort(1 - p[np.arange(len(y)), y])
    k = int(np.ceil((len(scores) + 1) * level))
    return 1.0 if k > len(scores) else float(scores[k - 1])


def multiclass_set(p, qhat: float, classes) -> list[str]:
    """The classes whose calibrated probability is at least ``1 - qhat`` (one case's ``(K,)`` probabilities)."""
    return [c for c, pk in zip(classes, np.asarray(p, dtype=np.float64)) if 1 - pk <= qhat + 1e-12]


def labelwise_qhats(p, y, level: float = 0.9) -> list[float]:
    """One binary conformal ``qhat`` per label (columns of ``(n, K)`` probabilities and 0/1 labels)."""
    p, y = np.asarray(p, dtype=np.float64), np.asarray(y, dtype=np.int64)
    return [conformal_threshold(p[:, j], y[:, j], level) for j in range(p.shape[1])]


def label_set(p: float, qhat: float) -> list[str]:
    """A label's conformal set: ``present``/``absent`` that cannot be ruled out at the coverage."""
    out = []
    if p <= qhat + 1e-12:
        out.append("absent")
    if 1 - p <= qhat + 1e-12:
        out.append("present")
    return out


def per_class_metrics(p, y, classes, *, head: str, threshold: float = 0.5) -> dict:
    """One-vs-rest metrics of each class at the model's decision, and the overall accuracy (softmax).

    Args:
        p: ``(n, K)`` calibrated probabilities.
        y: ``(n,)`` class indices (softmax) or ``(n, K)`` 0/1 labels (sigmoid).
        head: ``"multiclass"`` (decision: the most probable class) or ``"multilabel"`` (each label at ``threshold``).

    Examples::

        >>> m = per_class_metrics([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1]], [0, 1], ["a", "b", "c"], head="multiclass")
        >>> m["accuracy"], m["classes"][0]["sensitivity"]
        (1.0, 1.0)
    """
    from sklearn.metrics import roc_auc_score

    p = np.asarray(p, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    if head == "multiclass":
        truth = np.eye(p.shape[1], dtype=bool)[y]
        decided = np.eye(p.shape[1], dtype=bool)[p.argmax(axis=1)]
    else:
        truth, decided = y.astype(bool), p >= threshold
    rows = []
    for k, name in enumerate(classes):
        t, d = truth[:, k], decided[:, k]
        tp, fn, tn, fp = int((t & d).sum()), int((t & ~d).sum()), int((~t & ~d).sum()), int((~t & d).sum())
        rows.append({"class": name, "n_positive": int(t.sum()),
                     "sensitivity": tp / (tp + fn) if tp + fn else None, "sensitivity_ci": wilson_interval(tp, tp + fn),
                     "specificity": tn / (tn + fp) if tn + fp else None, "specificity_ci": wilson_interval(tn, tn + fp),
                     "auc": float(roc_auc_score(t, p[:, k])) if 0 < t.sum() < len(t) else None,
                     "counts": {"tp": tp, "fn": fn, "tn": tn, "fp": fp}})
    out = {"n": int(len(p)), "head": head, "classes": rows,
           "decision": ("the most probable class" if head == "multiclass" else f"each label at {threshold:g}")}
    if head == "multiclass":
        k = int((p.argmax(axis=1) == y).sum())
        out["accuracy"], out["accuracy_ci"] = k / len(y), wilson_interval(k, len(y))
    return out


__all__ = ["TemperatureCalibrator", "LabelwiseCalibrator", "IsotonicCalibrator", "calibrator_from_dict", "softmax", "multiclass_qhat",
           "multiclass_set", "labelwise_qhats", "label_set", "per_class_metrics"]
