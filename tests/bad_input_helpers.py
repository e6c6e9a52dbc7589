"""Helpers of the bad-input tests (issue 16): run the CLI, check a refusal, build packs, kill -9 a batch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from xai_reports.cli import ERROR_LINE_LIMIT

CLI = [sys.executable, "-m", "xai_reports"]
ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args, timeout=300):
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run(CLI + [str(a) for a in args], capture_output=True, text=True, timeout=timeout, env=env)


def assert_refused(res_or_rc, out, *needles, err=None):
    """Exit 2, exactly one line on stderr (bounded), no traceback, the output absent or empty."""
    if isinstance(res_or_rc, subprocess.CompletedProcess):
        rc, err = res_or_rc.returncode, res_or_rc.stderr
    else:
        rc = res_or_rc
    assert rc == 2, err
    assert "Traceback" not in err, err
    lines = err.strip("\n").split("\n")
    assert len(lines) == 1 and lines[0].startswith("xai-reports: error: "), err
    assert len(lines[0]) <= ERROR_LINE_LIMIT
    for n in needles:
        assert n in lines[0], (n, lines[0])
    out = Path(out)
    if out.is_dir():
        assert not any(out.iterdir()), sorted(p.name for p in out.iterdir())  # hidden state files included
    else:
        assert not out.exists()
    return lines[0]


def make_pack(folder: Path, body: str, base: str = "finance_hmda_example") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pack.yaml").write_text(f"extends: {base}\nname: custom\nversion: '1'\n" + body)
    return folder


def _parent(psutil, proc):
    """``proc``'s parent pid, or ``None`` when it has exited since it was listed (short-lived helpers do)."""
    try:
        return proc.ppid()
    except psutil.NoSuchProcess:
        return None


def kill_and_check_descendants(cmd, out, env=None, min_workers=2, timeout=240):
    """Start ``cmd`` in its own session, wait until its pool workers render (a PDF appears), record
    every descendant, SIGKILL the main process only, and return the recorded descendants still alive
    after a few seconds (killing those, so a failing test leaves nothing either)."""
    psutil = pytest.importorskip("psutil")
    p = subprocess.Popen([str(c) for c in cmd], start_new_session=True, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, env=env)
    try:
        main_proc = psutil.Process(p.pid)
        deadline = time.monotonic() + timeout
        kids = []
        while time.monotonic() < deadline:
            kids = main_proc.children(recursive=True)
            workers = [k for k in kids if _parent(psutil, k) not in (None, p.pid)]  # forked by the fork server
            if len(workers) >= min_workers and any(out.glob("*.pdf")):
                break
            assert p.poll() is None, "the batch ended before its workers could be observed"
            time.sleep(0.2)
        else:
            pytest.fail("no pool workers appeared")
        time.sleep(0.5)
        kids = main_proc.children(recursive=True)
        assert len(kids) >= 2 + min_workers, kids  # fork server, resource tracker, workers
    finally:
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
    gone, alive = psutil.wait_procs(kids, timeout=10)
    described = []
    for k in alive:
        try:
            described.append((k.pid, " ".join(k.cmdline())[-80:]))
            k.kill()
        except psutil.NoSuchProcess:
            pass
    return described, kids
