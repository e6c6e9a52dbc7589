"""Text case-review sheets: de-identification of the text itself, evidence readable without colour, the
SYNTHETIC example trains, loads from its folder and explains the finding with a passing self-check."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("transformers")

from xai_reports.documents.case_review.text import (deidentify_text, render_text_sheet,  # noqa: E402
                                                     text_case_record)
from xai_reports.errors import PrivacyError  # noqa: E402

REPORT = ("Chest radiograph for Alice Moreau, MRN 4412345, 2026-03-04 (prior 03/01/2025, March 4, 2024). "
          "Findings: small left pleural effusion. Reported by Dr. Lindqvist.")


def test_safe_harbor_removes_names_dates_ids_and_treatment_keeps_them():
    clean, removed = deidentify_text(REPORT, identifiers=["Alice Moreau", "4412345"])
    for value in ("Alice", "Moreau", "4412345", "2026-03-04", "03/01/2025", "March 4, 2024", "Lindqvist"):
        assert value not in clean
    assert "small left pleural effusion" in clean
    assert {r["category"]: r["count"] for r in removed} == {"identifier": 2, "date": 3, "name": 1}
    assert deidentify_text(REPORT, "treatment") == (REPORT, [])
    # a pack print profile drives it too
    from xai_reports.documents.case_review.privacy import resolve_profile
    from xai_reports.packs import load_pack

    pack = load_pack("healthcare")
    hc = pack.spec.section("case_review")
    deid = [n for n, p in hc.profiles.items() if p.deidentification == "safe_harbor"]
    assert deid and "Moreau" not in deidentify_text(REPORT, resolve_profile(pack, deid[0])[1],
                                                    identifiers=["Alice Moreau"])[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from examples.healthcare_text.reports import generate
    from examples.healthcare_text.training import train
    from xai_reports.adapters.transformers_text import load_text_model

    folder = train(tmp_path_factory.mktemp("text") / "model")
    return load_text_model(folder), generate(6, seed=99)


def test_example_model_learns_and_the_sheet_marks_evidence_without_colour(trained):
    model, rows = trained
    texts = [deidentify_text(r["text"], identifiers=[r["name"], r["mrn"]])[0] for r in rows]
    pred = model.predict(texts).argmax(1)
    assert (pred == [r["label"] for r in rows]).mean() >= 5 / 6
    row = rows[0]
    ids = [row["name"], row["mrn"]]
    rec = text_case_record(model, row["text"], case_id=row["case_id"], identifiers=ids)
    assert rec["self_check"]["passed"] and rec["self_check"]["kind"] == "completeness"
    assert rec["finding"] in ("effusion", "no_effusion") and len(rec["evidence"]) == 6
    html = render_text_sheet(rec, identifiers=ids, original=row["text"])
    for value in (row["name"], row["mrn"], "Lindqvist"):
        assert value not in html and value not in json.dumps(rec)
    top = rec["evidence"][0]
    # not colour alone: underline style + weight + a printed rank marker, and a ranked table
    assert 'class="for strong"' in html or 'class="against strong"' in html
    assert f"[{'+' if top['direction'] == 'for' else '-'}1]" in html
    assert "<table>" in html and "color:" not in html.replace("color: #000", "")
    # the evidence word is a word of the printed text
    assert rec["text"][top["start"]:top["end"]] == top["word"]


def test_a_leaked_identifier_refuses_the_sheet(trained):
    model, rows = trained
    row = rows[1]
    rec = text_case_record(model, row["text"], case_id=row["case_id"], identifiers=[row["name"]])
    rec["text"] = rec["text"] + " " + row["name"]          # as if redaction had missed it
    with pytest.raises(PrivacyError, match="nothing written"):
        render_text_sheet(rec, identifiers=[row["name"]], original=row["text"])


def _pdf_text(data: bytes) -> str:
    import io

    from pypdf import PdfReader

    return " ".join(" ".join((p.extract_text() or "").split()) for p in PdfReader(io.BytesIO(data)).pages)


def test_text_sheets_go_through_the_case_review_batch_pdf_manifest_and_verify(trained, tmp_path):
    import pandas as pd

    from xai_reports.cli import main
    from xai_reports.integrity import verify

    model, rows = trained
    folder = model.model.name_or_path
    cases = [{"case_id": r["case_id"], "patient_name": r["name"], "mrn": r["mrn"], "report_text": r["text"]}
             for r in rows[:2]]
    cases.append({"case_id": "SYN-EMPTY", "patient_name": "Bram Keller", "mrn": "7654321", "report_text": ""})
    data = tmp_path / "reports.csv"
    pd.DataFrame(cases).to_csv(data, index=False)
    key = tmp_path / "key"
    key.write_bytes(b"k" * 32)
    out = tmp_path / "sheets"
    code = main(["case-review", "--pack", "healthcare", "--model", str(folder), "--data", str(data), "--out", str(out),
                 "--method", "text_lrp", "--key-file", str(key)])
    assert code == 3                                   # the row with no text is listed, the others written
    summary = json.loads((out / "summary.json").read_text())
    assert summary["sheets_written"] == 2 and summary["row_errors"][0]["row"] == 3
    assert not list(out.glob("case_SYN-EMPTY*"))
    for r in rows[:2]:
        pdf = (out / f"case_{r['case_id']}.pdf").read_bytes()
        text = _pdf_text(pdf)
        record = (out / f"case_{r['case_id']}.json").read_text()
        # de-identified in the printed text and in the record
        import re

        date = re.search(r"\d{4}-\d{2}-\d{2}", r["text"]).group(0)
        for value in (r["name"], r["name"].split()[-1], r["mrn"], "Lindqvist", date):
            assert value not in text and value not in record, value
        assert "[NAME]" in text and "[ID]" in text and "[DATE]" in text
        rec = json.loads(record)
        assert rec["explanation"]["method"] == "text_lrp" and rec["explanation"]["self_check"]["passed"]
        top = rec["explanation"]["evidence"][0]
        sign = "+" if top["direction"] == "for" else "-"
        # readable without colour: the rank bracket follows the word in the printed text, and the legend says so
        assert f"{top['word']}[{sign}1]" in text.replace(" [", "[")
        assert "solid underline" in text and "dashed underline" in text
        assert f"Finding: {rec['prediction']['finding']}" in text and "AttnLRP" in text
    report = verify(out, key=b"k" * 32)
    assert report.ok, str(report)
    assert "document is exactly what its embedded record renders to" in str(report)
    # one byte changed in a sheet: verify fails
    p = out / f"case_{rows[0]['case_id']}.pdf"
    data_b = bytearray(p.read_bytes())
    i = data_b.index(b"/Producer") if b"/Producer" in data_b else len(data_b) // 2
    data_b[i + 1] ^= 0x01
    p.write_bytes(bytes(data_b))
    assert not verify(out, key=b"k" * 32).ok
