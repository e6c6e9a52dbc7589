"""Case-review sheets on the batch engine: chunks and workers change no byte, an interrupted
batch resumes with the first run's inference time, and a sheet that would leak an identifier is
refused on its own (a row error) while the others are written."""

from __future__ import annotations

import json
import time

import pytest

from examples.healthcare.demo import DEMO_TIME


@pytest.fixture(scope="module")
def twelve_cases(tmp_path_factory):
    from examples.healthcare.demo import wdbc_demo_cases

    d = tmp_path_factory.mktemp("wdbc_12")
    frame = wdbc_demo_cases(12)
    frame.to_csv(d / "cases.csv", index=False)
    return {"path": d / "cases.csv", "frame": frame}


def _files(d) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(d.iterdir()) if p.is_file()}


def test_workers_and_chunks_change_no_byte(tmp_path, wdbc_model, twelve_cases, hc_pack):
    from xai_reports.documents.case_review import generate_case_reviews

    kw = dict(profile="research", timestamp=DEMO_TIME, formats=["pdf", "json"])
    one = generate_case_reviews(wdbc_model["model"], twelve_cases["path"], hc_pack, tmp_path / "one",
                                workers=0, chunk_size=1000, **kw)
    pooled = generate_case_reviews(wdbc_model["model"], twelve_cases["path"], hc_pack, tmp_path / "pool",
                                   workers=2, chunk_size=5, **kw)
    assert one.sheets == pooled.sheets == 12 and one.exit_code == pooled.exit_code == 0
    assert "2 worker processes" in pooled.batch.executor and one.batch.executor == "in this process"
    a, b = _files(tmp_path / "one"), _files(tmp_path / "pool")
    assert sorted(a) == sorted(b) and len(a) == 2 * 12 + 2          # no journal left, summary.json, manifest.json
    assert [n for n in a if a[n] != b[n]] == []


def test_a_dask_cluster_writes_the_same_sheets(tmp_path, wdbc_model, twelve_cases, hc_pack):
    """A local Dask cluster of 2 worker processes: the pack reaches them by reference, the bytes are the same."""
    pytest.importorskip("distributed")
    from xai_reports.documents.case_review import generate_case_reviews

    kw = dict(profile="research", timestamp=DEMO_TIME, formats=["html", "json"])
    one = generate_case_reviews(wdbc_model["model"], twelve_cases["path"], hc_pack, tmp_path / "one", workers=0, **kw)
    dask = generate_case_reviews(wdbc_model["model"], twelve_cases["path"], hc_pack, tmp_path / "dask",
                                 scheduler="local", workers=2, chunk_size=5, **kw)
    assert dask.batch.executor == "local Dask cluster (2 workers)" and one.sheets == dask.sheets == 12
    assert _files(tmp_path / "one") == _files(tmp_path / "dask")


def test_interrupted_batch_resumes_with_its_first_inference_time(tmp_path, wdbc_model, twelve_cases, hc_pack):
    """Ctrl-C after five sheets; the rerun (no timestamp given) keeps the five, writes the rest with
    the same inference time, and the folder equals an uninterrupted run at that time."""
    from xai_reports.batch import run_batch
    from xai_reports.documents.case_review import CaseReviewJob, generate_case_reviews

    class Stops(CaseReviewJob):
        def renderer(self):
            inner = super().renderer()
            calls = {"n": 0}

            def render(payload):
                calls["n"] += 1
                if calls["n"] == 6:
                    raise KeyboardInterrupt
                return inner(payload)

            return render

    out = tmp_path / "out"
    job = Stops(wdbc_model["model"], twelve_cases["path"], hc_pack, profile="treatment", formats=["json"])
    with pytest.raises(KeyboardInterrupt):
        run_batch(job, out, workers=0, chunk_size=4)
    first = sorted(out.glob("case_*.json"))
    assert len(first) == 5 and (out / ".xai-reports.journal.jsonl").exists()
    stamp = json.loads(first[0].read_text())["audit"]["inference_time"]

    time.sleep(1.1)   # the rerun starts in another second: only the journal can give it the first run's time
    s = generate_case_reviews(wdbc_model["model"], twelve_cases["path"], hc_pack, out, profile="treatment",
                              formats=["json"], workers=0, chunk_size=4)
    assert (s.sheets, s.batch.resumed, s.batch.rendered) == (12, 5, 7)
    stamps = {json.loads(p.read_text())["audit"]["inference_time"] for p in out.glob("case_*.json")}
    assert stamps == {stamp}

    from datetime import datetime

    fresh = tmp_path / "fresh"
    generate_case_reviews(wdbc_model["model"], twelve_cases["path"], hc_pack, fresh, profile="treatment",
                          formats=["json"], workers=0, timestamp=datetime.fromisoformat(stamp.replace("Z", "+00:00")))
    assert _files(out) == _files(fresh)


def test_a_sheet_that_would_leak_is_refused_alone(tmp_path, wdbc_model, twelve_cases, hc_pack):
    """Row 3's record number equals its printed case id: under Safe Harbor that sheet is not written."""
    from xai_reports.documents.case_review import generate_case_reviews

    frame = twelve_cases["frame"].copy()
    frame.loc[2, "mrn"] = frame.loc[2, "case_id"]
    frame.to_csv(tmp_path / "c.csv", index=False)
    s = generate_case_reviews(wdbc_model["model"], tmp_path / "c.csv", hc_pack, tmp_path / "o",
                              profile="research", formats=["pdf", "json"], workers=0)
    assert s.exit_code == 3 and s.sheets == 11
    [err] = s.errors
    assert err["row"] == 3 and err["id"] == frame.loc[2, "case_id"]
    assert "identifier column 'mrn'" in err["message"] and frame.loc[2, "case_id"] not in err["error"]
    assert not list((tmp_path / "o").glob(f"case_{frame.loc[2, 'case_id']}.*"))
    assert len(list((tmp_path / "o").glob("case_*.pdf"))) == 11
    # the treatment profile prints identifiers by design: nothing is refused there
    t = generate_case_reviews(wdbc_model["model"], tmp_path / "c.csv", hc_pack, tmp_path / "t",
                              profile="treatment", formats=["json"], workers=0)
    assert t.exit_code == 0 and t.sheets == 12


def test_case_review_folders_have_a_signed_manifest_and_verify(tmp_path, wdbc_model, wdbc_cases, hc_pack,
                                                               wdbc_sheets):
    import shutil

    from xai_reports.documents.case_review import generate_case_reviews
    from xai_reports.integrity import verify

    d = wdbc_sheets["research"]["dir"]
    m = json.loads((d / "manifest.json").read_text())
    assert m["kind"] == "case_reviews" and "signature" not in m
    assert set(m["outputs"]) == {p.name for p in d.iterdir()} - {"manifest.json"} - {
        p.name for p in d.iterdir() if p.name.startswith(".xai-reports")}
    report = verify(d)
    assert report.ok and not report.not_compared, str(report)
    assert "summary.json: counts match the files present" in str(report)
    key = b"case review signing key 2026"
    out = tmp_path / "signed"
    generate_case_reviews(wdbc_model["model"], wdbc_cases["path"], hc_pack, out, profile="treatment",
                          timestamp=DEMO_TIME, key=key, workers=0)
    assert json.loads((out / "manifest.json").read_text())["signature"]["algorithm"] == "HMAC-SHA256"
    signed = verify(out, key=key, rerender=False)
    assert signed.ok and signed.signature_checked, str(signed)
    lone = tmp_path / "lone"
    lone.mkdir()
    pdf = sorted(out.glob("case_*.pdf"))[0]
    shutil.copy(pdf, lone / pdf.name)
    single = verify(lone / pdf.name)
    assert single.ok and not single.not_compared, str(single)


def test_a_case_review_rerender_uses_the_subsetter_its_record_names(wdbc_sheets, hc_pack):
    """The sheet's software block sits under record["audit"]: the re-render must still find the subsetter."""
    import io
    from datetime import datetime

    import pikepdf
    from fontTools.misc.timeTools import epoch_diff
    from fontTools.ttLib import TTFont

    from xai_reports.documents.case_review import render_case_review
    from xai_reports.render import font_subsetter

    d = wdbc_sheets["treatment"]["dir"]
    record = json.loads(sorted(d.glob("case_*.json"))[0].read_text())
    assert record["audit"]["software"]["font_subsetter"] == font_subsetter()
    record["audit"]["software"]["font_subsetter"] = "fonttools 0"
    pdf = render_case_review(record, hc_pack, formats=("pdf",))["pdf"]
    stamp = int(datetime.fromisoformat(record["document"]["pdf_created"]).timestamp()) - epoch_diff
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        heads = [TTFont(io.BytesIO(o["/FontFile2"].read_bytes()))["head"].modified for o in doc.objects
                 if isinstance(o, pikepdf.Dictionary) and "/FontFile2" in o]
    assert heads and set(heads) == {stamp}   # fontTools' subsets, stamped with the sheet's date
