"""What the archival/accessible/confined PDF costs, next to plain WeasyPrint, and what verify costs.

Run:  PYTHONPATH=. python benchmarks/bench_documents.py [--letters 20]

Prints one table (median seconds per letter, warm process) and appends nothing by itself; copy the
table into benchmarks/RESULTS.md under "Documents (issue 5)".

Rows:
  html (Jinja)                 render_template of the letter (sandbox, autoescape, self-contained check)
  pdf: plain WeasyPrint        weasyprint.HTML(string).write_pdf() - the reference: no variant, no record,
                               default (unconfined) fetcher
  pdf: xai-reports PDF/A-3a+UA html_to_pdf: tagged PDF/A-3a + PDF/UA-1, record embedded, fetcher, finisher
  pdf: xai-reports PDF/A-3b    the same, untagged
  verify --quick               manifest hash + embedded record vs .json, per letter
  verify (re-render)           the above plus re-rendering PDF and HTML from the record
  page-validation 3a / ua1     the conformance checker used by the tests
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def timeit(fn, n):
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--letters", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    import weasyprint
    import xgboost as xgb

    from xai_reports import generate_letters
    from examples.finance_hmda import FEATURES, PROTECTED, load_hmda
    from xai_reports.integrity import verify
    from xai_reports.documents.letter import render_letter
    from xai_reports.packs import load_pack
    from xai_reports.render import html_to_pdf, render_template, template_search_path
    from xai_reports.io.tabular import encode_like_pack

    tmp = Path(tempfile.mkdtemp(prefix="bench-docs-"))
    pack = load_pack("finance_hmda_example")
    df = load_hmda()
    X = encode_like_pack(df[["applicant_id"] + FEATURES], pack, FEATURES)
    model = xgb.XGBClassifier(n_estimators=60, max_depth=3, enable_categorical=True, tree_method="hist",
                              random_state=0, n_jobs=1).fit(X, df["deny"])
    model.get_booster().save_model(str(tmp / "m.json"))
    order = model.predict_proba(X)[:, 1].argsort()[::-1][: args.letters]
    apps = df.iloc[order][["applicant_id"] + FEATURES + PROTECTED].copy()
    apps.insert(1, "decision_date", "2026-03-14")
    apps.to_csv(tmp / "apps.csv", index=False)
    df.iloc[::16][["applicant_id"] + FEATURES + PROTECTED].to_csv(tmp / "ref.csv", index=False)
    t = time.perf_counter()
    generate_letters(tmp / "m.json", tmp / "apps.csv", pack, tmp / "out", reference=tmp / "ref.csv")
    batch = time.perf_counter() - t
    records = [json.loads(p.read_text()) for p in sorted((tmp / "out").glob("letter_*.json"))]
    rec = records[0]
    dirs = template_search_path(pack.template_dirs())
    ctx = {"doc": rec["document"]["content"], "record": rec}
    html = render_template(rec["document"]["template"]["name"], ctx, dirs)
    when = datetime(2026, 3, 14, tzinfo=timezone.utc)
    att = [("record.json", (tmp / "out" / f"letter_{rec['decision_id']}.json").read_bytes(), "Decision record")]
    pdf_path = tmp / "one.pdf"
    pdf_path.write_bytes(render_letter(rec, pack, formats=("pdf",))["pdf"])
    one = tmp / "out" / f"letter_{rec['decision_id']}.pdf"
    import page

    rows = [
        ("html (Jinja)", timeit(lambda: render_template(rec["document"]["template"]["name"], ctx, dirs), args.repeat)),
        ("pdf: plain WeasyPrint (reference)", timeit(lambda: weasyprint.HTML(string=html).write_pdf(), args.repeat)),
        ("pdf: xai-reports PDF/A-3a + UA-1", timeit(lambda: html_to_pdf(html, base_dir=dirs[-1], allowed_dirs=list(dirs),
                                                                        created=when, attachments=att), args.repeat)),
        ("pdf: xai-reports PDF/A-3b", timeit(lambda: html_to_pdf(html, base_dir=dirs[-1], allowed_dirs=list(dirs),
                                                                 created=when, attachments=att,
                                                                 variant="pdf/a-3b"), args.repeat)),
        ("verify --quick (per letter)", timeit(lambda: verify(tmp / "out", rerender=False), 3) / len(records)),
        ("verify, re-render (per letter)", timeit(lambda: verify(one), args.repeat)),
        ("page-validation 3a", timeit(lambda: page.validate_pdf(str(pdf_path), profile="3a"), args.repeat)),
        ("page-validation ua1", timeit(lambda: page.validate_pdf(str(pdf_path), profile="ua1"), args.repeat)),
    ]
    print(f"{len(records)} letters; whole batch (model, TreeSHAP, reasons, 3 files each, manifest): {batch:.2f} s")
    print(f"| step | median s per letter |\n|---|---|")
    for name, s in rows:
        print(f"| {name} | {s:.3f} |")


if __name__ == "__main__":
    main()
