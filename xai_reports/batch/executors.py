"""Where documents are rendered: in this process, in a pool of warm worker
processes, or on a Dask cluster.

Every executor runs the same task, ``renderer(record) -> {suffix: bytes}``,
and hands the bytes back to the driver, which alone writes files and the
journal. Workers therefore need no access to the output folder, and a worker
that dies takes no half-written file with it.

* :class:`InlineExecutor` (``workers=0``): render in the driver process.
* :class:`PoolExecutor` (``workers=N``): ``N`` local processes started once
  from a fork server that has already imported WeasyPrint, so each worker is
  warm after its first task; workers ignore Ctrl-C (the driver handles it).
  If a worker dies (killed, out of memory), the pool is restarted and the
  documents it held are submitted again.
* :class:`DaskExecutor` (``scheduler="tcp://host:port"`` or ``"local"``): the
  tasks go to a ``dask.distributed`` cluster; the scheduler re-runs the tasks
  of a worker that dies.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import signal
import sys

from ..errors import PackError, SchedulerError, TemplateError, XaiReportsError

_RENDERER = None  # set in each pool worker by _install


def usable_cpus() -> int:
    """CPUs this process may run on (``sched_getaffinity`` where available)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


def call_renderer(renderer, record) -> tuple:
    """Run ``renderer(record)``; errors a user can cause come back as data, not as exceptions.

    Returns:
        ``("ok", {suffix: bytes})``, ``("error", kind, message)`` for a document
        that cannot be rendered, or ``("fatal", kind, message)`` for a template or
        pack problem that would fail every document.
    """
    try:
        return ("ok", renderer(record))
    except (TemplateError, PackError) as exc:
        return ("fatal", type(exc).__name__, str(exc))
    except XaiReportsError as exc:
        return ("error", type(exc).__name__, str(exc))


def _exit_with_driver(lifeline) -> None:
    """Block on the driver's end of ``lifeline`` until it closes, then end this process at once.

    Only the driver holds the pipe's write end (never written to), so end of
    file means the driver is gone, even when it was killed with SIGKILL and
    could not shut the pool down. Without this a worker waits forever on its
    task queue, whose write end every worker also holds; the fork server and
    the resource tracker then stay too, since the workers hold their pipes.
    """
    try:
        lifeline.recv_bytes()
    except (EOFError, OSError):
        pass
    os._exit(1)


def _install(renderer, lifeline=None, environ=None):
    """Pool initializer: ignore Ctrl-C (the driver stops the batch), exit when the driver dies, take the
    driver's environment as it is now, keep and warm the renderer."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if environ is not None:
        _adopt_environment(environ)
    if lifeline is not None:
        import threading

        threading.Thread(target=_exit_with_driver, args=(lifeline,), name="xai-reports-lifeline",
                         daemon=True).start()
    global _RENDERER
    _RENDERER = renderer
    warm = getattr(renderer, "warm_up", None)
    if warm is not None:
        warm()


def _adopt_environment(environ: dict) -> None:
    """Make this worker's environment the driver's. Workers fork from a forkserver started when the
    process first used a pool, so they inherit the environment of that moment: credentials or an
    object-store endpoint set since then (``AWS_*``, ``FSSPEC_*``) would be missing. fsspec reads its
    ``FSSPEC_*`` variables at import, so its config is refreshed too."""
    for k in [k for k in os.environ if k not in environ]:
        del os.environ[k]
    os.environ.update(environ)
    fsspec_config = sys.modules.get("fsspec.config")
    if fsspec_config is not None:
        fsspec_config.set_conf_env(fsspec_config.conf)


def _pool_task(record):
    return call_renderer(_RENDERER, record)


def _worker_info(renderer=None) -> dict:
    """Versions a worker renders with (outputs are only identical with identical versions); warms it up."""
    import platform

    import weasyprint

    from .._version import __version__

    if renderer is not None and getattr(renderer, "warm_up", None) is not None:
        renderer.warm_up()
    return {"xai_reports": __version__, "weasyprint": weasyprint.__version__,
            "python": platform.python_version()}


class InlineExecutor:
    """Render in this process (``workers=0``)."""

    n_workers = 0
    description = "in this process"

    def __init__(self, renderer):
        self.renderer = renderer

    def submit(self, record) -> cf.Future:
        fut: cf.Future = cf.Future()
        try:
            fut.set_result(call_renderer(self.renderer, record))
        except Exception as exc:  # noqa: BLE001 - reported per document, as a pool would
            fut.set_exception(exc)
        return fut

    def wait(self, futures, timeout=None):
        return set(futures), set()

    def worker_pids(self) -> list[int]:
        return []

    def close(self, *, cancel: bool = False):
        pass


def _mp_context(renderer=None):
    import multiprocessing as mp

    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        # Children fork from a server that already imported the renderer's heavy modules.
        preload = ["xai_reports.batch.executors", "weasyprint", "xai_reports.render.pdf"]
        module = getattr(type(renderer), "__module__", None)
        if module and module != "__main__":
            preload.append(module)
        ctx.set_forkserver_preload(preload)
        return ctx
    return mp.get_context("spawn")


class PoolExecutor:
    """``n_workers`` warm local processes (``concurrent.futures.ProcessPoolExecutor``).

    A worker that dies breaks a ``ProcessPoolExecutor``; :meth:`restart` starts a
    fresh pool so the driver can submit the lost documents again.
    """

    def __init__(self, renderer, n_workers: int):
        self.renderer = renderer
        self.n_workers = int(n_workers)
        self.description = f"{self.n_workers} worker process{'es' if self.n_workers != 1 else ''}"
        self.restarts = 0
        self._start()

    def _start(self):
        ctx = _mp_context(self.renderer)
        # the workers' lifeline: they get the read end, only this process holds the write end
        self._lifeline, self._lifeline_w = ctx.Pipe(duplex=False)
        self.pool = cf.ProcessPoolExecutor(max_workers=self.n_workers, mp_context=ctx,
                                           initializer=_install, initargs=(self.renderer, self._lifeline, dict(os.environ)))

    def submit(self, record) -> cf.Future:
        return self.pool.submit(_pool_task, record)

    def wait(self, futures, timeout=None):
        done, not_done = cf.wait(futures, timeout=timeout, return_when=cf.FIRST_COMPLETED)
        return done, not_done

    def restart(self):
        """Replace a broken pool (a worker died) with a fresh one."""
        self.close(cancel=True)
        self.restarts += 1
        self._start()

    def worker_pids(self) -> list[int]:
        return sorted(getattr(self.pool, "_processes", {}) or {})

    def close(self, *, cancel: bool = False):
        if cancel:
            procs = list((getattr(self.pool, "_processes", None) or {}).values())
            self.pool.shutdown(wait=False, cancel_futures=True)
            for p in procs:  # do not wait for documents nobody will collect
                try:
                    p.terminate()
                except Exception:  # noqa: BLE001 - already gone
                    pass
        else:
            self.pool.shutdown(wait=True)
        for end in (self._lifeline_w, self._lifeline):  # a worker still there sees end of file and exits
            end.close()


class DaskExecutor:
    """Render on a ``dask.distributed`` cluster.

    Args:
        renderer: the picklable renderer (sent with each task; it is small and
            loads its pack once per worker process).
        scheduler: ``"tcp://host:port"`` of a running scheduler, ``"local"`` to
            start a :class:`distributed.LocalCluster` of ``n_workers`` processes
            (one thread each), or a ``distributed.Client``.
        n_workers: workers of the local cluster.
        timeout: seconds to wait for the scheduler (default: dask's
            ``distributed.comm.timeouts.connect``).

    Raises:
        SchedulerError: the scheduler cannot be reached, has no workers, or its
            workers run other versions of xai-reports/WeasyPrint than this process.
    """

    def __init__(self, renderer, scheduler, n_workers: int | None = None, *, timeout=None):
        try:
            import distributed
        except ImportError:  # pragma: no cover - dask is an optional extra
            raise SchedulerError("--scheduler needs dask.distributed (pip install 'xai-reports[dask]')") from None
        self.renderer = renderer
        self._cluster = None
        self._own_client = True
        if isinstance(scheduler, distributed.Client):
            self.client = scheduler
            self._own_client = False
            where = scheduler.scheduler.address
        elif scheduler == "local":
            import logging

            n = int(n_workers or usable_cpus())
            self._cluster = distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                                     dashboard_address=None, silence_logs=logging.ERROR)
            self.client = distributed.Client(self._cluster)
            where = "local"
        else:
            try:
                self.client = distributed.Client(scheduler, **({"timeout": timeout} if timeout else {}))
            except (OSError, TimeoutError, ValueError) as exc:
                raise SchedulerError(f"cannot reach the Dask scheduler at {scheduler} ({exc})") from None
            where = str(scheduler)
        try:
            info = self.client.run(_worker_info, renderer)
        except Exception as exc:  # noqa: BLE001 - any failure on the workers
            self.close()
            raise SchedulerError(f"the Dask workers at {where} cannot render documents ({exc})") from None
        if not info:
            self.close()
            raise SchedulerError(f"the Dask scheduler at {where} has no workers")
        mine = _worker_info()
        odd = {addr: v for addr, v in info.items() if v != mine}
        if odd:
            addr, v = next(iter(odd.items()))
            self.close()
            raise SchedulerError(f"Dask worker {addr} runs {v}, this process {mine}: outputs would differ; "
                                 "install the same versions on every worker")
        self.n_workers = len(info)
        n_desc = f"{self.n_workers} worker{'s' if self.n_workers != 1 else ''}"
        self.description = (f"local Dask cluster ({n_desc})" if where == "local" else f"Dask cluster ({where}, {n_desc})")

    def submit(self, record):
        return self.client.submit(call_renderer, self.renderer, record, pure=False)

    def wait(self, futures, timeout=None):
        import distributed

        try:
            res = distributed.wait(list(futures), timeout=timeout, return_when="FIRST_COMPLETED")
        except (TimeoutError, distributed.TimeoutError if hasattr(distributed, "TimeoutError") else TimeoutError):
            return set(), set(futures)
        return set(res.done), set(res.not_done)

    def worker_pids(self) -> list[int]:
        return sorted(self.client.run(os.getpid).values())

    def close(self, *, cancel: bool = False):
        try:
            if self._own_client:
                self.client.close()
        finally:
            if self._cluster is not None:
                self._cluster.close()


__all__ = ["InlineExecutor", "PoolExecutor", "DaskExecutor", "SchedulerError", "call_renderer", "usable_cpus"]
