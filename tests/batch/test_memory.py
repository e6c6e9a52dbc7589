"""Memory is bounded by the chunk size, not by the input (100,000 rows in a subprocess)."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
from batch_helpers import DATE, PYTHON, cli_env

CHILD = r"""
import json, sys, time
from xai_reports.documents.letter import generate_letters
t = time.perf_counter()
s = generate_letters(sys.argv[1], sys.argv[2], "finance_hmda_example", sys.argv[3], formats=["json"], decision_date=sys.argv[4],
                     chunk_size=1000, workers=0)
hwm = [int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")][0]
print(json.dumps({"rows": s.rows, "docs": s.letters + len(s.flagged), "errors": len(s.errors),
                  "peak_rss_mb": hwm / 1024, "seconds": time.perf_counter() - t}))
"""


def _run(batch_case, tmp_path, n_rows):
    rng = np.random.default_rng(n_rows)
    frame = batch_case["frame"]
    rows = frame.iloc[rng.integers(0, len(frame), n_rows)].copy()
    rows["applicant_id"] = [f"RS{i:06d}-{src}" for i, src in enumerate(rows["applicant_id"])]
    path = tmp_path / f"rows_{n_rows}.csv"
    rows.to_csv(path, index=False)
    # a fresh interpreter: its VmHWM is its own (ru_maxrss would carry the parent's across fork+exec)
    out = subprocess.run([PYTHON, "-c", CHILD, str(batch_case["model"]), str(path), str(tmp_path / f"out_{n_rows}"), DATE],
                         env=cli_env(), capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_100k_rows_stay_under_2_gb_and_do_not_grow_with_the_input(batch_case, tmp_path):
    small = _run(batch_case, tmp_path, 5_000)
    big = _run(batch_case, tmp_path, 100_000)
    print(f"\npeak RSS: {small['peak_rss_mb']:.0f} MB for 5,000 rows, {big['peak_rss_mb']:.0f} MB for 100,000 rows "
          f"({big['seconds']:.0f} s, {big['docs']} records)")
    assert big["rows"] == 100_000 and big["docs"] > 5_000 and big["errors"] == 0
    assert big["peak_rss_mb"] < 2048
    # 20x the rows: the peak moves by what the summary and the journal index keep per document
    # (ids, file names), not by the rows themselves.
    assert big["peak_rss_mb"] - small["peak_rss_mb"] < 150, (small, big)
