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


# -- a toy job: the engine knows nothing about letters ---------------------------------------------
class EchoRenderer:
    """``record -> {"txt": ...}``; fails on purpose for some records."""

    def __call__(self, record):
        from xai_reports.errors import RenderError

        if record["x"] == "render-error":
            raise RenderError("this one cannot be rendered")
        if record["x"] == "bug":
            raise ZeroDivisionError("a bug in a renderer")
        return {"txt": f"{record['id']}={record['x']}\n".encode()}


def echo_job(frame, heavy=True):
    """A BatchJob over a DataFrame with columns id, x: one document per row whose x is not empty."""
    from xai_reports.batch import BatchJob, ChunkPlan, Doc, TableSource

    class EchoJob(BatchJob):
        name = "echo"

        def __init__(self):
            self.source = TableSource(frame)
            self.source.scan(id_column="id")

        def fingerprint(self):
            return {"data": self.source.fingerprint()}

        def plan(self, chunk):
            plan = ChunkPlan(rows=len(chunk), counts={"rows": len(chunk)})
            for pos, row in chunk.iterrows():
                if row["x"] == "":
                    plan.errors.append({"file": "<DataFrame>", "row": pos + 1, "id": row["id"], "column": "x",
                                        "error": "missing value"})
                    continue
                plan.docs.append(Doc(key=f"doc_{row['id']}", record={"id": row["id"], "x": row["x"]},
                                     row=pos + 1, id=row["id"], heavy=heavy))
            return plan

        def renderer(self):
            return EchoRenderer()

    return EchoJob()
