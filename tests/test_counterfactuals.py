"""Counterfactuals: validity (the model re-run), every constraint, known answers, honesty, determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from xai_reports import counterfactuals
from xai_reports.errors import InputError

# -- fixtures ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def hmda_setup():
    """The demo's XGBoost model (trained as demo.py does) and 40 applicants it denies."""
    from sklearn.model_selection import train_test_split

    from xai_reports import load_pack
    from examples.finance_hmda import FEATURES, SEED, load_hmda, train_model
    from xai_reports.io.tabular import encode_like_pack

    pack = load_pack("finance_hmda_example")
    df = load_hmda()
    train, _ = train_test_split(df, test_size=0.2, random_state=SEED, stratify=df["deny"])
    model = train_model(train, pack)
    X_train = encode_like_pack(train[["applicant_id"] + FEATURES], pack, FEATURES)
    X_all = encode_like_pack(df[["applicant_id"] + FEATURES], pack, FEATURES)
    denied = X_all[model.predict_proba(X_all)[:, 1] >= 0.5].head(40)
    return {"pack": pack, "model": model, "X_train": X_train, "denied": denied, "features": FEATURES}


@pytest.fixture(scope="module")
def hmda_result(hmda_setup):
    s = hmda_setup
    return counterfactuals(s["model"], s["denied"], pack=s["pack"], background=s["X_train"], k=3)


def _synthetic(n=1500, seed=0):
    """Credit-like data with numeric, integer and categorical (pandas categorical) features."""
    rng = np.random.default_rng(seed)
    plan = rng.choice(["basic", "plus", "premium"], n, p=[0.5, 0.3, 0.2])
    region = rng.choice(["north", "south", "east"], n)
    income = rng.normal(0, 1, n)
    debt = rng.normal(0, 1, n)
    years = rng.integers(0, 21, n).astype(float)
    score = (income - debt + 1.6 * (plan == "premium") + 0.9 * (plan == "plus") + 0.7 * (region == "south")
             + 0.08 * years - 1.6 + rng.normal(0, 0.3, n))
    X = pd.DataFrame({
        "income": income, "debt": debt, "years": years,
        "plan": pd.Categorical(plan, categories=["basic", "plus", "premium"]),
        "region": pd.Categorical(region, categories=["north", "south", "east"]),
    })
    return X, (score > 0).astype(int)


@pytest.fixture(scope="module")
def synth():
    import xgboost as xgb

    X, y = _synthetic()
    model = xgb.XGBClassifier(n_estimators=60, max_depth=3, learning_rate=0.2, enable_categorical=True,
                              tree_method="hist", random_state=0, n_jobs=1)
    model.fit(X, y)
    rejected = X[model.predict(X) == 0].head(30)
    return {"model": model, "X": X, "rejected": rejected}


# -- independent checks (never the engine's own code) -------------------------------------


def _changed(a, b):
    if isinstance(a, str) or isinstance(b, str):
        return str(a) != str(b)
    return abs(float(a) - float(b)) > 1e-9


def _check(result, model_predict_desired, constraints_check=None):
    """Every returned counterfactual: the model, called directly, gives the desired outcome."""
    cfs = result.counterfactuals
    feats = result.features
    assert len(cfs) > 0
    ok = model_predict_desired(cfs[feats])
    assert ok.all(), cfs[~ok]
    if constraints_check is not None:
        for _, cf in cfs.iterrows():
            orig = result.original.loc[cf["row"]]
            constraints_check(orig, cf)


def _hmda_desired(model):
    return lambda X: model.predict_proba(X)[:, 1] < 0.5


# -- HMDA: validity, pack constraints, statuses ---------------------------------------------


def test_hmda_counterfactuals_are_valid_and_within_the_pack(hmda_result, hmda_setup):
    s = hmda_setup
    res = hmda_result
    pack = s["pack"]
    actionable = [f for f in s["features"] if pack.features[f].actionable]
    assert set(actionable) == {"pirat", "hirat", "lvrat"}

    def check(orig, cf):
        changed = [f for f in s["features"] if _changed(orig[f], cf[f])]
        assert changed and set(changed) <= set(actionable), changed
        assert len(changed) <= pack.counterfactuals.max_changes
        for f in changed:  # decrease-only, within bounds, on the printed precision (1%)
            lo, hi = pack.features[f].bounds
            assert lo <= cf[f] < orig[f]
            assert abs(cf[f] * 100 - round(cf[f] * 100)) < 1e-6

    _check(res, _hmda_desired(s["model"]), check)
    # 'prediction' is the model's P(deny) on the counterfactual
    p = s["model"].predict_proba(res.counterfactuals[s["features"]])[:, 1]
    np.testing.assert_allclose(res.counterfactuals["prediction"], p, rtol=1e-6)
    st = res.status
    assert set(st.index) == set(s["denied"].index)
    assert set(st.status) <= {"found", "none"}
    assert (st.status == "found").sum() >= 25
    n_cf = res.counterfactuals.groupby("row").size()
    for row, r in st.iterrows():
        assert r.n_found == n_cf.get(row, 0) <= 3
        if r.status == "none":
            assert r.reason and "no change within the constraints" in r.reason
    q = res.quality
    assert q["validity"] == 1.0 and q["violations"] == 0
    assert q["rows_with_counterfactual"] == (st.status == "found").sum()


def test_quality_metrics_match_a_direct_computation(hmda_result, hmda_setup):
    s = hmda_setup
    res = hmda_result
    Xb = s["X_train"]
    num = ["pirat", "hirat", "lvrat", "chist", "mhist", "unemp"]
    cats = [f for f in s["features"] if f not in num]
    mad = {}
    for f in num:
        v = Xb[f].to_numpy()
        m = np.median(np.abs(v - np.median(v)))
        mad[f] = m if m > 0 else np.mean(np.abs(v - np.median(v)))
    cfs = res.counterfactuals.head(20)
    B_num = Xb[num].to_numpy()
    B_cat = Xb[cats].astype(str).to_numpy()
    for _, cf in cfs.iterrows():
        orig = res.original.loc[cf["row"]]
        d = sum(abs(cf[f] - orig[f]) / mad[f] for f in num) + sum(str(cf[f]) != str(orig[f]) for f in cats)
        assert cf["distance"] == pytest.approx(d, rel=1e-9, abs=1e-9)
        assert cf["n_changed"] == sum(_changed(orig[f], cf[f]) for f in s["features"])
        nn = (np.abs(B_num - cf[num].to_numpy(float)) / np.array([mad[f] for f in num])).sum(1) + \
             (B_cat != cf[cats].astype(str).to_numpy()).sum(1)
        assert cf["plausibility"] == pytest.approx(nn.min(), rel=1e-9, abs=1e-9)


def test_rows_without_counterfactual_are_reported_not_faked(hmda_setup):
    s = hmda_setup
    X = s["denied"].head(8)
    # lvrat alone, decrease only, and never below its current value minus a hair: nothing can flip these
    res = counterfactuals(s["model"], X, pack=s["pack"], background=s["X_train"],
                          constraints={"immutable": ["pirat", "hirat"],
                                       "bounds": {"lvrat": [0, 2]}, "max_changes": 1})
    # whatever is found is valid and uses lvrat only; every other row says none, with a reason
    if len(res.counterfactuals):
        _check(res, _hmda_desired(s["model"]))
        assert (res.counterfactuals[["pirat", "hirat"]].to_numpy() == X.loc[res.counterfactuals.row, ["pirat", "hirat"]].to_numpy()).all()
    none = res.status[res.status.status == "none"]
    for row, r in none.iterrows():
        assert r.n_found == 0 and len(res.for_row(row)) == 0
        assert "no change within the constraints reaches approval" in r.reason
        # truly impossible along lvrat: the model denies at every allowed lvrat value on a fine grid
        grid = np.linspace(0, X.loc[row, "lvrat"], 200)
        probe = pd.concat([X.loc[[row]]] * len(grid), ignore_index=True)
        probe["lvrat"] = grid
        assert (s["model"].predict_proba(probe)[:, 1] >= 0.5).all()
    # nothing may change at all
    res2 = counterfactuals(s["model"], X, pack=s["pack"], background=s["X_train"],
                           constraints={"immutable": ["pirat", "hirat", "lvrat"]})
    assert len(res2.counterfactuals) == 0
    assert (res2.status.status == "none").all()
    assert res2.status.reason.str.contains("no feature may change").all()


def test_feature_already_at_its_limit(hmda_setup):
    s = hmda_setup
    X = s["denied"].head(3).copy()
    X["pirat"], X["hirat"], X["lvrat"] = 0.0, 0.0, 0.0   # decrease-only, already at the lower bound 0
    res = counterfactuals(s["model"], X, pack=s["pack"], background=s["X_train"])
    denied = res.status[res.status.status != "not_needed"]
    assert len(denied) and (denied.status == "none").all()
    assert denied.reason.str.contains("already at the limit").all()


def test_same_seed_same_result_and_batch_equals_single(hmda_setup, hmda_result):
    s = hmda_setup
    again = counterfactuals(s["model"], s["denied"], pack=s["pack"], background=s["X_train"], k=3)
    pd.testing.assert_frame_equal(again.counterfactuals, hmda_result.counterfactuals)
    pd.testing.assert_frame_equal(again.status, hmda_result.status)
    row = hmda_result.counterfactuals.row.iloc[0]
    alone = counterfactuals(s["model"], s["denied"].loc[[row]], pack=s["pack"], background=s["X_train"], k=3)
    cols = s["features"] + ["prediction"]
    pd.testing.assert_frame_equal(alone.counterfactuals[cols].reset_index(drop=True),
                                  hmda_result.for_row(row)[cols].reset_index(drop=True))
    other = counterfactuals(s["model"], s["denied"], pack=s["pack"], background=s["X_train"], k=3,
                            random_state=1)
    assert other.quality["validity"] == 1.0


# -- known answers ------------------------------------------------------------------


@pytest.fixture(scope="module")
def linear():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(3)
    X = pd.DataFrame(rng.normal(size=(800, 3)) * [1.0, 2.0, 0.5], columns=["a", "b", "c"])
    y = (X.a + 0.4 * X.b - 2.0 * X.c + rng.normal(0, 0.5, 800) > 0).astype(int)
    model = LogisticRegression().fit(X, y)
    margin = model.decision_function(X)
    rows = X[(margin < 0) & (margin > -1.0)].head(12)     # changes stay inside the data's range
    mad = np.array([np.median(np.abs(X[c] - X[c].median())) for c in X.columns])
    return {"model": model, "X": X, "rows": rows, "mad": mad, "w": model.coef_[0], "b": model.intercept_[0]}


def _analytic_linear(row, w, b, mad, costs, allowed_sign=None):
    """Minimal weighted MAD-L1 change that makes the margin > 0: one feature, the best |w|*MAD/cost."""
    m = float(row @ w + b)
    best = (np.inf, None, None)
    for j in range(len(w)):
        delta = -m / w[j]
        if allowed_sign is not None and allowed_sign[j] is not None and np.sign(delta) != allowed_sign[j]:
            continue
        cost = abs(delta) / mad[j] * costs[j]
        if cost < best[0]:
            best = (cost, j, delta)
    return best


def test_linear_model_minimal_change_is_analytic(linear):
    L = linear
    res = counterfactuals(L["model"], L["rows"], background=L["X"], desired=1, k=1)
    assert (res.status.status == "found").all()
    _check(res, lambda X: L["model"].predict(X) == 1)
    for _, cf in res.counterfactuals.iterrows():
        x = L["rows"].loc[cf["row"]].to_numpy()
        cost, j, delta = _analytic_linear(x, L["w"], L["b"], L["mad"], [1, 1, 1])
        changed = [i for i, c in enumerate("abc") if _changed(x[i], cf[c])]
        assert changed == [j]
        assert cf["abc"[j]] - x[j] == pytest.approx(delta, abs=2e-3 * L["mad"][j])
        assert cf["distance"] == pytest.approx(cost, abs=2e-3)


def test_linear_model_with_costs_and_directions(linear):
    L = linear
    costs = {"a": 1.0, "b": 1.0, "c": 50.0}
    res = counterfactuals(L["model"], L["rows"], background=L["X"], desired=1, k=1,
                          constraints={"costs": costs, "decrease_only": ["a"]})
    _check(res, lambda X: L["model"].predict(X) == 1)
    for _, cf in res.counterfactuals.iterrows():
        x = L["rows"].loc[cf["row"]].to_numpy()
        cost, j, delta = _analytic_linear(x, L["w"], L["b"], L["mad"], [1, 1, 50], allowed_sign=[-1, None, None])
        assert cf["cost"] == pytest.approx(cost, abs=2e-3 * max(1, cost))
        assert cf["a"] <= x[0] + 1e-12


def test_gradient_refinement_on_a_torch_model_finds_the_analytic_answer(linear):
    torch = pytest.importorskip("torch")
    L = linear
    net = torch.nn.Linear(3, 1)
    with torch.no_grad():
        net.weight.copy_(torch.tensor(np.array([L["w"]]), dtype=torch.float32))
        net.bias.copy_(torch.tensor([L["b"]], dtype=torch.float32))
    from xai_reports import wrap_model

    adapter = wrap_model(net, feature_names=["a", "b", "c"], device="cpu")
    res = counterfactuals(adapter, L["rows"], background=L["X"], desired=1, k=1, strategies=("gradient",))
    assert (res.status.status == "found").all()
    assert set(res.counterfactuals.source) == {"gradient"}
    with torch.no_grad():
        logits = net(torch.tensor(res.counterfactuals[["a", "b", "c"]].to_numpy(), dtype=torch.float32))[:, 0]
    assert (logits > 0).all()
    for _, cf in res.counterfactuals.iterrows():
        x = L["rows"].loc[cf["row"]].to_numpy()
        cost, j, _ = _analytic_linear(x, L["w"], L["b"], L["mad"], [1, 1, 1])
        assert cf["distance"] == pytest.approx(cost, abs=5e-3)


def _leaf_boxes(tree, d):
    t = tree.tree_
    out = []

    def walk(node, lo, hi):
        if t.children_left[node] == -1:
            out.append((lo.copy(), hi.copy(), int(np.argmax(t.value[node][0]))))
            return
        f, thr = t.feature[node], t.threshold[node]
        h = hi.copy()
        h[f] = min(h[f], thr)
        walk(t.children_left[node], lo, h)          # x <= thr
        lw = lo.copy()
        lw[f] = max(lw[f], thr)
        walk(t.children_right[node], lw, hi)        # x > thr
    walk(0, np.full(d, -np.inf), np.full(d, np.inf))
    return out


def test_decision_tree_nearest_leaf_region_brute_force():
    from sklearn.tree import DecisionTreeClassifier

    rng = np.random.default_rng(5)
    X = pd.DataFrame(rng.uniform(0, 10, size=(600, 3)), columns=["p", "q", "r"])
    y = ((X.p > 6) & (X.q > 3) | (X.r > 8.5)).astype(int)
    tree = DecisionTreeClassifier(max_depth=4, random_state=0).fit(X, y)
    rows = X[tree.predict(X) == 0].head(15)
    res = counterfactuals(tree, rows, background=X, desired=1, k=1)
    _check(res, lambda Z: tree.predict(Z) == 1)
    mad = np.array([np.median(np.abs(X[c] - X[c].median())) for c in X.columns])
    lo_bg, hi_bg = X.min().to_numpy(), X.max().to_numpy()
    boxes = _leaf_boxes(tree, 3)
    for row, x in rows.iterrows():
        x = x.to_numpy()
        best = np.inf
        for lo, hi, cls in boxes:
            if cls != 1:
                continue
            lo_c, hi_c = np.maximum(lo, lo_bg), np.minimum(hi, hi_bg)
            if np.any(lo_c >= hi_c):
                continue
            dist = np.where(x <= lo_c, lo_c - x, np.where(x > hi_c, x - hi_c, 0.0)) / mad
            best = min(best, dist.sum())
        got = res.for_row(row)
        assert len(got) == 1, row
        assert got["distance"].iloc[0] == pytest.approx(best, abs=5e-3), row


# -- every constraint type, numeric and categorical ------------------------------------------


def _desired_synth(model):
    return lambda X: model.predict(X) == 1


CASES = [
    # (constraints, check(orig, cf) -> bool "respects", description)
    ({"immutable": ["income"]}, lambda o, c: not _changed(o.income, c.income)),
    ({"increase_only": ["years"], "decrease_only": ["income"]},
     lambda o, c: c.years >= o.years - 1e-12 and c.income <= o.income + 1e-12),
    ({"bounds": {"income": [-3, 0.5]}}, lambda o, c: not _changed(o.income, c.income) or -3 <= c.income <= 0.5),
    ({"integer": ["years"]}, lambda o, c: not _changed(o.years, c.years) or float(c.years).is_integer()),
    ({"categories": {"years": [0, 5, 10, 15, 20]}},
     lambda o, c: not _changed(o.years, c.years) or c.years in (0, 5, 10, 15, 20)),
    ({"categories": {"plan": ["basic", "plus"]}}, lambda o, c: str(c.plan) == str(o.plan) or str(c.plan) != "premium"),
    ({"forbidden_transitions": {"plan": [["basic", "premium"]]}},
     lambda o, c: not (str(o.plan) == "basic" and str(c.plan) == "premium")),
    ({"decrease_only": ["plan"]},
     lambda o, c: ["basic", "plus", "premium"].index(str(c.plan)) <= ["basic", "plus", "premium"].index(str(o.plan))),
    ({"immutable": ["region"]}, lambda o, c: str(c.region) == str(o.region)),
    ({"max_changes": 1}, lambda o, c: sum(_changed(o[f], c[f]) for f in ["income", "debt", "years"])
     + sum(str(o[f]) != str(c[f]) for f in ["plan", "region"]) <= 1),
]


@pytest.fixture(scope="module")
def synth_baseline(synth):
    return counterfactuals(synth["model"], synth["rejected"], background=synth["X"], desired=1, k=3)


@pytest.mark.parametrize("constraints,respects", CASES, ids=[str(c[0]) for c in CASES])
def test_each_constraint_binds_and_holds(synth, synth_baseline, constraints, respects):
    base = synth_baseline.counterfactuals
    orig = synth["rejected"]
    # without the constraint, some counterfactual breaks it (so this test can fail)
    assert not all(respects(orig.loc[c.row], c) for _, c in base.iterrows()), "constraint never binds"
    res = counterfactuals(synth["model"], orig, background=synth["X"], desired=1, k=3, constraints=constraints)
    assert len(res.counterfactuals) > 0

    def check(o, c):
        assert respects(o, c), (constraints, o.to_dict(), c.to_dict())

    _check(res, _desired_synth(synth["model"]), check)
    assert res.quality["violations"] == 0
    # the engine's own checker agrees with the independent one on the baseline
    viol = res.constraints.violations(orig.loc[base.row].reset_index(drop=True),
                                      base[res.features].reset_index(drop=True))
    for (_, c), v in zip(base.iterrows(), viol):
        assert (not v) == respects(orig.loc[c.row], c), (c.to_dict(), v)


def test_costs_steer_the_search(synth, synth_baseline):
    base = synth_baseline.counterfactuals
    res = counterfactuals(synth["model"], synth["rejected"], background=synth["X"], desired=1, k=3,
                          constraints={"costs": {"income": 25.0, "debt": 25.0}})
    _check(res, _desired_synth(synth["model"]))
    orig = synth["rejected"]

    def uses(df):
        return sum(_changed(orig.loc[c.row, "income"], c.income) or _changed(orig.loc[c.row, "debt"], c.debt)
                   for _, c in df.iterrows())
    assert uses(res.counterfactuals) < uses(base)


def test_categorical_only_changes_are_found_natively(synth):
    # only the categorical features may change: categories are searched as categories (no one-hot)
    res = counterfactuals(synth["model"], synth["rejected"], background=synth["X"], desired=1, k=2,
                          constraints={"immutable": ["income", "debt", "years"]})
    _check(res, _desired_synth(synth["model"]))
    cfs = res.counterfactuals
    assert isinstance(cfs["plan"].dtype, pd.CategoricalDtype)
    assert list(cfs["plan"].cat.categories) == ["basic", "plus", "premium"]
    assert (cfs[["income", "debt", "years"]].to_numpy() ==
            synth["rejected"].loc[cfs.row, ["income", "debt", "years"]].to_numpy()).all()


def test_bad_constraints_are_clear_errors(synth, hmda_setup):
    X = synth["rejected"]
    m = synth["model"]
    with pytest.raises(InputError, match="unknown key"):
        counterfactuals(m, X, desired=1, constraints={"imutable": ["income"]})
    with pytest.raises(InputError, match="'salary' is not a model feature"):
        counterfactuals(m, X, desired=1, constraints={"immutable": ["salary"]})
    with pytest.raises(InputError, match="both increase_only and decrease_only"):
        counterfactuals(m, X, desired=1, constraints={"increase_only": ["debt"], "decrease_only": ["debt"]})
    with pytest.raises(InputError, match="lower 3.0 > upper 1.0"):
        counterfactuals(m, X, desired=1, constraints={"bounds": {"debt": [3, 1]}})
    with pytest.raises(InputError, match="not among the feature's categories"):
        counterfactuals(m, X, desired=1, constraints={"categories": {"plan": ["gold"]}})
    with pytest.raises(InputError, match="max_changes"):
        counterfactuals(m, X, desired=1, constraints={"max_changes": 0})
    s = hmda_setup
    with pytest.raises(InputError, match="'chist' cannot change .not actionable"):
        counterfactuals(s["model"], s["denied"].head(2), pack=s["pack"], constraints={"decrease_only": ["chist"]})
    with pytest.raises(InputError, match="regression model needs"):
        from sklearn.linear_model import LinearRegression

        counterfactuals(LinearRegression().fit(X[["income", "debt"]], X.years), X[["income", "debt"]])


def test_output_range_for_a_regressor():
    from sklearn.ensemble import RandomForestRegressor

    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.uniform(0, 1, size=(400, 2)), columns=["u", "v"])
    y = 3 * X.u + X.v
    model = RandomForestRegressor(n_estimators=20, max_depth=5, random_state=0).fit(X, y)
    rows = X[model.predict(X) < 1.5].head(6)
    res = counterfactuals(model, rows, background=X, desired=(2.5, None), k=2,
                          constraints={"increase_only": ["u", "v"]})
    _check(res, lambda Z: model.predict(Z) >= 2.5)
    assert (res.counterfactuals.u.to_numpy() >= rows.loc[res.counterfactuals.row, "u"].to_numpy() - 1e-12).all()


def test_protected_attribute_in_the_model_is_never_changed(hmda_setup):
    """Even when a model uses a protected attribute (and it would flip the decision), it stays fixed."""
    import xgboost as xgb

    from examples.finance_hmda import load_hmda
    from xai_reports.io.tabular import encode_like_pack

    s = hmda_setup
    pack = s["pack"]
    feats = s["features"] + ["afam"]
    df = load_hmda()
    X = encode_like_pack(df[["applicant_id"] + feats], pack, feats)
    y = ((df["deny"] == 1) | (df["afam"] == "yes")).astype(int)   # a model that leans on race, on purpose
    model = xgb.XGBClassifier(n_estimators=40, max_depth=3, enable_categorical=True, tree_method="hist",
                              random_state=0, n_jobs=1).fit(X, y)
    rows = X[(model.predict_proba(X)[:, 1] >= 0.5) & (X.afam == "yes")].head(15)
    flipped = rows.copy()
    flipped["afam"] = pd.Categorical(["no"] * len(rows), categories=["no", "yes"])
    assert (model.predict_proba(flipped)[:, 1] < 0.5).any()     # changing race alone would flip some
    res = counterfactuals(model, rows, pack=pack, background=X)
    cfs = res.counterfactuals
    assert (cfs["afam"].astype(str) == "yes").all()
    assert res.constraints.rules["afam"].why == "protected attribute"
    for _, cf in cfs.iterrows():
        assert model.predict_proba(cfs.loc[[_], feats])[0, 1] < 0.5
    with pytest.raises(InputError, match="'afam' cannot change .protected attribute"):
        counterfactuals(model, rows, pack=pack, constraints={"categories": {"afam": ["no"]}})


def test_sklearn_pipeline_with_one_hot_inside_the_model():
    """The search works on categories; a model that one-hot encodes them internally gets categorical columns."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    X, y = _synthetic(800, seed=2)
    pipe = make_pipeline(ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore"), ["plan", "region"])],
                                           remainder="passthrough"), LogisticRegression(max_iter=500))
    pipe.fit(X, y)
    rows = X[pipe.predict(X) == 0].head(10)
    res = counterfactuals(pipe, rows, background=X, desired=1, k=2, constraints={"immutable": ["income", "debt"]})
    _check(res, lambda Z: pipe.predict(Z) == 1)
    assert isinstance(res.counterfactuals["region"].dtype, pd.CategoricalDtype)
    assert res.quality["violations"] == 0
