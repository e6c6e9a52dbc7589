"""Adverse-action letters for a batch of decisions: the end-to-end path.

data -> checked rows -> model -> TreeSHAP -> Reg B reasons -> letter content
-> HTML and PDF (with the JSON record embedded) + JSON record, per denied row,
and a summary of the batch.
"""

from __future__ import annotations

import math
import platform
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np

from ._version import __version__
from .adapters import load_model, wrap_model
from .attribution import explain
from .documents.letter import letter_content
from .errors import InputError, PackError, TemplateError
from .integrity import RunManifest, signing_key
from .outputs import atomic_write, canonical_json, inside, safe_name
from .packs import load_pack
from .reasons import build_reference, deny_probability, select_reasons
from .render import html_to_pdf, localized_template, render_template, template_fingerprint, template_search_path
from .tabular import check_frame, read_table

FORMATS = ("pdf", "html", "json")
RECORD_SCHEMA = "xai-reports/decision-record/1"


@dataclass
class BatchSummary:
    """What a batch did. ``exit_code`` is 0 when every row was handled, 3 when some rows failed."""

    rows: int = 0
    approved: int = 0
    denied: int = 0
    letters: int = 0
    flagged: list[dict] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 3 if self.errors else 0

    def to_dict(self) -> dict:
        return {"rows": self.rows, "approved": self.approved, "denied": self.denied,
                "letters_written": self.letters, "flagged_for_review": self.flagged,
                "row_errors": self.errors}


def software_versions() -> dict:
    import jinja2
    import pandas
    import weasyprint
    import xgboost

    return {"xai_reports": __version__, "python": platform.python_version(),
            "numpy": np.__version__, "pandas": pandas.__version__, "xgboost": xgboost.__version__,
            "jinja2": jinja2.__version__, "weasyprint": weasyprint.__version__}


def _jsonable(v):
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return None
    if isinstance(v, np.generic):
        return _jsonable(v.item())
    return v


def _model_features(adapter, pack) -> list[str]:
    names = adapter.feature_names
    if not names:
        raise PackError("the model does not carry feature names; pass feature_names= so they can be matched to the pack")
    undeclared = [f for f in names if f not in pack.features]
    if undeclared:
        raise PackError(f"the model uses feature(s) {undeclared} that pack '{pack.name}' does not declare",
                        file=pack.files[-1], key_path="features")
    return list(names)


def render_letter(record: dict, pack, *, formats=FORMATS, templates=None) -> dict[str, bytes]:
    """Render one decision record to its files (``{"html": ..., "pdf": ..., "json": ...}``).

    The letter is rendered from ``record["document"]`` alone, so a stored record
    regenerates the same letter (byte for byte: dates come from the record).

    Args:
        record: a decision record with a ``document`` (not a flagged one).
        pack: the loaded pack.
        formats: any of ``"html"``, ``"pdf"``, ``"json"``.
        templates: user template folder(s) searched before the pack's.

    Returns:
        ``{format: bytes}``. The PDF is PDF/A-3a + PDF/UA-1 with the JSON record
        embedded as ``record.json`` (relationship ``Data``).
    """
    doc = record["document"]
    dirs = template_search_path(pack.template_dirs(), templates)
    out: dict[str, bytes] = {}
    record_json = canonical_json(record).encode("utf-8")
    if "html" in formats or "pdf" in formats:
        html = render_template(doc["template"]["name"], {"doc": doc["content"], "record": record}, dirs)
        if "html" in formats:
            out["html"] = html.encode("utf-8")
        if "pdf" in formats:
            created = datetime.fromisoformat(doc["content"]["date"]).replace(tzinfo=timezone.utc)
            out["pdf"] = html_to_pdf(html, base_dir=dirs[-1], allowed_dirs=list(dirs), created=created,
                                     attachments=[("record.json", record_json, "Decision record (JSON)")])
    if "json" in formats:
        out["json"] = record_json
    return out


def letter_template(pack, lang: str, dirs) -> str | None:
    """The letter template for ``lang``: the pack's ``templates["letter.<lang>"]``, else
    ``<letter stem>.<lang>.html.j2`` found in the template folders, else (English) the
    pack's ``letter``. ``None`` when the pack has no template in that language."""
    base = pack.templates.get("letter")
    explicit = pack.templates.get(f"letter.{lang}")
    if explicit:
        return explicit
    if not base:
        return None
    name = localized_template(base, lang, dirs)
    return name if (name != base or lang == "en") else None


def rerender_letter(record: dict, *, pack=None, templates=None, formats=("pdf",)) -> dict[str, bytes]:
    """The files a letter record renders to now (used by ``xai-reports verify``).

    Raises:
        TemplateError: the templates differ from the version the record names.
    """
    pack = load_pack(pack or record["pack"]["name"])
    tpl = record["document"]["template"]
    now = template_fingerprint(tpl["name"], template_search_path(pack.template_dirs(), templates))
    if now["sha256"] != tpl["sha256"]:
        raise TemplateError(f"template '{tpl['name']}' differs from the recorded version "
                            "(pass the pack and --templates used to write it)")
    return render_letter(record, pack, formats=formats, templates=templates)


def generate_letters(model, data, pack="finance", out_dir="letters", *, reference=None,
                     id_column: str | None = None, formats=FORMATS, decision_date: str | None = None,
                     language: str | None = None, model_name: str | None = None,
                     progress: bool = False, templates=None, key: bytes | None = None) -> BatchSummary:
    """Write an adverse-action letter for each row the model denies.

    Args:
        model: a model file path (XGBoost JSON/UBJ) or a model object / adapter.
        data: a CSV/Parquet path or a DataFrame of applications.
        pack: pack name or path, or a loaded pack.
        out_dir: output folder; one ``letter_<id>.{pdf,html,json}`` per denied row
            plus ``summary.json``.
        reference: reference population rows (path or DataFrame) for the pack's
            ``reference_population``; ``None`` uses the model's training baseline.
        id_column: column with decision ids (default: the pack's ``columns.id``).
        formats: any of ``"pdf"``, ``"html"``, ``"json"``.
        decision_date: ISO date printed on letters when the data has no
            ``columns.decision_date`` column (default: today, recorded in the record).
        language: force a language for every letter (else the row's
            ``columns.language`` value, else the pack's language).
        templates: user template folder(s) searched before the pack's, to
            override single blocks (letterhead, footer, wording).
        key: HMAC key signing ``manifest.json`` (default: ``signing_key()``,
            i.e. ``$XAI_REPORTS_SIGNING_KEY`` / ``$XAI_REPORTS_SIGNING_KEY_FILE``).

    Writes ``manifest.json`` last: SHA-256 of every output, the data, model,
    pack and templates (see :mod:`xai_reports.integrity`).

    Returns:
        :class:`BatchSummary`. Rows with bad values are reported in it (and in
        ``summary.json``); the other rows still get their letters.

    Raises:
        InputError, PackError, ModelLoadError: file-level problems, before
            anything is written.
    """
    pack = load_pack(pack)
    if pack.spec.domain != "finance":
        raise PackError(f"pack '{pack.name}' is a {pack.spec.domain} pack; letters need a finance pack")
    formats = tuple(formats)
    bad_fmt = [f for f in formats if f not in FORMATS]
    if bad_fmt or not formats:
        raise InputError(f"unknown format(s) {bad_fmt}; choose from {', '.join(FORMATS)}")
    dirs = template_search_path(pack.template_dirs(), templates)
    key = key if key is not None else signing_key()
    template_name = pack.templates.get("letter")
    if not template_name and ("pdf" in formats or "html" in formats):
        raise PackError("the pack declares no 'letter' template", file=pack.files[-1], key_path="templates.letter")
    if isinstance(model, (str, Path)):
        model_label = model_name or Path(model).name
        adapter = load_model(model)
    else:
        adapter = wrap_model(model)
        model_label = model_name or type(adapter.model).__name__
    features = _model_features(adapter, pack)

    source = str(data) if isinstance(data, (str, Path)) else "<DataFrame>"
    df = read_table(data) if isinstance(data, (str, Path)) else data.astype(object)
    checked = check_frame(df, pack, features, source=source, id_column=id_column)
    ref_X = None
    if reference is not None:
        ref_source = str(reference) if isinstance(reference, (str, Path)) else "<reference DataFrame>"
        ref_df = read_table(reference) if isinstance(reference, (str, Path)) else reference.astype(object)
        ref_checked = check_frame(ref_df, pack, features, source=ref_source,
                                  allowed_extra=[c for c in ref_df.columns if c not in pack.features])
        if ref_checked.errors:
            raise ref_checked.errors[0]
        ref_X = ref_checked.X
    ref = build_reference(adapter, ref_X, pack, method=pack.explanation.method, options=pack.explanation.options)

    summary = BatchSummary(rows=len(df))
    summary.errors = [e.to_dict() for e in checked.errors]
    fin = pack.finance
    X = checked.X
    p_deny = deny_probability(adapter, X, pack) if len(X) else np.empty(0)
    denied = p_deny >= fin.decision.threshold
    summary.denied = int(denied.sum())
    summary.approved = int(len(X) - denied.sum())

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    today = decision_date or date.today().isoformat()
    lang_templates = {lg: letter_template(pack, lg, dirs) for lg in pack.languages}
    untranslated = {lg: pack.spec.missing_translations(lg) for lg in pack.languages}
    fingerprints = {lg: template_fingerprint(n, dirs) for lg, n in lang_templates.items() if n}
    software = software_versions()
    model_desc = {**adapter.describe(), "name": model_label}
    manifest = RunManifest("adverse_action_letters", software=software)
    manifest.add_input("data", data)
    manifest.add_input("reference", reference)
    manifest.add_model(adapter, path=model if isinstance(model, (str, Path)) else None, name=model_label)
    manifest.add_pack(pack)
    for fp in fingerprints.values():
        manifest.add_template(fp)
    idx = np.flatnonzero(denied)
    attr = explain(adapter, X.iloc[idx], method=pack.explanation.method,
                   tolerance=pack.explanation.additivity_tolerance, **pack.explanation.options) if len(idx) else None
    cols = pack.spec.columns
    iterator = range(len(idx))
    if progress:
        from rich.progress import Progress

        prog = Progress(transient=False)
        prog.start()
        task = prog.add_task("letters", total=len(idx))
    try:
        for k in iterator:
            i = int(idx[k])
            raw = {c: _jsonable(v) for c, v in checked.raw.iloc[i].to_dict().items()}
            decision_id = checked.ids[i]
            result = select_reasons(attr, k, ref, pack, values=X.iloc[i].to_dict())
            lang = language or (str(raw.get(cols.language) or "").strip() if cols.language else "") or pack.language
            if lang not in pack.languages or untranslated[lang] or (lang_templates[lang] is None and
                                                                   set(formats) & {"pdf", "html"}):
                why = ("not offered by the pack" if lang not in pack.languages else
                       f"is incomplete in the pack (no translation for {', '.join(untranslated[lang][:3])}"
                       f"{' and more' if len(untranslated[lang]) > 3 else ''})" if untranslated[lang] else
                       "has no letter template")
                summary.errors.append(InputError(f"language {lang!r} {why} ({pack.languages})",
                                                 file=source, row=int(checked.raw.index[i]) + 1,
                                                 column=cols.language, record_id=decision_id).to_dict())
                continue
            when = str(raw.get(cols.decision_date) or "").strip() if cols.decision_date else ""
            try:
                when = date.fromisoformat(when[:10]).isoformat() if when else today
            except ValueError:
                summary.errors.append(InputError(f"expected an ISO date (YYYY-MM-DD), got {when!r}", file=source,
                                                 row=int(checked.raw.index[i]) + 1, column=cols.decision_date,
                                                 record_id=decision_id).to_dict())
                continue
            record = {
                "schema": RECORD_SCHEMA,
                "decision_id": decision_id,
                "decision_date": when,
                "inputs": raw,
                "model": model_desc,
                "pack": pack.describe(),
                "prediction": {"p_deny": float(p_deny[i]), "margin": float(attr.predictions[k]),
                               "threshold": fin.decision.threshold, "decision": "deny"},
                "explanation": {
                    "method": attr.method, "params": attr.params, "output": attr.output,
                    "base_value": float(attr.base_values[k]),
                    "attributions": dict(zip(attr.feature_names, map(float, attr.values[k]))),
                    "self_check": {"kind": attr.self_check.get("kind"),
                                   "error": float(attr.self_check["per_row"][k]),
                                   "tolerance": attr.self_check.get("tolerance")},
                },
                "reference_population": ref.to_dict(),
                "reasons": {
                    "method": "Reg B comment 9(b)(2)-5: push toward denial relative to the reference "
                              "population's mean attribution, summed per reason statement",
                    "chosen": result.reasons, "flagged_for_review": result.flagged,
                    "flag_reason": result.flag_reason, "factor_scores": result.factor_scores,
                    "max_reasons": fin.max_reasons,
                },
                "software": software,
            }
            base = f"letter_{safe_name(decision_id)}"
            if any(f"{base}.{e}" in manifest.outputs for e in FORMATS):
                summary.errors.append(InputError(f"another id in this batch is written as {base}.*", file=source,
                                                 row=int(checked.raw.index[i]) + 1, column=cols.id,
                                                 record_id=decision_id).to_dict())
                continue
            if result.flagged:
                record["document"] = None
                summary.flagged.append({"id": decision_id, "reason": result.flag_reason})
                files = {"json": canonical_json(record).encode()} if "json" in formats else {}
            else:
                record["document"] = {
                    "kind": "adverse_action_letter", "template": fingerprints.get(lang), "language": lang,
                    "content": letter_content(pack=pack, decision_id=decision_id, raw_row=raw, reasons=result,
                                              decision_date=when, language=lang),
                }
                files = render_letter(record, pack, formats=formats, templates=templates)
                summary.letters += 1
            for ext, data_bytes in files.items():
                target = inside(out, f"{base}.{ext}")
                atomic_write(target, data_bytes)
                manifest.add(target.name, data_bytes)
                summary.outputs.append(target.name)
            if progress:
                prog.advance(task)
    finally:
        if progress:
            prog.stop()
    summary_bytes = canonical_json(summary.to_dict()).encode("utf-8")
    atomic_write(out / "summary.json", summary_bytes)
    manifest.add("summary.json", summary_bytes)
    manifest.write(out, key=key)
    return summary


def regenerate(record_path, out_dir, *, pack=None, formats=("pdf", "html"), templates=None) -> list[Path]:
    """Re-render a letter from its JSON record; the template must be the recorded version."""
    import json

    record = json.loads(Path(record_path).read_text(encoding="utf-8"))
    if record.get("document") is None:
        raise InputError("this decision was flagged for human review; it has no letter to regenerate",
                         file=record_path)
    pack = load_pack(pack or record["pack"]["name"])
    tpl = record["document"]["template"]
    now = template_fingerprint(tpl["name"], template_search_path(pack.template_dirs(), templates))
    if now["sha256"] != tpl["sha256"]:
        changed = sorted(k for k in set(now["files"]) | set(tpl["files"]) if now["files"].get(k) != tpl["files"].get(k))
        raise InputError(f"template changed since the letter was written ({', '.join(changed)}); "
                         "regenerate with the recorded template version", file=record_path)
    files = render_letter(record, pack, formats=formats, templates=templates)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for ext, data in files.items():
        target = inside(out, f"letter_{safe_name(record['decision_id'])}.{ext}")
        atomic_write(target, data)
        written.append(target)
    return written


