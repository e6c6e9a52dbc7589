"""Planning on the workers: with a Dask scheduler, each partition of the input is read, checked, scored,
explained and rendered on a worker.

The driver hands out partitions *by reference*: the job (model, pack, options; sent once to every
worker), the data's path or URL and a row range. A worker reads its rows itself, plans them chunk by
chunk (the same :meth:`BatchJob.plan` as in the driver, so the bytes are the same whatever the
partitioning), renders each document, writes its files into the output folder (a shared folder or an
object-storage prefix the workers can reach: each file written whole, see
:func:`~xai_reports.io.storage.write_output`) and returns only what the tally needs: per document its
row, key, kind and the files' SHA-256 and sizes, plus the partition's counts, row errors and notes.
The driver journals those lines, so a killed worker loses nothing: the scheduler runs its partition
again (same bytes, same names), and a rerun skips what the journal holds.

Two ids whose file names would be the same (``a/b`` and ``a_b``) cannot be settled by a worker that
sees one of them: such *contested* keys are found in the driver from the id column (as the scan
already reads it) before anything is handed out, their documents' bytes come back to the driver, and
the first row wins, as in the driver-planned path.

Progress: workers send ``(partition, rows, documents)`` events after each chunk
(``Worker.log_event``); the driver's bar adds them up.
"""

from __future__ import annotations

import threading
from collections import Counter

from ..io.storage import output_dir, write_output
from .executors import call_renderer

TOPIC = "xai-reports-progress"


def partitions(total: int, chunk_size: int, n_workers: int) -> list[tuple[int, int]]:
    """Row ranges ``[lo, hi)`` handed out: whole chunks, about four per worker, at most 50 chunks each."""
    n_chunks = -(-total // chunk_size)
    per = max(1, min(50, n_chunks // max(1, 4 * n_workers)))
    step = per * chunk_size
    return [(lo, min(total, lo + step)) for lo in range(0, total, step)]


def plan_partition(job, out, lo: int, hi: int, chunk_size: int, done: frozenset, contested: frozenset,
                   part: int, token: str) -> dict:
    """Run on a worker: plan and render rows ``lo:hi`` of ``job.source``; write the documents' files.

    Returns:
        ``{"rows", "counts", "errors", "notes", "docs"}``; each doc is ``{"row", "key", "kind", "id",
        "status"}`` with ``"files"`` (``ok``), ``"payload"`` (contested keys) or ``"error"``.
    """
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):  # pragma: no cover - called outside a worker (tests, debugging)
        worker = None
    from threadpoolctl import threadpool_limits

    renderer = job.renderer()
    folder = output_dir(out)
    res = {"rows": 0, "counts": Counter(), "errors": [], "notes": [], "docs": []}
    # one thread per worker process (the workers are the parallelism), set once per partition: setting it
    # scans the loaded libraries (about 6 ms), which per chunk cost about 1% of the planning
    with threadpool_limits(1):
        return _plan_chunks(job, renderer, folder, lo, hi, chunk_size, done, contested, part, token, worker, res)


def _plan_chunks(job, renderer, folder, lo, hi, chunk_size, done, contested, part, token, worker, res) -> dict:
    """The rows ``lo:hi`` chunk by chunk: plan, render, write; fills and returns ``res``."""
    import hashlib

    for chunk in job.source.chunks(chunk_size, start=lo, stop=hi):
        plan = job.plan(chunk)
        res["rows"] += plan.rows
        res["counts"].update(plan.counts)
        res["errors"].extend(plan.errors)
        res["notes"].extend(plan.notes)
        for doc in plan.docs:
            item = {"row": doc.row, "key": doc.key, "kind": doc.kind, "id": doc.id}
            res["docs"].append(item)
            if doc.key in done and doc.key not in contested:
                item["status"] = "resumed"
                continue
            payload = call_renderer(renderer, doc.record)
            if payload[0] != "ok":
                item["status"], item["error"] = "error", payload
                continue
            if doc.key in contested:  # settled by the driver, in row order
                item["status"], item["payload"] = "contested", payload
                continue
            files = {}
            for suffix, data in payload[1].items():
                name = f"{doc.key}.{suffix}"
                write_output(folder, name, data)
                files[name] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
            item["status"], item["files"] = "ok", files
        if worker is not None:
            worker.log_event(TOPIC, {"token": token, "part": part, "rows": res["rows"], "docs": len(res["docs"])})
    return res


class _Tally:
    """Progress events from the workers, per partition (a rerun partition starts again from 0: the
    maximum is kept, so the bar never goes back)."""

    def __init__(self, token):
        self.token = token
        self.lock = threading.Lock()
        self.rows: dict[int, int] = {}
        self.docs: dict[int, int] = {}

    def __call__(self, event):
        msg = event[1] if isinstance(event, tuple) else event
        if not isinstance(msg, dict) or msg.get("token") != self.token:
            return
        with self.lock:
            p = msg["part"]
            self.rows[p] = max(self.rows.get(p, 0), int(msg["rows"]))
            self.docs[p] = max(self.docs.get(p, 0), int(msg["docs"]))

    def final(self, part, rows, docs):
        with self.lock:
            self.rows[part] = rows
            self.docs[part] = docs

    def totals(self):
        with self.lock:
            return sum(self.rows.values()), sum(self.docs.values())


def contested_keys(job) -> frozenset:
    """Document keys that two rows' ids could both be written as (read from the id column only)."""
    key_of = getattr(job, "doc_key", None)
    id_col = getattr(job, "id_column", None)
    if key_of is None or id_col is None:
        return frozenset()
    seen: dict[str, int] = {}
    out = set()
    for i, v in enumerate(job.source.ids(id_col)):
        for k in {key_of(str(v)), key_of(str(v).strip())}:
            if k in seen and seen[k] != i:
                out.add(k)
            seen.setdefault(k, i)
    return frozenset(out)


def run_on_cluster(job, out, journal, executor, res, finished, bar, *, chunk_size: int, total: int,
                   on_commit=None, row_error=None, max_attempts: int = 3):
    """Hand out the partitions, journal what comes back, settle contested keys; fills ``res`` and
    ``finished`` as the driver-planned loop does.

    Raises:
        SchedulerError: a partition failed on ``max_attempts`` workers.
        TemplateError, PackError: a template or pack problem that fails every document.
    """
    import os

    from concurrent.futures import CancelledError
    from types import SimpleNamespace

    import distributed

    from ..errors import PackError, SchedulerError, TemplateError

    client = executor.client
    token = os.urandom(8).hex()
    tally = _Tally(token)
    client.subscribe_topic(TOPIC, tally)
    contested = contested_keys(job)
    job_ref = client.scatter(job, broadcast=True, hash=False)  # the job (model, pack, options), once per worker
    ranges = partitions(total, chunk_size, executor.n_workers)
    by_row = {e.get("row"): k for k, e in journal.entries.items()}
    done_keys = {k for k in journal.entries if journal.is_done(k)}
    target = out if not hasattr(out, "url") else out.url
    attempts: Counter = Counter()
    pending = list(range(len(ranges)))[::-1]
    in_flight: dict = {}
    cap = max(2, 2 * executor.n_workers)
    shown = [0, 0]

    def submit(i):
        lo, hi = ranges[i]
        done = frozenset(by_row[r] for r in range(lo + 1, hi + 1) if r in by_row and by_row[r] in done_keys)
        fut = client.submit(plan_partition, job_ref, target, lo, hi, chunk_size, done, contested, i, token,
                            pure=False, key=f"xai-reports-part-{token}-{i}-{attempts[i]}")
        in_flight[fut] = i

    source = job.source.label
    held: list[dict] = []
    notes: dict[int, list] = {}

    def settle(d):
        """Tally a document whose key no other row can take."""
        if d["status"] == "error":
            res.errors.append(row_error(source, SimpleNamespace(**d),
                                        f"document could not be rendered: {d['error'][2]}"))
            return
        if d["status"] == "resumed":
            res.resumed += 1
        res.kinds[d["kind"]] += 1
        finished.append((d["row"], d["key"], journal.files_of(d["key"])))

    def show():
        rows, docs = tally.totals()
        bar.advance(rows=rows - shown[0], docs=0)
        shown[0] = rows

    try:
        while pending or in_flight:
            while pending and len(in_flight) < cap:
                submit(pending.pop())
            try:
                w = distributed.wait(list(in_flight), timeout=0.5, return_when="FIRST_COMPLETED")
                done_f = w.done
            except (TimeoutError, getattr(distributed, "TimeoutError", TimeoutError)):
                done_f = set()
            except CancelledError:
                # the scheduler forgot a partition: a dead worker took the only copy of the scattered job
                # with it. Such futures are settled like a failed attempt below and the job is sent again.
                done_f = {f for f in in_flight if f.status != "pending"}
            for fut in done_f:
                i = in_flight.pop(fut)
                try:
                    part = fut.result()
                except Exception as exc:  # noqa: BLE001 - KilledWorker after the scheduler's retries
                    attempts[i] += 1
                    if attempts[i] >= max_attempts:
                        raise SchedulerError(f"rows {ranges[i][0] + 1}-{ranges[i][1]} failed on "
                                             f"{attempts[i]} workers ({type(exc).__name__}: {exc})") from None
                    pending.append(i)
                    if job_ref.status != "finished":  # every worker holding the job died: send it again
                        job_ref = client.scatter(job, broadcast=True, hash=False)
                    continue
                for d in part["docs"]:
                    if d["status"] == "ok":
                        journal.record(d["key"], d["files"], {"row": d["row"], "kind": d["kind"]})
                        res.rendered += 1
                    elif d["status"] == "error" and d["error"][0] == "fatal":
                        raise (PackError if d["error"][1] == "PackError" else TemplateError)(d["error"][2])
                    if d["key"] in contested:
                        held.append(d)  # settled at the end, in row order
                    else:
                        settle(d)
                res.rows += part["rows"]
                res.counts.update(part["counts"])
                res.errors.extend(part["errors"])
                notes[i] = part["notes"]
                tally.final(i, part["rows"], len(part["docs"]))
                journal.flush()
                if on_commit is not None:
                    on_commit(res.rendered, executor)
            show()
    finally:
        try:
            client.unsubscribe_topic(TOPIC)
        except Exception:  # noqa: BLE001 - the client may be closing
            pass
    keys_seen: dict[str, int] = {}
    for d in sorted(held, key=lambda d: d["row"]):  # contested keys: the first row wins, as in the driver
        if d["key"] in keys_seen:
            res.errors.append(row_error(source, SimpleNamespace(**d), f"another id in this batch (row "
                                        f"{keys_seen[d['key']]}) is written as {d['key']}.*; this one is not "
                                        "written", column=getattr(job, "id_column", None)))
            continue
        keys_seen[d["key"]] = d["row"]
        if d["status"] == "contested":
            journal.commit(d["key"], {f"{d['key']}.{s}": b for s, b in d["payload"][1].items()},
                           {"row": d["row"], "kind": d["kind"]})
            res.rendered += 1
        settle(d)
    for i in range(len(ranges)):
        res.notes.extend(notes[i])
    journal.flush()
    show()


__all__ = ["plan_partition", "run_on_cluster", "partitions", "contested_keys", "TOPIC"]
