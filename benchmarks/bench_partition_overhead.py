"""Per-partition overheads of the worker path (``batch.cluster.plan_partition``), in CPU time of one process.

What a partition costs beyond its rows, measured without Dask (so without scheduling noise):

* the same 600 denied rows planned as 4 partitions of 150 rows and as 12 partitions of 50 (chunk size
  50 both ways): the difference is the per-partition setup (renderer, output folder, reader, limits);
* the job and the results as they travel (cloudpickle bytes: the job once per worker, the results once
  per partition);
* ``pack.describe()`` for 600 records, uncached (as before this change: paths resolved per record)
  and cached;
* reaching the last 2,000 rows of a 100,000-row CSV (a late worker's range) in chunks of 50: skipping
  in blocks of 50 rows (as before) and of 20,000 (now).

Usage::

    PYTHONPATH=. python benchmarks/bench_partition_overhead.py [--append]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--append", action="store_true")
    args = ap.parse_args(argv)
    import cloudpickle
    import pandas as pd
    import torch

    torch.set_num_threads(1)
    from bench_letters import _setup

    from examples.finance_hmda import load_hmda
    from xai_reports.batch import source as S
    from xai_reports.batch.cluster import plan_partition
    from xai_reports.documents.letter import LetterJob
    from xai_reports.packs.loader import _shown_file, pack_ref

    work = Path(tempfile.mkdtemp(prefix="xai-partition-"))
    setup = _setup(work, 600, [10])
    job = LetterJob(setup["model"], setup["denied"], "finance_hmda_example", decision_date="2026-11-20",
                    formats=("json",))

    def run(parts):
        out = Path(tempfile.mkdtemp(dir=work))
        t, size = time.process_time(), 0
        for i, (lo, hi) in enumerate(parts):
            size += len(cloudpickle.dumps(plan_partition(job, str(out), lo, hi, 50, frozenset(), frozenset(), i, "t")))
        return time.process_time() - t, size

    run([(0, 50)])  # warm
    big, small = [], []
    for _ in range(args.reps):  # interleaved
        big.append(run([(lo, lo + 150) for lo in range(0, 600, 150)]))
        small.append(run([(lo, lo + 50) for lo in range(0, 600, 50)]))
    pack = job.pack

    def uncached():
        return {"name": pack.spec.name, "version": pack.spec.version, "sha256": pack.sha256,
                "files": [_shown_file(f) for f in pack.files], "ref": pack_ref(pack)}

    desc_old, desc_new = [], []
    for _ in range(args.reps):
        t = time.process_time()
        for _ in range(600):
            uncached()
        desc_old.append(time.process_time() - t)
        t = time.process_time()
        for _ in range(600):
            pack.describe()
        desc_new.append(time.process_time() - t)

    frame = pd.concat([load_hmda()] * 42, ignore_index=True)
    csv = work / "big.csv"
    frame.to_csv(csv, index=False)
    src = S.TableSource(csv)
    src.columns()
    n = len(frame)
    skip = {50: [], 20_000: []}
    saved = S._SKIP_BLOCK
    for _ in range(args.reps):
        for block in skip:
            S._SKIP_BLOCK = block
            t = time.process_time()
            rows = sum(len(c) for c in src.chunks(50, start=n - 2000, stop=n))
            skip[block].append(time.process_time() - t)
            assert rows == 2000
    S._SKIP_BLOCK = saved
    load = os.getloadavg()
    best = min
    lines = [
        "",
        "## Per-partition overheads of the worker path (issue 22, `benchmarks/bench_partition_overhead.py`)",
        "",
        f"CPU time of one process (`time.process_time`, torch 1 thread), best of {args.reps} interleaved runs; "
        f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (2 shared cores).",
        "",
        "| what | measured |",
        "|---|---|",
        f"| 600 denied rows, JSON, as 4 partitions of 150 rows | {best(b[0] for b in big):.2f} s |",
        f"| the same rows as 12 partitions of 50 rows | {best(s[0] for s in small):.2f} s |",
        f"| per added partition | {(best(s[0] for s in small) - best(b[0] for b in big)) / 8 * 1000:+.0f} ms |",
        f"| job sent to each worker once (cloudpickle) | {len(cloudpickle.dumps(job)) / 1024:.0f} KiB |",
        f"| results sent to the driver, per document | {small[0][1] / 600:.0f} bytes |",
        f"| `pack.describe()` x 600 records, uncached (before) | {best(desc_old) * 1000:.0f} ms |",
        f"| `pack.describe()` x 600 records, cached (now) | {best(desc_new) * 1000:.1f} ms |",
        f"| last 2,000 rows of a {n:,}-row CSV in chunks of 50, skipping 50 rows at a time (before) | "
        f"{best(skip[50]):.2f} s |",
        f"| the same, skipping 20,000 rows at a time (now) | {best(skip[20_000]):.2f} s |",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.append:
        with open(REPO / "benchmarks" / "RESULTS.md", "a") as fh:
            fh.write(text)


if __name__ == "__main__":
    main()
