"""Reason selection against hand-computed answers (comment 9(b)(2)-5 method)."""

import numpy as np

from xai_reports.attribution import Attribution
from xai_reports.attribution.base import additivity_check
from xai_reports.documents.letter.reasons import Reference, select_reasons

NAMES = ["pirat", "hirat", "lvrat", "chist", "mhist", "phist", "unemp", "selfemp", "insurance", "condomin", "hschool"]


def attribution(rows, base=0.0, broken=False):
    values = np.asarray(rows, dtype=float)
    base_values = np.full(len(values), base)
    preds = values.sum(axis=1) + base_values + (1.0 if broken else 0.0)
    return Attribution(values, base_values, NAMES, "tree_shap", "margin", predictions=preds,
                       self_check=additivity_check(values, base_values, preds, 1e-3))


def ref(values=None):
    return Reference("all_applicants", np.zeros(len(NAMES)) if values is None else np.asarray(values, float),
                     NAMES, 100, "test")


def test_ranked_relative_to_reference_and_capped_at_four(finance_pack):
    row = [0.9, 0.2, 0.5, 0.7, 0.05, 0.3, -0.2, 0.1, 0.0, 0.0, 0.0]
    r = select_reasons(attribution([row]), 0, ref(), finance_pack)
    keys = [x["key"] for x in r.reasons]
    assert keys == ["excessive_obligations", "delinquent_obligations", "collateral_value", "public_record"]
    assert not r.flagged
    # against a reference population whose mean pirat contribution is 0.85, pirat barely pushes
    shifted = ref([0.85] + [0.0] * 10)
    keys2 = [x["key"] for x in select_reasons(attribution([row]), 0, shifted, finance_pack).reasons]
    assert keys2[0] == "delinquent_obligations" and "excessive_obligations" not in keys2


def test_protected_attributes_are_never_reasons(finance_pack):
    names = NAMES + ["afam"]
    values = np.array([[0.1] + [0.0] * 10 + [5.0]])
    attr = Attribution(values, np.zeros(1), names, "tree_shap", "margin")
    r = select_reasons(attr, 0, Reference("all_applicants", np.zeros(12), names, 1, "t"), finance_pack)
    # never a reason, and never silently dropped while it is a principal factor: the decision goes to review
    assert r.flagged and r.reasons == [] and "'afam'" in r.flag_reason
    # a protected input that does not push toward denial leaves the other reasons as they are
    attr = Attribution(np.array([[0.1] + [0.0] * 10 + [-5.0]]), np.zeros(1), names, "tree_shap", "margin")
    r = select_reasons(attr, 0, Reference("all_applicants", np.zeros(12), names, 1, "t"), finance_pack)
    assert [x["key"] for x in r.reasons] == ["excessive_obligations"]
    assert all(f["name"] != "afam" for x in r.reasons for f in x["features"])


def test_no_push_toward_denial_is_flagged_not_invented(finance_pack):
    r = select_reasons(attribution([[-0.1] * 11]), 0, ref(), finance_pack)
    assert r.flagged and r.reasons == [] and "no factor" in r.flag_reason


def test_failed_additivity_is_flagged(finance_pack):
    r = select_reasons(attribution([[0.5] * 11], broken=True), 0, ref(), finance_pack)
    assert r.flagged and r.reasons == [] and "additivity" in r.flag_reason


def test_value_dependent_reason(finance_pack):
    row = [0.0, 0.0, 0.0, 0.0, 0.4, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    no_history = select_reasons(attribution([row]), 0, ref(), finance_pack, values={"mhist": 2.0})
    late = select_reasons(attribution([row]), 0, ref(), finance_pack, values={"mhist": 4.0})
    assert no_history.reasons[0]["key"] == "no_mortgage_history"
    assert late.reasons[0]["key"] == "mortgage_payment_history"


def test_features_sharing_a_reason_are_summed(tmp_path, finance_pack):
    from xai_reports import load_pack

    p = tmp_path / "p.yaml"
    p.write_text("extends: finance_hmda_example\nname: g\nversion: '1'\nfeatures:\n  hirat:\n    reason: excessive_obligations\n")
    pack = load_pack(p)
    row = [0.3, 0.3, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    r = select_reasons(attribution([row]), 0, ref(), pack)
    assert r.reasons[0]["key"] == "excessive_obligations"
    assert abs(r.reasons[0]["score"] - 0.6) < 1e-12
    assert {f["name"] for f in r.reasons[0]["features"]} == {"pirat", "hirat"}
