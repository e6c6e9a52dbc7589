"""Helpers shared by the batch tests (imported by name: tests/ is not a package)."""

from __future__ import annotations

import contextlib
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
class EnvRenderer:
    """``record -> {"txt": <the worker's value of the environment variable record["var"]>}``."""

    def __call__(self, record):
        import fsspec.config

        return {"txt": os.environ.get(record["var"], "<unset>").encode(),
                "conf": repr(fsspec.config.conf.get("s3", {}).get("endpoint_url")).encode()}


class EchoRenderer:
    """``record -> {"txt": ...}``; fails on purpose for some records."""

    def __call__(self, record):
        from xai_reports.errors import RenderError

        if record["x"] == "render-error":
            raise RenderError("this one cannot be rendered")
        if record["x"] == "bug":
            raise ZeroDivisionError("a bug in a renderer")
        if record["x"] == "ctrl-c":  # Ctrl-C lands where a library swallows exceptions (a bare except, a finaliser)
            import signal

            try:
                os.kill(os.getpid(), signal.SIGINT)
                for _ in range(1000):
                    pass
            except BaseException:  # noqa: BLE001 - what such a library does
                pass
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


@contextlib.contextmanager
def moto_s3(bucket: str):
    """A real S3-compatible server (moto in server mode) on a free 127.0.0.1 port, with the process's
    environment and fsspec's config pointed at it for the duration (restored after). Yields
    ``(fs, env, port)``: an s3fs filesystem with ``bucket`` created, the environment a subprocess or a
    worker needs, and the port."""
    import logging
    import socket

    import fsspec
    import s3fs
    from moto.server import ThreadedMotoServer

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
           "FSSPEC_S3_ENDPOINT_URL": endpoint}  # what worker processes read at import
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    old_conf = fsspec.config.conf.get("s3")
    fsspec.config.conf["s3"] = {"endpoint_url": endpoint}
    s3fs.S3FileSystem.clear_instance_cache()
    try:
        fs = s3fs.S3FileSystem(endpoint_url=endpoint)
        fs.mkdir(bucket)
        yield fs, env, port
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if old_conf is None:
            fsspec.config.conf.pop("s3", None)
        else:
            fsspec.config.conf["s3"] = old_conf
        s3fs.S3FileSystem.clear_instance_cache()
