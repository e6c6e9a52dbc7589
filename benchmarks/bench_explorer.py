"""The explorer at scale: file size and time to interactive in headless chromium (issue 26).

    PYTHONPATH=. python benchmarks/bench_explorer.py [--sizes 1000,10000] [--no-counterfactuals]

For each size: SYNTHETIC tenant-screening applications (examples/tenant_screening), the seeded
example model, ``explorer_data`` + ``explorer_html`` (build seconds), the file's bytes, and the
time to interactive: a driver script appended to the page records ``performance.now()`` when the
page's own script has finished (table filled, first decision and what-if panel drawn), taken
as the median of 3 loads of Debian's chromium (``--headless --dump-dom``). Goal: < 10 MB and
< 2 s for 10,000 decisions.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "documents"))

TTI_DRIVER = ("return {tti: performance.now(), ready: document.body.getAttribute('data-ready'), "
              "rows: document.querySelectorAll('#dec-body tr').length};")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000")
    ap.add_argument("--no-counterfactuals", action="store_true", help="skip the counterfactual search")
    ap.add_argument("--loads", type=int, default=3)
    args = ap.parse_args(argv)

    from _browser import CHROMIUM, run_page
    from examples.tenant_screening.data import NOTICE_COLUMNS, FEATURES, PROTECTED, make_applications
    from examples.tenant_screening.train import PACK, train
    from xai_reports.documents.explorer import explorer_data, explorer_html

    if CHROMIUM is None:
        print("chromium is not installed: no time-to-interactive figures")
    tmp = Path(tempfile.mkdtemp(prefix="bench-explorer-"))
    files = train(tmp / "example")["files"]
    print(f"| decisions | counterfactuals | build s | file MB | time to interactive s (median of {args.loads}) "
          f"| what-if in page |")
    print("|---|---|---|---|---|---|")
    for n in [int(s) for s in args.sizes.split(",")]:
        apps = make_applications(n, seed=1234)
        apps["application_id"] = [f"SYN-B-{i:06d}" for i in range(n)]
        path = tmp / f"apps_{n}.csv"
        apps[[c for c in NOTICE_COLUMNS + FEATURES + PROTECTED if c in apps.columns]].to_csv(path, index=False)
        t = time.perf_counter()
        data = explorer_data(files["model"], path, PACK, reference=files["reference"],
                             counterfactuals=not args.no_counterfactuals)
        html = explorer_html(data)
        build = time.perf_counter() - t
        mb = len(html.encode("utf-8")) / 1e6
        tti = "n/a"
        if CHROMIUM is not None:
            runs = []
            for k in range(args.loads):
                out, _ = run_page(html, TTI_DRIVER, tmp, name=f"e_{n}_{k}.html", timeout=300)
                assert out["ready"] == "1" and out["rows"] > 0, out
                runs.append(out["tti"] / 1000)
            tti = f"{statistics.median(runs):.2f} ({', '.join(f'{r:.2f}' for r in runs)})"
        print(f"| {n:,} | {'no' if args.no_counterfactuals else 'yes'} | {build:.1f} | {mb:.2f} | {tti} | "
              f"{'yes' if data['whatif']['model'] else 'no'} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
