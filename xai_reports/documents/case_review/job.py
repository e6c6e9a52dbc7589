"""Clinician case-review sheets for a batch of cases: the end-to-end path.

cases (CSV/Parquet, optional images) -> checked rows -> model -> calibrated
probability, uncertainty -> evidence (TreeSHAP findings or image evidence maps)
-> similar reference cases, counterfactual, performance context -> content tree
-> HTML and PDF (JSON record embedded) + JSON record, under a print profile.
"""

from __future__ import annotations

import hashlib
import math
import platform
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from .._version import __version__
from ..adapters import load_model
from ..documents.case_review import case_review_content
from ..errors import InputError, PackError, TemplateError, XaiReportsError
from ..format import format_value
from ..batch import BatchJob, ChunkPlan, Doc, RunSummary, TableSource
from ..outputs import atomic_write, canonical_json, inside, safe_name
from ..packs import load_pack
from ..render import render_record_files, template_fingerprint
from ..tabular import check_frame
from .card import load_card
from .privacy import format_date, leak_check, patient_section, resolve_profile
from .uncertainty import PlattCalibrator, conformal_set, conformal_threshold, wilson_interval

FORMATS = ("pdf", "html", "json")
RECORD_SCHEMA = "xai-reports/case-review-record/1"


@dataclass
class CaseReviewSummary(RunSummary):
    """What a case-review batch did (``rows``, ``errors``, ``outputs``, ``batch``, ``exit_code``: see
    :class:`~xai_reports.batch.RunSummary`; 0 when every case got a sheet)."""

    sheets: int = 0
    profile: str = ""
    model: str = ""
    flagged_out_of_scope: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"rows": self.rows, "sheets_written": self.sheets, "profile": self.profile, "model": self.model,
                "out_of_scope": self.flagged_out_of_scope, "row_errors": self.errors}


def software_versions(kind: str) -> dict:
    import jinja2
    import weasyprint

    v = {"xai_reports": __version__, "python": platform.python_version(), "numpy": np.__version__,
         "jinja2": jinja2.__version__, "weasyprint": weasyprint.__version__}
    from ..render import font_subsetter

    v["font_subsetter"] = font_subsetter()
    if kind == "tabular":
        import xgboost

        v["xgboost"] = xgboost.__version__
    else:
        import torch

        v["torch"] = torch.__version__
    return v


def _fmt_p(p: float) -> str:
    return f"{p:.2f}" if 0.005 <= p <= 0.995 else ("< 0.01" if p < 0.005 else "> 0.99")


# --- performance context ---------------------------------------------------------------------

def performance_metrics(p, y, threshold: float) -> dict:
    """Sensitivity, specificity, PPV, NPV (Wilson 95 % intervals) and AUC at ``threshold``.

    Examples::

        >>> performance_metrics([0.9, 0.2, 0.7, 0.1], [1, 0, 0, 0], 0.5)["sensitivity"]
        1.0
    """
    from sklearn.metrics import roc_auc_score

    p = np.asarray(p, dtype=float)
    y = np.asarray(y, dtype=int)
    pos = p >= threshold
    tp, fn = int((pos & (y == 1)).sum()), int((~pos & (y == 1)).sum())
    tn, fp = int((~pos & (y == 0)).sum()), int((pos & (y == 0)).sum())

    def ratio(k, n):
        return None if n == 0 else k / n

    both = len(set(y.tolist())) == 2
    return {"n": int(len(y)), "n_positive": int((y == 1).sum()), "threshold": threshold,
            "sensitivity": ratio(tp, tp + fn), "sensitivity_ci": wilson_interval(tp, tp + fn),
            "specificity": ratio(tn, tn + fp), "specificity_ci": wilson_interval(tn, tn + fp),
            "ppv": ratio(tp, tp + fp), "npv": ratio(tn, tn + fn),
            "auc": float(roc_auc_score(y, p)) if both else None,
            "counts": {"tp": tp, "fn": fn, "tn": tn, "fp": fp}}


def _subgroup(card, value: float | None, threshold: float) -> dict | None:
    sub = card["holdout"].get("subgroup")
    if not sub or value is None or not np.isfinite(value):
        return None
    vals = np.asarray(sub["values"], dtype=float)
    edges = np.quantile(vals, [1 / 3, 2 / 3])
    k = int(np.searchsorted(edges, value, side="right"))
    names = ["lowest third", "middle third", "highest third"]
    lo = -np.inf if k == 0 else edges[k - 1]
    hi = np.inf if k == 2 else edges[k]
    sel = (vals >= lo) & (vals < hi) if k < 2 else vals >= lo
    m = performance_metrics(np.asarray(card["holdout"]["p"])[sel], np.asarray(card["holdout"]["y"])[sel], threshold)
    rng = (f"below {edges[0]:.4g}" if k == 0 else f"{edges[0]:.4g} to {edges[1]:.4g}" if k == 1
           else f"{edges[1]:.4g} or more")
    return {"name": sub["name"], "value": float(value), "band": names[k], "range_text": rng, **m}


# --- the batch ---------------------------------------------------------------------------------

def _load(model, card_path, pack):
    card = load_card(model, card_path)
    mid = card["pack_model"]
    hc = pack.spec.healthcare
    if mid not in hc.models:
        raise PackError(f"the model card names model '{mid}', which pack '{pack.spec.name}' does not declare "
                        f"(declared: {', '.join(sorted(hc.models))})", file=pack.files[-1], key_path="healthcare.models")
    spec = hc.models[mid]
    if spec.kind != card["kind"]:
        raise PackError(f"pack model '{mid}' is {spec.kind}, the model card says {card['kind']}",
                        file=pack.files[-1], key_path=f"healthcare.models.{mid}.kind")
    if spec.kind == "tabular":
        adapter = load_model(model)
        names = adapter.feature_names or []
        if list(names) != list(spec.features):
            raise PackError(f"the model's features {names[:3]}... differ from healthcare.models.{mid}.features",
                            file=pack.files[-1], key_path=f"healthcare.models.{mid}.features")
        from ..tabular import check_model_types

        check_model_types(adapter, pack, names, model_file=model if isinstance(model, (str, Path)) else None)
    else:
        from .models import build_architecture

        arch = card["architecture"]["name"]
        if spec.architecture != arch:
            raise PackError(f"the pack names architecture '{spec.architecture}', the model card '{arch}'",
                            file=pack.files[-1], key_path=f"healthcare.models.{mid}.architecture")
        opts = {**card["architecture"].get("options", {}), **spec.architecture_options}
        adapter = load_model(model, architecture=lambda: build_architecture(arch, **opts))
    return card, mid, spec, adapter


class CaseReviewRenderer:
    """Picklable ``{"record", "guard"} -> {suffix: bytes}`` for the batch engine's workers.

    Renders the sheet's HTML and JSON whatever the formats asked, so that under a
    de-identifying profile (Safe Harbor) every document is searched for the row's
    identifier values (``guard``) before anything is returned: the HTML is what the
    PDF's text comes from and the JSON is what the PDF embeds. A match raises
    :class:`~xai_reports.healthcare.privacy.PrivacyError` and that case gets no
    files. The pack travels by reference and is checked on the worker.
    """

    def __init__(self, pack, formats=FORMATS, deidentified: bool = True):
        from ..batch.packref import PackHandle

        self.formats = tuple(formats)
        self.deidentified = bool(deidentified)
        self._handle = PackHandle(pack)

    @property
    def pack(self):
        return self._handle.pack

    def __call__(self, payload: dict) -> dict[str, bytes]:
        record = payload["record"]
        files = render_case_review(record, self.pack, formats=set(self.formats) | {"html", "json"})
        if self.deidentified:
            leak_check({ext: files[ext].decode("utf-8") for ext in ("html", "json")}, payload["guard"], self.pack)
        return {ext: files[ext] for ext in FORMATS if ext in self.formats}

    def warm_up(self) -> None:
        """Lay out a page once, so fonts are loaded before the first sheet."""
        if "pdf" not in self.formats:
            return
        try:
            from ..render import html_to_pdf

            dirs = self.pack.template_dirs()
            html_to_pdf('<html lang="en"><head><title>warm-up</title></head><body><p>warm-up</p></body></html>',
                        base_dir=dirs[-1], allowed_dirs=list(dirs), created=datetime(2000, 1, 1, tzinfo=timezone.utc))
        except Exception:  # noqa: BLE001 - an optimisation; the first sheet reports real errors
            pass


class CaseReviewJob(BatchJob):
    """The case-review batch on the batch engine: chunked reading, a journal (resume), warm
    workers or Dask, a progress bar.

    Constructing it does every file-level check (pack, profile, formats,
    template, model and card, image folder, the data file's columns, duplicate
    case ids) and raises before anything is written. :meth:`plan` checks one
    chunk, reads its images, explains its rows in one batched call and builds
    each case's record; workers render and leak-check the sheets.

    Args: as :func:`generate_case_reviews`.
    """

    name = "case-review"

    def __init__(self, model, data, pack="healthcare", *, profile: str | None = None, images=None, card=None,
                 formats=FORMATS, timestamp: datetime | None = None, key: bytes | None = None):
        from ..integrity import signing_key

        pack = load_pack(pack)
        if pack.spec.domain != "healthcare":
            raise PackError(f"pack '{pack.spec.name}' is a {pack.spec.domain} pack; case reviews need a healthcare "
                            "pack")
        pack.require_section("healthcare")
        self.profile_name, self.profile = resolve_profile(pack, profile)
        formats = tuple(formats)
        bad_fmt = [f for f in formats if f not in FORMATS]
        if bad_fmt or not formats:
            raise InputError(f"unknown format(s) {bad_fmt}; choose from {', '.join(FORMATS)}")
        template_name = pack.templates.get("case_review")
        if not template_name:
            raise PackError("the pack declares no 'case_review' template", file=pack.files[-1],
                            key_path="templates.case_review")
        self.card, self.mid, self.spec, self.adapter = _load(model, card, pack)
        self.model_path = model if isinstance(model, (str, Path)) else None
        self.key = key if key is not None else signing_key()
        self.kind = self.spec.kind
        if self.kind == "image":
            if images is None:
                raise InputError("this is an image model: pass the folder of the case images (--images DIR)")
            images = Path(images)
            if not images.is_dir():
                raise InputError("image folder not found", file=images)
        self.pack, self.formats, self.images = pack, formats, images
        self.features = list(self.spec.features)
        self.id_column = pack.spec.columns.id
        self.extra = [self.spec.input.column] if self.kind == "image" else []

        self.source = TableSource(data)
        label = self.source.label
        scan = self.source.scan(id_column=self.id_column or None, raise_duplicates=False)
        if self.kind == "image" and self.spec.input.column not in scan.columns:
            raise InputError(f"missing column '{self.spec.input.column}' (the image file of each case)", file=label,
                             column=self.spec.input.column)
        if self.id_column and self.id_column not in scan.columns:
            raise InputError(f"missing column '{self.id_column}' (the pseudonymous case id)", file=label,
                             column=self.id_column)
        check_frame(pd.DataFrame(columns=scan.columns), pack, self.features, source=label,
                    id_column=self.id_column, allowed_extra=self.extra)
        scan.raise_duplicate()

        self.timestamp = None if timestamp is None else timestamp.astimezone(timezone.utc).replace(microsecond=0)
        self.when = self.timestamp or datetime.now(timezone.utc).replace(microsecond=0)
        self.ctx = _Context(pack=pack, spec=self.spec, mid=self.mid, card=self.card, adapter=self.adapter,
                            profile_name=self.profile_name, profile=self.profile, when=self.when,
                            template=template_fingerprint(template_name, pack.template_dirs()),
                            software=software_versions(self.kind))
        self.builder = _TabularCases(self.ctx) if self.kind == "tabular" else _ImageCases(self.ctx)
        self.summary: CaseReviewSummary | None = None

    # -- engine interface ---------------------------------------------------------------
    def fingerprint(self) -> dict:
        return {"record_schema": RECORD_SCHEMA, "model": {"id": self.mid, "sha256": self.adapter.sha256},
                "model_card_sha256": self.card.sha256, "pack": self.pack.describe(),
                "template": self.ctx.template["sha256"], "data": self.source.fingerprint(),
                "software": self.ctx.software,
                "options": {"profile": self.profile_name, "formats": list(self.formats),
                            "images": None if self.images is None else str(Path(self.images).resolve()),
                            "timestamp": None if self.timestamp is None else self.timestamp.isoformat()}}

    def pinned(self) -> dict:
        return {"inference_time": self.when.isoformat()}

    def pin(self, values: dict) -> None:
        if values.get("inference_time"):
            self.when = self.ctx.when = datetime.fromisoformat(values["inference_time"])

    def renderer(self) -> CaseReviewRenderer:
        return CaseReviewRenderer(self.pack, self.formats,
                                  deidentified=self.profile.deidentification == "safe_harbor")

    def plan(self, chunk) -> ChunkPlan:
        """Check one chunk, read its images, explain it in one batched call, build each case's record."""
        label = self.source.label
        checked = check_frame(chunk, self.pack, self.features, source=label, id_column=self.id_column,
                              allowed_extra=self.extra, row_offset=int(chunk.index[0]) if len(chunk) else 0)
        plan = ChunkPlan(rows=len(chunk), errors=[e.to_dict() for e in checked.errors])
        raws = checked.raw.to_dict("records")
        rows = []
        for i, raw in enumerate(raws):
            raw = {c: _jsonable(v) for c, v in raw.items()}
            row_no = int(checked.raw.index[i]) + 1
            case = {"raw": raw, "row": row_no, "id": checked.ids[i], "x": checked.X.iloc[[i]]}
            if self.kind == "image":
                try:
                    case["image"], case["image_flags"], case["image_bytes"] = _read_case_image(
                        raw.get(self.spec.input.column), self.images, self.spec, label, row_no, case["id"])
                except InputError as exc:
                    plan.errors.append(exc.to_dict())
                    continue
            rows.append(case)
        plan.errors.sort(key=lambda e: (e.get("row") or 0))
        self.builder.prepare(rows)
        identifiers = list(self.pack.spec.identifier_features())
        heavy = bool({"pdf", "html"} & set(self.formats))
        for k, case in enumerate(rows):
            record = self.builder.record(k, case)
            if record["prediction"]["out_of_scope"]:
                plan.notes.append({"id": case["id"], "reason": "out of scope"})
            guard = {c: case["raw"].get(c) for c in identifiers if c in case["raw"]}
            plan.docs.append(Doc(key=f"case_{safe_name(case['id'])}", record={"record": record, "guard": guard},
                                 row=case["row"], id=case["id"], kind="sheet", heavy=heavy))
        plan.counts = {"cases": len(rows)}
        return plan

    def finish(self, result, out_dir) -> None:
        """Write ``summary.json`` and ``manifest.json`` (every output, resumed ones included; signed when
        a key is set) and keep the :class:`CaseReviewSummary` in :attr:`summary`."""
        from ..integrity import RunManifest

        summary = CaseReviewSummary(rows=result.rows, sheets=result.kinds.get("sheet", 0), profile=self.profile_name,
                                    model=self.mid, flagged_out_of_scope=[n["id"] for n in result.notes],
                                    errors=result.errors, outputs=result.outputs, batch=result)
        summary_bytes = canonical_json(summary.to_dict()).encode("utf-8")
        atomic_write(Path(out_dir) / "summary.json", summary_bytes)
        manifest = RunManifest("case_reviews", software=self.ctx.software)
        data = self.source.path if self.source.path is not None else self.source.frame
        manifest.add_input("data", data)
        manifest.add_model(self.adapter, path=self.model_path)
        manifest.inputs["model_card"] = {"name": "model card", "sha256": self.card.sha256}
        manifest.add_pack(self.pack)
        manifest.add_template(self.ctx.template)
        manifest.outputs.update(result.files)
        manifest.add("summary.json", summary_bytes)
        manifest.write(out_dir, key=self.key)
        self.summary = summary


def generate_case_reviews(model, data, pack="healthcare", out_dir="case-reviews", *, profile: str | None = None,
                          images=None, card=None, formats=FORMATS, timestamp: datetime | None = None,
                          progress: bool = False, chunk_size: int = 1000, workers="auto", scheduler=None,
                          resume: bool = True, key: bytes | None = None) -> CaseReviewSummary:
    """Write a clinician case-review sheet for each case.

    Runs on the batch engine (:mod:`xai_reports.batch`), as letters do: the
    input is read in chunks, each chunk explained in one batched call, sheets
    rendered by warm worker processes or a Dask cluster, and every finished
    sheet journaled, so rerunning an interrupted command finishes the batch
    with the same bytes (the inference time of the first run is kept).

    Args:
        model: model file: XGBoost ``.json`` (tabular) or a torch state dict ``.pt``
            (image; the architecture comes from the pack), with its model card
            ``<stem>.card.json`` beside it.
        data: CSV/Parquet of cases (or a DataFrame): the pack's ``columns.id``,
            identifier columns, and the model's input columns (tabular) or an
            image file column (image).
        pack: pack name or path (a healthcare pack).
        out_dir: output folder; ``case_<id>.{pdf,html,json}`` per case and ``summary.json``.
        profile: print profile (``"treatment"``, ``"research"``; default: the pack's default).
        images: folder holding the image files named in the data (image models).
        card: model card path (default: next to the model).
        formats: any of ``"pdf"``, ``"html"``, ``"json"``.
        timestamp: inference time recorded on the sheets (default: when the batch
            started, UTC; a resumed batch keeps its first run's).
        progress: show a progress bar (rows/s, ETA).
        chunk_size, workers, scheduler, resume: as :func:`~xai_reports.batch.run_batch`.
        key: HMAC key signing ``manifest.json`` (default: ``signing_key()``,
            i.e. ``$XAI_REPORTS_SIGNING_KEY`` / ``$XAI_REPORTS_SIGNING_KEY_FILE``).

    Writes ``summary.json`` and, last, ``manifest.json`` (SHA-256 of every
    output, the data, model, card, pack and template), for ``xai-reports verify``.

    Returns:
        :class:`CaseReviewSummary`; rows with bad values (NaN in a required field,
        missing or wrong-size image) and sheets the de-identification check
        refused are listed in ``errors`` and get no files.

    Raises:
        InputError, PackError, ModelLoadError: problems found before anything is written
            (unknown profile, unreadable file, missing column, duplicate case id, ...).
        BatchStateError: ``out_dir`` holds an unfinished batch with other inputs or options.

    Examples::

        >>> s = generate_case_reviews("models/wdbc_xgb.json", "cases.csv", "healthcare", "out",
        ...                           profile="research")
        >>> s.sheets, s.exit_code
        (5, 0)
    """
    from ..batch import run_batch

    job = CaseReviewJob(model, data, pack, profile=profile, images=images, card=card, formats=formats,
                        timestamp=timestamp, key=key)
    run_batch(job, out_dir, chunk_size=chunk_size, workers=workers, scheduler=scheduler, resume=resume,
              progress=progress)
    return job.summary


def rerender_case_review(record: dict, *, pack=None, templates=None, formats=("pdf",)) -> dict[str, bytes]:
    """The files a case record renders to now (used by ``xai-reports verify``).

    Raises:
        PackError: the recorded pack is not found (the message names the ``--pack`` to pass).
        TemplateError: the templates differ from the version the record names.
    """
    from ..packs import load_recorded_pack
    from ..render import check_recorded_template

    pack = load_recorded_pack(record.get("pack"), pack)
    if templates:
        raise TemplateError("case-review sheets use the pack's templates only; pass --pack instead of --templates")
    check_recorded_template(record, pack.template_dirs(), None)
    return render_case_review(record, pack, formats=formats)


def render_case_review(record: dict, pack, *, formats=FORMATS) -> dict[str, bytes]:
    """Render one case record to its files (``{"html": ..., "pdf": ..., "json": ...}``), from the record alone."""
    created = datetime.fromisoformat(record["document"]["pdf_created"])
    return render_record_files(record, pack.template_dirs(), formats, created=created,
                               description="Case-review record (JSON)")


def _jsonable(v):
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return None
    if isinstance(v, np.generic):
        return _jsonable(v.item())
    return v


def _read_case_image(name, folder: Path, spec, source, row_no, case_id):
    from .quality import read_image

    col = spec.input.column
    if name is None or str(name).strip() == "":
        raise InputError("missing image file name", file=source, row=row_no, column=col, record_id=case_id)
    rel = Path(str(name).strip())
    if rel.is_absolute() or ".." in rel.parts:
        raise InputError("image file must be a name inside the --images folder (no absolute path, no '..')",
                         file=source, row=row_no, column=col, record_id=case_id)
    try:
        path = inside(folder, str(rel))
    except ValueError:
        raise InputError("image file would leave the --images folder", file=source, row=row_no, column=col,
                         record_id=case_id) from None
    try:
        return read_image(path, height=spec.input.height, width=spec.input.width, channels=spec.input.channels)
    except InputError as exc:
        raise InputError(f"image {rel.name}: {exc.reason}", file=source, row=row_no, column=col,
                         record_id=case_id) from None


@dataclass
class _Context:
    pack: object
    spec: object
    mid: str
    card: object
    adapter: object
    profile_name: str
    profile: object
    when: datetime
    template: dict
    software: dict

    @property
    def calibrator(self) -> PlattCalibrator:
        if not hasattr(self, "_cal"):
            self._cal = PlattCalibrator.from_dict(self.card["calibration"])
        return self._cal


class _Cases:
    """Shared parts of a sheet; subclasses add the model-kind specifics."""

    def __init__(self, ctx: _Context):
        self.ctx = ctx
        spec, card = ctx.spec, ctx.card
        cs = card["calibration_set"]
        self.level = spec.uncertainty_level
        self.qhat = conformal_threshold(cs["p"], cs["y"], self.level)
        self.threshold = spec.operating_threshold
        self.overall = performance_metrics(card["holdout"]["p"], card["holdout"]["y"], self.threshold)

    def prepare(self, rows):  # pragma: no cover - abstract
        raise NotImplementedError

    # pieces ----------------------------------------------------------------------------------
    def output_section(self, score: float) -> dict:
        spec, cal = self.ctx.spec, self.ctx.calibrator
        p = float(cal.predict([score])[0])
        lo, hi = (float(v) for v in cal.interval([score], level=self.level)[0])
        positive = spec.positive_class
        negative = [c for c in spec.classes if c != positive][0]
        above = p >= self.threshold
        cset = conformal_set([p], self.qhat, classes=tuple(spec.classes))[0]
        from .charts import probability_png

        pct = round(self.level * 100)
        return {
            "class": positive if above else negative,
            "positive_class": positive,
            "probability": p, "probability_text": _fmt_p(p),
            "threshold": self.threshold, "above_threshold": above,
            "meaning": spec.above_threshold if above else spec.below_threshold,
            "above_text": spec.above_threshold, "below_text": spec.below_threshold,
            "interval": {"low": lo, "high": hi, "level": self.level,
                         "text": f"{_fmt_p(lo)} to {_fmt_p(hi)}",
                         "method": (f"{pct}% bootstrap percentile interval of the calibrated probability: Platt "
                                    f"scaling refitted on {self.ctx.card['calibration']['n_bootstrap']} resamples "
                                    f"of the {len(self.ctx.card['calibration_set']['y'])} calibration cases "
                                    "(reflects calibration uncertainty, not all model uncertainty)")},
            "conformal": {"set": cset, "level": self.level, "qhat": self.qhat,
                          "text": ("{" + ", ".join(cset) + "}") if cset else "{} (empty: an unusual case)",
                          "method": (f"split conformal prediction set, {pct}% coverage on exchangeable cases "
                                     f"(score 1 - p(true class), {len(self.ctx.card['calibration_set']['y'])} "
                                     "calibration cases)"),
                          "ambiguous": len(cset) != 1},
            "calibration_text": (f"Platt scaling of the model score ({self.ctx.card['score']}) fitted on a "
                                 "held-out calibration split"),
            "chart": {"png": _data_uri(probability_png(p, (lo, hi), self.threshold, positive=positive)),
                      "alt": (f"Probability scale from 0 to 1: calibrated probability of {positive} {_fmt_p(p)}, "
                              f"interval {_fmt_p(lo)} to {_fmt_p(hi)}, operating threshold {self.threshold:g}.")},
        }

    def performance_section(self, subgroup_value) -> dict:
        card = self.ctx.card
        return {"overall": self.overall, "subgroup": _subgroup(card, subgroup_value, self.threshold),
                "dataset": card["holdout"]["description"], "threshold": self.threshold,
                "trained": card["trained"], "limitations": list(self.ctx.spec.limitations)}

    def model_section(self) -> dict:
        spec, ctx = self.ctx.spec, self.ctx
        return {"id": ctx.mid, "name": spec.name, "kind": spec.kind,
                "version": f"{ctx.pack.spec.version}+{ctx.adapter.sha256[:12]}",
                "sha256": ctx.adapter.sha256, "file_sha256": ctx.card["model_sha256"],
                "intended_use": spec.intended_use, "intended_user": spec.intended_user,
                "population": spec.population, "regulatory_status": spec.regulatory_status,
                "manufacturer": spec.manufacturer, "data_notice": spec.data_notice,
                "trained": ctx.card["trained"], "classes": list(spec.classes)}

    def base_record(self, case, *, score, output, inputs_public, explanation, document_parts) -> dict:
        ctx = self.ctx
        prof = ctx.profile
        year_only = prof.dates == "year"
        stamp = str(ctx.when.year) if year_only else ctx.when.isoformat().replace("+00:00", "Z")
        date_text = format_date(ctx.when.date(), prof)
        patient = patient_section(case["raw"], ctx.pack, ctx.profile_name, prof)
        input_hash = hashlib.sha256(canonical_json(inputs_public).encode()).hexdigest()
        audit = {
            "inference_time": stamp,
            "software": ctx.software,
            "model_sha256": ctx.adapter.sha256,
            "model_file_sha256": ctx.card["model_sha256"],
            "model_card_sha256": ctx.card.sha256,
            "pack": ctx.pack.describe(),
            "template": {"name": ctx.template["name"], "sha256": ctx.template["sha256"]},
            "explanation": explanation,
            "input_sha256": input_hash,
            "profile": ctx.profile_name,
        }
        audit["log_id"] = hashlib.sha256(canonical_json({"case": case["id"], **audit}).encode()).hexdigest()[:16]
        content = case_review_content(
            pack=ctx.pack, model_id=ctx.mid, case_id=case["id"], date_text=date_text, patient=patient,
            model=self.model_section(), audit=audit,
            synthetic=ctx.card.get("synthetic") if ctx.spec.synthetic_data or ctx.card.get("synthetic") else None,
            **document_parts)
        created = datetime(ctx.when.year, 1, 1, tzinfo=timezone.utc) if year_only else ctx.when
        return {
            "schema": RECORD_SCHEMA,
            "case_id": case["id"],
            "profile": {"name": ctx.profile_name, "purpose": prof.purpose,
                        "deidentification": prof.deidentification, "dates": prof.dates},
            "inputs": inputs_public,
            "model": {"id": ctx.mid, **{k: v for k, v in self.model_section().items() if k in
                                        ("name", "version", "sha256", "file_sha256", "kind")}},
            "pack": ctx.pack.describe(),
            "prediction": {"score": score, "probability": output["probability"],
                           "interval": [output["interval"]["low"], output["interval"]["high"]],
                           "conformal_set": output["conformal"]["set"], "threshold": self.threshold,
                           "class": output["class"], "out_of_scope": document_parts["inputs"]["out_of_scope"]},
            "explanation": explanation,
            "audit": audit,
            "document": {"kind": "case_review", "template": ctx.template, "pdf_created": created.isoformat(),
                         "content": content},
        }


def _data_uri(png: bytes) -> str:
    import base64

    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


class _TabularCases(_Cases):
    def prepare(self, rows):
        from ..attribution import explain

        ctx = self.ctx
        self.features = list(ctx.spec.features)
        self.fspec = {f: ctx.pack.spec.features[f] for f in self.features}
        if rows:
            import pandas as pd

            X = pd.concat([c["x"] for c in rows])
            self.attr = explain(ctx.adapter, X, method=ctx.pack.spec.explanation.method,
                                tolerance=ctx.pack.spec.explanation.additivity_tolerance,
                                **ctx.pack.spec.explanation.options)
            if not self.attr.self_check.get("passed", True):
                raise XaiReportsError("TreeSHAP additivity self-check failed; no sheet written")
        ref = ctx.card.reference
        self.ref_X, self.ref_y, self.ref_ids = ref["X"], ref["y"], [str(s) for s in ref["ids"]]
        scale = ctx.card["feature_scale"]
        self.mu = np.array([scale[f][0] for f in self.features])
        self.sd = np.array([scale[f][1] or 1.0 for f in self.features])

    def _fmt(self, f, v):
        return format_value(v, self.fspec[f])

    def record(self, k, case):
        ctx, spec = self.ctx, self.ctx.spec
        x = case["x"]
        vals = {f: (None if not np.isfinite(float(x[f].iloc[0])) else float(x[f].iloc[0])) for f in self.features}
        score = float(self.attr.predictions[k])
        output = self.output_section(score)
        # inputs and flags
        from .quality import range_flags

        labels = {f: self.fspec[f].label for f in self.features}
        oor, missing = range_flags(vals, ctx.card["training_ranges"], labels)
        flags = [f"{o['label']} = {self._fmt(o['feature'], o['value'])} is {o['side']} the range seen in training "
                 f"({self._fmt(o['feature'], o['range'][0])} to {self._fmt(o['feature'], o['range'][1])})" for o in oor]
        flags += [f"{m}: missing (the model used its learned default branch)" for m in missing]
        out_of_scope = bool(oor)
        table = []
        from .wdbc import CHARACTERISTICS

        for c in CHARACTERISTICS:
            row = {"characteristic": c.replace("_", " "), "cells": []}
            for s in ("mean", "se", "worst"):
                f = f"{c}_{s}"
                if f not in self.fspec:
                    row["cells"].append({"text": "", "flag": False})
                    continue
                row["cells"].append({"text": self._fmt(f, vals[f]),
                                     "flag": any(o["feature"] == f for o in oor) or vals[f] is None})
            table.append(row)
        inputs = {"kind": "tabular", "summary": f"{len(self.features)} nucleus measurements of the fine-needle aspirate",
                  "table": table, "unit_note": "Sizes in the units of the digitised images of the WDBC study.",
                  "flags": flags, "missing": missing,
                  "out_of_scope": out_of_scope,
                  "out_of_scope_text": ("Out of scope: at least one value lies outside the range the model was "
                                        "trained on; the output is an extrapolation." if out_of_scope else
                                        "Within scope: every value lies inside the training range.")}
        # findings
        v = self.attr.values[k]
        order = np.argsort(-np.abs(v), kind="stable")
        items, full = [], []
        for j in order:
            f = self.features[j]
            fs = self.fspec[f]
            val = vals[f]
            rr = fs.reference_range
            pos = None
            if rr is not None and val is not None:
                pos = "above" if val > rr[1] else "below" if val < rr[0] else "within"
            item = {"feature": f, "label": fs.label, "value": val, "value_text": self._fmt(f, val),
                    "reference_text": (f"{self._fmt(f, rr[0])} to {self._fmt(f, rr[1])}" if rr else "not declared"),
                    "position": pos, "contribution": float(v[j]),
                    "direction": f"towards {spec.positive_class}" if v[j] > 0 else
                                 f"towards {[c for c in spec.classes if c != spec.positive_class][0]}"}
            full.append(item)
        items = [it for it in full[:spec.max_findings] if abs(it["contribution"]) > 0]
        from .charts import contributions_png

        findings = {"items": items, "method": (f"TreeSHAP (exact, path-dependent) contributions to the model's "
                                               f"log-odds of {spec.positive_class}; base value "
                                               f"{float(self.attr.base_values[k]):.3f}; additivity error "
                                               f"{float(self.attr.self_check['per_row'][k]):.1e}"),
                    "reference_note": ("Reference range: central 90% (5th to 95th percentile) of the benign "
                                       "training cases; a value outside it is not by itself abnormal."),
                    "full_list_note": f"All {len(full)} contributions are in the embedded JSON record.",
                    "chart": {"png": _data_uri(contributions_png(items, positive=spec.positive_class)),
                              "alt": "Bar chart of the top contributions: " + "; ".join(
                                  f"{it['label']} {it['contribution']:+.2f} ({it['direction']})" for it in items)}}
        similar = self._similar(vals)
        cf = self._counterfactual(x, v, output)
        inputs_public = {f: vals[f] for f in self.features}
        explanation = {"method": self.attr.method, "params": self.attr.params, "output": self.attr.output,
                       "base_value": float(self.attr.base_values[k]),
                       "attributions": {f: float(a) for f, a in zip(self.features, v)},
                       "self_check": {"kind": self.attr.self_check.get("kind"),
                                      "error": float(self.attr.self_check["per_row"][k]),
                                      "tolerance": self.attr.self_check.get("tolerance")}}
        perf = self.performance_section(vals.get(spec.subgroup_feature) if spec.subgroup_feature else None)
        return self.base_record(case, score=score, output=output, inputs_public=inputs_public,
                                explanation=explanation,
                                document_parts={"inputs": inputs, "output": output, "evidence": None,
                                                "findings": findings, "similar": similar,
                                                "counterfactual": cf, "performance": perf})

    def _similar(self, vals):
        spec = self.ctx.spec
        k = spec.similar_cases
        x = np.array([np.nan if vals[f] is None else vals[f] for f in self.features])
        z = (x - self.mu) / self.sd
        zr = (self.ref_X - self.mu) / self.sd
        ok = np.isfinite(z)
        d = np.sqrt(((zr[:, ok] - z[ok]) ** 2).sum(axis=1))
        idx = np.argsort(d, kind="stable")[:k]
        items = [{"ref_id": self.ref_ids[i], "outcome": spec.classes[int(self.ref_y[i])],
                  "distance": float(d[i])} for i in idx]
        n_pos = sum(1 for it in items if it["outcome"] == spec.positive_class)
        return {"items": items, "thumbnails": False,
                "space": ("Euclidean distance between the standardised measurements (z-scores with the training "
                          "mean and SD), among the training and calibration cases"),
                "summary": f"{n_pos} of the {len(items)} most similar reference cases had a confirmed "
                           f"{spec.positive_class} diagnosis.",
                "outcome_source": "confirmed diagnosis recorded in the WDBC data"}

    def _counterfactual(self, x, v, output):
        spec, ctx = self.ctx.spec, self.ctx
        above = output["above_threshold"]
        pos = spec.positive_class
        neg = [c for c in spec.classes if c != pos][0]
        goal = neg if above else pos
        medians = ctx.card["class_medians"][goal]
        sign = 1 if above else -1
        cands = [j for j in np.argsort(-sign * v, kind="stable") if sign * v[j] > 0][:5]

        def prob(frame):
            return float(ctx.calibrator.predict(ctx.adapter.predict(frame))[0])

        def crosses(p):
            return (p < self.threshold) if above else (p >= self.threshold)

        found = None
        for j in cands:
            f = self.features[j]
            x2 = x.copy()
            x2[f] = medians[f]
            p2 = prob(x2)
            if crosses(p2):
                found = ([f], p2)
                break
        if found is None:
            for a in range(min(3, len(cands))):
                for b in range(a + 1, min(3, len(cands))):
                    fa, fb = self.features[cands[a]], self.features[cands[b]]
                    x2 = x.copy()
                    x2[fa], x2[fb] = medians[fa], medians[fb]
                    p2 = prob(x2)
                    if crosses(p2):
                        found = ([fa, fb], p2)
                        break
                if found:
                    break
        caveat = ("This describes how the model responds, not a clinical intervention: the measurements of an "
                  "aspirate cannot be changed. Typical values are the medians of the training cases of that class.")
        if found is None:
            return {"meaningful": True,
                    "text": (f"No change of one or two of the top findings to the typical {goal} value moves the "
                             f"calibrated probability {'below' if above else 'to or above'} the operating "
                             f"threshold {self.threshold:g}: the output does not hinge on a single finding."),
                    "caveat": caveat}
        fs, p2 = found
        parts = [f"{self.fspec[f].label} were {self._fmt(f, medians[f])} (instead of {self._fmt(f, float(x[f].iloc[0]))})"
                 for f in fs]
        return {"meaningful": True,
                "text": (f"If {' and '.join(parts)}, the typical {goal} value, with every other finding unchanged, "
                         f"the calibrated probability of {pos} would be {_fmt_p(p2)}, "
                         f"{'below' if above else 'at or above'} the operating threshold {self.threshold:g}."),
                "changed": [{"feature": f, "to": medians[f]} for f in fs], "probability": p2, "caveat": caveat}


class _ImageCases(_Cases):
    def prepare(self, rows):
        if hasattr(self, "ref_emb"):   # the reference embeddings: once per batch, not per chunk
            return
        import torch

        ctx = self.ctx
        self.net = ctx.adapter.model
        ref = ctx.card.reference
        self.ref_images = ref["images"].astype(np.float32) / 255.0
        self.ref_y = ref["y"]
        self.ref_ids = [str(s) for s in ref["ids"]]
        dev = next(self.net.parameters()).device
        with torch.no_grad():
            e = self.net.embed(torch.as_tensor(self.ref_images[:, None], device=dev)).cpu().numpy()
        self.ref_emb = e / (np.linalg.norm(e, axis=1, keepdims=True) + 1e-12)
        self.dev = dev

    def record(self, k, case):
        import torch

        from .evidence import METHOD_TITLES, explain_maps, image_png, overlay_png, thumbnail_png
        from .quality import QUALITY_METRICS, image_quality, quality_flags

        ctx, spec = self.ctx, self.ctx.spec
        img = case["image"]
        x = torch.as_tensor(img[None], device=self.dev)
        with torch.no_grad():
            z = self.net(x)[0].cpu().numpy().astype(np.float64)
            emb = self.net.embed(x).cpu().numpy()[0]
        score = float(z[1] - z[0])
        output = self.output_section(score)
        # inputs and quality
        q = {m: float(v[0]) for m, v in image_quality(img[None]).items()}
        qflags = quality_flags(q, ctx.card["quality_ranges"])
        flags = list(case["image_flags"]) + qflags
        out_of_scope = bool(qflags) or bool(case["image_flags"])
        image_sha = hashlib.sha256(case["image_bytes"]).hexdigest()
        deid = ctx.profile.deidentification == "safe_harbor"
        fname = str(case["raw"].get(spec.input.column))
        inputs = {"kind": "image", "summary": f"{spec.input.modality}",
                  "image_file": None if deid else fname,
                  "image_file_note": ("file name withheld (file names can carry identifiers)" if deid else None),
                  "image_sha256": image_sha,
                  "size": f"{spec.input.width} x {spec.input.height} px, {spec.input.channels} channel(s)",
                  "quality": [{"name": QUALITY_METRICS[m], "value": f"{q[m]:.4g}",
                               "range": "{:.4g} to {:.4g}".format(*ctx.card["quality_ranges"][m]),
                               "flag": any(QUALITY_METRICS[m] in f for f in qflags)} for m in QUALITY_METRICS],
                  "flags": flags, "missing": [],
                  "out_of_scope": out_of_scope,
                  "out_of_scope_text": ("Out of scope: the image differs from the training images (see flags); "
                                        "treat the output with caution." if out_of_scope else
                                        "Within scope: image size and quality measurements lie inside the "
                                        "training range.")}
        # evidence maps
        ev = spec.evidence
        target_name = output["class"] if ev.target == "predicted" else ev.target
        if target_name not in spec.classes:
            raise PackError(f"evidence target '{target_name}' is not one of the classes {list(spec.classes)}",
                            file=ctx.pack.files[-1], key_path=f"healthcare.models.{ctx.mid}.evidence.target")
        t = list(spec.classes).index(target_name)
        panels = [{"title": "Original image", "method": None, "layer": None,
                   "legend": "grey levels from dark to bright, as received",
                   "png": _data_uri(image_png(img[0], title="Original")),
                   "alt": f"The input image ({spec.input.modality}), grey levels from dark to bright."}]
        params = {}
        loc = (ctx.card.get("localisation") or {})
        for m in ev.methods:
            maps, attr = explain_maps(ctx.adapter, img[None], m, target=t, layer=ev.layer,
                                      **ev.options.get(m, {}))
            amap = maps[0]
            peak = np.unravel_index(int(np.argmax(amap)), amap.shape)
            title = METHOD_TITLES.get(m, m)
            signed = m in ("integrated_gradients", "gradient_x_input", "occlusion", "smoothgrad")
            legend = ("red: pushes towards the named class; blue: pushes away; white: no influence; "
                      "saturating at the 99.5th percentile of |value|" if signed else
                      "transparent/dark: little influence; bright yellow: most influence; scaled to this map's maximum")
            layer = attr.params.get("layer") if m in ("grad_cam", "grad_cam_pp") else None
            lm = (loc.get("methods") or {}).get(m) or {}
            panels.append({
                "title": title, "method": m, "layer": layer, "legend": legend,
                "png": _data_uri(overlay_png(img[0], amap, method=m, title=title)),
                "alt": (f"{title} evidence map for the class {target_name} over the input image"
                        + (f" (layer {layer})" if layer else "") + f"; strongest influence near row {peak[0]}, "
                        f"column {peak[1]}. {legend}."),
                "params": {k: v for k, v in attr.params.items() if k != "device"},
                "localisation": lm if lm.get("pointing_game_malignant") is not None else None,
            })
            params[m] = {**{k: v for k, v in attr.params.items() if k != "device"},
                         "self_check": {kk: vv for kk, vv in attr.self_check.items() if kk != "per_row"}}
        note = None
        if loc.get("available"):
            parts = []
            for m, r in (loc.get("methods") or {}).items():
                if r.get("pointing_game_malignant") is None:
                    continue
                parts.append(f"{METHOD_TITLES.get(m, m)}{' (the primary method)' if m == ev.primary else ''}: "
                             f"pointing game {r['pointing_game_malignant']:.2f} "
                             f"(strict {r.get('pointing_game_strict_malignant', float('nan')):.2f}), "
                             f"relevance mass in lesion {r['relevance_mass_malignant']:.2f}")
            note = (f"Localisation measured on {loc['n_malignant']} malignant synthetic test images against the "
                    f"ground-truth lesion masks (maps for the malignant class): " + "; ".join(parts) + ". "
                    + (f"For comparison, a model-free map peaked at the image centre scores "
                       f"{loc['baseline_centre']['pointing_game_malignant']:.2f} and "
                       f"{loc['baseline_centre']['relevance_mass_malignant']:.2f}. " if loc.get("baseline_centre") else "")
                    + loc.get("definition", "") + ".")
        evidence = {"target_class": target_name, "primary": ev.primary, "panels": panels,
                    "method_note": note, "caveat": ctx.pack.spec.healthcare.saliency_caveat}
        # similar cases in the embedding space
        e = emb / (np.linalg.norm(emb) + 1e-12)
        sims = self.ref_emb @ e
        idx = np.argsort(-sims, kind="stable")[:spec.similar_cases]
        items = [{"ref_id": self.ref_ids[i], "outcome": spec.classes[int(self.ref_y[i])],
                  "similarity": float(sims[i]),
                  "png": _data_uri(thumbnail_png(self.ref_images[i])),
                  "alt": f"Reference image {self.ref_ids[i]}, confirmed {spec.classes[int(self.ref_y[i])]}."}
                 for i in idx]
        n_pos = sum(1 for it in items if it["outcome"] == spec.positive_class)
        similar = {"items": items, "thumbnails": True,
                   "space": "cosine similarity in the model's embedding (global-average-pooled last convolution block)",
                   "summary": f"{n_pos} of the {len(items)} most similar reference images are {spec.positive_class}.",
                   "outcome_source": "ground-truth label of the synthetic generator (labelling rule)"}
        cf = {"meaningful": False, "text": ("No counterfactual statement: for this image model no single, "
                                            "interpretable change of the input is defined."), "caveat": None}
        inputs_public = {"image_sha256": image_sha, "quality": q}
        explanation = {"evidence_target": target_name, "methods": params}
        perf = self.performance_section(q["contrast"])
        return self.base_record(case, score=score, output=output, inputs_public=inputs_public,
                                explanation=explanation,
                                document_parts={"inputs": inputs, "output": output, "evidence": evidence,
                                                "findings": None, "similar": similar, "counterfactual": cf,
                                                "performance": perf})


__all__ = ["generate_case_reviews", "render_case_review", "performance_metrics", "CaseReviewSummary",
           "CaseReviewJob", "CaseReviewRenderer"]
