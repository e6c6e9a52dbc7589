"""The batch engine: plan rows -> build records -> render files -> commit -> finish.

A *job* (letters, case-review sheets, ...) supplies four things; the engine
supplies chunked reading, the journal (resume), the executor (this process, a
pool of warm processes, or Dask), bounded memory, the progress bar and the
tally::

    class MyJob(BatchJob):
        name = "letters"
        source: TableSource                    # rows to stream
        def fingerprint(self) -> dict: ...     # what determines the output bytes
        def plan(self, chunk) -> ChunkPlan: ...  # checked rows -> Doc records (batched model calls here)
        def renderer(self): ...                # picklable record -> {suffix: bytes}
        def finish(self, result, out_dir): ... # summary / manifest files, after the last commit

``plan`` runs one chunk at a time, so model calls (TreeSHAP, counterfactual
search) are batched per chunk. Locally it runs in the driver and the renderer
runs wherever the executor puts it. With a Dask scheduler, a job whose source is
a file or URL and which names its documents' keys ahead (``doc_key``) is planned
*and* rendered on the workers, partition by partition (:mod:`.cluster`); the
driver only hands out row ranges, journals and tallies. Files are named
``<doc.key>.<suffix>`` inside ``out_dir``, a local folder or an object-storage
URL (:mod:`xai_reports.io.storage`; journal: :mod:`.objjournal`).

Memory: the driver holds one chunk's plan and at most ``max_in_flight``
rendered documents, never the whole input, so peak memory is set by
``chunk_size`` and ``max_in_flight``, not by the number of rows.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable

from ..io.outputs import check_writable_dir
from ..io.storage import RemoteDir, output_dir
from .executors import DaskExecutor, InlineExecutor, PoolExecutor, usable_cpus
from .journal import Journal, remove_stale_temporaries
from .objjournal import ObjectJournal
from .source import TableSource

MAX_ATTEMPTS = 3  # a document that was in a crashed worker this many times is reported, not retried


@dataclass
class Doc:
    """One document to produce.

    Attributes:
        key: unique file stem (already passed through ``outputs.safe_name``),
            e.g. ``"letter_HMDA-0042"``; files are ``<key>.<suffix>``.
        record: what the renderer turns into files (JSON-able).
        row: 1-based row in the input file.
        id: the decision id, for messages.
        kind: a tally label (``"letter"``, ``"flagged"``).
        heavy: ``False`` for documents cheap enough to render in the driver
            (a JSON record alone); ``True`` sends it to the executor.
    """

    key: str
    record: Any
    row: int
    id: str
    kind: str = "document"
    heavy: bool = True


@dataclass
class ChunkPlan:
    """What :meth:`BatchJob.plan` found in one chunk.

    Attributes:
        rows: rows in the chunk.
        docs: documents to produce, in row order.
        errors: row-level problems (``InputError.to_dict()``), in row order.
        counts: tallies summed over the batch (``{"approved": 812, "denied": 188}``).
        notes: other per-row findings the summary lists (e.g. flagged decisions).
    """

    rows: int
    docs: list[Doc] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    counts: dict = field(default_factory=dict)
    notes: list[dict] = field(default_factory=list)


class BatchJob:
    """Base class of a job the engine runs (see the module docstring).

    Subclasses set :attr:`name` and :attr:`source` and implement
    :meth:`fingerprint`, :meth:`plan` and :meth:`renderer`.
    """

    name: str = "batch"
    source: TableSource
    id_column: str | None = None  # named in row errors about ids

    def fingerprint(self) -> dict:
        """JSON-able identity of everything that determines the output bytes."""
        raise NotImplementedError

    def pinned(self) -> dict:
        """Defaults resolved at the first run that a resumed run must reuse (e.g. today's date)."""
        return {}

    def pin(self, values: dict) -> None:
        """Take the first run's :meth:`pinned` values (called on resume, before planning)."""

    def plan(self, chunk) -> ChunkPlan:
        """Check a chunk's rows and build their documents' records (batched model calls here)."""
        raise NotImplementedError

    def renderer(self) -> Callable[[Any], dict]:
        """A picklable callable ``record -> {suffix: bytes}`` run by the workers."""
        raise NotImplementedError

    def finish(self, result: "BatchResult", out_dir: Path) -> None:
        """Write the batch's own files (summary, manifest) once every row is handled.

        Called by :func:`run_batch` after the last document is committed and before
        the journal is removed; ``result`` covers resumed documents too."""


@dataclass
class BatchResult:
    """What a batch did.

    Attributes:
        rows: input rows.
        counts: the jobs' tallies summed over chunks.
        kinds: finished documents per ``Doc.kind`` (this run's and resumed ones).
        errors: row-level problems, sorted by row.
        notes: the jobs' notes, in row order.
        outputs: file names of the finished documents, in row order.
        files: file name -> ``{"sha256", "bytes"}`` for every finished document's files
            (as journaled; for a run manifest).
        rendered: documents produced by this run.
        resumed: documents a previous run had finished (skipped).
        elapsed_s: wall time.
        executor: where documents were rendered.
        restarts: worker-pool restarts after a worker died.
    """

    rows: int = 0
    counts: Counter = field(default_factory=Counter)
    kinds: Counter = field(default_factory=Counter)
    errors: list[dict] = field(default_factory=list)
    notes: list[dict] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    files: dict = field(default_factory=dict)
    rendered: int = 0
    resumed: int = 0
    elapsed_s: float = 0.0
    executor: str = ""
    restarts: int = 0


@dataclass
class RunSummary:
    """What a job's batch did, as its command reports it: the fields every job's summary has.

    ``exit_code`` is 0 when every row was handled, 3 when some rows failed;
    ``batch`` is the engine's :class:`BatchResult` (timing, resumed, executor).
    """

    rows: int = 0
    errors: list[dict] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    batch: Any = field(default=None, repr=False)

    @property
    def exit_code(self) -> int:
        return 3 if self.errors else 0


def _payload(fut):
    """A finished task's result; an unexpected exception becomes that document's error (the batch goes on).
    ``BrokenProcessPool`` is re-raised: the engine resubmits the documents of a dead pool."""
    try:
        return fut.result()
    except BrokenProcessPool:
        raise
    except Exception as exc:  # noqa: BLE001 - e.g. distributed.KilledWorker after its retries, a renderer bug
        return ("error", type(exc).__name__, f"{type(exc).__name__}: {exc}")


def _row_error(source, doc: Doc, reason: str, column=None) -> dict:
    """A row-level problem found by the engine, shaped like ``InputError.to_dict()`` (``message`` included)."""
    from ..errors import InputError

    return InputError(reason, file=source, row=doc.row, column=column, record_id=doc.id).to_dict()


def _threads(n):
    """Limit OpenMP/BLAS threads (threadpoolctl) within a block; ``None``: no limit."""
    if n is None:
        import contextlib

        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(n)


def resolve_workers(workers, rows: int) -> int:
    """``"auto"`` -> one worker process per usable CPU (at most 8); rendering in this process when
    there is one CPU or fewer than 64 rows (a pool would cost more to start than it saves)."""
    if workers in (None, "auto"):
        n = min(usable_cpus(), 8)
        return 0 if n <= 1 or rows < 64 else n
    n = int(workers)
    if n < 0:
        raise ValueError("workers must be >= 0 (0 renders in this process)")
    return n


class _Interrupt:
    """Ctrl-C (SIGINT) taken at document boundaries: the first one sets a flag that :meth:`check` turns into
    ``KeyboardInterrupt`` after the document in hand is committed; a second one interrupts at once.

    Python's own handler raises ``KeyboardInterrupt`` wherever the main thread happens to be, and where
    that is a finaliser (``__del__``, a weakref callback) or a library's bare ``except:``, the interrupt is
    printed as "Exception ignored" or swallowed and the batch runs on to the end. Installed only from the
    main thread and only over Python's default handler (an application's own handler is left alone).
    """

    def __init__(self):
        self.pending = False
        self.previous = None

    def __enter__(self):
        import signal
        import threading

        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.pending:  # asked twice: at once
            raise KeyboardInterrupt
        self.pending = True
        import sys

        print("xai-reports: stopping after the document in hand (Ctrl-C again stops at once)", file=sys.stderr)

    def check(self):
        if self.pending:
            raise KeyboardInterrupt

    def __exit__(self, *exc):
        import signal

        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
        return False


class _Progress:
    """A rich progress bar over input rows (rows/s, ETA), or nothing."""

    def __init__(self, enabled: bool, total: int, label: str):
        self.enabled = enabled
        if not enabled:
            return
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)
        from rich.text import Text

        class _Rate(ProgressColumn):
            def render(self, task):
                speed = task.finished_speed or task.speed
                return Text(f"{speed:,.0f} rows/s" if speed else "- rows/s", style="progress.data.speed")

        self.bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("rows"), _Rate(), TimeElapsedColumn(), TextColumn("ETA"),
                            TimeRemainingColumn(), TextColumn("{task.fields[docs]} documents"),
                            transient=False)
        self.bar.start()
        self.task = self.bar.add_task(label, total=total, docs=0)
        self.docs = 0

    def advance(self, rows: int = 0, docs: int = 0):
        if self.enabled and (rows or docs):
            self.docs += docs
            self.bar.update(self.task, advance=rows, docs=self.docs)

    def stop(self):
        if self.enabled:
            self.bar.stop()


def run_batch(job: BatchJob, out_dir, *, chunk_size: int = 1000, workers="auto", scheduler=None,
              resume: bool = True, progress: bool = False, max_in_flight: int | None = None,
              plan_threads: int | str | None = "auto", keep_journal: bool = False,
              on_commit: Callable[[int, Any], None] | None = None, plan_on_workers: bool = True) -> BatchResult:
    """Run ``job`` over its source: plan each chunk, render its documents, commit them.

    Args:
        job: a :class:`BatchJob` whose file-level checks have passed.
        out_dir: output folder; the journal is ``out_dir/.xai-reports.journal.jsonl``.
        chunk_size: rows read, checked and explained together.
        workers: ``"auto"``, ``0`` (render in this process) or a number of worker
            processes (local pool; with ``scheduler="local"``, of the local Dask cluster).
        scheduler: ``None`` (local), ``"tcp://host:port"`` of a Dask scheduler,
            ``"local"`` (start a Dask ``LocalCluster``), or a ``distributed.Client``.
        resume: keep documents a previous run of the same batch finished
            (``False``: start over).
        progress: show a progress bar on stderr.
        max_in_flight: documents submitted but not yet committed (default
            ``max(16, 4 * workers)``): bounds memory and what a crash can lose.
        plan_threads: OpenMP/BLAS threads for :meth:`BatchJob.plan` (model calls on one
            chunk). ``"auto"`` (default): 1 while worker processes render (chunk-sized
            calls gain little from threads and the cores are busy rendering; on a loaded
            machine spinning OpenMP threads cost 3x), the libraries' defaults when
            everything runs in this process (the other cores are idle: XGBoost
            predictions in the counterfactual search run about 1.4x faster on 2 cores).
            ``None`` leaves the libraries' defaults; a number sets the limit.
        keep_journal: keep the journal after a complete run (a rerun then skips
            everything); by default it is removed once :meth:`BatchJob.finish` has run,
            so a finished folder holds outputs only. It is always kept when the run
            stops early (error, Ctrl-C, kill): that is what a rerun resumes from.
        on_commit: called after each commit group with (documents committed by
            this run so far, the executor); for custom monitoring.
        plan_on_workers: with a Dask ``scheduler``, read, check, score, explain and render each
            partition on the workers (default; the data's path or URL and the output folder must be
            reachable from them), the driver only journaling and tallying; ``False`` plans in the
            driver and renders on the workers (the data then travels through the driver).

    Returns:
        :class:`BatchResult`.

    Raises:
        BatchStateError: ``out_dir`` holds another batch (``resume=True``) or is in use.
        SchedulerError: the Dask scheduler cannot be reached or its workers differ.
        TemplateError: a template fails on a document (after committing what was done).

    Examples::

        >>> job = LetterJob(model, "applications.csv", pack="finance")
        >>> res = run_batch(job, "letters", chunk_size=2000, workers=2)
        >>> res.rendered, res.resumed, len(res.errors)
        (1800, 200, 3)
    """
    with _Interrupt() as stop:
        return _run_batch(job, out_dir, stop, chunk_size=chunk_size, workers=workers, scheduler=scheduler,
                          resume=resume, progress=progress, max_in_flight=max_in_flight, plan_threads=plan_threads,
                          keep_journal=keep_journal, on_commit=on_commit, plan_on_workers=plan_on_workers)


def _run_batch(job, out_dir, stop: _Interrupt, *, chunk_size, workers, scheduler, resume, progress, max_in_flight,
               plan_threads, keep_journal, on_commit, plan_on_workers) -> BatchResult:
    t0 = time.perf_counter()
    out = output_dir(out_dir)  # a local folder, or a RemoteDir for an s3:// (gs://, memory://...) URL
    remote = isinstance(out, RemoteDir)
    if remote:
        out.check_writable()
    else:
        check_writable_dir(out)  # before anything is created or connected: no half-made folder, lock or journal
    total = job.source.scan().rows
    n_workers = resolve_workers(workers, total)
    executor = None
    if scheduler is not None:  # connect before anything is written: an unreachable scheduler is a setup error
        executor = DaskExecutor(job.renderer(), scheduler, n_workers or None)
    if not remote:
        out.mkdir(parents=True, exist_ok=True)
    try:
        journal = (ObjectJournal if remote else Journal)(out, job.name, job.fingerprint(), job.pinned(),
                                                         resume=resume)
    except BaseException:
        if executor is not None:
            executor.close()
        raise
    if journal.resumed:
        job.pin(journal.pinned)
    out.remove_stale_temporaries() if remote else remove_stale_temporaries(out)

    if plan_threads == "auto":
        plan_threads = 1 if (n_workers > 0 or executor is not None) else None
    res = BatchResult()
    inline = InlineExecutor(job.renderer())
    cap = max_in_flight or max(16, 4 * max(n_workers, getattr(executor, "n_workers", 0) or 0))
    in_flight: dict[Any, Doc] = {}
    attempts: Counter = Counter()
    keys_seen: dict[str, int] = {}
    finished: list[tuple[int, str, list[str]]] = []  # (row, key, files) of finished documents
    bar = _Progress(progress, total, job.name)
    source = job.source.label

    def get_executor():
        nonlocal executor
        if executor is None:
            executor = PoolExecutor(job.renderer(), n_workers) if n_workers > 0 else inline
        return executor

    def finish(doc: Doc, payload):
        status = payload[0]
        if status == "ok":
            names = journal.commit(doc.key, {f"{doc.key}.{suffix}": data for suffix, data in payload[1].items()},
                                   {"row": doc.row, "kind": doc.kind})
            finished.append((doc.row, doc.key, names))
            res.kinds[doc.kind] += 1
            res.rendered += 1
        elif status == "fatal":
            from ..errors import PackError, TemplateError

            raise (PackError if payload[1] == "PackError" else TemplateError)(payload[2])
        else:
            res.errors.append(_row_error(source, doc, f"document could not be rendered: {payload[2]}"))
        bar.advance(rows=1, docs=1 if status == "ok" else 0)
        stop.check()  # Ctrl-C: after this document's commit

    def resubmit(lost: list):
        """A pool worker died: start a fresh pool and submit again what the old one held."""
        lost = lost + list(in_flight.values())
        in_flight.clear()
        executor.restart()
        res.restarts += 1
        for doc in sorted(lost, key=lambda d: d.row):
            attempts[doc.key] += 1
            if attempts[doc.key] >= MAX_ATTEMPTS:
                finish(doc, ("error", "WorkerCrash",
                             f"a worker process died while rendering it ({attempts[doc.key]} times)"))
            else:
                submit(doc)

    def submit(doc):
        try:
            in_flight[executor.submit(doc.record)] = doc
        except BrokenProcessPool:  # the pool broke after the last collect: nothing was submitted
            attempts[doc.key] -= 1  # this document never reached a worker
            resubmit([doc])

    def collect(block: bool):
        """Commit finished documents; with ``block``, wait for at least one."""
        if not in_flight:
            return
        done, _ = executor.wait(list(in_flight), timeout=None if block else 0)
        lost: list[Doc] = []
        for fut in done:
            doc = in_flight.pop(fut)
            try:
                payload = _payload(fut)
            except BrokenProcessPool:  # a pool worker died: what the pool held is submitted again
                lost.append(doc)
                continue
            finish(doc, payload)
        if lost:
            resubmit(lost)
        journal.flush()
        if on_commit is not None:
            on_commit(res.rendered, executor)

    # with a Dask scheduler, the workers read, plan and render their partitions (by reference: path or URL
    # and row range); the driver only journals and tallies. A DataFrame source, or a job that cannot say
    # its documents' keys ahead, is planned here and rendered there.
    on_cluster = (plan_on_workers and isinstance(executor, DaskExecutor) and job.source.reference() is not None
                  and getattr(job, "doc_key", None) is not None)
    try:
        if on_cluster:
            from .cluster import run_on_cluster

            def committed(n, ex):
                stop.check()
                if on_commit is not None:
                    on_commit(n, ex)

            run_on_cluster(job, out, journal, executor, res, finished, bar, chunk_size=chunk_size, total=total,
                           on_commit=committed, row_error=_row_error)
        for chunk in ([] if on_cluster else job.source.chunks(chunk_size)):
            stop.check()
            with _threads(plan_threads):
                plan = job.plan(chunk)
            res.rows += plan.rows
            res.counts.update(plan.counts)
            res.errors.extend(plan.errors)
            res.notes.extend(plan.notes)
            bar.advance(rows=plan.rows - len(plan.docs))
            for doc in plan.docs:
                if doc.key in keys_seen:  # an id spelled like another id's sanitised file name
                    res.errors.append(_row_error(source, doc, f"another id in this batch (row {keys_seen[doc.key]}) "
                                                              f"is written as {doc.key}.*; this one is not written",
                                                 column=getattr(job, "id_column", None)))
                    bar.advance(rows=1)
                    continue
                keys_seen[doc.key] = doc.row
                if journal.is_done(doc.key):
                    finished.append((doc.row, doc.key, journal.files_of(doc.key)))
                    res.kinds[doc.kind] += 1
                    res.resumed += 1
                    bar.advance(rows=1, docs=1)
                    continue
                if not doc.heavy:
                    finish(doc, _payload(inline.submit(doc.record)))
                    continue
                ex = get_executor()
                if ex is inline:
                    finish(doc, _payload(inline.submit(doc.record)))
                    if res.rendered % 64 == 0:
                        journal.flush()
                    continue
                while len(in_flight) >= cap:
                    collect(block=True)
                submit(doc)
            journal.flush()
            collect(block=False)
        while in_flight:
            collect(block=True)
        journal.flush()
        stop.check()  # Ctrl-C after the last document: no summary or manifest; a rerun redoes the finish
    except BaseException:
        journal.close()
        if executor is not None and executor is not inline:
            executor.close(cancel=True)
            executor = None
        bar.stop()
        raise
    bar.stop()
    res.executor = (executor.description if executor is not None else
                    "in this process" if n_workers == 0 else "in this process (nothing needed the worker pool)")
    if executor is not None and executor is not inline:
        executor.close()
    finished.sort()
    res.outputs = [name for _, _, names in finished for name in names]
    for _, key, _ in finished:
        res.files.update(journal.entries[key].get("files", {}))
    res.errors.sort(key=lambda e: (e.get("row") is None, e.get("row") or 0))
    res.elapsed_s = time.perf_counter() - t0
    try:
        job.finish(res, out)  # the batch's own files (summary, manifest), still under the folder lock
    except BaseException:
        journal.close()  # the journal stays: a rerun skips the documents and redoes the finish
        raise
    if keep_journal:
        journal.close()
    else:
        journal.complete()  # every row handled: the folder holds outputs only
    return res


__all__ = ["BatchJob", "ChunkPlan", "Doc", "BatchResult", "RunSummary", "run_batch", "resolve_workers"]
