"""Fair-lending and performance metrics against hand counts and reference libraries."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from xai_reports.metrics.fairness import (adverse_impact_ratio, logit_marginal_effect, proxy_screen,
                                  standardized_mean_difference, two_proportion_ztest)
from xai_reports.metrics.performance import binary_performance, calibration_bins, ks_statistic, performance_by_group


def test_air_matches_hand_count():
    # group a: 8 of 10 approved; group b: 5 of 10; group c: 9 of 12
    fav = [1] * 8 + [0] * 2 + [1] * 5 + [0] * 5 + [1] * 9 + [0] * 3
    grp = ["a"] * 10 + ["b"] * 10 + ["c"] * 12
    t = adverse_impact_ratio(fav, grp, min_group_size=5).set_index("group")
    # reference = highest rate: a (0.8) > c (0.75) > b (0.5)
    assert t.loc["a", "is_reference"]
    assert t.loc["b", "air"] == pytest.approx(0.5 / 0.8)
    assert t.loc["c", "air"] == pytest.approx(0.75 / 0.8)
    assert t.loc["b", "flag"] and not t.loc["c", "flag"]          # 0.625 < 0.8 <= 0.9375
    assert t.loc["b", "difference_pp"] == pytest.approx(-30.0)
    assert t.loc["b", "fisher_p"] == pytest.approx(stats.fisher_exact([[5, 5], [8, 2]]).pvalue)


def test_air_configured_reference_and_threshold():
    fav = [1] * 6 + [0] * 4 + [1] * 7 + [0] * 3
    t = adverse_impact_ratio(fav, ["x"] * 10 + ["y"] * 10, reference="x", threshold=0.9, min_group_size=1).set_index("group")
    assert t.loc["x", "is_reference"]
    assert t.loc["y", "air"] == pytest.approx(0.7 / 0.6)
    with pytest.raises(ValueError, match="not among the groups"):
        adverse_impact_ratio(fav, ["x"] * 10 + ["y"] * 10, reference="z")


def test_small_group_is_reported_not_divided():
    fav = [1] * 40 + [0] * 10 + [0, 0, 1]
    grp = ["big"] * 50 + ["tiny"] * 3
    t = adverse_impact_ratio(fav, grp, min_group_size=30).set_index("group")
    assert t.loc["tiny", "n"] == 3 and t.loc["tiny", "favorable"] == 1
    assert math.isnan(t.loc["tiny", "air"]) and not t.loc["tiny", "assessed"]
    assert "fewer than the minimum group size 30" in t.loc["tiny", "note"]
    # no group large enough at all: nothing assessed, no error
    t2 = adverse_impact_ratio([1, 0, 1], ["a", "b", "b"], min_group_size=30)
    assert not t2["assessed"].any()


def test_reference_without_favourable_outcomes():
    t = adverse_impact_ratio([0] * 5 + [1] * 5, ["r"] * 5 + ["g"] * 5, reference="r", min_group_size=1).set_index("group")
    assert math.isnan(t.loc["g", "air"]) and "undefined" in t.loc["g", "note"]


def test_missing_group_values_form_their_own_group():
    t = adverse_impact_ratio([1, 1, 0, 1], ["a", None, "a", np.nan], min_group_size=1)
    assert set(t["group"]) == {"a", "(missing)"}


def test_ztest_matches_statsmodels():
    sm = pytest.importorskip("statsmodels.stats.proportion")
    for x1, n1, x2, n2 in [(40, 100, 60, 100), (7, 61, 300, 415), (3, 10, 3, 12)]:
        z, p = two_proportion_ztest(x1, n1, x2, n2)
        z_ref, p_ref = sm.proportions_ztest([x1, x2], [n1, n2])
        assert z == pytest.approx(z_ref) and p == pytest.approx(p_ref)
    assert all(math.isnan(v) for v in two_proportion_ztest(5, 5, 10, 10))   # no variance


def test_smd_hand_computed():
    a = np.array([1.0, 2.0, 3.0, 4.0])
    b = np.array([2.0, 4.0, 6.0])
    t = standardized_mean_difference(np.r_[a, b], ["a"] * 4 + ["b"] * 3, reference="a", min_group_size=2).set_index("group")
    pooled = math.sqrt((3 * a.var(ddof=1) + 2 * b.var(ddof=1)) / 5)
    assert t.loc["b", "smd"] == pytest.approx((b.mean() - a.mean()) / pooled)
    assert math.isnan(t.loc["a", "smd"])


def _logit_data(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = rng.integers(0, 3, size=n)
    g = rng.random(n) < 0.3
    eta = -0.3 + 0.8 * x1 - 0.5 * g + 0.3 * x2
    y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(int)
    return y, g, x1, x2


def test_logit_ame_matches_statsmodels():
    sm = pytest.importorskip("statsmodels.api")
    y, g, x1, x2 = _logit_data()
    me = logit_marginal_effect(y, g, pd.DataFrame({"x1": x1, "x2": pd.Categorical(x2)}))
    X = np.column_stack([np.ones(len(y)), g.astype(float), x1, (x2 == 1), (x2 == 2)]).astype(float)
    ref = sm.Logit(y, X).fit(disp=0).get_margeff(at="overall", dummy=True)
    assert me.converged
    assert me.ame == pytest.approx(ref.margeff[0], rel=1e-6)
    assert me.se == pytest.approx(ref.margeff_se[0], rel=1e-5)
    assert me.p_value == pytest.approx(ref.pvalues[0], rel=1e-4)


def test_logit_ame_over_group_matches_brute_force():
    """Effect on the group's rows: recompute from a sklearn fit (no penalty) as an independent oracle."""
    from sklearn.linear_model import LogisticRegression

    y, g, x1, _ = _logit_data(seed=1)
    me = logit_marginal_effect(y, g, pd.DataFrame({"x1": x1}), over="group")
    clf = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(np.column_stack([g, x1]), y)
    X1 = np.column_stack([np.ones(g.sum()), x1[g]])
    X0 = np.column_stack([np.zeros(g.sum()), x1[g]])
    ame = (clf.predict_proba(X1)[:, 1] - clf.predict_proba(X0)[:, 1]).mean()
    assert me.ame == pytest.approx(ame, abs=1e-5)


def test_logit_separation_is_reported():
    x = np.arange(100, dtype=float)
    y = (x >= 50).astype(int)
    g = (np.arange(100) % 2).astype(bool)
    me = logit_marginal_effect(y, g, pd.DataFrame({"x": x}))
    assert not me.converged and "not estimable" in me.note and math.isnan(me.ame)
    assert "one value" in logit_marginal_effect(np.ones(10), g[:10]).note


def test_proxy_screen_finds_the_proxy():
    rng = np.random.default_rng(0)
    grp = np.where(rng.random(500) < 0.4, "p", "r")
    X = pd.DataFrame({"proxy": (grp == "p") + rng.normal(scale=0.3, size=500), "noise": rng.normal(size=500)})
    t = proxy_screen(X, grp, reference="r")
    assert t.iloc[0]["feature"] == "proxy" and t.iloc[0]["group"] == "p"
    assert t.iloc[0]["correlation"] == pytest.approx(np.corrcoef(X["proxy"], grp == "p")[0, 1])
    assert t.set_index("feature").loc["noise", "abs_correlation"] < 0.15


def test_performance_matches_sklearn_and_scipy():
    from sklearn.metrics import brier_score_loss, confusion_matrix, roc_auc_score

    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 400)
    p = np.clip(0.3 * y + rng.uniform(0, 0.7, 400), 0, 1)
    r = binary_performance(y, p, 0.5)
    assert r["auc"] == pytest.approx(roc_auc_score(y, p))
    assert r["ks"] == pytest.approx(stats.ks_2samp(p[y == 1], p[y == 0]).statistic)
    assert ks_statistic(y, p) == pytest.approx(stats.ks_2samp(p[y == 1], p[y == 0]).statistic)
    assert r["brier"] == pytest.approx(brier_score_loss(y, p))
    tn, fp, fn, tp = confusion_matrix(y, p >= 0.5).ravel()
    assert (r["confusion"]["tp"], r["confusion"]["fp"], r["confusion"]["tn"], r["confusion"]["fn"]) == (tp, fp, tn, fn)


def test_calibration_bins_match_sklearn_without_ties():
    from sklearn.calibration import calibration_curve

    rng = np.random.default_rng(4)
    p = rng.uniform(size=1000)
    y = (rng.uniform(size=1000) < p).astype(int)
    bins, ece = calibration_bins(y, p, 10)
    prob_true, prob_pred = calibration_curve(y, p, n_bins=10, strategy="quantile")
    assert [b["observed_rate"] for b in bins] == pytest.approx(list(prob_true))
    assert [b["mean_predicted"] for b in bins] == pytest.approx(list(prob_pred))
    assert ece == pytest.approx(sum(b["n"] / 1000 * abs(b["observed_rate"] - b["mean_predicted"]) for b in bins))


def test_one_class_subgroup_and_small_subgroup():
    y = np.r_[np.zeros(40, int), np.r_[np.zeros(20, int), np.ones(20, int)], [1, 0]]
    p = np.linspace(0.01, 0.99, len(y))
    t = performance_by_group(y, p, ["one"] * 40 + ["both"] * 40 + ["tiny"] * 2, 0.5, min_rows=30).set_index("group")
    assert math.isnan(t.loc["one", "auc"]) and "one outcome class" in t.loc["one", "note"]
    assert not math.isnan(t.loc["both", "auc"])
    assert t.loc["tiny", "confusion"] is None and "not assessed" in t.loc["tiny", "note"]
