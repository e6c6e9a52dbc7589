"""Path-dependent TreeSHAP equals a brute-force enumeration of Shapley values.

The value of a coalition S is the tree's cover-weighted expectation
E[f(x) | x_S] (Lundberg et al. 2020, Algorithm 1): follow the split when its
feature is in S, otherwise average both children weighted by their covers.
We enumerate every coalition and apply the Shapley formula directly.
"""

from __future__ import annotations

import itertools
import json
from math import factorial

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from xai_reports import explain


def _trees(booster):
    return [json.loads(t) for t in booster.get_dump(dump_format="json", with_stats=True)]


def _expect(node, x, S, names):
    if "leaf" in node:
        return node["leaf"]
    f = names.index(node["split"])
    kids = {c["nodeid"]: c for c in node["children"]}
    yes, no = kids[node["yes"]], kids[node["no"]]
    if f in S:
        v = x[f]
        if np.isnan(v):
            return _expect(kids[node["missing"]], x, S, names)
        return _expect(yes if v < node["split_condition"] else no, x, S, names)
    cy, cn = yes["cover"], no["cover"]
    return (cy * _expect(yes, x, S, names) + cn * _expect(no, x, S, names)) / (cy + cn)


def brute_force_path_shap(booster, x, names):
    d = len(names)
    trees = _trees(booster)

    def v(S):
        return sum(_expect(t, x, S, names) for t in trees)

    phi = np.zeros(d)
    for i in range(d):
        others = [j for j in range(d) if j != i]
        for r in range(d):
            for S in itertools.combinations(others, r):
                w = factorial(r) * factorial(d - r - 1) / factorial(d)
                phi[i] += w * (v(set(S) | {i}) - v(set(S)))
    return phi, v(set())


@pytest.mark.parametrize("depth,n_trees,seed", [(2, 3, 0), (3, 5, 1), (4, 4, 2)])
def test_matches_brute_force_enumeration(depth, n_trees, seed):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(300, 5)), columns=[f"f{i}" for i in range(5)])
    y = (X.f0 + X.f1 * X.f2 - 0.5 * X.f3 + rng.normal(scale=0.3, size=300) > 0).astype(int)
    model = xgb.XGBClassifier(n_estimators=n_trees, max_depth=depth, learning_rate=0.5,
                              random_state=seed, n_jobs=1, base_score=0.5).fit(X, y)
    booster = model.get_booster()
    attr = explain(model, X.iloc[:6], method="tree_shap")
    for r in range(6):
        x = X.iloc[r].to_numpy()
        phi, v_empty = brute_force_path_shap(booster, x, list(X.columns))
        np.testing.assert_allclose(attr.values[r], phi, atol=2e-5)
        # base_score=0.5 makes the intercept logit(0.5) = 0, so the bias term is
        # exactly the expectation over the empty coalition
        np.testing.assert_allclose(attr.base_values[r], v_empty, atol=2e-5)


def test_additivity_and_metadata(hmda_model, hmda, finance_pack):
    from examples.finance_hmda import FEATURES
    from xai_reports.io.tabular import encode_like_pack

    X = encode_like_pack(hmda.iloc[:200][["applicant_id"] + FEATURES], finance_pack, FEATURES)
    attr = explain(hmda_model, X, method="tree_shap")
    assert attr.values.shape == (200, len(FEATURES))
    assert attr.base_values.shape == (200,)
    assert attr.feature_names == FEATURES
    assert attr.output == "margin" and attr.method == "tree_shap"
    margin = hmda_model.get_booster().predict(xgb.DMatrix(X, enable_categorical=True), output_margin=True)
    np.testing.assert_allclose(attr.values.sum(axis=1) + attr.base_values, margin, atol=1e-4)
    assert attr.self_check["passed"] and attr.self_check["max_abs_error"] < 1e-4


def test_numpy_input_equals_dataframe_input():
    rng = np.random.default_rng(3)
    X = pd.DataFrame(rng.normal(size=(200, 4)), columns=list("abcd"))
    y = X.a * 2 - X.c
    model = xgb.XGBRegressor(n_estimators=20, max_depth=3, n_jobs=1).fit(X, y)
    a = explain(model, X.iloc[:10], method="tree_shap")
    b = explain(model, X.iloc[:10].to_numpy(), method="tree_shap")
    np.testing.assert_allclose(a.values, b.values, atol=1e-6)
    assert a.output == "value"
