"""Counterfactuals on the HMDA XGBoost model: xai-reports against DiCE (random and genetic).

The model is trained exactly as ``xai_reports/demo.py`` does (seeded XGBoost on the
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

    PYTHONPATH=$PWD python benchmarks/bench_counterfactuals.py              # all three methods
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

import numpy as np
import pandas as pd

CONTINUOUS = ["pirat", "hirat", "lvrat", "chist", "mhist", "unemp"]


def setup(n: int):
    from sklearn.model_selection import train_test_split

    from xai_reports.demo import FEATURES, SEED, load_hmda, train_model
    from xai_reports.packs import load_pack
    from xai_reports.tabular import encode_like_pack

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


def run_ours(model, pack, denied, X_train, k, max_changes="pack"):
    """One batched call for every applicant (best of 3 timings; the results are identical)."""
    from xai_reports import counterfactuals

    saved = pack.spec.counterfactuals.max_changes
    if max_changes != "pack":
        pack.spec.counterfactuals.max_changes = max_changes
    try:
        counterfactuals(model, denied.head(3), pack=pack, background=X_train, k=k)  # warm-up (imports)
        secs = np.inf
        for _ in range(3):
            t = time.perf_counter()
            res = counterfactuals(model, denied, pack=pack, background=X_train, k=k)
            secs = min(secs, time.perf_counter() - t)
    finally:
        pack.spec.counterfactuals.max_changes = saved
    cfs = res.counterfactuals
    return cfs[["row"] + list(denied.columns)].rename(columns={"row": "query"}), secs


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout()


def run_dice(model, pack, train, denied, features, k, method, vary, timeout=60):
    """DiCE, one applicant at a time; an applicant still running after ``timeout`` s counts as none found.

    (DiCE genetic's random initialisation loops until it has drawn enough valid
    points, which never ends for applicants whose valid region is tiny or empty.)
    """
    import random

    import dice_ml

    cats = {f: [str(c) for c in pack.features[f].categories] for f in features if f not in CONTINUOUS}
    data = train[features + ["deny"]].copy()
    for f in cats:
        data[f] = data[f].astype(str)
    d = dice_ml.Data(dataframe=data, continuous_features=CONTINUOUS, outcome_name="deny")
    m = dice_ml.Model(model=PackTyped(model, features, cats, check=denied), backend="sklearn")
    exp = dice_ml.Dice(d, m, method=method)
    rows, failures, timeouts = [], 0, 0
    t = time.perf_counter()
    for idx, x in denied.iterrows():
        q = pd.DataFrame({f: [str(x[f]) if f in cats else float(x[f])] for f in features})
        permitted = {}
        for f in vary:
            lo, hi = pack.features[f].bounds
            permitted[f] = [min(lo, float(x[f])), float(x[f])]   # decrease-only, within the pack's bounds
        seed = {"random_seed": 0} if method == "random" else {}   # genetic takes no seed argument
        random.seed(0)
        np.random.seed(0)
        signal.signal(signal.SIGALRM, _alarm)
        signal.alarm(timeout)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                r = exp.generate_counterfactuals(q, total_CFs=k, desired_class=0, features_to_vary=vary,
                                                 permitted_range=permitted, verbose=False, **seed)
            out = r.cf_examples_list[0].final_cfs_df
        except _Timeout:
            timeouts += 1
            print(f"  {method} row {idx}: stopped after {timeout} s", flush=True)
            continue
        except Exception as exc:  # DiCE raises when it finds nothing
            failures += 1
            if os.environ.get("BENCH_DEBUG"):
                print(f"  {method} row {idx}: {type(exc).__name__}: {exc}")
            continue
        finally:
            signal.alarm(0)
        if os.environ.get("BENCH_DEBUG"):
            print(f"  {method} row {idx}: {time.perf_counter() - t:.1f} s so far", flush=True)
        if out is None or len(out) == 0:
            continue
        out = out[features].copy()
        out.insert(0, "query", idx)
        rows.append(out)
    secs = time.perf_counter() - t
    if timeouts:
        print(f"  {method}: {timeouts} of {len(denied)} applicants stopped after {timeout} s (counted in the time)")
    if not rows:
        return pd.DataFrame(columns=["query"] + features), secs
    cfs = pd.concat(rows, ignore_index=True)
    for f in cats:
        cfs[f] = pd.Categorical(cfs[f].astype(str), categories=pack.features[f].categories
                                if all(isinstance(c, str) for c in pack.features[f].categories) else cats[f])
    for f in CONTINUOUS:
        cfs[f] = cfs[f].astype(float)
    return cfs, secs


def score(name, cfs, secs, model, pack, denied, X_train, features):
    from xai_reports.counterfactuals import Constraints
    from xai_reports.counterfactuals.quality import l1_distance, mad_scale, n_changed
    from xai_reports.counterfactuals.search import Codec

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
        "s_per_instance": secs / n, "features_changed": float(nch.mean()), "mad_l1": float(dist.mean()),
        "best_features_changed": float(best_ok.c.mean()) if len(best_ok) else float("nan"),
        "best_mad_l1": float(best_ok.d.mean()) if len(best_ok) else float("nan"),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200, help="denied applicants (at most all the model denies)")
    ap.add_argument("--k", type=int, default=3)
    ap.add_argument("--genetic-n", type=int, default=20,
                    help="applicants for DiCE genetic (tens of seconds each; the first N)")
    ap.add_argument("--timeout", type=int, default=60, help="seconds per applicant for DiCE before giving up")
    ap.add_argument("--methods", default="xai_reports,xai_reports_pack,dice_random,dice_genetic")
    args = ap.parse_args(argv)
    pack, model, train, X_train, denied, features = setup(args.n)
    vary = [f for f in features if pack.features[f].actionable and not pack.features[f].protected]
    print(f"HMDA XGBoost, {len(denied)} denied applicants (of {args.n} asked), k={args.k}, "
          f"features allowed to vary: {vary} (decrease-only); "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}, load average "
          f"{os.getloadavg()[0]:.1f}")
    rows = []
    ours = None
    for method in args.methods.split(","):
        if method == "xai_reports":
            # the same problem DiCE solves: no limit on the number of features changed
            cfs, secs = run_ours(model, pack, denied, X_train, args.k, max_changes=None)
            ours = (cfs, secs)
        elif method == "xai_reports_pack":
            # as letters run it: the finance pack's max_changes (2) too
            cfs, secs = run_ours(model, pack, denied, X_train, args.k)
        elif method.startswith("dice_"):
            sub = denied if method == "dice_random" else denied.head(args.genetic_n)
            cfs, secs = run_dice(model, pack, train, sub, features, args.k, method.split("_", 1)[1], vary,
                                 timeout=args.timeout)
            rows.append(score(method, cfs, secs, model, pack, sub, X_train, features))
            print(f"  {method}: {secs:.2f} s for {len(sub)} applicants")
            if method != "dice_random" and ours is not None:
                # xai-reports' counterfactuals of the same applicants (time: its per-applicant share)
                o_cfs, o_secs = ours
                rows.append(score(f"xai_reports (same {len(sub)})", o_cfs[o_cfs["query"].isin(sub.index)],
                                  o_secs * len(sub) / len(denied), model, pack, sub, X_train, features))
            continue
        else:
            raise SystemExit(f"unknown method {method}")
        rows.append(score(method, cfs, secs, model, pack, denied, X_train, features))
        print(f"  {method}: {secs:.2f} s")
    df = pd.DataFrame(rows)
    if "dice_random" in set(df.method) and "s_per_instance" in df:
        ref = float(df.loc[df.method == "dice_random", "s_per_instance"].iloc[0])
        df["speedup_vs_dice_random"] = ref / df["s_per_instance"]
    cols = ["method", "applicants", "with_cf", "cfs", "validity", "violations", "s_per_instance",
            "speedup_vs_dice_random", "features_changed", "mad_l1", "best_features_changed", "best_mad_l1"]
    print(markdown(df[[c for c in cols if c in df]]))


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
