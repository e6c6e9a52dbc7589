"""Run the SYNTHETIC text case-review example: train, load from the folder, write sheets.

``OUT/<case>.html|json``: the single-sheet API (integrated gradients); ``OUT/sheets/``: the ``case-review``
batch for the text model (PDF with the record embedded, HTML, JSON, manifest; AttnLRP evidence), the same
as ``xai-reports case-review --pack healthcare --model OUT/model --data OUT/reports.csv --out OUT/sheets
--method text_lrp``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from xai_reports.adapters.transformers_text import load_text_model
from xai_reports.documents.case_review.text import render_text_sheet, text_case_record

from .reports import SYNTHETIC_NOTICE, generate
from .training import train


def run(out_dir, *, n_cases: int = 3, profile: str = "safe_harbor", batch: bool = True) -> list[Path]:
    out = Path(out_dir)
    folder = train(out / "model")
    model = load_text_model(folder)
    written = []
    for row in generate(n_cases, seed=99):
        ids = [row["name"], row["mrn"]]
        rec = text_case_record(model, row["text"], case_id=row["case_id"], profile=profile, identifiers=ids)
        rec["synthetic"] = SYNTHETIC_NOTICE
        html = render_text_sheet(rec, identifiers=ids, original=row["text"])
        (out / f"{row['case_id']}.html").write_text(html, encoding="utf-8")
        (out / f"{row['case_id']}.json").write_text(json.dumps(rec, indent=2, sort_keys=True), encoding="utf-8")
        written += [out / f"{row['case_id']}.html", out / f"{row['case_id']}.json"]
    if batch:
        import pandas as pd

        from xai_reports.documents.case_review.text_job import generate_text_case_reviews

        cases = [{"case_id": r["case_id"], "patient_name": r["name"], "mrn": r["mrn"], "report_text": r["text"]}
                 for r in generate(n_cases, seed=99)]
        pd.DataFrame(cases).to_csv(out / "reports.csv", index=False)
        summary = generate_text_case_reviews(folder, out / "reports.csv", "healthcare", out / "sheets",
                                             method="text_lrp", synthetic=SYNTHETIC_NOTICE)
        written += [out / "sheets" / name for name in summary.outputs]
    return written


if __name__ == "__main__":
    for p in run(sys.argv[1] if len(sys.argv) > 1 else "text-case-reviews"):
        print(p)
