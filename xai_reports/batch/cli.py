"""Command-line pieces shared by every command that runs on the batch engine (the
commands of the document kinds with a batch job in the kind registry: ``letters``,
``case-review``, ...): the batch options and the timing line."""

from __future__ import annotations

import argparse
import sys


def _workers(text):
    if text == "auto":
        return text
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'auto', got {text!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError("expected 0 or more")
    return n


def _chunk_size(text):
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of rows, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError("expected at least 1 row")
    return n


def add_batch_arguments(parser):
    """Add ``--chunk-size``, ``--workers``, ``--scheduler``, ``--resume/--no-resume`` to a subcommand.

    The parsed values map one to one onto :func:`~xai_reports.batch.run_batch`'s
    ``chunk_size``, ``workers``, ``scheduler`` and ``resume`` (see :func:`batch_kwargs`).

    Examples::

        >>> p = argparse.ArgumentParser(); _ = add_batch_arguments(p)
        >>> batch_kwargs(p.parse_args(["--workers", "4", "--no-resume"]))
        {'chunk_size': 1000, 'workers': 4, 'scheduler': None, 'resume': False}
    """
    g = parser.add_argument_group("batch", "large inputs, workers, clusters, resuming")
    g.add_argument("--chunk-size", type=_chunk_size, default=1000, metavar="ROWS",
                   help="rows read, checked and explained together; memory grows with it, not with the input "
                        "(default: 1000)")
    g.add_argument("--workers", type=_workers, default="auto", metavar="N",
                   help="warm worker processes rendering documents: 'auto' (one per CPU, at most 8; none for "
                        "inputs under 64 rows), 0 (this process), or N; with --scheduler local, the size of "
                        "the local Dask cluster")
    g.add_argument("--scheduler", metavar="ADDRESS",
                   help="plan and render on a Dask cluster: tcp://HOST:PORT of a running scheduler, or 'local' "
                        "to start a local one with --workers processes; the workers read the data (path or URL) "
                        "and write the output folder themselves, so both must be reachable from them")
    g.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                   help="skip documents a previous run of the same command finished (default); "
                        "--no-resume starts the batch over")
    return g


def batch_kwargs(args) -> dict:
    """The engine keyword arguments from parsed :func:`add_batch_arguments` options."""
    return {"chunk_size": args.chunk_size, "workers": args.workers, "scheduler": args.scheduler,
            "resume": args.resume}


def batch_line(res) -> str:
    """One line on what the engine did: documents, time, rate, where, resumed, restarts."""
    done = res.rendered + res.resumed
    rate = f" ({res.rendered / res.elapsed_s:,.1f} documents/s)" if res.rendered and res.elapsed_s else ""
    return (f"  {res.rendered} documents written in {res.elapsed_s:,.1f} s{rate}, {res.executor}"
            + (f"; {res.resumed} of {done} already done by an earlier run (resumed)" if res.resumed else "")
            + (f"; {res.restarts} worker restart(s)" if res.restarts else ""))


def print_batch_summary(summary, headline: str, notes=(), stream=None) -> None:
    """What a batch command prints at the end: the headline, the engine's timing line, one line per
    note (flagged or out-of-scope documents), then each row error on stderr."""
    stream = stream or sys.stdout
    print(headline, file=stream)
    res = getattr(summary, "batch", None)
    if res is not None:
        print(batch_line(res), file=stream)
    for note in notes:
        print(f"  {note}", file=stream)
    from ..errors import brief

    for e in summary.errors:  # one bounded line each, control characters escaped
        print(brief(f"  row error: {e['message']}", 300), file=sys.stderr)


INTERRUPTED = ("xai-reports: interrupted; the documents finished so far are kept. Run the same command again "
               "to finish the batch.")

__all__ = ["add_batch_arguments", "batch_kwargs", "batch_line", "print_batch_summary", "INTERRUPTED"]
