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

from ..._version import __version__
from ...adapters import load_model
from ...batch import BatchJob, ChunkPlan, Doc, RunSummary, TableSource
from ...errors import InputError, PackError, TemplateError
from ...io.outputs import canonical_json, inside, safe_name
from ...io.storage import is_remote, output_dir, scrub, write_output
from ...packs import load_pack
from ...render import render_record_files, template_fingerprint
from ...io.tabular import check_frame
from .card import load_card
from .image_models import check_card_declarations, load_image_model
from .dicom import header_facts, identifying_values, is_dicom, read_dicom
from .image import ImageCases
from .privacy import leak_check, resolve_profile
from .quality import read_image
from .sections import RECORD_SCHEMA, Context
from .tabular import TabularCases

FORMATS = ("pdf", "html", "json")


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


#: the distribution that runs each adapter family's models (recorded beside the renderer's versions)
_FAMILY_LIBRARY = {"lightgbm": "lightgbm", "catboost": "catboost", "sklearn": "scikit-learn",
                   "onnx": "onnxruntime"}


def software_versions(kind: str, family: str | None = None) -> dict:
    from importlib.metadata import PackageNotFoundError, version

    import jinja2

    from ...render import renderer_software

    v = {"xai_reports": __version__, "python": platform.python_version(), "numpy": np.__version__,
         "jinja2": jinja2.__version__, "weasyprint": version("weasyprint"), **renderer_software()}
    if kind == "tabular":
        import xgboost

        v["xgboost"] = xgboost.__version__
        lib = _FAMILY_LIBRARY.get(family or "")
        if lib:
            try:
                v[lib] = version(lib)
            except PackageNotFoundError:  # pragma: no cover - the adapter loaded, so it is installed
                pass
    else:
        import torch

        v["torch"] = torch.__version__
    return v


# --- the batch ---------------------------------------------------------------------------------

def _load(model, card_path, pack, architecture=None):
    from .card import localize_model_and_card

    model, card_path = localize_model_and_card(model, card_path)
    card = load_card(model, card_path)
    mid = card["pack_model"]
    hc = pack.spec.section("case_review")
    if mid not in hc.models:
        raise PackError(f"the model card names model '{mid}', which pack '{pack.spec.name}' does not declare "
                        f"(declared: {', '.join(sorted(hc.models))})", file=pack.files[-1], key_path=f"{pack.section_key('case_review')}.models")
    spec = hc.models[mid]
    if spec.kind != card["kind"]:
        raise PackError(f"pack model '{mid}' is {spec.kind}, the model card says {card['kind']}",
                        file=pack.files[-1], key_path=f"{pack.section_key('case_review')}.models.{mid}.kind")
    if spec.kind == "tabular":
        adapter = load_model(model)
        names = adapter.feature_names or []
        if list(names) != list(spec.features):
            raise PackError(f"the model's features {names[:3]}... differ from {pack.section_key('case_review')}.models.{mid}.features",
                            file=pack.files[-1], key_path=f"{pack.section_key('case_review')}.models.{mid}.features")
        from ...io.tabular import check_model_types

        check_model_types(adapter, pack, names, model_file=model if isinstance(model, (str, Path)) else None)
    else:
        check_card_declarations(card, spec, pack, mid)
        adapter = load_image_model(model, card, spec, pack, mid, architecture=architecture)
    return card, mid, spec, adapter


class CaseReviewRenderer:
    """Picklable ``{"record", "guard"} -> {suffix: bytes}`` for the batch engine's workers.

    Renders the sheet's HTML and JSON whatever the formats asked, so that under a
    de-identifying profile (Safe Harbor) every document is searched for the row's
    identifier values (``guard``) before anything is returned: the HTML is what the
    PDF's text comes from and the JSON is what the PDF embeds. A match raises
    :class:`~xai_reports.documents.case_review.privacy.PrivacyError` and that case gets no
    files. The pack travels by reference and is checked on the worker.
    """

    def __init__(self, pack, formats=FORMATS, deidentified: bool = True):
        from ...batch.packref import PackHandle

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
            leak_check({ext: files[ext].decode("utf-8") for ext in ("html", "json")}, payload["guard"], self.pack,
                       extra=payload.get("dicom_guard") or ())
        return {**{ext: files[ext] for ext in FORMATS if ext in self.formats}, **(payload.get("extra_files") or {})}

    def warm_up(self) -> None:
        """Lay out a page once, so fonts are loaded before the first sheet."""
        if "pdf" in self.formats:
            from ...render.pdf import warm_up

            warm_up(self.pack.template_dirs())


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
                 formats=FORMATS, timestamp: datetime | None = None, key: bytes | None = None,
                 architecture: str | None = None):
        from ...integrity import signing_key

        pack = load_pack(pack)
        if not pack.spec.has_kind("case_review"):
            raise PackError(f"pack '{pack.spec.name}' writes {', '.join(pack.spec.kinds)}; case reviews need a pack "
                            "whose kinds include case_review", file=pack.files[-1], key_path="kinds")
        pack.require_section("case_review")
        self.profile_name, self.profile = resolve_profile(pack, profile)
        self.deidentified = self.profile.deidentification == "safe_harbor"
        formats = tuple(formats)
        bad_fmt = [f for f in formats if f not in FORMATS]
        if bad_fmt or not formats:
            raise InputError(f"unknown format(s) {bad_fmt}; choose from {', '.join(FORMATS)}")
        template_name = pack.templates.get("case_review")
        if not template_name:
            raise PackError("the pack declares no 'case_review' template", file=pack.files[-1],
                            key_path="templates.case_review")
        self.card, self.mid, self.spec, self.adapter = _load(model, card, pack, architecture)
        self.architecture = architecture
        self.model_path = model if isinstance(model, (str, Path)) else None
        self.key = key if key is not None else signing_key()
        # the key replacing DICOM UIDs on de-identified sheets: the run's signing key when set, and the pack
        self.uid_key = hashlib.sha256(b"xai-reports/dicom-uid/1" + (self.key or b"") +
                                      canonical_json(pack.describe()).encode("utf-8")).digest()
        self.kind = self.spec.kind
        if self.kind == "image":
            if images is None:
                raise InputError("this is an image model: pass the folder of the case images (--images DIR)")
            if is_remote(images):  # a prefix on object storage: each case's image is copied when it is read
                from ...io.storage import url_fs

                fs, prefix = url_fs(str(images))
                if not fs.isdir(prefix):
                    raise InputError("image folder not found", file=scrub(images))
                images = str(images).rstrip("/")
            else:
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
        self.ctx = Context(pack=pack, spec=self.spec, mid=self.mid, card=self.card, adapter=self.adapter,
                            profile_name=self.profile_name, profile=self.profile, when=self.when,
                            template=template_fingerprint(template_name, pack.template_dirs()),
                            software=software_versions(self.kind, getattr(self.adapter, "family", None)))
        self.builder = TabularCases(self.ctx) if self.kind == "tabular" else ImageCases(self.ctx)
        self.summary: CaseReviewSummary | None = None

    # -- engine interface ---------------------------------------------------------------
    def fingerprint(self) -> dict:
        return {"record_schema": RECORD_SCHEMA, "model": {"id": self.mid, "sha256": self.adapter.sha256},
                "model_card_sha256": self.card.sha256, "pack": self.pack.describe(),
                "template": self.ctx.template["sha256"], "data": self.source.fingerprint(),
                "software": self.ctx.software,
                "options": {"profile": self.profile_name, "formats": list(self.formats),
                            "images": None if self.images is None else (
                                scrub(self.images) if is_remote(self.images) else str(Path(self.images).resolve())),
                            "timestamp": None if self.timestamp is None else self.timestamp.isoformat(),
                            **({"architecture": self.architecture} if self.architecture else {})}}

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
                    case["image"], case["image_flags"], case["image_bytes"], dimg = _read_case_image(
                        raw.get(self.spec.input.column), self.images, self.spec, label, row_no, case["id"],
                        window=(self.card.get("input") or {}).get("window") or self.spec.input.window,
                        scorer=self._slice_scorer())
                    if dimg is not None:
                        case["dicom_header"] = dimg.header
                        case["dicom"] = _dicom_facts(dimg, self.deidentified, self.uid_key, label, row_no,
                                                     case["id"], self.spec.input.column)
                        case["dicom_guard"] = ([list(v) for v in identifying_values(dimg.extra_headers)]
                                               if self.deidentified else [])
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
            extra = self._secondary_captures(case, record)
            payload = {"record": record, "guard": guard, "extra_files": extra}
            if case.get("dicom_guard"):
                payload["dicom_guard"] = case["dicom_guard"]
            plan.docs.append(Doc(key=f"case_{safe_name(case['id'])}", record=payload,
                                 row=case["row"], id=case["id"], kind="sheet", heavy=heavy))
        plan.counts = {"cases": len(rows)}
        return plan

    def _slice_scorer(self):
        """``max_score`` slice policy: slices -> calibrated probability of ``input.slice_class`` (see
        :func:`~.dicom.read_dicom`)."""
        spec = self.spec
        if spec.input.slice_policy != "max_score":
            return None
        import torch

        cls = spec.input.slice_class or spec.positive_class
        k = list(spec.classes).index(cls)
        cal, net = self.ctx.calibrator, self.adapter.model
        dev = getattr(self.adapter, "device", "cpu")

        def score(x):
            with torch.no_grad():
                z = net(torch.as_tensor(np.asarray(x, dtype=np.float32), device=dev)).detach().cpu().numpy()
            z = z.astype(np.float64).reshape(len(x), -1)
            if spec.head == "binary":
                p = cal.predict(z[:, 1] - z[:, 0])
                p = p if k == 1 else 1 - p
            else:
                p = cal.predict(z)[:, k]
            return p, f"calibrated probability of {cls}"

        return score

    def _secondary_captures(self, case, record) -> dict[str, bytes]:
        """The case's evidence maps as DICOM Secondary Capture files (pack: ``evidence.dicom_export``), listed in
        the record (``pacs``)."""
        if self.kind != "image" or not self.spec.evidence.dicom_export or case.get("dicom_header") is None:
            return {}
        from .dicom_sc import evidence_secondary_captures

        panels = record["document"]["content"]["evidence"]["panels"]
        objs = evidence_secondary_captures(case["dicom_header"], panels, case_id=case["id"],
                                           deidentified=self.deidentified, key=self.uid_key,
                                           software=f"xai-reports {self.ctx.software['xai_reports']}")
        files, listed = {}, []
        for n, (facts, data) in enumerate(objs, start=1):
            files[f"evidence-{n}.dcm"] = data
            listed.append({"file": f"case_{safe_name(case['id'])}.evidence-{n}.dcm", **facts})
        record["pacs"] = {"secondary_captures": listed}
        return files

    def finish(self, result, out_dir) -> None:
        """Write ``summary.json`` and ``manifest.json`` (every output, resumed ones included; signed when
        a key is set) and keep the :class:`CaseReviewSummary` in :attr:`summary`."""
        from ...integrity import RunManifest

        summary = CaseReviewSummary(rows=result.rows, sheets=result.kinds.get("sheet", 0), profile=self.profile_name,
                                    model=self.mid, flagged_out_of_scope=[n["id"] for n in result.notes],
                                    errors=result.errors, outputs=result.outputs, batch=result)
        summary_bytes = canonical_json(summary.to_dict()).encode("utf-8")
        write_output(output_dir(out_dir), "summary.json", summary_bytes)  # a local folder or a bucket prefix
        manifest = RunManifest("case_reviews", software=self.ctx.software)
        data = self.source.reference() if self.source.frame is None else self.source.frame
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
                          resume: bool = True, key: bytes | None = None,
                          architecture: str | None = None) -> CaseReviewSummary:
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
        pack: pack name or path (one whose kinds include case_review).
        out_dir: output folder; ``case_<id>.{pdf,html,json}`` per case and ``summary.json``.
        profile: print profile (``"treatment"``, ``"research"``; default: the pack's default).
        images: folder holding the image files named in the data (image models): PNG, TIFF, BMP,
            JPEG, or DICOM (a file, a multi-frame file, or a sub-folder holding one series; see
            :mod:`~xai_reports.documents.case_review.dicom`). DICOM identity comes from the header.
        card: model card path (default: next to the model).
        architecture: the team's own ``"module:factory"`` building the network of a state dict; code is
            imported only when named here (and the pack names the same), never from the pack alone.
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
    from ...batch import run_batch

    job = CaseReviewJob(model, data, pack, profile=profile, images=images, card=card, formats=formats,
                        timestamp=timestamp, key=key, architecture=architecture)
    run_batch(job, out_dir, chunk_size=chunk_size, workers=workers, scheduler=scheduler, resume=resume,
              progress=progress)
    return job.summary


def rerender_case_review(record: dict, *, pack=None, templates=None, formats=("pdf",)) -> dict[str, bytes]:
    """The files a case record renders to now (used by ``xai-reports verify``).

    Raises:
        PackError: the recorded pack is not found (the message names the ``--pack`` to pass).
        TemplateError: the templates differ from the version the record names.
    """
    from ...packs import load_recorded_pack
    from ...render import check_recorded_template

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


def _dicom_facts(dimg, deidentified, key, source, row_no, case_id, column):
    try:
        return header_facts(dimg, deidentified=deidentified, key=key)
    except InputError as exc:
        raise InputError(exc.reason, file=source, row=row_no, column=column, record_id=case_id) from None


def _read_case_image(name, folder: Path, spec, source, row_no, case_id, window=None, scorer=None):
    col = spec.input.column
    if name is None or str(name).strip() == "":
        raise InputError("missing image file name", file=source, row=row_no, column=col, record_id=case_id)
    rel = Path(str(name).strip())
    if rel.is_absolute() or ".." in rel.parts:
        raise InputError("image file must be a name inside the --images folder (no absolute path, no '..')",
                         file=source, row=row_no, column=col, record_id=case_id)
    if is_remote(folder):  # the object (or a series' prefix) copied for the time of reading it
        from ...io.remote import local_copy

        try:
            with local_copy(f"{folder}/{rel.as_posix()}") as path:
                return _read_case_image(path.name, path.parent, spec, source, row_no, case_id, window)
        except InputError as exc:
            if exc.row is not None:
                raise
            raise InputError(f"image {rel.name}: {exc.reason}", file=source, row=row_no, column=col,
                             record_id=case_id) from None
    try:
        path = inside(folder, str(rel))
    except ValueError:
        raise InputError("image file would leave the --images folder", file=source, row=row_no, column=col,
                         record_id=case_id) from None
    try:
        if is_dicom(path):
            d = read_dicom(path, height=spec.input.height, width=spec.input.width, channels=spec.input.channels,
                           window=window, slice_policy=spec.input.slice_policy, slice_scorer=scorer,
                           slice_stack=spec.input.slice_stack)
            return d.image, d.flags, d.digest_bytes, d
        return (*read_image(path, height=spec.input.height, width=spec.input.width, channels=spec.input.channels),
                None)
    except InputError as exc:
        raise InputError(f"image {rel.name}: {exc.reason}", file=source, row=row_no, column=col,
                         record_id=case_id) from None


__all__ = ["generate_case_reviews", "render_case_review", "rerender_case_review", "CaseReviewSummary",
           "CaseReviewJob", "CaseReviewRenderer", "FORMATS"]
