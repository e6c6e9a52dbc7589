"""Adverse-action letters for a batch of decisions: the end-to-end path (the letter kind's batch job).

data -> checked rows -> model -> TreeSHAP -> Reg B reasons -> letter content
-> HTML and PDF (with the JSON record embedded) + JSON record, per denied row,
and a summary of the batch.
"""

from __future__ import annotations

import math
import platform
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from ..._version import __version__
from ...adapters import load_model, wrap_model
from ...attribution import explain
from ...batch import BatchJob, ChunkPlan, Doc, RunSummary, TableSource, run_batch
from ...errors import InputError, PackError
from ...integrity import RunManifest, signing_key
from ...io.outputs import canonical_json, safe_name
from ...io.storage import fetch_to_local, is_remote, output_dir, scrub, write_output
from ...packs import load_pack
from .reasons import build_reference, deny_probability, select_reasons
from ...render import renderer_software, template_fingerprint, template_search_path
from ...io.tabular import check_frame, read_table
from .content import letter_content
from .render import FORMATS, LetterRenderer, letter_template

RECORD_SCHEMA = "xai-reports/decision-record/1"


@dataclass
class BatchSummary(RunSummary):
    """What a letters batch did (``rows``, ``errors``, ``outputs``, ``batch``, ``exit_code``: see
    :class:`~xai_reports.batch.RunSummary`)."""

    approved: int = 0
    denied: int = 0
    letters: int = 0
    flagged: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"rows": self.rows, "approved": self.approved, "denied": self.denied,
                "letters_written": self.letters, "flagged_for_review": self.flagged,
                "row_errors": self.errors}


def software_versions() -> dict:
    from importlib.metadata import version

    import jinja2
    import pandas
    import xgboost

    return {"xai_reports": __version__, "python": platform.python_version(),
            "numpy": np.__version__, "pandas": pandas.__version__, "xgboost": xgboost.__version__,
            "jinja2": jinja2.__version__, "weasyprint": version("weasyprint"), **renderer_software()}


def _jsonable(v):
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return None
    if isinstance(v, np.generic):
        return _jsonable(v.item())
    if v is pd.NaT or v is pd.NA:
        return None
    if hasattr(v, "isoformat"):  # dates and timestamps from Parquet
        return v.isoformat()
    return v


def declared_model_features(adapter, pack, model_file=None) -> list[str]:
    """The model's features, each declared by the pack with the type the model was trained on
    (letters and the audit refuse a model using a column the pack does not declare).

    Raises:
        PackError: no feature names, or a feature the pack does not declare.
        InputError: a feature the model takes as categorical that the pack declares numeric, or the reverse.
    """
    from ...io.tabular import check_model_types

    names = adapter.feature_names
    if not names:
        raise PackError("the model does not carry feature names; pass feature_names= so they can be matched to the pack")
    undeclared = [f for f in names if f not in pack.features]
    if undeclared:
        raise PackError(f"the model uses feature(s) {undeclared} that pack '{pack.name}' does not declare",
                        file=pack.files[-1], key_path="features")
    check_model_types(adapter, pack, names, model_file=model_file)
    return list(names)


def refuse_protected_inputs(features, pack) -> None:
    """Refuse a model that uses a protected attribute the pack does not declare a lawful use for.

    A protected attribute left out of the reasons while the model uses it would
    hide a principal reason (Reg B comment 9(b)(2)-4), so such a run stops
    before anything is written. With ``lawful_use`` (its legal basis, e.g. age
    in an empirically derived, demonstrably and statistically sound system,
    12 CFR 1002.2(p), 1002.6(b)(2)) the attribute is a feature like any other.

    Raises:
        PackError: naming the attribute and the pack file.
    """
    for f in features:
        fs = pack.features.get(f)
        if fs is not None and not fs.lawful_input():
            raise PackError(
                f"the model uses protected attribute '{f}' ({fs.label}); refused: declare its lawful use with the "
                f"legal basis (features.{f}.lawful_use: basis, citations) or retrain without it",
                file=pack.files[-1], key_path=f"features.{f}")


def _explain_options(adapter, ref_X, pack) -> dict:
    """The pack's explanation options plus, for methods that explain against a population
    (``linear``, ``shapley``, ``kernel_shap``, ``auto`` on a non-tree model), the reference rows as background."""
    from ...attribution.auto import background_options
    from ...errors import ExplanationError

    ex = pack.explanation
    try:
        return {**background_options(ex.method, adapter, ref_X), **ex.options}
    except ExplanationError as exc:
        raise InputError(str(exc)) from None

class LetterJob(BatchJob):
    """The letters batch: rows -> checked inputs -> P(deny) -> TreeSHAP -> reasons -> records.

    Constructing it does every file-level check (pack, formats, template,
    model, the data file's header, row count and decision ids, the reference
    data) and raises before anything is written. :meth:`plan` handles one
    chunk with one model call and one batched attribution call;
    :meth:`build_record` builds one denied row's decision record.

    Args: as :func:`generate_letters`.

    Examples::

        >>> job = LetterJob("model.json", "applications.csv", "finance", decision_date="2026-11-20")
        >>> run_batch(job, "letters", workers=2).kinds
        Counter({'letter': 1873, 'flagged': 4})
    """

    name = "letters"

    def __init__(self, model, data, pack="finance", *, reference=None, id_column: str | None = None,
                 formats=FORMATS, decision_date: str | None = None, language: str | None = None,
                 model_name: str | None = None, templates=None, key: bytes | None = None):
        pack = load_pack(pack)
        if not pack.spec.has_kind("letter"):
            raise PackError(f"pack '{pack.name}' does not write letters (kinds: {', '.join(pack.spec.kinds)}); "
                            "letters need a pack with 'letter' under kinds", file=pack.files[-1], key_path="kinds")
        pack.require_section("letter")
        pack.require_complete("letter")
        formats = tuple(formats)
        bad_fmt = [f for f in formats if f not in FORMATS]
        if bad_fmt or not formats:
            raise InputError(f"unknown format(s) {bad_fmt}; choose from {', '.join(FORMATS)}")
        self.templates = templates
        self.dirs = template_search_path(pack.template_dirs(), templates)
        self.key = key if key is not None else signing_key()
        self.summary: BatchSummary | None = None
        template_name = pack.templates.get("letter")
        if not template_name and ("pdf" in formats or "html" in formats):
            raise PackError("the pack declares no 'letter' template", file=pack.files[-1],
                            key_path="templates.letter")
        if decision_date is not None:
            try:
                decision_date = date.fromisoformat(str(decision_date)).isoformat()
            except ValueError:
                raise InputError(f"expected an ISO date (YYYY-MM-DD) for the notice date, got {decision_date!r}") from None
        if isinstance(model, (str, Path)):
            model_label = model_name or Path(str(model).split("?", 1)[0]).name
            adapter = load_model(fetch_to_local(model) if is_remote(model) else model)
        else:
            adapter = wrap_model(model)
            model_label = model_name or type(adapter.model).__name__
        self.model_path = model if isinstance(model, (str, Path)) else None
        self.reference_source = reference
        self.pack, self.formats, self.adapter = pack, formats, adapter
        self.features = declared_model_features(adapter, pack, self.model_path)
        refuse_protected_inputs(self.features, pack)
        self.id_column = id_column or pack.spec.columns.id
        self.language = language

        self.source = TableSource(data)
        # file-level errors, in this order: unreadable or empty file, missing / undeclared columns, duplicate ids
        scan = self.source.scan(id_column=self.id_column, raise_duplicates=False)
        check_frame(pd.DataFrame(columns=scan.columns), pack, self.features, source=self.source.label,
                    id_column=id_column)
        scan.raise_duplicate()

        ref_X = None
        if reference is not None:
            ref_source = scrub(reference) if isinstance(reference, (str, Path)) else "<reference DataFrame>"
            ref_df = read_table(reference) if isinstance(reference, (str, Path)) else reference.astype(object)
            ref_checked = check_frame(ref_df, pack, self.features, source=ref_source,
                                      allowed_extra=[c for c in ref_df.columns if c not in pack.features])
            if ref_checked.errors:
                raise ref_checked.errors[0]
            ref_X = ref_checked.X
        self.ref_X = ref_X  # typed reference rows (or None): also a fixed background for per-chunk searches
        # counterfactual searches need the same background in every chunk (so chunking changes no byte):
        # the reference rows, else the data's first rows
        self.cf_background, self.cf_background_label = ref_X, "the reference population"
        if ref_X is None and pack.spec.counterfactuals.enabled:
            first = next(self.source.chunks(2000), None)
            if first is not None and len(first):
                self.cf_background = check_frame(first, pack, self.features, source=self.source.label,
                                                 id_column=self.id_column).X
                self.cf_background_label = f"the first {len(self.cf_background):,} valid rows of the data"
        self.ref = build_reference(adapter, ref_X, pack, method=pack.explanation.method,
                                   options=pack.explanation.options)
        self.explain_options = _explain_options(adapter, ref_X, pack)
        self.lang_templates = {lg: letter_template(pack, lg, self.dirs) for lg in pack.languages}
        self.untranslated = {lg: pack.spec.missing_translations(lg) for lg in pack.languages}
        self.fingerprints = {lg: template_fingerprint(n, self.dirs) for lg, n in self.lang_templates.items() if n}
        self.software = software_versions()
        self.model_desc = {**adapter.describe(), "name": model_label}
        self.decision_date = decision_date
        self.today = decision_date or date.today().isoformat()

    # -- engine interface ---------------------------------------------------------------
    def fingerprint(self) -> dict:
        return {"record_schema": RECORD_SCHEMA, "model": self.model_desc, "pack": self.pack.describe(),
                "templates": {lg: fp["sha256"] for lg, fp in sorted(self.fingerprints.items())},
                "data": self.source.fingerprint(),
                "reference_population": self.ref.to_dict(), "software": self.software,
                "options": {"formats": list(self.formats), "id_column": self.id_column,
                            "decision_date": self.decision_date, "language": self.language}}

    def doc_key(self, decision_id: str) -> str:
        """The file stem a row with this id is written as (lets workers plan partitions on their own)."""
        return f"letter_{safe_name(decision_id)}"

    def pinned(self) -> dict:
        return {"decision_date": self.today}

    def pin(self, values: dict) -> None:
        self.today = values.get("decision_date") or self.today

    def renderer(self) -> LetterRenderer:
        return LetterRenderer(self.pack, self.formats, self.templates)

    def finish(self, result, out_dir) -> None:
        """Write ``summary.json`` and ``manifest.json`` (every output, resumed ones included; signed
        when a key is set) and keep the :class:`BatchSummary` in :attr:`summary`."""
        summary = BatchSummary(rows=result.rows, approved=result.counts.get("approved", 0),
                               denied=result.counts.get("denied", 0), letters=result.kinds.get("letter", 0),
                               flagged=result.notes, errors=result.errors, outputs=result.outputs, batch=result)
        out = output_dir(out_dir)
        summary_bytes = canonical_json(summary.to_dict()).encode("utf-8")
        write_output(out, "summary.json", summary_bytes)
        manifest = self.manifest()
        manifest.outputs.update(result.files)
        manifest.add("summary.json", summary_bytes)
        manifest.write(out, key=self.key)
        self.summary = summary

    def manifest(self) -> RunManifest:
        """The run manifest's inputs (data, reference, model, pack, templates); outputs are added by the caller."""
        manifest = RunManifest("adverse_action_letters", software=self.software)
        data = self.source.reference() if self.source.frame is None else self.source.frame
        manifest.add_input("data", data)
        manifest.add_input("reference", self.reference_source)
        manifest.add_model(self.adapter, path=self.model_path, name=self.model_desc["name"])
        manifest.add_pack(self.pack)
        for fp in self.fingerprints.values():
            manifest.add_template(fp)
        return manifest

    def plan(self, chunk: pd.DataFrame) -> ChunkPlan:
        """Check one chunk, score it, explain its denied rows in one batched call, build their records."""
        checked = check_frame(chunk, self.pack, self.features, source=self.source.label,
                              id_column=self.id_column, row_offset=int(chunk.index[0]) if len(chunk) else 0)
        plan = ChunkPlan(rows=len(chunk), errors=[e.to_dict() for e in checked.errors])
        X = checked.X
        p_deny = deny_probability(self.adapter, X, self.pack) if len(X) else np.empty(0)
        denied = p_deny >= self.pack.spec.section("letter").decision.threshold
        plan.counts = {"denied": int(denied.sum()), "approved": int(len(X) - denied.sum())}
        idx = np.flatnonzero(denied)
        if not len(idx):
            return plan
        ex = self.pack.explanation
        attr = explain(self.adapter, X.iloc[idx], method=ex.method, tolerance=ex.additivity_tolerance,
                       **self.explain_options)
        # 'what could change the decision': one batched counterfactual search for the chunk's denied rows
        from ...counterfactuals.statements import letter_counterfactuals

        cf = letter_counterfactuals(self.adapter, X.iloc[idx], self.pack, background=self.cf_background,
                                    background_label=self.cf_background_label)
        # the denied rows, column-wise to dicts once per chunk (row-wise pandas access is slow)
        raws = checked.raw.iloc[idx].to_dict("records")
        values = X.iloc[idx].to_dict("records")
        rows = (checked.raw.index[idx] + 1).tolist()
        for k, i in enumerate(idx):
            try:
                doc = self.build_record(row=rows[k], decision_id=checked.ids[i], raw=raws[k], values=values[k],
                                        attr=attr, k=k, p_deny=float(p_deny[i]), cf=cf)
            except InputError as exc:
                plan.errors.append(exc.to_dict())
                continue
            if doc.kind == "flagged":
                plan.notes.append({"id": doc.id, "reason": doc.record["reasons"]["flag_reason"]})
            plan.docs.append(doc)
        return plan

    def build_record(self, *, row: int, decision_id: str, raw: dict, values: dict, attr, k: int,
                     p_deny: float, cf=None) -> Doc:
        """The decision record of one denied row (and its letter's content unless flagged).

        Args:
            row: the row's 1-based number in the input file.
            decision_id: the row's decision id.
            raw: the row as received (column -> value).
            values: the row's typed model inputs (feature -> value).
            attr: the chunk's attributions of its denied rows; ``k`` is this row's position in it.
            p_deny: the row's probability of denial.
            cf: the chunk's :class:`~xai_reports.counterfactuals.statements.LetterCounterfactuals`
                (row ``k``), or ``None``.

        Returns:
            A :class:`~xai_reports.batch.Doc` keyed ``letter_<id>``.

        Raises:
            InputError: a row-level problem (unknown language, bad date), naming file, row and column.
        """
        pack, fin, cols = self.pack, self.pack.spec.section("letter"), self.pack.spec.columns
        raw = {c: _jsonable(v) for c, v in raw.items()}
        result = select_reasons(attr, k, self.ref, pack, values=values)
        lang = self.language or (str(raw.get(cols.language) or "").strip() if cols.language else "") or pack.language
        untranslated = self.untranslated.get(lang)
        if lang not in pack.languages or untranslated or (self.lang_templates[lang] is None and
                                                          set(self.formats) & {"pdf", "html"}):
            why = ("not offered by the pack" if lang not in pack.languages else
                   f"is incomplete in the pack (no translation for {', '.join(untranslated[:3])}"
                   f"{' and more' if len(untranslated) > 3 else ''})" if untranslated else
                   "has no letter template")
            raise InputError(f"language {lang!r} {why} ({pack.languages})",
                             file=self.source.label, row=row, column=cols.language, record_id=decision_id)
        when = str(raw.get(cols.decision_date) or "").strip() if cols.decision_date else ""
        try:
            when = date.fromisoformat(when[:10]).isoformat() if when else self.today
        except ValueError:
            raise InputError(f"expected an ISO date (YYYY-MM-DD), got {when!r}", file=self.source.label,
                             row=row, column=cols.decision_date, record_id=decision_id) from None
        record = {
            "schema": RECORD_SCHEMA,
            "decision_id": decision_id,
            "decision_date": when,
            "inputs": raw,
            "model": self.model_desc,
            "pack": pack.describe(),
            "prediction": {"p_deny": float(p_deny), "margin": float(attr.predictions[k]),
                           "threshold": fin.decision.threshold, "decision": "deny"},
            "explanation": {
                "method": attr.method, "params": attr.params, "output": attr.output,
                "base_value": float(attr.base_values[k]),
                "attributions": dict(zip(attr.feature_names, map(float, attr.values[k]))),
                "self_check": {"kind": attr.self_check.get("kind"),
                               "error": float(attr.self_check["per_row"][k]),
                               "tolerance": attr.self_check.get("tolerance")},
                # an estimate (kernel_shap) states its error: the largest standard error of this row's values
                **({"estimated_std_max": float(np.max(attr.extras["std"][k]))} if "std" in attr.extras else {}),
            },
            "reference_population": self.ref.to_dict(),
            "reasons": {
                "method": "Reg B comment 9(b)(2)-5: push toward denial relative to the reference "
                          "population's mean attribution, summed per reason statement",
                "chosen": result.reasons, "flagged_for_review": result.flagged,
                "flag_reason": result.flag_reason, "factor_scores": result.factor_scores,
                "max_reasons": fin.max_reasons,
            },
            "counterfactuals": cf.record(k) if cf is not None else None,
            "software": self.software,
        }
        key = f"letter_{safe_name(decision_id)}"
        if result.flagged:
            record["document"] = None
            return Doc(key=key, record=record, row=row, id=decision_id, kind="flagged", heavy=False)
        record["document"] = {
            "kind": "adverse_action_letter", "template": self.fingerprints.get(lang), "language": lang,
            "content": letter_content(pack=pack, decision_id=decision_id, raw_row=raw, reasons=result,
                                      decision_date=when, language=lang,
                                      counterfactual=cf.content(k, lang) if cf is not None else None),
        }
        return Doc(key=key, record=record, row=row, id=decision_id, kind="letter",
                   heavy="pdf" in self.formats or "html" in self.formats)


def generate_letters(model, data, pack="finance", out_dir="letters", *, reference=None,
                     id_column: str | None = None, formats=FORMATS, decision_date: str | None = None,
                     language: str | None = None, model_name: str | None = None,
                     progress: bool = False, templates=None, key: bytes | None = None,
                     chunk_size: int = 1000, workers="auto", scheduler=None, resume: bool = True) -> BatchSummary:
    """Write an adverse-action letter for each row the model denies.

    The input is streamed ``chunk_size`` rows at a time (memory does not grow
    with the file); each chunk is scored and explained in one batched call;
    letters are rendered by warm worker processes or a Dask cluster; every
    finished letter is journaled, so rerunning the same call after a crash or
    Ctrl-C finishes the batch without redoing or duplicating a letter.

    Args:
        model: a model file path (XGBoost JSON/UBJ) or a model object / adapter.
        data: a CSV/Parquet path or a DataFrame of applications.
        pack: pack name or path, or a loaded pack.
        out_dir: output folder; one ``letter_<id>.{pdf,html,json}`` per denied row
            plus ``summary.json``, ``manifest.json`` and the resume journal ``.xai-reports.journal.jsonl``.
        reference: reference population rows (path or DataFrame) for the pack's
            ``reference_population``; ``None`` uses the model's training baseline.
        id_column: column with decision ids (default: the pack's ``columns.id``).
        formats: any of ``"pdf"``, ``"html"``, ``"json"``.
        decision_date: ISO date printed on letters when the data has no
            ``columns.decision_date`` column (default: the day the batch was
            started, kept when it is resumed; recorded in the record).
        language: force a language for every letter (else the row's
            ``columns.language`` value, else the pack's language).
        templates: user template folder(s) searched before the pack's, to
            override single blocks (letterhead, footer, wording).
        key: HMAC key signing ``manifest.json`` (default: ``signing_key()``,
            i.e. ``$XAI_REPORTS_SIGNING_KEY`` / ``$XAI_REPORTS_SIGNING_KEY_FILE``).
        progress: show a progress bar (rows/s, ETA) on stderr.
        chunk_size: rows read, checked and explained together (memory scales with it).
        workers: ``"auto"`` (one process per usable CPU, at most 8; none for
            small inputs), ``0`` (render in this process) or a number of warm
            worker processes.
        scheduler: ``"tcp://host:port"`` of a running Dask scheduler, ``"local"``
            to start a Dask ``LocalCluster`` of ``workers`` processes, or a
            ``distributed.Client``; ``None`` renders locally.
        resume: ``True`` skips letters a previous run of the same batch (same
            model, data, pack, options) finished; ``False`` starts over.

    Writes ``manifest.json`` last: SHA-256 of every output (a resumed batch's
    included), the data, model, pack and templates (see :mod:`xai_reports.integrity`).

    Returns:
        :class:`BatchSummary`. Rows with bad values are reported in it (and in
        ``summary.json``), with file-global row numbers; the other rows still
        get their letters.

    Raises:
        InputError, PackError, ModelLoadError: file-level problems, before
            anything is written.
        BatchStateError: ``out_dir`` holds a batch with other inputs (use
            ``resume=False`` or another folder) or another process writes it.
        SchedulerError: the Dask scheduler cannot be reached.

    Examples::

        >>> s = generate_letters("model.json", "applications.csv", "finance", "letters",
        ...                      decision_date="2026-11-20", workers=2, chunk_size=5000)
        >>> s.letters, s.exit_code
        (1873, 0)
    """
    job = LetterJob(model, data, pack, reference=reference, id_column=id_column, formats=formats,
                    decision_date=decision_date, language=language, model_name=model_name, templates=templates,
                    key=key)
    run_batch(job, out_dir, chunk_size=chunk_size, workers=workers, scheduler=scheduler, resume=resume,
              progress=progress)
    return job.summary
