"""The engine on a toy job: it is generic (plan rows -> records -> render -> commit), not letter-specific."""

from __future__ import annotations

import pandas as pd
import pytest
from batch_helpers import echo_job

from xai_reports.batch import resolve_workers, run_batch


@pytest.fixture()
def frame():
    xs = [f"v{i}" for i in range(40)]
    xs[5], xs[17], xs[33] = "", "render-error", "bug"
    return pd.DataFrame({"id": [f"r{i:02d}" for i in range(40)], "x": xs})


def test_documents_errors_and_tally(frame, tmp_path):
    res = run_batch(echo_job(frame), tmp_path, chunk_size=6, workers=0)
    assert res.rows == 40 and res.counts["rows"] == 40
    assert res.rendered == 37 and res.kinds["document"] == 37
    assert [(e["row"], e["id"]) for e in res.errors] == [(6, "r05"), (18, "r17"), (34, "r33")]
    assert "cannot be rendered" in res.errors[1]["error"] and "ZeroDivisionError" in res.errors[2]["error"]
    assert (tmp_path / "doc_r39.txt").read_text() == "r39=v39\n"
    assert res.outputs == [f"doc_r{i:02d}.txt" for i in range(40) if i not in (5, 17, 33)]  # row order
    assert set(res.files) == set(res.outputs)


def test_rerun_redoes_only_what_failed_or_is_missing(frame, tmp_path):
    run_batch(echo_job(frame), tmp_path, workers=0, keep_journal=True)  # as if stopped before the end
    (tmp_path / "doc_r02.txt").unlink()
    frame2 = frame.copy()
    res = run_batch(echo_job(frame2), tmp_path, workers=0)
    assert (res.rendered, res.resumed) == (1, 36)  # r02 again; the failed ones fail again (not journaled)
    assert len(res.errors) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(res.outputs)  # complete: outputs only


def test_pool_equals_inline(frame, tmp_path):
    a = run_batch(echo_job(frame), tmp_path / "a", workers=0, chunk_size=7)
    b = run_batch(echo_job(frame), tmp_path / "b", workers=2, chunk_size=7, max_in_flight=4)
    assert b.executor == "2 worker processes"
    assert a.errors == b.errors and a.outputs == b.outputs and a.files == b.files


def test_light_documents_never_start_a_pool(frame, tmp_path):
    res = run_batch(echo_job(frame, heavy=False), tmp_path, workers=2)
    assert res.executor.startswith("in this process")


def test_resolve_workers():
    assert resolve_workers(0, 10_000) == 0 and resolve_workers(3, 1) == 3
    assert resolve_workers("auto", 10) == 0  # a pool costs more than it saves on tiny inputs
    with pytest.raises(ValueError):
        resolve_workers(-1, 10)


def test_pool_workers_see_the_environment_of_the_moment_they_start(monkeypatch):
    """Pool workers fork from a forkserver started at the process's first pool; credentials or an
    object-store endpoint set after that (a test fixture, a notebook) must still reach the workers,
    fsspec's config included (it reads FSSPEC_* variables at import)."""
    from batch_helpers import EnvRenderer

    from xai_reports.batch.executors import PoolExecutor

    first = PoolExecutor(EnvRenderer(), 1)  # starts the forkserver (if the process had none yet)
    try:
        assert first.submit({"var": "XAI_TEST_LATE_VAR"}).result(timeout=120)[1]["txt"] == b"<unset>"
    finally:
        first.close()
    monkeypatch.setenv("XAI_TEST_LATE_VAR", "set-later")
    monkeypatch.setenv("FSSPEC_S3_ENDPOINT_URL", "http://127.0.0.1:9")
    later = PoolExecutor(EnvRenderer(), 1)
    try:
        out = later.submit({"var": "XAI_TEST_LATE_VAR"}).result(timeout=120)[1]
    finally:
        later.close()
    assert out == {"txt": b"set-later", "conf": b"'http://127.0.0.1:9'"}


def test_ctrl_c_stops_after_the_document_in_hand_even_where_a_library_swallows_it(tmp_path):
    """Python's own handler raises KeyboardInterrupt wherever the main thread is; a renderer (a library) that
    swallows it there would let the batch run on to the end. The engine takes Ctrl-C as a flag instead."""
    import json
    import signal

    xs = [f"v{i}" for i in range(12)]
    xs[4] = "ctrl-c"
    frame = pd.DataFrame({"id": [f"r{i:02d}" for i in range(12)], "x": xs})
    saved = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal (a test runner may differ)
    try:
        with pytest.raises(KeyboardInterrupt):
            run_batch(echo_job(frame), tmp_path, workers=0, chunk_size=5)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored
    finally:
        signal.signal(signal.SIGINT, saved)
    journal = (tmp_path / ".xai-reports.journal.jsonl").read_text().splitlines()
    assert [json.loads(x)["key"] for x in journal[1:]] == [f"doc_r{i:02d}" for i in range(5)]  # r04 committed
    assert not (tmp_path / "doc_r05.txt").exists()
    res = run_batch(echo_job(frame), tmp_path, workers=0, chunk_size=5)  # the rerun finishes it
    assert (res.rendered, res.resumed) == (7, 5)
