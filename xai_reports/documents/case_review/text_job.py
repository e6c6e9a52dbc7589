"""Case-review sheets for a report-text model (``transformers`` folder): the batch, PDF included.

cases (CSV/Parquet: case id, identifier columns, report text) -> the text de-identified
under the print profile (names, dates, ids, and the row's own identifier values) ->
the model's finding and the words it rests on (:func:`.text.text_case_record`) ->
the pack's ``healthcare/case_review_text.html.j2`` -> HTML, PDF (JSON record embedded)
and JSON, every document searched for the row's identifiers before it is written ->
``summary.json`` and, last, ``manifest.json``.

The record is a case-review record (``document.kind: case_review``), so ``xai-reports
verify`` re-renders its PDF from the embedded record like any other sheet.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from pathlib import Path

from ...errors import InputError, PackError, PrivacyError
from ...io.outputs import canonical_json, safe_name
from ...io.storage import output_dir, write_output
from ...packs import load_pack
from ...render import template_fingerprint
from .job import FORMATS, CaseReviewSummary, render_case_review, software_versions
from .privacy import format_date, leak_check, resolve_profile
from .text import _leaks, _marked_text, text_case_record

TEXT_RECORD_SCHEMA = "xai-reports/case-review-text-record/1"
TEXT_TEMPLATE = "healthcare/case_review_text.html.j2"
TEXT_METHODS = {"text_integrated_gradients": "Integrated gradients on the token embeddings",
                "text_lrp": "AttnLRP: layer-wise relevance propagation through attention",
                "text_attention_rollout": "Attention rollout", "text_attention_flow": "Attention flow"}
LEGEND = ("a solid underline marks a word that supports the finding, a dashed underline one that speaks against "
          "it; bold marks the strongest (at least half the largest); the bracket after each marked word, [+n] or "
          "[-n], gives its rank and its direction (+ for, - against), as in the table below.")
CAVEAT = ("Decision support only: the finding and the marked words come from a statistical model and do not "
          "replace the clinician's reading of the report.")


def is_text_model_folder(model) -> bool:
    """Whether ``model`` names a ``transformers`` folder (``config.json`` inside)."""
    return isinstance(model, (str, Path)) and Path(model).is_dir() and (Path(model) / "config.json").is_file()


def _fmt(v: float) -> str:
    return f"{v:.2g}"


def _content(rec: dict, *, pack, prof_name, prof, date_text, adapter, synthetic) -> dict:
    hc = pack.spec.section("case_review")
    check = rec["self_check"]
    evidence = []
    for e in rec["evidence"]:
        sign = "+" if e["direction"] == "for" else "-"
        evidence.append({**e, "sign": sign, "strong": e["share"] >= 0.5,
                         "direction_text": "supports the finding" if sign == "+" else "against the finding",
                         "value_text": f"{e['value']:+.4f}", "share_text": f"{100 * e['share']:.0f}%"})
    pieces = _marked_text(rec["text"], evidence)
    return {"lang": "en", "site": hc.site, "title": "Clinician case-review sheet: report text",
            "case_id": rec["case_id"], "date": date_text,
            "profile": {"name": prof_name, "purpose": prof.purpose},
            "deidentified": prof.deidentification == "safe_harbor", "removed": rec["removed"],
            "caveat": CAVEAT, "synthetic": synthetic, "finding": rec["finding"],
            "probability": f"{rec['probability']:.2f}",
            "model": {"model_type": adapter.model.config.model_type, "labels": list(adapter.labels)},
            "pieces": pieces, "legend": LEGEND, "evidence": evidence, "truncated": rec["truncated"],
            "method": {"name": rec["method"], "title": TEXT_METHODS.get(rec["method"], rec["method"]),
                       "check_kind": check.get("kind"), "check_result": "passed" if check.get("passed") else "FAILED",
                       "error": _fmt(float(check.get("max_abs_error", 0.0))),
                       "tolerance": _fmt(float(check.get("tolerance", 0.0)))}}


class _Rows:
    """The checked rows of the cases file: id, identifier values, text (errors per row, never the values)."""

    def __init__(self, data, id_column: str, text_column: str, identifier_columns):
        import pandas as pd

        from ...io.tabular import read_table

        label = str(data) if isinstance(data, (str, Path)) else "data"
        frame = data if isinstance(data, pd.DataFrame) else read_table(data)
        for col, what in ((id_column, "the pseudonymous case id"), (text_column, "the report text")):
            if col not in frame.columns:
                raise InputError(f"missing column '{col}' ({what})", file=label, column=col)
        ids = frame[id_column].astype(str)
        dup = ids[ids.duplicated()]
        if len(dup):
            row = int(dup.index[0]) + 1
            raise InputError("duplicate case id", file=label, row=row, column=id_column)
        self.label, self.frame = label, frame
        self.id_column, self.text_column = id_column, text_column
        self.identifier_columns = [c for c in identifier_columns if c in frame.columns]


def generate_text_case_reviews(model, data, pack="healthcare", out_dir="case-reviews", *, profile: str | None = None,
                               text_column: str = "report_text", method: str = "text_integrated_gradients",
                               formats=FORMATS, timestamp: datetime | None = None, key: bytes | None = None,
                               synthetic: str | None = None, max_length: int = 256) -> CaseReviewSummary:
    """Write a case-review sheet for each report of ``data``, explained by the text model in folder ``model``.

    Args:
        model: a ``transformers`` folder (``config.json``, ``model.safetensors``, tokenizer).
        data: CSV/Parquet (or DataFrame) with the pack's ``columns.id``, the report text
            (``text_column``) and any identifier columns (removed from the text under Safe Harbor).
        pack, out_dir, profile, formats, timestamp, key: as :func:`~.job.generate_case_reviews`.
        method: ``text_integrated_gradients`` (default), ``text_lrp``, ``text_attention_rollout``
            or ``text_attention_flow``.
        synthetic: a notice printed on every sheet (synthetic data).

    Returns:
        :class:`~.job.CaseReviewSummary` (rows with no text, or whose documents the
        de-identification check refused, are listed in ``errors`` and get no files).
    """
    from ...adapters.transformers_text import load_text_model
    from ...integrity import RunManifest, signing_key

    pack = load_pack(pack)
    if not pack.spec.has_kind("case_review"):
        raise PackError(f"pack '{pack.spec.name}' writes {', '.join(pack.spec.kinds)}; case reviews need a pack "
                        "whose kinds include case_review", file=pack.files[-1], key_path="kinds")
    pack.require_section("case_review")
    prof_name, prof = resolve_profile(pack, profile)
    formats = tuple(formats)
    if not formats or any(f not in FORMATS for f in formats):
        raise InputError(f"unknown format(s) {list(formats)}; choose from {', '.join(FORMATS)}")
    if method not in TEXT_METHODS:
        raise InputError(f"unknown text method {method!r}; choose from {', '.join(TEXT_METHODS)}")
    adapter = load_text_model(model, max_length=max_length)
    template = template_fingerprint(TEXT_TEMPLATE, pack.template_dirs())
    key = key if key is not None else signing_key()
    id_columns = list(pack.spec.identifier_features())
    rows = _Rows(data, pack.spec.columns.id or "case_id", text_column, id_columns)
    when = (timestamp or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(microsecond=0)
    year_only = prof.dates == "year"
    created = datetime(when.year, 1, 1, tzinfo=timezone.utc) if year_only else when
    date_text = format_date(when.date(), prof)
    software = {**software_versions("text"), "transformers": __import__("transformers").__version__}
    safe = prof.deidentification == "safe_harbor"
    out = output_dir(out_dir)
    if isinstance(out, Path):
        out.mkdir(parents=True, exist_ok=True)
    errors, written = [], {}
    for i, raw in enumerate(rows.frame.to_dict("records")):
        row_no, case_id = i + 1, str(raw[rows.id_column])
        text = raw.get(rows.text_column)
        if not isinstance(text, str) or not text.strip():
            errors.append(InputError("missing report text", file=rows.label, row=row_no, column=rows.text_column,
                                     record_id=case_id).to_dict())
            continue
        idents = [str(raw[c]) for c in rows.identifier_columns if raw.get(c) is not None and str(raw[c]).strip()
                  and str(raw[c]) != "nan"]
        try:
            rec = text_case_record(adapter, text, case_id=case_id, profile=prof, identifiers=idents, method=method)
            record = {"schema": TEXT_RECORD_SCHEMA, "case_id": case_id,
                      "profile": {"name": prof_name, "purpose": prof.purpose, "deidentification": prof.deidentification,
                                  "dates": prof.dates},
                      "text": rec["text"], "removed": rec["removed"],
                      "prediction": {"finding": rec["finding"], "probability": rec["probability"]},
                      "explanation": {"method": rec["method"], "params": rec["params"], "self_check": rec["self_check"],
                                      "evidence": rec["evidence"], "truncated": rec["truncated"]},
                      "model": {"kind": "text", "model_type": adapter.model.config.model_type,
                                "labels": list(adapter.labels), "sha256": adapter.sha256},
                      "pack": pack.describe(), "software": software, "synthetic": synthetic,
                      "document": {"kind": "case_review", "template": template, "pdf_created": created.isoformat(),
                                   "content": _content({**rec, "case_id": case_id}, pack=pack, prof_name=prof_name,
                                                       prof=prof, date_text=date_text, adapter=adapter,
                                                       synthetic=synthetic)}}
            record["input_sha256"] = hashlib.sha256(canonical_json({"text": rec["text"]}).encode()).hexdigest()
            files = render_case_review(record, pack, formats=set(formats) | {"html", "json"})
            if safe:
                docs = {ext: files[ext].decode("utf-8") for ext in ("html", "json")}
                leak_check(docs, {c: raw.get(c) for c in rows.identifier_columns}, pack)
                _leaks(text, idents, docs)
        except PrivacyError as exc:
            errors.append(InputError(str(exc), file=rows.label, row=row_no, record_id=case_id).to_dict())
            continue
        stem = f"case_{safe_name(case_id)}"
        for ext in FORMATS:
            if ext in formats:
                write_output(out, f"{stem}.{ext}", files[ext])
                written[f"{stem}.{ext}"] = files[ext]
    sheets = len({n.rsplit(".", 1)[0] for n in written})
    summary = CaseReviewSummary(rows=len(rows.frame), sheets=sheets, profile=prof_name, model="text",
                                errors=errors, outputs=sorted(written))
    summary_bytes = canonical_json(summary.to_dict()).encode("utf-8")
    write_output(out, "summary.json", summary_bytes)
    manifest = RunManifest("case_reviews", software=software)
    manifest.add_input("data", rows.frame if not isinstance(data, (str, Path)) else data)
    manifest.inputs["model"] = {"name": Path(model).name, "sha256": adapter.sha256}
    manifest.add_pack(pack)
    manifest.add_template(template)
    for name, blob in written.items():
        manifest.add(name, blob)
    manifest.add("summary.json", summary_bytes)
    manifest.write(out_dir, key=key)
    return summary


__all__ = ["TEXT_METHODS", "TEXT_RECORD_SCHEMA", "TEXT_TEMPLATE", "generate_text_case_reviews",
           "is_text_model_folder"]
