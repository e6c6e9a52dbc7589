"""SYNTHETIC rental applications for the tenant-screening example (no real person, landlord or agency).

Every row is generated from a seed: the applicants, their incomes, rental
histories and consumer-report scores are invented, and so is the screening
decision they are labelled with. The files carry ``SYNTHETIC`` in their names
and in a ``data_origin`` column, and the names and addresses printed on the
notices say so too. Nothing here describes a real housing market; the data
exist to show a sector added to xai-reports with a pack of YAML and templates.

Columns (spellings differ on purpose from the HMDA demo):

* model inputs: ``monthly_income`` (USD), ``rent_to_income`` (ratio),
  ``months_at_address`` (integer), ``prior_evictions`` (integer count of
  eviction judgments within the reporting period), ``rental_debt_outstanding``
  (USD owed to previous landlords), ``landlord_reference`` (positive / neutral /
  negative / none), ``employment_status`` (full_time / part_time /
  self_employed / not_employed) and ``credit_score`` (300-850, from the
  consumer report);
* kept out of the model, for the audit's fair-housing screening:
  ``familial_status``, ``sex``, ``age_band``;
* notice data: ``application_id``, ``applicant_name``, ``applicant_address``,
  ``decision_date``, ``credit_score_date``, ``credit_score_factors``,
  ``data_origin``;
* label (hold-out only): ``screening_denied`` (1 = the synthetic historical
  screening decision was a denial).

No criminal-record feature is generated.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SYNTHETIC = "SYNTHETIC"
SEED = 20261206
FEATURES = ["monthly_income", "rent_to_income", "months_at_address", "prior_evictions",
            "rental_debt_outstanding", "landlord_reference", "employment_status", "credit_score"]
PROTECTED = ["familial_status", "sex", "age_band"]
TARGET = "screening_denied"
NOTICE_COLUMNS = ["application_id", "applicant_name", "applicant_address", "decision_date",
                  "credit_score_date", "credit_score_factors", "data_origin"]
DECISION_DATE = "2026-11-20"   # the notice date printed on the example's notices (fixed: identical output)

REFERENCES = ["positive", "neutral", "negative", "none"]
EMPLOYMENT = ["full_time", "part_time", "self_employed", "not_employed"]
FAMILIAL = ["no_children_under_18", "children_under_18"]
SEXES = ["female", "male"]
AGE_BANDS = ["under_25", "25_to_61", "62_and_over"]

# Key factors a (SYNTHETIC) score provider reports, by what drives the score down.
_FACTORS = {
    "debt": "Amount owed on accounts is too high",
    "delinquency": "Serious delinquency, derogatory public record or collection filed",
    "history": "Length of time accounts have been established",
    "inquiries": "Too many inquiries last 12 months",
    "utilization": "Proportion of balances to credit limits is too high",
}
_STREETS = ["Example Avenue", "Sample Street", "Placeholder Road", "Specimen Lane", "Fictional Court"]


def make_applications(n: int = 2400, seed: int = SEED) -> pd.DataFrame:
    """``n`` SYNTHETIC rental applications with the screening label ``screening_denied``.

    The label is drawn from a logistic model of the inputs only (never of the
    protected attributes); ``familial_status`` shifts ``rent_to_income`` (larger
    units rent for more), so the audit's screening statistics have a proxy
    pattern to report. Values are typed as a CSV would give them to the tool
    after ``to_csv``: numbers, and categories as their spellings.
    """
    rng = np.random.default_rng(seed)
    familial = rng.choice(FAMILIAL, size=n, p=[0.68, 0.32])
    sex = rng.choice(SEXES, size=n, p=[0.52, 0.48])
    age_band = rng.choice(AGE_BANDS, size=n, p=[0.18, 0.66, 0.16])
    employment = rng.choice(EMPLOYMENT, size=n, p=[0.62, 0.16, 0.12, 0.10])
    base_income = {"full_time": 5200.0, "part_time": 2600.0, "self_employed": 4600.0, "not_employed": 1500.0}
    income = np.array([base_income[e] for e in employment]) * rng.lognormal(0.0, 0.35, size=n)
    income = np.clip(np.round(income / 10.0) * 10.0, 600.0, 25000.0)
    rent = rng.lognormal(np.log(1450.0), 0.25, size=n) * np.where(familial == "children_under_18", 1.18, 1.0)
    rti = np.clip(np.round(rent / income, 3), 0.08, 1.50)
    months = np.clip(rng.gamma(2.0, 14.0, size=n).round().astype(int), 0, 240)
    evictions = rng.choice([0, 1, 2, 3], size=n, p=[0.88, 0.08, 0.03, 0.01])
    owes = rng.random(n) < 0.12 + 0.35 * (evictions > 0)
    debt = np.where(owes, np.round(rng.lognormal(np.log(1800.0), 0.8, size=n) / 10.0) * 10.0, 0.0)
    debt = np.clip(debt, 0.0, 20000.0)
    ref_p = np.where(evictions[:, None] > 0, [0.15, 0.30, 0.40, 0.15], [0.55, 0.25, 0.05, 0.15])
    reference = np.array([rng.choice(REFERENCES, p=p) for p in ref_p])
    score = np.clip(np.round(rng.normal(690.0, 65.0, size=n) - 45.0 * evictions - 0.004 * debt), 300, 850).astype(int)

    logit = (-2.4 + 6.0 * (rti - 0.33) + 1.3 * evictions + 0.00035 * debt - 0.012 * (score - 680)
             - 0.006 * np.minimum(months, 60)
             + np.select([reference == "negative", reference == "none", reference == "neutral"], [1.4, 0.5, 0.2], 0.0)
             + np.select([employment == "not_employed", employment == "part_time"], [1.0, 0.3], 0.0)
             - 0.00008 * (income - 4000.0))
    denied = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(int)

    factors = []
    for i in range(n):
        f = []
        if evictions[i] > 0 or debt[i] > 0:
            f.append(_FACTORS["delinquency"])
        if score[i] < 700:
            f.append(_FACTORS["utilization"])
        if score[i] < 640:
            f.append(_FACTORS["debt"])
        if months[i] < 12:
            f.append(_FACTORS["history"])
        if score[i] < 600:
            f.append(_FACTORS["inquiries"])
        factors.append("; ".join(f))
    ids = [f"SYN-TS-{i + 1:05d}" for i in range(n)]
    return pd.DataFrame({
        "application_id": ids,
        "applicant_name": [f"SYNTHETIC Applicant {i + 1:05d}" for i in range(n)],
        "applicant_address": [f"{10 + i % 890} {_STREETS[i % len(_STREETS)]}; Exampleville, ZZ 00000 (SYNTHETIC)"
                              for i in range(n)],
        "decision_date": DECISION_DATE,
        "monthly_income": income,
        "rent_to_income": rti,
        "months_at_address": months,
        "prior_evictions": evictions,
        "rental_debt_outstanding": debt,
        "landlord_reference": reference,
        "employment_status": employment,
        "credit_score": score,
        "credit_score_date": "2026-11-18",
        "credit_score_factors": factors,
        "familial_status": familial,
        "sex": sex,
        "age_band": age_band,
        "data_origin": SYNTHETIC,
        TARGET: denied,
    })


__all__ = ["make_applications", "FEATURES", "PROTECTED", "TARGET", "NOTICE_COLUMNS", "SYNTHETIC", "SEED",
           "DECISION_DATE"]
