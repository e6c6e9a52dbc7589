"""Every input on object storage: a pack folder, a template folder, the reference data, a constraints
file, the model of audit and counterfactuals, read from a real S3-compatible server (moto in server
mode, 127.0.0.1) through s3fs; paths in a bucket pack stay confined to its prefix; credentials in a
URL or an endpoint never reach a message or a record; CSV and Parquet objects are streamed (range
reads), not fetched whole. One server for the module, no Dask cluster."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from batch_helpers import DATE, mixed_rows, moto_s3

from xai_reports.documents.letter import generate_letters
from xai_reports.errors import InputError, PackError

pytest.importorskip("s3fs")
pytest.importorskip("moto.server")

BUCKET = "xai-packs"
MARK = "Bucket-Template-Marker-7f3a"  # text only the bucket's template writes


def _pack_folder(root: Path, name: str, *, template_dirs=None) -> Path:
    """A lender pack folder extending the demo's pack, with a template overriding one block."""
    d = root / name
    (d / "templates" / "finance").mkdir(parents=True)
    lines = ["extends: finance_hmda_example", f"name: {name}", 'version: "2.0.0"',
             "templates:", "  letter: finance/our_letter.html.j2"]
    if template_dirs is not None:
        lines.append(f"template_dirs: {json.dumps(template_dirs)}")
    (d / "pack.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (d / "templates" / "finance" / "our_letter.html.j2").write_text(
        '{% extends "finance/adverse_action_letter.html.j2" %}\n'
        f"{{% block closing %}}<p>{MARK}, {{{{ doc.creditor.name }}}}</p>{{% endblock %}}\n", encoding="utf-8")
    return d


@pytest.fixture(scope="module")
def s3(batch_case, small_csv, tmp_path_factory):
    """A moto S3 server on a free 127.0.0.1 port; the bucket holds the model, the data, a reference
    set, a pack folder, a template folder and a constraints file. Yields ``(fs, port, local)``."""
    with moto_s3(BUCKET) as (fs, _env, port):
        yield fs, port, _fill_bucket(fs, batch_case, small_csv, tmp_path_factory)


def _fill_bucket(fs, batch_case, small_csv, tmp_path_factory) -> Path:
    """Put the pack, template folder, data, model and reference set in the bucket; returns the local folder."""
    local = tmp_path_factory.mktemp("packs")
    _pack_folder(local, "mybank")
    tpl = local / "tpl" / "finance"
    tpl.mkdir(parents=True)
    (tpl / "our_letter.html.j2").write_text(
        '{% extends "finance/adverse_action_letter.html.j2" %}\n'
        "{% block closing %}<p>From-the-templates-prefix</p>{% endblock %}\n", encoding="utf-8")
    fs.put(str(local / "mybank"), f"{BUCKET}/packs/mybank", recursive=True)
    fs.put(str(local / "tpl"), f"{BUCKET}/tpl", recursive=True)
    fs.pipe_file(f"{BUCKET}/in/small.csv", small_csv.read_bytes())
    mixed_rows(batch_case, 5, 3, seed=7).to_csv(local / "tiny.csv", index=False)
    fs.pipe_file(f"{BUCKET}/in/hmda_xgb.json", batch_case["model"].read_bytes())
    ref = mixed_rows(batch_case, 30, 30, seed=3)
    ref.to_csv(local / "ref.csv", index=False)
    fs.pipe_file(f"{BUCKET}/in/ref.csv", (local / "ref.csv").read_bytes())
    return local


def _digest(folder: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())
            if p.is_file() and not p.name.startswith(".xai-reports.")}


# -- packs, templates, reference from the bucket ------------------------------------------------------

def test_a_pack_template_and_reference_in_the_bucket_write_the_same_letters_as_local_copies(s3, batch_case,
                                                                                             tmp_path):
    fs, _, local = s3
    small_csv = local / "tiny.csv"
    kw = dict(decision_date=DATE, workers=0, chunk_size=10, formats=("html", "json"))
    remote = generate_letters(f"s3://{BUCKET}/in/hmda_xgb.json", small_csv, f"s3://{BUCKET}/packs/mybank",
                              tmp_path / "remote", reference=f"s3://{BUCKET}/in/ref.csv", **kw)
    here = generate_letters(batch_case["model"], small_csv, local / "mybank", tmp_path / "local",
                            reference=local / "ref.csv", **kw)
    assert remote.letters == here.letters == 5 and not remote.errors
    a, b = _digest(tmp_path / "remote"), _digest(tmp_path / "local")
    letters = sorted(n for n in a if n.endswith(".html"))
    assert letters and all(a[n] == b[n] for n in letters)  # the letters are the local run's, byte for byte
    html = (tmp_path / "remote" / letters[0]).read_text(encoding="utf-8")
    assert MARK in html  # the template came from the bucket's pack folder
    rec = json.loads((tmp_path / "remote" / letters[0].replace(".html", ".json")).read_text(encoding="utf-8"))
    # the record names the pack by its URL (what a worker or verify loads) and the same content hash
    assert rec["pack"]["ref"] == f"s3://{BUCKET}/packs/mybank/pack.yaml"
    assert rec["pack"]["sha256"] == json.loads((tmp_path / "local" / letters[0].replace(".html", ".json"))
                                                .read_text(encoding="utf-8"))["pack"]["sha256"]
    assert "/tmp" not in json.dumps(rec["pack"])  # no private copy's path in the record


def test_templates_prefix_overrides_the_pack_in_a_worker_process(s3, batch_case, tmp_path):
    """A pool worker gets the pack and the templates as URLs and copies both itself."""
    s = generate_letters(batch_case["model"], s3[2] / "tiny.csv", f"s3://{BUCKET}/packs/mybank", tmp_path / "o",
                         templates=[f"s3://{BUCKET}/tpl"], decision_date=DATE, workers=1, formats=("html",))
    assert s.letters == 5
    html = next((tmp_path / "o").glob("letter_*.html")).read_text(encoding="utf-8")
    assert "From-the-templates-prefix" in html and MARK not in html


def test_a_bucket_pack_may_not_name_paths_outside_its_prefix(s3, tmp_path):
    from xai_reports.packs import load_pack

    fs, _, _ = s3
    d = _pack_folder(tmp_path, "escapes", template_dirs=["../mybank/templates"])
    fs.put(str(d), f"{BUCKET}/packs/escapes", recursive=True)
    with pytest.raises(PackError) as e:
        load_pack(f"s3://{BUCKET}/packs/escapes")
    msg = str(e.value)
    # refused although the folder it names exists in the bucket, and the message names the URL, not the copy
    assert "outside the pack's folder" in msg and f"s3://{BUCKET}/packs/escapes/pack.yaml" in msg
    assert "/tmp" not in msg.split("resolves to")[0]

    (tmp_path / "ext").mkdir()
    (tmp_path / "ext" / "pack.yaml").write_text("extends: ../mybank/pack.yaml\nname: ext\nversion: '1'\n")
    fs.put(str(tmp_path / "ext"), f"{BUCKET}/packs/ext", recursive=True)
    with pytest.raises(PackError, match="outside the pack's folder|no pack named"):
        load_pack(f"s3://{BUCKET}/packs/ext")


def test_a_long_lived_worker_copies_a_changed_bucket_pack_again(s3, tmp_path):
    """A worker's cached copy of a bucket pack that no longer matches the driver's hash is dropped and the
    prefix copied again; a pack that really differs is still refused."""
    from xai_reports.batch.packref import pack_in_worker
    from xai_reports.packs import load_pack

    fs, _, _ = s3
    d = _pack_folder(tmp_path, "changing")
    fs.put(str(d), f"{BUCKET}/packs/changing", recursive=True)
    url = f"s3://{BUCKET}/packs/changing"
    old = load_pack(url)  # this process now holds a copy
    (d / "pack.yaml").write_text((d / "pack.yaml").read_text().replace('"2.0.0"', '"2.0.1"'))
    fs.pipe_file(f"{BUCKET}/packs/changing/pack.yaml", (d / "pack.yaml").read_bytes())
    new_sha = load_pack(d).sha256  # the driver's pack: the bucket's new content
    assert new_sha != old.sha256
    assert pack_in_worker(f"{url}/pack.yaml", new_sha).sha256 == new_sha
    with pytest.raises(PackError, match="differs from the driver's"):
        pack_in_worker(f"{url}/pack.yaml", "0" * 64)


def test_an_object_name_that_would_leave_the_copy_is_refused(s3):
    import boto3

    from xai_reports.io.remote import fetch_tree

    fs, port, _ = s3
    client = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1")
    client.put_object(Bucket=BUCKET, Key="packs/dots/pack.yaml", Body=b"name: x\n")
    client.put_object(Bucket=BUCKET, Key="packs/dots/../../outside.txt", Body=b"x")
    with pytest.raises(InputError, match="would leave the folder"):
        fetch_tree(f"s3://{BUCKET}/packs/dots")
    with pytest.raises(InputError, match="no objects under this prefix"):
        fetch_tree(f"s3://{BUCKET}/packs/nothing-here")


# -- the other commands: audit, counterfactuals ---------------------------------------------------------

def test_counterfactuals_read_model_data_pack_and_constraints_from_the_bucket(s3, batch_case, tmp_path):
    from xai_reports.cli import main

    fs, _, local = s3
    fs.pipe_file(f"{BUCKET}/in/constraints.yaml", b"immutable: [insurance]\n")
    cf_rows = mixed_rows(batch_case, 4, 0, seed=5)
    cf_rows.to_csv(tmp_path / "cf.csv", index=False)
    fs.pipe_file(f"{BUCKET}/in/cf.csv", (tmp_path / "cf.csv").read_bytes())
    args = ["counterfactuals", "--model", f"s3://{BUCKET}/in/hmda_xgb.json", "--data", f"s3://{BUCKET}/in/cf.csv",
            "--pack", f"s3://{BUCKET}/packs/mybank", "--k", "1", "--quiet"]
    assert main(args + ["--constraints", f"s3://{BUCKET}/in/constraints.yaml", "--out", str(tmp_path / "cf")]) == 0
    assert main(args + ["--out", str(tmp_path / "cf_local")]) == 0
    summary = json.loads((tmp_path / "cf" / "summary.json").read_text())
    assert "insurance" in json.dumps(summary["constraints"])  # the bucket's constraints file was applied
    status = pd.read_csv(tmp_path / "cf" / "status.csv")
    assert len(status) == 4



def test_audit_reads_model_data_pack_and_reference_from_the_bucket(s3, batch_case, tmp_path):
    from xai_reports.cli import main

    fs, _, _ = s3
    labelled = batch_case["frame"].iloc[:120].copy()
    labelled["deny"] = (batch_case["p_deny"][:120] >= 0.5).astype(int)
    labelled.loc[labelled.index[:10], "deny"] = 1 - labelled["deny"].iloc[:10]  # both outcomes
    labelled.to_csv(tmp_path / "lab.csv", index=False)
    fs.pipe_file(f"{BUCKET}/in/lab.csv", (tmp_path / "lab.csv").read_bytes())
    out = tmp_path / "audit.json"
    assert main(["audit", "--model", f"s3://{BUCKET}/in/hmda_xgb.json", "--data", f"s3://{BUCKET}/in/lab.csv",
                 "--pack", f"s3://{BUCKET}/packs/mybank", "--target", "deny", "--date", DATE, "--quiet",
                 "--reference", f"s3://{BUCKET}/in/ref.csv", "--out", str(out)]) == 0
    record = json.loads(out.read_text())
    assert "mybank" in json.dumps(record)


def test_case_review_reads_the_model_its_card_and_reference_set_from_the_bucket(s3, tmp_path):
    from examples.healthcare.demo import DEMO_TIME, wdbc_demo_cases
    from examples.healthcare.training import train_wdbc_model
    from xai_reports.documents.case_review import generate_case_reviews

    fs, _, _ = s3
    m = train_wdbc_model(tmp_path / "m")
    for f in (tmp_path / "m").iterdir():  # the model, <stem>.card.json and the card's reference set
        fs.pipe_file(f"{BUCKET}/hc/{f.name}", f.read_bytes())
    wdbc_demo_cases(3).to_csv(tmp_path / "cases.csv", index=False)
    fs.pipe_file(f"{BUCKET}/hc/cases.csv", (tmp_path / "cases.csv").read_bytes())
    kw = dict(formats=("json",), timestamp=DEMO_TIME, workers=0, profile="treatment")
    remote = generate_case_reviews(f"s3://{BUCKET}/hc/wdbc_xgb.json", f"s3://{BUCKET}/hc/cases.csv", "healthcare",
                                   tmp_path / "r", **kw)
    local = generate_case_reviews(m["model"], tmp_path / "cases.csv", "healthcare", tmp_path / "l", **kw)
    assert remote.sheets == local.sheets == 3
    sheets = sorted(p.name for p in (tmp_path / "r").glob("case_*.json"))
    assert len(sheets) == 3
    for n in sheets:  # the same record, but for where the data was read from
        a = (tmp_path / "r" / n).read_text(encoding="utf-8").replace(f"s3://{BUCKET}/hc/cases.csv", "cases.csv")
        b = (tmp_path / "l" / n).read_text(encoding="utf-8").replace(str(tmp_path / "cases.csv"), "cases.csv")
        assert a == b
    fs.rm_file(f"{BUCKET}/hc/wdbc_xgb.card.json")
    from xai_reports.errors import ModelLoadError

    with pytest.raises(ModelLoadError, match=f"s3://{BUCKET}/hc/wdbc_xgb.card.json"):
        generate_case_reviews(f"s3://{BUCKET}/hc/wdbc_xgb.json", f"s3://{BUCKET}/hc/cases.csv", "healthcare",
                              tmp_path / "r2", **kw)


def test_case_images_are_read_from_a_bucket_prefix(s3, tmp_path):
    """``--images s3://...``: each case's image is copied while it is read, and reads as the local file does;
    names that would leave the prefix, and missing objects, are row errors naming the case."""
    from types import SimpleNamespace

    import numpy as np
    from PIL import Image

    from xai_reports.documents.case_review.job import _read_case_image

    fs, _, _ = s3
    rng = np.random.default_rng(1)
    (tmp_path / "imgs").mkdir()
    Image.fromarray(rng.integers(0, 256, (12, 10), dtype=np.uint8)).save(tmp_path / "imgs" / "c1.png")
    fs.put(str(tmp_path / "imgs"), f"{BUCKET}/imgs", recursive=True)
    spec = SimpleNamespace(input=SimpleNamespace(column="image", height=12, width=10, channels=1))
    here = _read_case_image("c1.png", tmp_path / "imgs", spec, "cases.csv", 3, "C1")
    there = _read_case_image("c1.png", f"s3://{BUCKET}/imgs", spec, "cases.csv", 3, "C1")
    assert np.array_equal(here[0], there[0]) and here[1:3] == there[1:3] and here[2]
    for name, why in (("../packs/mybank/pack.yaml", "no absolute path, no '..'"), ("nothere.png", "not found")):
        with pytest.raises(InputError, match=why) as e:
            _read_case_image(name, f"s3://{BUCKET}/imgs", spec, "cases.csv", 4, "C2")
        assert e.value.row == 4 and e.value.record_id == "C2"


# -- credentials never printed, never recorded ------------------------------------------------------

def _run_cli(argv, capsys):
    from xai_reports.cli import main

    code = main(argv)
    err = capsys.readouterr().err
    return code, err


def test_credentials_in_a_url_are_not_in_the_error(s3, batch_case, tmp_path, capsys):
    code, err = _run_cli(["letters", "--pack", "finance_hmda_example", "--model", str(batch_case["model"]),
                          "--data", f"s3://AKIDKEY:TOPSECRET123@{BUCKET}/in/nothere.csv",
                          "--out", str(tmp_path / "o"), "--quiet"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "TOPSECRET123" not in err and "AKIDKEY" not in err and "nothere.csv" in err
    code, err = _run_cli(["letters", "--pack", f"s3://{BUCKET}/packs/missing?X-Amz-Signature=TOPSECRET456",
                          "--model", str(batch_case["model"]), "--data", str(tmp_path / "x.csv"),
                          "--out", str(tmp_path / "o"), "--quiet"], capsys)
    assert code == 2 and "TOPSECRET456" not in err and f"s3://{BUCKET}/packs/missing" in err


def test_a_token_in_the_endpoint_is_not_in_the_error(s3, batch_case, tmp_path, capsys, monkeypatch):
    import fsspec
    import s3fs

    monkeypatch.setitem(fsspec.config.conf, "s3", {
        "endpoint_url": "http://127.0.0.1:9/?X-Amz-Security-Token=TOKSECRET",
        "config_kwargs": {"connect_timeout": 1, "retries": {"max_attempts": 1}}})
    s3fs.S3FileSystem.clear_instance_cache()
    try:
        code, err = _run_cli(["letters", "--pack", "finance_hmda_example", "--model",
                              f"s3://{BUCKET}/in/hmda_xgb.json", "--data", f"s3://{BUCKET}/in/small.csv",
                              "--out", str(tmp_path / "o"), "--quiet"], capsys)
    finally:
        s3fs.S3FileSystem.clear_instance_cache()
    assert code == 2 and len(err.strip().splitlines()) == 1 and "TOKSECRET" not in err


def test_signed_urls_leave_no_credentials_in_the_records(s3, tmp_path):
    """Model, data and reference as signed-looking http(s) URLs (a token in the query): the letters,
    records, summary and manifest hold no part of the token."""
    pytest.importorskip("aiohttp")
    _, port, _ = s3
    base = f"http://127.0.0.1:{port}/{BUCKET}/in"
    q = "?X-Amz-Credential=AKIDSIGNED&X-Amz-Signature=SIGSECRET789"
    s = generate_letters(f"{base}/hmda_xgb.json{q}", f"{base}/small.csv{q}", "finance_hmda_example", tmp_path / "o",
                         reference=f"{base}/ref.csv{q}", decision_date=DATE, workers=0, formats=("json",))
    assert s.letters >= 20
    blobs = b"".join(p.read_bytes() for p in (tmp_path / "o").iterdir() if p.is_file())
    assert b"SIGSECRET789" not in blobs and b"AKIDSIGNED" not in blobs
    assert b"small.csv" in blobs  # the inputs are still named


# -- streaming reads ----------------------------------------------------------------------------------

@pytest.fixture()
def ranges(monkeypatch):
    """The byte ranges s3fs fetches (one entry per GET), with a small read block."""
    import s3fs.core

    from xai_reports.io import storage

    got: list[tuple[int, int]] = []
    real = s3fs.core.S3File._fetch_range

    def spy(self, start, end):
        got.append((start, end))
        return real(self, start, end)

    monkeypatch.setattr(s3fs.core.S3File, "_fetch_range", spy)
    monkeypatch.setattr(storage, "READ_BLOCK", 64 << 10)
    return got


def test_a_csv_object_is_read_in_blocks_and_a_late_bad_row_is_named(s3, batch_case, ranges):
    from xai_reports.batch.source import TableSource

    fs, _, _ = s3
    frame = pd.concat([batch_case["frame"]] * 5, ignore_index=True)
    frame["applicant_id"] = [f"A{i:05d}" for i in range(len(frame))]
    frame.loc[11000, "lvrat"] = "eighty"  # row 11001 of the file, in its last tenth
    data = frame.to_csv(index=False).encode()
    assert len(data) > 800_000
    fs.pipe_file(f"{BUCKET}/in/big.csv", data)
    src = TableSource(f"s3://{BUCKET}/in/big.csv")
    chunks = src.chunks(500)
    first = next(chunks)
    assert len(first) == 500 and first.index[0] == 0
    # the first chunk came from the first blocks, not from a download of the whole object
    assert ranges and max(e for _, e in ranges) < len(data) / 2, ranges
    from xai_reports.io.tabular import check_frame

    errors = []
    for part in [first, *chunks]:
        errors += check_frame(part, batch_case["pack"], ["lvrat"], source=src.label, id_column="applicant_id",
                              allowed_extra=list(frame.columns), row_offset=int(part.index[0])).errors
    assert [(e.row, e.column) for e in errors] == [(11001, "lvrat")]
    assert f"s3://{BUCKET}/in/big.csv: row 11001 (id A11000), column 'lvrat'" in str(errors[0])
    # many bounded requests (the parser's buffer plus one block), none of them the object
    assert len(ranges) > 3 and max(e - s for s, e in ranges) <= 512 << 10


def test_a_worker_reads_only_the_row_groups_of_its_range_of_a_parquet_object(s3, batch_case, ranges, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from xai_reports.batch.source import TableSource

    fs, _, _ = s3
    frame = pd.concat([batch_case["frame"]] * 8, ignore_index=True)
    frame["applicant_id"] = [f"A{i:05d}" for i in range(len(frame))]
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp_path / "d.parquet", row_group_size=2000,
                   compression="none")
    data = (tmp_path / "d.parquet").read_bytes()
    fs.pipe_file(f"{BUCKET}/in/d.parquet", data)
    src = TableSource(f"s3://{BUCKET}/in/d.parquet")
    src.columns()
    ranges.clear()
    got = pd.concat(list(src.chunks(500, start=14500, stop=15500)))
    assert list(got.index) == list(range(14500, 15500))
    assert list(got["applicant_id"]) == list(frame["applicant_id"].iloc[14500:15500])
    fetched = sum(e - s for s, e in ranges)
    # the footer and two row groups of ten (plus block rounding), not the object
    assert len(data) > 700_000 and fetched < len(data) / 3, (fetched, len(data), ranges)


def test_a_late_row_range_of_a_csv_is_the_same_rows_as_a_full_read(tmp_path, monkeypatch):
    """A worker's range of a CSV (skipped to in large blocks) is exactly the full read's rows, with quoted
    line breaks, doubled quotes and blank lines (which are not rows) before it."""
    from xai_reports.batch import source
    from xai_reports.batch.source import TableSource

    lines = ["id,a,b"]
    for i in range(40):
        lines.append(f'{i},"two\nlines {i}","q""uote,{i}"' if i % 7 == 3 else f"{i},x{i},y{i}")
        if i in (10, 25):
            lines.append("")
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    src = TableSource(tmp_path / "t.csv")
    full = pd.concat(list(src.chunks(1000)))
    assert list(full["id"]) == [str(i) for i in range(40)]  # the oracle: 40 rows, blank lines dropped
    for block in (1, 4, 20_000):
        monkeypatch.setattr(source, "_SKIP_BLOCK", block)
        for start in range(0, 41, 3):
            for stop in (None, start + 5):
                parts = list(src.chunks(3, start=start, stop=stop))
                got = pd.concat(parts) if parts else full.iloc[:0]
                assert got.equals(full.iloc[start:stop]) and list(got.index) == list(full.index[start:stop])
