"""Crash, Ctrl-C and resume through the real CLI; the same batch on a real Dask cluster."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest
from batch_helpers import DATE, PYTHON, cli_env, tree_digest

from xai_reports.batch import run_batch
from xai_reports.batch.journal import journal_path
from xai_reports.documents.letter import LetterJob, generate_letters


def _cli(batch_case, data, out, *extra):
    return [PYTHON, "-m", "xai_reports", "letters", "--pack", "finance_hmda_example", "--model", str(batch_case["model"]),
            "--data", str(data), "--out", str(out), "--date", DATE, "--quiet", *extra]


def _journal_lines(out):
    p = journal_path(out)
    return p.read_text().splitlines() if p.exists() else []


def _start_and_stop_midway(cmd, out, sig, after_docs=4, timeout=240):
    """Start ``cmd`` in its own process group; send ``sig`` to the group once ``after_docs`` are journaled."""
    proc = subprocess.Popen(cmd, env=cli_env(), start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    t0 = time.monotonic()
    while len(_journal_lines(out)) < 1 + after_docs:
        if proc.poll() is not None:
            pytest.fail(f"the batch ended before it could be interrupted: {proc.communicate()}")
        if time.monotonic() - t0 > timeout:
            proc.kill()
            pytest.fail("the batch did not start")
        time.sleep(0.05)
    os.killpg(proc.pid, sig)
    stdout, stderr = proc.communicate(timeout=120)
    return proc.returncode, stdout, stderr


def _check_complete(out, reference_run):
    from xai_reports.integrity import verify

    # byte for byte, summary.json and manifest.json (SHA-256 of every output) included
    assert tree_digest(out) == tree_digest(reference_run)
    # a finished folder holds outputs only: no journal, no lock, no temporary file
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in reference_run.iterdir())
    report = verify(out, rerender=False)  # the folder checks out against its manifest
    assert report.ok, str(report)


def _journaled_keys(out) -> list[str]:
    keys = [json.loads(x)["key"] for x in _journal_lines(out)[1:]]
    assert len(keys) == len(set(keys))  # no document journaled twice
    return keys


def test_sigkill_mid_batch_then_rerun(batch_case, small_csv, reference_run, tmp_path):
    out = tmp_path / "out"
    cmd = _cli(batch_case, small_csv, out, "--workers", "2", "--chunk-size", "5")
    rc, _, _ = _start_and_stop_midway(cmd, out, signal.SIGKILL)
    assert rc == -signal.SIGKILL
    n_done = len(_journaled_keys(out))
    n_letters = len([p for p in reference_run.glob("*.pdf")])
    assert 4 <= n_done < n_letters  # really interrupted midway
    rerun = subprocess.run(cmd, env=cli_env(), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    # the rerun kept exactly what the journal held and wrote only the rest
    assert f"{n_letters - n_done} documents written" in rerun.stdout
    assert f"{n_done} of {n_letters} already done by an earlier run" in rerun.stdout
    _check_complete(out, reference_run)


def test_ctrl_c_then_rerun(batch_case, small_csv, reference_run, tmp_path):
    out = tmp_path / "out"
    cmd = _cli(batch_case, small_csv, out, "--workers", "0", "--chunk-size", "7")
    rc, _, stderr = _start_and_stop_midway(cmd, out, signal.SIGINT)
    assert rc == 130 and "Run the same command again" in stderr
    assert "Traceback" not in stderr
    n_done = len(_journaled_keys(out))
    # the same batch through the Python API (same inputs and options) finishes it
    s = generate_letters(batch_case["model"], small_csv, "finance_hmda_example", out, decision_date=DATE, workers=0, chunk_size=7)
    assert s.batch.resumed == n_done >= 4 and s.batch.rendered + s.batch.resumed == s.letters + len(s.flagged)
    _check_complete(out, reference_run)


def test_changed_inputs_are_refused_on_rerun(batch_case, small_csv, tmp_path):
    out = tmp_path / "out"
    job = LetterJob(batch_case["model"], small_csv, "finance_hmda_example", decision_date=DATE, formats=["json"])
    run_batch(job, out, workers=0, keep_journal=True)  # as if it had been interrupted before the end
    other = _cli(batch_case, small_csv, out, "--workers", "0", "--format", "json,html")
    r = subprocess.run(other, env=cli_env(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "options.formats" in r.stderr and "--no-resume" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_dask_cluster_output_equals_single_process(batch_case, small_csv, reference_run, cluster, tmp_path):
    out = tmp_path / "dask"
    s = generate_letters(batch_case["model"], small_csv, "finance_hmda_example", out, decision_date=DATE,
                         scheduler=cluster.scheduler.address, chunk_size=5)
    assert s.batch.executor.startswith("Dask cluster (tcp://") and "2 workers" in s.batch.executor
    assert tree_digest(out) == tree_digest(reference_run)


def test_a_killed_dask_worker_loses_no_document(batch_case, small_csv, reference_run, cluster, tmp_path):
    job = LetterJob(batch_case["model"], small_csv, "finance_hmda_example", decision_date=DATE)
    killed = []

    def kill_one(n_done, executor):
        if n_done >= 3 and not killed:
            pid = executor.worker_pids()[0]
            os.kill(pid, signal.SIGKILL)  # the nanny starts a new worker; the scheduler reruns its tasks
            killed.append(pid)

    res = run_batch(job, tmp_path / "out", scheduler=cluster, chunk_size=5, max_in_flight=8, on_commit=kill_one)
    assert killed and not res.errors
    assert tree_digest(tmp_path / "out") == tree_digest(reference_run)
    cluster.wait_for_workers(2, timeout=60)


def test_unreachable_scheduler_is_a_setup_error(batch_case, small_csv, tmp_path):
    dask = pytest.importorskip("dask")
    from xai_reports.batch import SchedulerError

    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}), \
            pytest.raises(SchedulerError, match="cannot reach the Dask scheduler"):
        generate_letters(batch_case["model"], small_csv, "finance_hmda_example", tmp_path / "o", scheduler="tcp://127.0.0.1:9",
                         decision_date=DATE)
    assert not (tmp_path / "o").exists()
