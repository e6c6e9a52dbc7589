"""Print profiles: treatment shows name and record number; research removes all 18 Safe Harbor identifiers."""

from __future__ import annotations

import json
import re
from datetime import date

import pytest
from _hc import pdf_record, pdf_text

from xai_reports.documents.case_review.privacy import PrivacyError, leak_check


def _spellings(row) -> dict[str, list[str]]:
    """Every identifier value of an input row, with dates in common spellings."""
    out = {}
    for col in ("patient_name", "mrn", "birth_date", "address", "phone", "email", "study_date"):
        v = str(row[col])
        vals = [v]
        if col in ("birth_date", "study_date"):
            d = date.fromisoformat(v)
            vals += [d.strftime("%B %-d, %Y"), d.strftime("%m/%d/%Y"), d.strftime("%d/%m/%Y"),
                     d.strftime("%Y%m%d"), d.strftime("%B %-d")]
        if col == "patient_name":
            vals += v.split()          # first and last name separately
        out[col] = vals
    return out


def _norm(s: str) -> str:
    return re.sub(r"\s+", " ", s).lower()


def _assert_absent(text: str, row, where: str):
    t = _norm(text)
    for col, vals in _spellings(row).items():
        for v in vals:
            assert _norm(v) not in t, f"{col} value {v!r} found in the research {where}"


@pytest.mark.parametrize("kind", ["wdbc", "lesion"])
def test_research_profile_leaks_no_identifier(kind, request):
    sheets = request.getfixturevalue(f"{kind}_sheets")["research"]["dir"]
    cases = request.getfixturevalue(f"{kind}_cases")["frame"]
    n = 0
    for _, row in cases.iterrows():
        pdf = sheets / f"case_{row['case_id']}.pdf"
        if not pdf.exists():
            continue
        _assert_absent(pdf_text(pdf), row, "PDF text")
        _assert_absent(pdf_record(pdf).decode("utf-8"), row, "embedded JSON record")
        _assert_absent((sheets / f"case_{row['case_id']}.html").read_text(), row, "HTML")
        _assert_absent((sheets / f"case_{row['case_id']}.json").read_text(), row, "JSON record")
        from pypdf import PdfReader

        meta = PdfReader(str(pdf)).metadata or {}
        _assert_absent(" ".join(str(v) for v in meta.values()), row, "PDF metadata")
        n += 1
    assert n >= 3


def test_research_sheet_says_it_is_deidentified(wdbc_sheets):
    text = " ".join(pdf_text(wdbc_sheets["research"]["dir"] / "case_CASE-0001.pdf").split())
    assert "De-identified" in text and "Safe Harbor" in text and "164.514(b)(2)" in text
    for category in ("(A) Names", "(H) Medical record numbers", "(C) All elements of dates",
                     "(R) Any other unique identifying number"):
        assert category in text
    assert "print profile: research" in text and "purpose: research" in text
    assert "2026" in text and "November 20, 2026" not in text      # dates as the year only


def test_treatment_sheet_shows_name_and_record_number(wdbc_sheets, wdbc_cases):
    row = wdbc_cases["frame"].iloc[0]
    text = " ".join(pdf_text(wdbc_sheets["treatment"]["dir"] / f"case_{row['case_id']}.pdf").split())
    assert row["patient_name"] in text and row["mrn"] in text
    assert date.fromisoformat(row["birth_date"]).strftime("%B %-d, %Y") in text
    assert row["address"] not in text and row["phone"] not in text   # not listed in the treatment profile


def test_research_image_file_name_withheld(lesion_sheets, lesion_cases):
    rec = json.loads(next(lesion_sheets["research"]["dir"].glob("case_*.json")).read_text())
    blob = json.dumps(rec)
    for name in lesion_cases["frame"]["image"]:
        assert name not in blob
    assert rec["document"]["content"]["inputs"]["image_file"] is None


def test_leak_check_refuses_a_planted_identifier(hc_pack):
    row = {"patient_name": "Ottilie Proxyfield", "mrn": "SYN-MRN-1234567", "birth_date": "1961-07-09"}
    leak_check({"html": "<p>nothing to see</p>"}, row, hc_pack)
    for planted in ("Ottilie  Proxyfield", "syn-mrn-1234567", "July 9, 1961", "07/09/1961"):
        with pytest.raises(PrivacyError, match="identifier column"):
            leak_check({"html": f"<p>{planted}</p>"}, row, hc_pack)
    with pytest.raises(PrivacyError) as exc:
        leak_check({"json": '{"x": "Ottilie Proxyfield"}'}, row, hc_pack)
    assert "Ottilie" not in str(exc.value)          # the error never repeats the value


def test_safe_harbor_profile_cannot_show_identifiers(tmp_path):
    from xai_reports import PackError, load_pack

    (tmp_path / "pack.yaml").write_text(
        "extends: healthcare\nname: site\nhealthcare:\n  profiles:\n    research:\n"
        "      show_identifiers: [patient_name]\n")
    with pytest.raises(PackError, match="safe_harbor profile cannot show identifiers"):
        load_pack(tmp_path / "pack.yaml")


def test_identifier_can_never_be_a_model_input(tmp_path):
    from xai_reports import PackError, load_pack

    (tmp_path / "pack.yaml").write_text(
        "extends: healthcare\nname: site\nhealthcare:\n  models:\n    wdbc_xgb:\n"
        "      features: [radius_mean, mrn]\n")
    with pytest.raises(PackError, match="identifiers are never model inputs"):
        load_pack(tmp_path / "pack.yaml")
