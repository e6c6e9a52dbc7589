"""Helpers for the document tests (not fixtures): CSV variants and running the CLI in a fresh process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def write_apps(hmda_case, path, n: int | None = None, **changes):
    """A copy of the applications CSV (``n`` rows, cycling the denied ones) with columns replaced
    (``column=value`` or a list with one value per row)."""
    import pandas as pd

    df = pd.read_csv(hmda_case["apps"], dtype=str, keep_default_na=False)
    if n is not None:
        df = df.iloc[[i % len(df) for i in range(n)]].reset_index(drop=True)
        df["applicant_id"] = [f"R-{i}" for i in range(n)]
    for col, value in changes.items():
        df[col] = value
    df.to_csv(path, index=False)
    return path


def run_cli(*args, env=None, cwd=None):
    """Run ``python -m xai_reports ARGS`` in a fresh process; returns CompletedProcess (text)."""
    e = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    e.pop("XAI_REPORTS_SIGNING_KEY", None)
    e.pop("XAI_REPORTS_SIGNING_KEY_FILE", None)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "xai_reports", *map(str, args)], capture_output=True, text=True,
                          env=e, cwd=cwd, timeout=300)
