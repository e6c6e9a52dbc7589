"""Review fixes of issue 20 that need no trained model: interval wording, empty conformal sets,
out-of-scope headline, reference ids under the print profile, rows kept whole on a page."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np

from xai_reports.documents.case_review.sections import (OUT_OF_SCOPE_HEADLINE, Cases, Context, _profiled_parts,
                                                        fmt_interval)
from xai_reports.documents.case_review.uncertainty import PlattCalibrator


def _cases(cal_p, cal_y):
    cal = PlattCalibrator(n_bootstrap=4)
    cal.a_, cal.b_ = 1.0, 0.0
    cal.boot_ = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    card = {"calibration": cal.to_dict(), "calibration_set": {"p": cal_p, "y": cal_y},
            "holdout": {"p": [0.1, 0.9, 0.2, 0.8], "y": [0, 1, 0, 1]}, "score": "logit"}
    spec = SimpleNamespace(uncertainty_level=0.9, operating_threshold=0.5, positive_class="malignant",
                           classes=("benign", "malignant"), above_threshold="above.", below_threshold="below.")
    ctx = Context(pack=None, spec=spec, mid="m", card=card, adapter=None, profile_name="research", profile=None,
                  when=None, template={}, software={})
    return Cases(ctx)


def test_interval_never_reads_limit_to_same_limit():
    assert fmt_interval(0.9991, 0.9999) == "above 0.99 (both ends)"
    assert fmt_interval(0.0001, 0.002) == "below 0.01 (both ends)"
    assert fmt_interval(0.3, 0.9999) == "0.30 to > 0.99"
    c = _cases([0.9] * 50 + [0.1] * 50, [1] * 50 + [0] * 50)
    out = c.output_section(12.0)           # calibrated probability ~ 1, all bootstrap refits agree
    assert out["probability_text"] == "> 0.99" and out["interval"]["text"] == "above 0.99 (both ends)"
    assert "> 0.99 to > 0.99" not in out["chart"]["alt"]


def test_empty_conformal_set_reads_no_class_fits():
    # every calibration case is confidently right: qhat is tiny, so a case at p = 0.5 fits no class
    c = _cases([0.999] * 60 + [0.001] * 60, [1] * 60 + [0] * 60)
    out = c.output_section(0.0)
    assert out["conformal"]["set"] == [] and out["conformal"]["empty"] and not out["conformal"]["ambiguous"]
    assert "no class fits" in out["conformal"]["text"] and "ambiguous" not in out["conformal"]["text"]
    both = _cases([0.6] * 60 + [0.4] * 60, [1] * 30 + [0] * 30 + [0] * 30 + [1] * 30).output_section(0.0)
    assert len(both["conformal"]["set"]) == 2 and both["conformal"]["ambiguous"]


def _parts(out_of_scope):
    return {"inputs": {"out_of_scope": out_of_scope}, "output": {"class": "benign", "headline": "benign",
                                                                   "meaning": "Below."},
            "similar": {"items": [{"ref_id": "REF-00017", "alt": "Reference image REF-00017, confirmed benign."},
                                  {"ref_id": "REF-00231", "alt": "Reference image REF-00231."}],
                        "summary": "0 of the 2 most similar reference images are malignant."}}


def test_out_of_scope_changes_headline_and_suppresses_similar_cases():
    p = _profiled_parts(_parts(True), deidentified=False)
    assert p["output"]["headline"] == OUT_OF_SCOPE_HEADLINE == "out of scope: not for clinical use"
    assert p["output"]["class"] == "benign"   # the record keeps what the model said
    assert p["similar"]["items"] == [] and "most similar" not in p["similar"]["summary"]
    q = _profiled_parts(_parts(False), deidentified=False)
    assert q["output"]["headline"] == "benign" and len(q["similar"]["items"]) == 2


def test_reference_ids_follow_the_print_profile():
    p = _profiled_parts(_parts(False), deidentified=True)
    text = repr(p)
    assert "REF-00017" not in text and "REF-00231" not in text
    assert [it["ref_id"] for it in p["similar"]["items"]] == ["reference case 1", "reference case 2"]
    assert "REF-00017" in repr(_profiled_parts(_parts(False), deidentified=False))


def test_table_rows_are_not_split_across_pages():
    css = (Path(__file__).resolve().parents[2] / "templates" / "healthcare" / "case_review.html.j2").read_text()
    assert "tr, .panel, .thumb, li, .caveat { page-break-inside: avoid; break-inside: avoid; }" in css


def test_dicom_leak_check_searches_text_not_embedded_pixels(hc_pack):
    import pytest

    from xai_reports.documents.case_review.privacy import leak_check
    from xai_reports.errors import PrivacyError

    extra = [("PatientID", "4MR1", None), ("StudyDate", "2004-08-26", "dates")]
    clean = '<p>Case D4</p><img src="data:image/png;base64,iVBORw0K+4MR1/20040826+Zz==">'
    leak_check({"html": clean, "json": "{}"}, {}, hc_pack, extra=extra)
    with pytest.raises(PrivacyError, match="DICOM header attribute PatientID"):
        leak_check({"html": clean + "<p>id 4mr1</p>", "json": "{}"}, {}, hc_pack, extra=extra)
    with pytest.raises(PrivacyError, match="StudyDate"):
        leak_check({"html": "<p>August 26, 2004</p>", "json": "{}"}, {}, hc_pack, extra=extra)
