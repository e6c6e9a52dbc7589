"""Calibration and uncertainty against oracles: sklearn, brute force, simulation, scipy."""

from __future__ import annotations

import numpy as np
import pytest

from xai_reports.documents.case_review.uncertainty import (PlattCalibrator, conformal_set, conformal_threshold,
                                                 wilson_interval)


def _logistic_data(n, a=2.0, b=-0.5, seed=0):
    rng = np.random.default_rng(seed)
    s = rng.normal(size=n)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-(a * s + b)))).astype(int)
    return s, y


def test_platt_matches_sklearn_logistic_regression():
    from sklearn.linear_model import LogisticRegression

    s, y = _logistic_data(3000)
    cal = PlattCalibrator(n_bootstrap=20).fit(s, y)
    lr = LogisticRegression(C=1e10, tol=1e-10).fit(s[:, None], y)
    # Platt's target smoothing shifts the fit by O(1/n)
    assert cal.a_ == pytest.approx(lr.coef_[0, 0], abs=0.01)
    assert cal.b_ == pytest.approx(lr.intercept_[0], abs=0.01)


def test_platt_is_finite_on_separable_data_and_interval_brackets():
    s = np.r_[np.linspace(-5, -1, 30), np.linspace(1, 5, 30)]
    y = np.r_[np.zeros(30), np.ones(30)].astype(int)
    cal = PlattCalibrator(n_bootstrap=50).fit(s, y)
    assert np.isfinite([cal.a_, cal.b_]).all() and cal.a_ > 0
    p = cal.predict([-3, 0, 3])
    iv = cal.interval([-3, 0, 3], level=0.9)
    assert ((iv[:, 0] <= p + 1e-12) & (p <= iv[:, 1] + 1e-12)).all()
    assert p[0] < 0.1 < 0.9 < p[2]


def test_round_trip():
    s, y = _logistic_data(200)
    cal = PlattCalibrator(n_bootstrap=30).fit(s, y)
    again = PlattCalibrator.from_dict(cal.to_dict())
    np.testing.assert_allclose(again.predict(s), cal.predict(s))
    np.testing.assert_allclose(again.interval(s[:5]), cal.interval(s[:5]), atol=1e-7)


def test_conformal_threshold_brute_force():
    rng = np.random.default_rng(0)
    p, y = rng.uniform(size=37), rng.integers(0, 2, 37)
    scores = np.sort(np.where(y == 1, 1 - p, p))
    for level in (0.5, 0.8, 0.9):
        k = int(np.ceil((len(p) + 1) * level))
        assert conformal_threshold(p, y, level) == scores[k - 1]
    assert conformal_threshold(p[:5], y[:5], 0.9) == 1.0    # too few cases: both classes always


def test_conformal_coverage_by_simulation():
    """Marginal coverage >= level over many calibration/test draws (exchangeable data)."""
    level, covered, total = 0.9, 0, 0
    for seed in range(40):
        s, y = _logistic_data(400, seed=seed)
        p = 1 / (1 + np.exp(-(2 * s - 0.5)))
        q = conformal_threshold(p[:200], y[:200], level)
        sets = conformal_set(p[200:], q, classes=("benign", "malignant"))
        covered += sum(("malignant" if t else "benign") in st for st, t in zip(sets, y[200:]))
        total += 200
    assert covered / total >= level - 0.01


def test_wilson_matches_scipy():
    from scipy.stats import binomtest

    for k, n in ((45, 50), (0, 12), (12, 12), (7, 19)):
        ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        assert wilson_interval(k, n) == pytest.approx((ci.low, ci.high), abs=1e-9)
    assert wilson_interval(0, 0) is None
