"""Font subsetting: HarfBuzz-Subset against WeasyPrint's fontTools fallback, on the demo's letters.

Run:  make demo   (or: xai-reports demo --out xai-reports-demo)
      PYTHONPATH=. python benchmarks/bench_subsetter.py [--letters xai-reports-demo/letters] [--rounds 3]

Re-renders the letters' PDFs from their JSON records with each subsetter, in one warm process, and
prints documents/s (median of rounds), the mean PDF size, and whether a second render one second
later gives the same bytes. Both rows go through xai_reports' html_to_pdf (PDF/A-3a + PDF/UA-1,
record embedded); only ``font_subsetter=`` differs, so the difference is the subsetting alone.
The fontTools row is what a machine without libharfbuzz-subset0 gets.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--letters", default="xai-reports-demo/letters")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    from xai_reports.documents.letter import render_letter
    from xai_reports.packs import load_recorded_pack
    from xai_reports.render import font_subsetter

    records = [json.loads(p.read_text()) for p in sorted(Path(args.letters).glob("letter_*.json"))]
    records = [r for r in records if r.get("document")]
    if not records:
        sys.exit(f"no letter records in {args.letters}: run `make demo` first")
    pack = load_recorded_pack(records[0]["pack"])
    here = font_subsetter()
    print(f"{len(records)} letters from {args.letters}; this machine: {here}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    rows = []
    for name in ("harfbuzz-subset", "fonttools"):
        if name == "harfbuzz-subset" and not here.startswith(name):
            rows.append((name, None, None, None))
            continue
        recs = [{**r, "software": {**r["software"], "font_subsetter": name}} for r in records]

        def render_all():
            return [render_letter(r, pack, formats=("pdf",))["pdf"] for r in recs]

        first = render_all()  # warm-up (fonts, caches)
        rates = []
        for _ in range(args.rounds):
            t = time.perf_counter()
            render_all()
            rates.append(len(recs) / (time.perf_counter() - t))
        time.sleep(1.1)
        same = render_all() == first
        rows.append((name, statistics.median(rates), sum(map(len, first)) / len(first), same))
    print(f"\n| subsetter | documents/s (1 process) | mean PDF bytes | same bytes 1 s later |")
    print("|---|---|---|---|")
    for name, rate, size, same in rows:
        if rate is None:
            print(f"| {name} | not installed here | | |")
        else:
            print(f"| {name} | {rate:.1f} | {size:,.0f} | {'yes' if same else 'NO'} |")


if __name__ == "__main__":
    main()
