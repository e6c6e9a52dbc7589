"""Letters from and to object storage: a real S3-compatible server (moto in server mode) on 127.0.0.1,
s3fs as the client; the bytes equal the local run's, resume works there, and errors name the URL
without credentials."""

from __future__ import annotations

import hashlib
import json
import subprocess

import pytest
from batch_helpers import DATE, PYTHON, cli_env, moto_s3, tree_digest

from xai_reports.batch import BatchStateError, run_batch
from xai_reports.documents.letter import LetterJob, generate_letters

pytest.importorskip("s3fs")
pytest.importorskip("moto.server")

BUCKET = "xai-test"


@pytest.fixture(scope="module")
def s3(batch_case, small_csv):
    """A moto S3 server on 127.0.0.1 (a free port), fsspec pointed at it, the bucket holding the model and
    the data. Yields ``(fs, env)``: an s3fs filesystem and the environment a subprocess needs."""
    with moto_s3(BUCKET) as (fs, env, _port):
        fs.pipe_file(f"{BUCKET}/in/small.csv", small_csv.read_bytes())
        fs.pipe_file(f"{BUCKET}/in/hmda_xgb.json", batch_case["model"].read_bytes())
        yield fs, env


def _bucket_digest(fs, prefix) -> dict[str, str]:
    fs.invalidate_cache()
    return {k.rsplit("/", 1)[1]: hashlib.sha256(fs.cat_file(k)).hexdigest()
            for k in sorted(fs.find(f"{BUCKET}/{prefix}")) if "/.xai-reports." not in k}


def test_letters_from_s3_to_s3_equal_the_local_run(s3, reference_run):
    fs, _ = s3
    s = generate_letters(f"s3://{BUCKET}/in/hmda_xgb.json", f"s3://{BUCKET}/in/small.csv", "finance_hmda_example",
                         f"s3://{BUCKET}/out1", decision_date=DATE, workers=0, chunk_size=7)
    assert s.exit_code == 0 and s.letters >= 20
    # every object (letters in three formats, summary.json, manifest.json) byte for byte the local run's
    assert _bucket_digest(fs, "out1") == tree_digest(reference_run)
    # a finished prefix holds outputs only: no journal segment, no lock
    assert not [k for k in fs.find(f"{BUCKET}/out1") if ".xai-reports." in k]


def test_resume_after_an_interruption_on_s3(s3, batch_case, reference_run):
    fs, _ = s3
    out = f"s3://{BUCKET}/out2"
    job = LetterJob(f"s3://{BUCKET}/in/hmda_xgb.json", f"s3://{BUCKET}/in/small.csv", "finance_hmda_example",
                    decision_date=DATE, formats=("json",))

    plan, calls = job.plan, []

    def stop_at_the_fourth_chunk(chunk):  # as Ctrl-C would, between two chunks
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return plan(chunk)

    job.plan = stop_at_the_fourth_chunk
    with pytest.raises(KeyboardInterrupt):
        run_batch(job, out, workers=0, chunk_size=4)
    fs.invalidate_cache()
    segments = [k for k in fs.find(f"{BUCKET}/out2") if "/.xai-reports.journal/" in k]
    assert len(segments) >= 2  # the header and at least one segment of finished documents
    assert not fs.exists(f"{BUCKET}/out2/.xai-reports.lock")  # released on the way out
    done = sum(len(fs.cat_file(k).splitlines()) for k in segments) - 1
    assert done >= 5

    # a second writer is refused while a live lock is there
    fs.pipe_file(f"{BUCKET}/out2/.xai-reports.lock",
                 json.dumps({"token": "other", "heartbeat": __import__("time").time()}).encode())
    job2 = LetterJob(f"s3://{BUCKET}/in/hmda_xgb.json", f"s3://{BUCKET}/in/small.csv", "finance_hmda_example",
                     decision_date=DATE, formats=("json",))
    with pytest.raises(BatchStateError, match="another xai-reports batch"):
        run_batch(job2, out, workers=0)
    fs.rm_file(f"{BUCKET}/out2/.xai-reports.lock")

    res = run_batch(job2, out, workers=0, chunk_size=4)
    assert res.resumed == done and res.rendered + res.resumed == len(res.outputs)
    expected = {k: v for k, v in tree_digest(reference_run).items()
                if k.endswith(".json") and k not in ("summary.json", "manifest.json")}
    got = _bucket_digest(fs, "out2")
    assert {k: v for k, v in got.items() if k in expected} == expected
    assert set(got) == set(expected) | {"summary.json", "manifest.json"}


def test_a_stale_lock_of_a_killed_run_is_taken_over(s3, monkeypatch):
    from xai_reports.batch.objjournal import ObjectJournal
    from xai_reports.io.storage import RemoteDir

    fs, _ = s3
    out = RemoteDir(f"s3://{BUCKET}/out3")
    fs.pipe_file(f"{BUCKET}/out3/.xai-reports.lock", json.dumps({"token": "dead", "heartbeat": 0}).encode())
    with ObjectJournal(out, "letters", {"x": 1}) as j:
        assert json.loads(fs.cat_file(f"{BUCKET}/out3/.xai-reports.lock"))["token"] == j._token
        # the exclusive create really is conditional on the server: a second create fails
        assert out.create_exclusive(".xai-reports.lock", b"{}") is False
    assert not fs.exists(f"{BUCKET}/out3/.xai-reports.lock")


def test_missing_object_is_a_one_line_error_naming_the_url_without_credentials(s3, batch_case):
    _, env = s3
    cmd = [PYTHON, "-m", "xai_reports", "letters", "--pack", "finance_hmda_example",
           "--model", f"s3://{BUCKET}/in/hmda_xgb.json", "--data", f"s3://AKIDSECRETUSER:hunter2@{BUCKET}/in/nope.csv",
           "--out", f"s3://{BUCKET}/out4", "--date", DATE, "--quiet", "--workers", "0"]
    r = subprocess.run(cmd, env={**cli_env(), **env}, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()  # s3fs takes no credentials in the URL: an unusable URL, scrubbed
    assert len(lines) == 1 and f"s3://{BUCKET}/in/nope.csv" in lines[0]
    assert "hunter2" not in r.stderr + r.stdout and "AKIDSECRETUSER" not in r.stderr + r.stdout

    cmd[cmd.index("--data") + 1] = f"s3://{BUCKET}/in/nope.csv"
    r = subprocess.run(cmd, env={**cli_env(), **env}, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.strip() == f"xai-reports: error: s3://{BUCKET}/in/nope.csv: not found"

    cmd[cmd.index("--data") + 1] = f"s3://{BUCKET}/in/small.csv"
    cmd[cmd.index("--out") + 1] = "s3://no-such-bucket-xai/out"
    r = subprocess.run(cmd, env={**cli_env(), **env}, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "s3://no-such-bucket-xai/out" in r.stderr and "cannot be written" in r.stderr


def test_scrub_removes_credentials():
    from xai_reports.io.storage import scrub

    assert scrub("s3://KEY:SECRET@bucket/a.csv") == "s3://bucket/a.csv"
    assert scrub("error at 'https://acct.blob/x.csv?sig=abc&se=1': 403") == "error at 'https://acct.blob/x.csv': 403"
    assert scrub("/local/path.csv: row 3") == "/local/path.csv: row 3"


def test_workers_read_and_write_the_bucket_themselves(s3, reference_run):
    """s3:// data to s3:// output on a real local Dask cluster: the workers (started with the same
    environment, as a cluster's workers are configured) read their row ranges from the bucket and write
    the letters there; the records equal the local run's."""
    import logging

    distributed = pytest.importorskip("distributed")
    fs, _ = s3
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None, silence_logs=logging.ERROR) as c, \
            distributed.Client(c) as client:
        job = LetterJob(f"s3://{BUCKET}/in/hmda_xgb.json", f"s3://{BUCKET}/in/small.csv", "finance_hmda_example",
                        decision_date=DATE, formats=("json",))
        res = run_batch(job, f"s3://{BUCKET}/out5", scheduler=client, chunk_size=5)
    assert not res.errors and "2 workers" in res.executor
    expected = {k: v for k, v in tree_digest(reference_run).items()
                if k.startswith("letter_") and k.endswith(".json")}
    got = _bucket_digest(fs, "out5")
    assert {k: v for k, v in got.items() if k.startswith("letter_")} == expected
    assert not [k for k in fs.find(f"{BUCKET}/out5") if ".xai-reports." in k]
