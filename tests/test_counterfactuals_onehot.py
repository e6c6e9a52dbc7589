"""One-hot groups in counterfactual constraints: searched as ONE categorical each.

Known answers by brute force over every combination of categories (a logistic
model whose only changeable inputs are two one-hot groups), on data unlike the
HMDA demo: other column names, a scikit-learn model, another seed.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from xai_reports import counterfactuals
from xai_reports.counterfactuals import Constraints
from xai_reports.errors import InputError

EMP = ["emp_salaried", "emp_self", "emp_contract", "emp_none"]
HOUSE = ["home_own", "home_rent", "home_family"]
GROUPS = {"employment": EMP, "housing": HOUSE}


def _data(n=600, seed=7):
    """Synthetic (labelled so): two one-hot groups, an immutable numeric, a numeric noise column."""
    rng = np.random.default_rng(seed)
    e = rng.integers(0, len(EMP), n)
    h = rng.integers(0, len(HOUSE), n)
    X = pd.DataFrame({"age_years": rng.uniform(20, 70, n).round(0)})
    for i, c in enumerate(EMP):
        X[c] = (e == i).astype(float)
    for i, c in enumerate(HOUSE):
        X[c] = (h == i).astype(float)
    X["tenure"] = rng.normal(5, 2, n)
    return X


def _model(seed):
    """A logistic model with hand-set random coefficients (no training: the brute force is exact)."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    X = _data(50, seed)
    m = LogisticRegression(max_iter=2000)
    m.fit(X, (np.arange(50) % 2))           # sets classes_ and shapes; coefficients replaced below
    w = np.zeros(X.shape[1])
    w[0] = 0.03
    w[1:1 + len(EMP)] = rng.normal(0, 2, len(EMP))
    w[1 + len(EMP):1 + len(EMP) + len(HOUSE)] = rng.normal(0, 2, len(HOUSE))
    w[-1] = 0.2
    m.coef_ = w[None, :]
    m.intercept_ = np.array([-1.5 - 0.03 * 45 - 0.2 * 5])
    return m


def _brute_force(m, x, costs):
    """Cheapest change of group categories that makes class 1 (cost: sum of changed groups' costs)."""
    best = (np.inf, None)
    e0 = int(np.argmax(x[EMP].to_numpy()))
    h0 = int(np.argmax(x[HOUSE].to_numpy()))
    for e, h in itertools.product(range(len(EMP)), range(len(HOUSE))):
        z = x.copy()
        z[EMP] = np.eye(len(EMP))[e]
        z[HOUSE] = np.eye(len(HOUSE))[h]
        if m.predict(z.to_frame().T)[0] == 1:
            cost = costs["employment"] * (e != e0) + costs["housing"] * (h != h0)
            if cost < best[0] - 1e-12:
                best = (cost, (e, h))
    return best


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_best_counterfactual_matches_brute_force_over_categories(seed):
    m = _model(seed)
    X = _data(seed=seed)
    rows = X[m.predict(X) == 0].head(25)
    costs = {"employment": 1.0, "housing": 1.37}
    cons = {"one_hot": GROUPS, "immutable": ["age_years", "tenure"], "costs": costs}
    res = counterfactuals(m, rows, background=X, desired=1, k=3, constraints=cons)
    cfs = res.counterfactuals
    assert res.quality["violations"] == 0 and res.quality["dropped_in_final_check"] == 0
    if len(cfs):
        assert (m.predict(cfs[X.columns]) == 1).all()
        # never two indicators at once, never none
        assert (cfs[EMP].sum(axis=1) == 1).all() and (cfs[HOUSE].sum(axis=1) == 1).all()
        assert set(np.unique(cfs[EMP + HOUSE].to_numpy())) <= {0.0, 1.0}
        # immutable columns untouched
        orig = rows.loc[cfs["row"]]
        assert np.allclose(cfs["age_years"].to_numpy(), orig["age_years"].to_numpy())
        assert np.allclose(cfs["tenure"].to_numpy(), orig["tenure"].to_numpy())
        # a changed category counts as one feature
        ch_e = (cfs[EMP].to_numpy() != orig[EMP].to_numpy()).any(axis=1).astype(int)
        ch_h = (cfs[HOUSE].to_numpy() != orig[HOUSE].to_numpy()).any(axis=1).astype(int)
        assert (cfs["n_changed"].to_numpy() == ch_e + ch_h).all()
        assert np.allclose(cfs["distance"].to_numpy(), ch_e + ch_h)
        assert np.allclose(cfs["cost"].to_numpy(), ch_e * 1.0 + ch_h * 1.37)
    n_found = 0
    for idx, x in rows.iterrows():
        cost, combo = _brute_force(m, x, costs)
        mine = cfs[cfs["row"] == idx]
        st = res.status.loc[idx, "status"]
        if combo is None:
            assert st == "none" and len(mine) == 0
            continue
        n_found += 1
        assert st == "found"
        best = mine[mine["rank"] == 0].iloc[0]
        assert best["cost"] == pytest.approx(cost)
    assert n_found >= 5   # the test has teeth: most rows have an answer


def test_without_groups_the_indicators_are_free_columns_and_the_checker_flags_them():
    """The same search without the declaration may set two indicators at once; the checker flags it."""
    m = _model(2)
    X = _data(seed=2)
    rows = X[m.predict(X) == 0].head(10)
    cons = Constraints.build(rows, constraints={"one_hot": GROUPS, "max_changes": 1})
    bad = rows.copy()
    bad[EMP[0]] = 1.0
    bad[EMP[1]] = 1.0          # two set
    none = rows.copy()
    none[HOUSE] = 0.0          # none set
    msgs = cons.violations(rows, bad) + cons.violations(rows, none)
    assert all(any("one_hot" in s for s in v) for v in msgs)
    # a clean change of category is one change (max_changes 1 holds); two groups are two
    good = rows.copy()
    good[HOUSE] = np.roll(rows[HOUSE].to_numpy(), 1, axis=1)
    assert cons.violations(rows, good) == [[] for _ in range(len(rows))]
    two = good.copy()
    two[EMP] = np.roll(rows[EMP].to_numpy(), 1, axis=1)
    assert all(any("more than 1" in s for s in v) for v in cons.violations(rows, two))


def test_group_constraints_allowed_targets_forbidden_and_immutable():
    m = _model(3)
    X = _data(seed=3)
    rows = X[m.predict(X) == 0].head(20)
    base = {"one_hot": GROUPS, "immutable": ["age_years", "tenure"]}
    res = counterfactuals(m, rows, background=X, desired=1, k=3,
                          constraints={**base, "categories": {"employment": ["emp_salaried", "emp_self"]},
                                       "immutable": ["age_years", "tenure", "housing"]})
    cfs = res.counterfactuals
    orig = rows.loc[cfs["row"]]
    assert np.array_equal(cfs[HOUSE].to_numpy(), orig[HOUSE].to_numpy())
    changed = (cfs[EMP].to_numpy() != orig[EMP].to_numpy()).any(axis=1)
    assert changed.all()
    assert (cfs.loc[changed, ["emp_salaried", "emp_self"]].sum(axis=1) == 1).all()
    # a member column made immutable freezes its whole group
    c = Constraints.build(rows, constraints={**base, "immutable": ["home_rent"]})
    assert not c.group_rules["housing"].mutable and "home_rent" in c.group_rules["housing"].why
    # forbidden transition
    res2 = counterfactuals(m, rows, background=X, desired=1, k=3,
                           constraints={**base, "forbidden_transitions": {"employment": [["emp_none", "emp_salaried"]]}})
    cf2 = res2.counterfactuals
    o2 = rows.loc[cf2["row"]]
    assert not ((o2["emp_none"].to_numpy() == 1) & (cf2["emp_salaried"].to_numpy() == 1)).any()
    assert res2.quality["violations"] == 0


def test_bad_group_declarations_are_clear_errors():
    X = _data(40)
    with pytest.raises(InputError, match="not a model feature"):
        Constraints.build(X, constraints={"one_hot": {"g": ["emp_self", "nope"]}})
    with pytest.raises(InputError, match="already in group"):
        Constraints.build(X, constraints={"one_hot": {"g": EMP, "h": ["emp_self", "home_own"]}})
    with pytest.raises(InputError, match="at least 2"):
        Constraints.build(X, constraints={"one_hot": {"g": ["emp_self"]}})
    with pytest.raises(InputError, match="also a model feature"):
        Constraints.build(X, constraints={"one_hot": {"tenure": EMP}})
    Y = X.copy()
    Y.loc[Y.index[3], "emp_self"] = 0.5
    with pytest.raises(InputError, match="hold 0 or 1"):
        Constraints.build(Y, constraints={"one_hot": {"g": EMP}})


def test_pack_declares_one_hot_groups(tmp_path):
    feats = "".join(f"  {c}: {{label: {c}, type: numeric, actionable: true}}\n" for c in EMP + HOUSE)
    (tmp_path / "pack.yaml").write_text(
        "name: lending_oh\nversion: '0.1'\ndomain: healthcare\n"
        "features:\n  age_years: {label: Age, type: numeric}\n"
        "  tenure: {label: Tenure, type: numeric}\n" + feats +
        "counterfactuals:\n  one_hot_groups:\n    employment: [" + ", ".join(EMP) + "]\n"
        "    housing: [" + ", ".join(HOUSE) + "]\n", encoding="utf-8")
    m = _model(1)
    X = _data(seed=1)
    rows = X[m.predict(X) == 0].head(10)
    c = Constraints.build(rows, pack=tmp_path / "pack.yaml")
    assert c.groups == GROUPS and c.search_features == ["age_years", "employment", "housing", "tenure"]
    res = counterfactuals(m, rows, pack=tmp_path / "pack.yaml", background=X, desired=1, k=2)
    cfs = res.counterfactuals
    assert len(cfs) and res.quality["violations"] == 0
    assert (cfs[EMP].sum(axis=1) == 1).all() and (cfs[HOUSE].sum(axis=1) == 1).all()
    (tmp_path / "bad.yaml").write_text(
        (tmp_path / "pack.yaml").read_text().replace("home_family]", "home_family, emp_self]"), encoding="utf-8")
    from xai_reports.packs import load_pack
    with pytest.raises(Exception, match="already in group"):
        load_pack(tmp_path / "bad.yaml")
