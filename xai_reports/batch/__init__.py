"""Portfolio-size batches: chunked input, a resumable journal, a pool of warm
workers or a Dask cluster.

The engine is generic: a job (:class:`BatchJob`) plans each chunk of rows into
document records in batched model calls, a picklable renderer turns a record
into files, and :func:`run_batch` does the rest (streaming, resume, workers,
progress, tally). :class:`xai_reports.documents.letter.LetterJob` is the letters job.
"""

from .engine import BatchJob, BatchResult, ChunkPlan, Doc, RunSummary, resolve_workers, run_batch
from .executors import DaskExecutor, InlineExecutor, PoolExecutor, SchedulerError, usable_cpus
from .journal import BatchStateError, Journal
from .source import TableSource

__all__ = ["BatchJob", "BatchResult", "ChunkPlan", "Doc", "RunSummary", "run_batch", "resolve_workers",
           "TableSource", "Journal", "BatchStateError", "SchedulerError",
           "InlineExecutor", "PoolExecutor", "DaskExecutor", "usable_cpus"]
