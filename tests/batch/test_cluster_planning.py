"""Planning on the workers of a real local Dask cluster: each partition is read, checked, scored,
explained and rendered there; the driver hands out row ranges and journals. The bytes equal the
single-process run's whatever the partitioning; a killed worker loses nothing; the bar adds up the
workers' progress."""

from __future__ import annotations

import os
import signal

import pytest
from batch_helpers import DATE, tree_digest

from xai_reports.batch import TableSource, run_batch
from xai_reports.documents.letter import LetterJob

distributed = pytest.importorskip("distributed")


@pytest.fixture()
def driver_plans_nothing(monkeypatch):
    """After the job is built, the driver may not read rows nor plan them (the workers run the real code:
    the job travels pickled by reference to its class)."""
    def refuse(*a, **k):
        raise AssertionError("the driver planned or read rows")

    monkeypatch.setattr(LetterJob, "plan", refuse)
    monkeypatch.setattr(TableSource, "chunks", refuse)


def _job(batch_case, data):
    return LetterJob(batch_case["model"], data, "finance_hmda_example", decision_date=DATE)


def _json_letters(folder) -> dict:
    return {k: v for k, v in tree_digest(folder).items() if k.startswith("letter_") and k.endswith(".json")}


def test_workers_plan_and_render_with_the_same_bytes(batch_case, small_csv, reference_run, cluster, tmp_path,
                                                     request):
    job = _job(batch_case, small_csv)
    request.getfixturevalue("driver_plans_nothing")
    res = run_batch(job, tmp_path / "out", scheduler=cluster, chunk_size=5)
    assert not res.errors and res.executor.startswith("Dask cluster") and "2 workers" in res.executor
    assert tree_digest(tmp_path / "out") == tree_digest(reference_run)


def test_parquet_partitions_read_only_their_row_groups(batch_case, small_csv, reference_run, cluster, tmp_path,
                                                       request):
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = pd.read_csv(small_csv, dtype=str, keep_default_na=False)
    data = tmp_path / "small.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), data, row_group_size=6)
    src = TableSource(data)
    parts = list(src.chunks(4, start=13, stop=20))
    assert [i for c in parts for i in c.index] == list(range(13, 20)) and all(len(c) <= 4 for c in parts)
    assert list(parts[0]["applicant_id"])[0] == frame["applicant_id"][13]
    job = LetterJob(batch_case["model"], data, "finance_hmda_example", decision_date=DATE, formats=("json",))
    request.getfixturevalue("driver_plans_nothing")
    run_batch(job, tmp_path / "out", scheduler=cluster, chunk_size=4)
    # the records are the CSV run's byte for byte, with other partitions (the manifest names another file)
    assert _json_letters(tmp_path / "out") == _json_letters(reference_run)


def test_a_killed_worker_loses_nothing(batch_case, small_csv, reference_run, cluster, tmp_path):
    job = LetterJob(batch_case["model"], small_csv, "finance_hmda_example", decision_date=DATE, formats=("json",))
    killed = []

    def kill_one(n_done, executor):
        if not killed:
            pid = executor.worker_pids()[0]
            os.kill(pid, signal.SIGKILL)  # the nanny starts a new worker; the partition runs again
            killed.append(pid)

    res = run_batch(job, tmp_path / "out", scheduler=cluster, chunk_size=3, on_commit=kill_one)
    assert killed and not res.errors and res.rendered == len(_json_letters(reference_run))
    assert _json_letters(tmp_path / "out") == _json_letters(reference_run)
    cluster.wait_for_workers(2, timeout=60)


def test_losing_every_copy_of_the_job_loses_nothing(batch_case, small_csv, reference_run, cluster, tmp_path):
    """Every worker dies at once: the scattered job is gone with them and the scheduler cancels the
    partitions that needed it. The driver sends the job again to the restarted workers and re-runs them."""
    job = LetterJob(batch_case["model"], small_csv, "finance_hmda_example", decision_date=DATE, formats=("json",))
    killed = []

    def kill_all(n_done, executor):
        if not killed:
            for pid in executor.worker_pids():
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

    res = run_batch(job, tmp_path / "out", scheduler=cluster, chunk_size=3, on_commit=kill_all)
    assert len(killed) == 2 and not res.errors and res.rendered == len(_json_letters(reference_run))
    assert _json_letters(tmp_path / "out") == _json_letters(reference_run)
    cluster.wait_for_workers(2, timeout=60)


def test_progress_adds_up_the_workers(batch_case, small_csv, cluster, tmp_path, monkeypatch):
    from xai_reports.batch import engine

    seen = []

    class Recorder:
        def __init__(self, enabled, total, label):
            self.total = total

        def advance(self, rows=0, docs=0):
            seen.append(rows)

        def stop(self):
            pass

    monkeypatch.setattr(engine, "_Progress", Recorder)
    job = LetterJob(batch_case["model"], small_csv, "finance_hmda_example", decision_date=DATE, formats=("json",))
    res = run_batch(job, tmp_path / "out", scheduler=cluster, chunk_size=2, progress=True)
    assert sum(seen) == res.rows == 36
    assert len([r for r in seen if r > 0]) >= 2  # advanced as the workers went, not once at the end


def test_ids_that_collide_as_file_names_across_partitions(batch_case, cluster, tmp_path):
    """Two ids written as the same file name, in different partitions: the first row wins and the second
    is reported, as when the driver plans; the summary is byte for byte the single-process one."""
    from batch_helpers import mixed_rows

    from xai_reports.io.outputs import safe_name

    rows = mixed_rows(batch_case, 6, 0)
    rows.loc[5, "applicant_id"] = "X/1"
    rows.loc[0, "applicant_id"] = safe_name("X/1")  # row 1 is planned in the first partition, row 6 in another
    path = tmp_path / "c.csv"
    rows.to_csv(path, index=False)
    outs = {}
    for name, kw in [("local", {"workers": 0}), ("cluster", {"scheduler": cluster})]:
        job = LetterJob(batch_case["model"], path, "finance_hmda_example", decision_date=DATE, formats=("json",))
        res = run_batch(job, tmp_path / name, chunk_size=2, **kw)
        assert [(e["row"], e["id"]) for e in res.errors] == [(6, "X/1")]
        outs[name] = tree_digest(tmp_path / name)
    assert outs["cluster"] == outs["local"]
