"""Adverse-action letters end to end, tested as documents, plus every bad input."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from pypdf import PdfReader

from xai_reports import generate_letters, load_pack, regenerate

CLI = [sys.executable, "-m", "xai_reports"]


def pdf_text(path) -> str:
    return re.sub(r"\s+", " ", " ".join(p.extract_text() for p in PdfReader(path).pages))


@pytest.fixture(scope="module")
def batch(hmda_files, tmp_path_factory):
    out = tmp_path_factory.mktemp("letters")
    summary = generate_letters(hmda_files["model"], hmda_files["applications"], "finance_hmda_example", out,
                               reference=hmda_files["reference"])
    return out, summary


def test_letters_only_for_denied_rows(batch, hmda_files, finance_pack):
    from xai_reports import load_model
    from xai_reports.documents.letter.reasons import deny_probability
    from xai_reports.io.tabular import encode_like_pack

    out, summary = batch
    frame = hmda_files["frame"]
    X = encode_like_pack(frame, finance_pack, load_model(hmda_files["model"]).feature_names)
    p = deny_probability(load_model(hmda_files["model"]), X, finance_pack)
    denied_ids = set(frame.applicant_id[p >= 0.5])
    assert summary.denied == len(denied_ids) > 0
    assert summary.approved == len(frame) - len(denied_ids)
    written = {f.stem.removeprefix("letter_") for f in out.glob("letter_*.json")}
    assert written == denied_ids
    assert {f.stem.removeprefix("letter_") for f in out.glob("letter_*.pdf")} == denied_ids - {
        x["id"] for x in summary.flagged}
    s = json.loads((out / "summary.json").read_text())
    assert s["rows"] == 40 and s["letters_written"] == summary.letters


def test_pdf_holds_every_required_item(batch, finance_pack):
    out, _ = batch
    pdf = sorted(out.glob("letter_*.pdf"))[0]
    record = json.loads(pdf.with_suffix(".json").read_text())
    text = pdf_text(pdf)
    fin = finance_pack.finance
    for needed in [
        "November 2, 2026",                               # date of notice (from the data)
        record["decision_id"],                            # application
        fin.decision.action_taken,                        # action taken
        fin.institution.name, fin.institution.address[0],  # creditor name and address
        "Principal reason(s) for our decision",
        "The Federal Equal Credit Opportunity Act prohibits creditors from discriminating",
        fin.institution.agency.name, fin.institution.agency.address[0],  # ECOA agency
        fin.consumer_report.agency.name, "free copy of your report",       # FCRA 615(a)
        "If you have questions", fin.institution.phone,                    # contact
        "does not certify compliance",
    ]:
        assert needed in text, needed
    reasons = record["reasons"]["chosen"]
    assert 1 <= len(reasons) <= 4
    for r in reasons:
        assert r["text"] in text
    # plain language: no raw column names, no method jargon
    for jargon in ("SHAP", "pirat", "lvrat", "chist", "margin", "attribution"):
        assert jargon not in text
    # no credit-score block: this pack says no score was used
    assert "Your credit score" not in text


def test_reasons_never_name_a_protected_attribute(batch, finance_pack):
    out, _ = batch
    protected = set(finance_pack.protected_features())
    labels = {finance_pack.features[p].label for p in protected}
    for rec_path in out.glob("letter_*.json"):
        rec = json.loads(rec_path.read_text())
        for r in rec["reasons"]["chosen"]:
            assert not protected & {f["name"] for f in r["features"]}
        if (pdf := rec_path.with_suffix(".pdf")).exists():
            text = pdf_text(pdf)
            assert not any(lbl in text for lbl in labels)


def test_record_is_complete_and_pdf_embeds_it(batch):
    out, _ = batch
    pdf = sorted(out.glob("letter_*.pdf"))[0]
    rec = json.loads(pdf.with_suffix(".json").read_text())
    for key in ("decision_id", "inputs", "model", "pack", "explanation", "reference_population",
                "prediction", "reasons", "document", "software"):
        assert key in rec
    assert len(rec["model"]["sha256"]) == 64 and len(rec["pack"]["sha256"]) == 64
    assert rec["explanation"]["method"] == "tree_shap"
    assert rec["reference_population"]["n_rows"] == 1900
    assert len(rec["document"]["template"]["sha256"]) == 64
    # inputs as received (strings from the CSV)
    assert isinstance(rec["inputs"]["pirat"], str)
    # additivity: attributions + base = the margin that was thresholded
    total = sum(rec["explanation"]["attributions"].values()) + rec["explanation"]["base_value"]
    assert abs(total - rec["prediction"]["margin"]) < 1e-3
    assert abs(1 / (1 + np.exp(-rec["prediction"]["margin"])) - rec["prediction"]["p_deny"]) < 1e-5
    embedded = PdfReader(pdf).attachments["record.json"][0]
    assert json.loads(embedded) == rec


def test_same_input_same_bytes_and_regeneration(batch, hmda_files, tmp_path):
    out, _ = batch
    generate_letters(hmda_files["model"], hmda_files["applications"], "finance_hmda_example", tmp_path,
                     reference=hmda_files["reference"], formats=("html", "json"))
    for f in tmp_path.glob("letter_*"):
        assert f.read_bytes() == (out / f.name).read_bytes(), f.name
    rec = sorted(out.glob("letter_*.json"))[0]
    if json.loads(rec.read_text())["document"]:
        regen = regenerate(rec, tmp_path / "regen", formats=("html",))
        assert regen[0].read_bytes() == rec.with_suffix(".html").read_bytes()


def test_pdf_page_renders(batch, tmp_path):
    pdfium = pytest.importorskip("pypdfium2")
    out, _ = batch
    page = pdfium.PdfDocument(str(sorted(out.glob("letter_*.pdf"))[0]))[0]
    img = np.asarray(page.render(scale=0.5).to_pil().convert("L"))
    ink = (img < 128).mean()
    assert 0.01 < ink < 0.3  # text on a white page, not blank, not a black box


def test_credit_score_block_when_pack_says_so(hmda_files, tmp_path):
    pack = tmp_path / "scored.yaml"
    pack.write_text(
        "extends: finance_hmda_example\nname: scored\nversion: '1'\nletter:\n  credit_score:\n    used: true\n"
        "    column: score\n    date_column: score_date\n    key_factors_column: score_factors\n"
        "    range: [300, 850]\n    provider: {name: Example Score Co (fictional), address: [1 Score Way, Reno NV]}\n")
    df = pd.read_csv(hmda_files["applications"], dtype=str)
    df["score"] = "612"
    df["score_date"] = "2026-10-30"
    df["score_factors"] = "Serious delinquency; Number of recent inquiries; Length of credit history; Too many accounts; Proportion of balances"
    data = tmp_path / "apps.csv"
    df.to_csv(data, index=False)
    s = generate_letters(hmda_files["model"], data, pack, tmp_path / "out", reference=hmda_files["reference"], formats=("pdf",))
    text = pdf_text(sorted((tmp_path / "out").glob("*.pdf"))[0])
    assert s.letters > 0
    for needed in ("Your credit score", "612", "a low of 300 to a high of 850", "Example Score Co",
                   "Number of recent inquiries", "Proportion of balances"):  # 5 factors allowed: inquiries is one
        assert needed in text


# ---------------------------------------------------------------- bad input
def run_cli(*args):
    return subprocess.run(CLI + list(args), capture_output=True, text=True)


def letters_cli(hmda_files, data, out, model=None, pack="finance_hmda_example"):
    return run_cli("letters", "--pack", str(pack), "--model", str(model or hmda_files["model"]), "--data", str(data),
                   "--out", str(out), "--reference", str(hmda_files["reference"]), "--quiet")


def mutate(hmda_files, tmp_path, fn, name="bad.csv"):
    df = pd.read_csv(hmda_files["applications"], dtype=str, keep_default_na=False)
    df = fn(df)
    p = tmp_path / name
    df.to_csv(p, index=False)
    return p


@pytest.mark.parametrize("fn,expect", [
    (lambda d: d.drop(columns=["lvrat"]), r"bad.csv: column 'lvrat': missing column"),
    (lambda d: d.assign(favourite_colour="blue"), r"column 'favourite_colour': column\(s\) 'favourite_colour' not declared"),
])
def test_file_level_errors_write_nothing(hmda_files, tmp_path, fn, expect):
    out = tmp_path / "out"
    res = letters_cli(hmda_files, mutate(hmda_files, tmp_path, fn), out)
    assert res.returncode == 2
    assert re.search(expect, res.stderr), res.stderr
    assert res.stderr.strip().count("\n") == 0
    assert not out.exists() or not any(out.iterdir())


BAD_CELLS = [  # (row index, column, value, expected message)
    (1, "pirat", "", "missing value"),
    (3, "pirat", "NaN", "missing value"),
    (5, "lvrat", "eighty", "expected a number, got 'eighty'"),
    (7, "phist", "maybe", "unknown category 'maybe'"),
    (9, "chist", "9", "unknown level '9'"),
]


def test_bad_rows_are_reported_and_others_still_get_letters(hmda_files, tmp_path):
    def fn(d):
        for i, column, value, _ in BAD_CELLS:
            d.loc[i, column] = value
        return d
    out = tmp_path / "out"
    res = letters_cli(hmda_files, mutate(hmda_files, tmp_path, fn), out)
    assert res.returncode == 3, res.stderr
    ids = pd.read_csv(hmda_files["applications"], dtype=str).applicant_id
    summary = json.loads((out / "summary.json").read_text())
    assert [e["row"] for e in summary["row_errors"]] == [i + 1 for i, *_ in BAD_CELLS]
    for (i, column, _, expect), err in zip(BAD_CELLS, summary["row_errors"]):
        assert f"bad.csv: row {i + 1} (id {ids[i]}), column '{column}': {expect}" in res.stderr
        assert err["column"] == column and err["id"] == ids[i]
        assert not list(out.glob(f"letter_{ids[i]}.*"))
    assert summary["letters_written"] > 0
    assert not list(out.glob(".tmp-*"))


def test_empty_missing_and_unsafe_inputs(hmda_files, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    res = letters_cli(hmda_files, empty, tmp_path / "o1")
    assert res.returncode == 2 and "empty.csv: data file is empty" in res.stderr
    header_only = tmp_path / "header.csv"
    header_only.write_text("applicant_id,pirat\n")
    res = letters_cli(hmda_files, header_only, tmp_path / "o1")
    assert res.returncode == 2 and "no rows" in res.stderr
    res = letters_cli(hmda_files, tmp_path / "nope.csv", tmp_path / "o1")
    assert res.returncode == 2 and "not found" in res.stderr
    res = letters_cli(hmda_files, hmda_files["applications"], tmp_path / "o1", model=tmp_path / "missing.json")
    assert res.returncode == 2 and "model file not found" in res.stderr
    pkl = tmp_path / "model.pkl"
    pkl.write_bytes(b"\x80\x04\x95")
    res = letters_cli(hmda_files, hmda_files["applications"], tmp_path / "o1", model=pkl)
    assert res.returncode == 2 and "arbitrary code" in res.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text("extends: finance_hmda_example\nname: b\nversion: '1'\nletter:\n  decision:\n    threshold: 7\n")
    res = letters_cli(hmda_files, hmda_files["applications"], tmp_path / "o1", pack=broken)
    assert res.returncode == 2 and "letter.decision.threshold" in res.stderr and "broken.yaml" in res.stderr
    assert not (tmp_path / "o1").exists()


def test_ids_cannot_escape_the_output_folder(hmda_files, tmp_path):
    frame = pd.read_csv(hmda_files["applications"], dtype=str)
    # (an id with NUL or another control character is refused outright: tests/test_bad_inputs.py)
    frame["applicant_id"] = [f"../../escape{i}" if i % 2 else f"/tmp/abs{i}/x:y" for i in range(len(frame))]
    data = tmp_path / "evil.csv"
    frame.to_csv(data, index=False)
    out = tmp_path / "nested" / "out"
    s = generate_letters(hmda_files["model"], data, "finance_hmda_example", out, reference=hmda_files["reference"],
                         formats=("json",))
    assert s.denied > 0
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p != data]
    assert written and all(p.parent == out for p in written)
    assert all(".." not in p.name and "/" not in p.name and "\x00" not in p.name for p in written)


def test_python_api_accepts_objects(hmda_model, hmda_files, tmp_path):
    frame = pd.read_csv(hmda_files["applications"], dtype=str)
    s = generate_letters(hmda_model, frame, load_pack("finance_hmda_example"), tmp_path, formats=("json",), decision_date="2026-01-05")
    assert s.rows == 40 and s.denied > 0
