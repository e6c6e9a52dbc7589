"""Helpers shared by the batch tests (imported by name: tests/ is not a package)."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
DATE = "2026-11-20"
PYTHON = sys.executable


def mixed_rows(hmda, n_denied: int, n_approved: int, seed: int = 0):
    """``n_denied`` applications the model denies and ``n_approved`` it approves, interleaved by id."""
    rng = np.random.default_rng(seed)
    p = hmda["p_deny"]
    den = rng.choice(np.flatnonzero(p >= 0.5), n_denied, replace=False)
    app = rng.choice(np.flatnonzero(p < 0.5), n_approved, replace=False)
    return hmda["frame"].iloc[np.sort(np.concatenate([den, app]))].reset_index(drop=True)


def tree_digest(folder) -> dict[str, str]:
    """SHA-256 of every file in ``folder`` but the batch journal and lock (whose line order varies)."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(folder).iterdir()) if p.is_file() and not p.name.startswith(".xai-reports.")}


def cli_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env
