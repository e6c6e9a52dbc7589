"""The counterfactual search's scikit-learn fast path (float matrix instead of a DataFrame per call).

Checked against the adapter's own predictions (the oracle), on a HistGradientBoosting model
fitted on a DataFrame with integer, bounded features, synthetic data (labelled so) unlike the demo's.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from xai_reports import counterfactuals
from xai_reports.adapters import wrap_model
from xai_reports.counterfactuals import Constraints
from xai_reports.counterfactuals.encoding import Codec
from xai_reports.counterfactuals.fastpath import fast_path, sklearn_fast_path

FEATS = ["late_payments", "open_lines", "salary_k", "years_at_job"]


@pytest.fixture(scope="module")
def data():
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(11)
    n = 400
    X = pd.DataFrame({"late_payments": rng.integers(0, 9, n).astype(float),
                      "open_lines": rng.integers(0, 20, n).astype(float),
                      "salary_k": rng.uniform(15, 150, n).round(1),
                      "years_at_job": rng.integers(0, 30, n).astype(float)})
    score = 0.6 * X.late_payments - 0.03 * X.salary_k + 0.05 * X.open_lines + rng.normal(0, 0.5, n)
    y = (score > np.median(score)).astype(int)
    model = HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(X, y)
    return X, model


def test_fast_path_equals_adapter(data):
    X, model = data
    adapter = wrap_model(model)
    codec = Codec(X, FEATS)
    Z = codec.encode(X.sample(100, random_state=1))
    for space in ("probability", "logit"):
        fast = sklearn_fast_path(adapter, codec, space)
        assert fast is not None
        want = np.asarray(adapter.predict(pd.DataFrame(Z, columns=FEATS), output=space), dtype=np.float64)
        with warnings.catch_warnings():
            warnings.simplefilter("error")          # no feature-name warning leaks out
            got = fast(Z)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    assert fast_path(adapter, codec, "probability") is not None


def test_fast_path_refused_where_columns_could_be_misread(data):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.ensemble import HistGradientBoostingClassifier

    X, model = data
    reordered = Codec(X[FEATS[::-1]], FEATS[::-1])
    assert sklearn_fast_path(wrap_model(model), reordered, "probability") is None
    pipe = make_pipeline(StandardScaler(), HistGradientBoostingClassifier(max_iter=5)).fit(X, model.predict(X))
    assert sklearn_fast_path(wrap_model(pipe), Codec(X, FEATS), "probability") is None
    arr_model = HistGradientBoostingClassifier(max_iter=5).fit(X.to_numpy(), model.predict(X))
    assert sklearn_fast_path(wrap_model(arr_model, feature_names=FEATS), Codec(X, FEATS), "probability") is None


def test_counterfactuals_through_fast_path_are_valid_and_keep_constraints(data):
    X, model = data
    p = model.predict_proba(X)[:, 1]
    query = X[p >= 0.5].head(12)
    cons = {"immutable": ["years_at_job"], "integer": ["late_payments", "open_lines"],
            "decrease_only": ["late_payments"], "bounds": {"late_payments": [0, 8], "open_lines": [0, 19]}}
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="X does not have valid feature names")
        res = counterfactuals(model, query, background=X, k=2, desired=0, constraints=cons)
    cfs = res.counterfactuals
    assert len(cfs) > 0
    out = cfs[FEATS].astype(float)
    assert (model.predict_proba(out)[:, 1] < 0.5).all()           # valid by the model itself
    orig = query.loc[cfs["row"]].reset_index(drop=True) if cfs["row"].isin(query.index).all() \
        else query.iloc[cfs["row"].to_numpy()].reset_index(drop=True)
    viol = Constraints.build(query, constraints=cons).violations(orig, out.reset_index(drop=True))
    assert sum(len(v) for v in viol) == 0
    assert np.allclose(out[["late_payments", "open_lines"]] % 1, 0)
