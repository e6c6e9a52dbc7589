"""The model validation / compliance audit report, as a plain content tree.

:func:`audit` runs every check on a labelled data set and returns an
:class:`AuditReport`: a list of sections made of simple blocks (paragraphs,
lists, key-value tables, tables, figures, collapsible details), the
machine-readable ``results`` behind them, and the findings ranked by severity.
Nothing here produces HTML; :meth:`AuditReport.to_html` / :meth:`to_pdf` hand
the tree to the renderer. Every number in the report is computed by the run.

Sections follow REGULATORY.md §2.3 (SR 26-2, which supersedes SR 11-7, keeps the
SR 11-7 structure): identification, executive summary and findings, scope,
model, data, performance by subgroup, global importance, dependence, surrogate
tree, explanation quality, reason-code audit, counterfactual recourse,
fair-lending metrics (configurable; jurisdiction-dependent), limitations,
monitoring plan, sign-off, reproducibility appendix.
"""

from __future__ import annotations

import hashlib
import math
import os
import platform
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from .._version import __version__
from ..errors import ExplanationError, InputError, PackError
from ..format import format_value
from ..outputs import sha256_file

RECORD_SCHEMA = "xai-reports/audit-record/1"
SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2, "info": 3}
NOT_COMPUTED = "not computed in this run: "

__all__ = ["audit", "AuditReport", "run_audit_demo", "rerender_audit", "RECORD_SCHEMA"]


# ----------------------------------------------------------------------------- formatting
def _nan(x) -> bool:
    return x is None or (isinstance(x, (float, np.floating)) and math.isnan(float(x)))


def f3(x, nd: int = 3) -> str:
    """A number with ``nd`` decimals, or ``n/a``."""
    return "n/a" if _nan(x) else f"{float(x):,.{nd}f}"


def pct(x, nd: int = 1) -> str:
    return "n/a" if _nan(x) else f"{100 * float(x):.{nd}f}%"


def pval(p) -> str:
    if _nan(p):
        return "n/a"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def p_is(p) -> str:
    """``p < 0.001`` or ``p = 0.013`` (for sentences)."""
    if _nan(p):
        return "p n/a"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def cell(text, value=None, *, title=None, flag: str | None = None) -> dict:
    """A table cell: display text, a sortable value, a hover title, an optional flag class."""
    c = {"text": str(text)}
    if value is not None and not _nan(value):
        c["value"] = float(value) if isinstance(value, (int, float, np.number)) and not isinstance(value, bool) else value
    if title is not None:
        c["title"] = str(title)
    elif value is not None and isinstance(value, (float, np.floating)) and not _nan(value):
        c["title"] = repr(float(value))
    if flag:
        c["flag"] = flag
    return c


def table(columns, rows, *, caption=None, sortable=True, id=None, numeric=None) -> dict:
    return {"type": "table", "columns": list(columns), "rows": rows, "caption": caption,
            "sortable": sortable, "id": id, "numeric": list(numeric or [])}


def para(text, cls=None) -> dict:
    return {"type": "p", "text": str(text), "class": cls}


def ul(items) -> dict:
    return {"type": "ul", "items": [str(i) for i in items]}


def kv(rows) -> dict:
    return {"type": "kv", "rows": [[str(a), str(b)] for a, b in rows]}


def details(summary, blocks) -> dict:
    return {"type": "details", "summary": str(summary), "blocks": blocks}


def figure(fig_id, caption, alt) -> dict:
    return {"type": "figure", "figure": fig_id, "caption": caption, "alt": alt}


def not_computed(why: str) -> dict:
    return {"type": "p", "text": NOT_COMPUTED + why, "class": "not-computed"}


def _jsonable(o):
    if isinstance(o, dict):
        return {str(k): _jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_jsonable(v) for v in o]
    if isinstance(o, np.ndarray):
        return [_jsonable(v) for v in o.tolist()]
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating, float)):
        f = float(o)
        return None if math.isnan(f) or math.isinf(f) else f
    if isinstance(o, np.bool_):
        return bool(o)
    if isinstance(o, pd.DataFrame):
        return _jsonable(o.to_dict(orient="records"))
    return o


# ----------------------------------------------------------------------------- the report object
@dataclass
class AuditReport:
    """The result of :func:`audit`.

    Attributes:
        title: report title.
        date: ISO date of the report (from the run, the data or the pack; never the clock).
        sections: ordered ``[{"id", "title", "blocks": [...]}]`` (plain data).
        results: every computed figure, keyed by section (plain data, JSON-ready).
        findings: ranked ``[{"id", "severity", "title", "evidence", "section", ...}]``.
        figures: figure specs (numbers to plot) by id.
        pack: the loaded pack (for templates and rendering).
    """

    title: str
    date: str
    sections: list
    results: dict
    findings: list
    figures: dict
    pack: object = None
    provenance: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict, repr=False)

    def record(self) -> dict:
        """The JSON record embedded in the PDF (and the HTML): everything but the pack object."""
        return _jsonable({"schema": RECORD_SCHEMA, "title": self.title, "date": self.date,
                          "findings": self.findings, "results": self.results,
                          "provenance": self.provenance, "sections": self.sections, "figures": self.figures})

    def section(self, sid: str) -> dict:
        """The section with id ``sid``."""
        for s in self.sections:
            if s["id"] == sid:
                return s
        raise KeyError(sid)

    def to_html(self) -> str:
        """The report as one self-contained HTML file (inline CSS, JS and images)."""
        from ..render.audit import render_audit_html

        return render_audit_html(self)

    def to_pdf(self) -> bytes:
        """The report as PDF bytes, with the JSON record attached (``audit_record.json``)."""
        from ..render.audit import render_audit_pdf

        return render_audit_pdf(self)

    def save(self, path) -> Path:
        """Write ``path`` (``.pdf``, ``.html`` or ``.json``) atomically; returns the path."""
        from ..outputs import atomic_write, canonical_json

        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ".pdf":
            data = self.to_pdf()
        elif suffix in (".html", ".htm"):
            data = self.to_html().encode("utf-8")
        elif suffix == ".json":
            data = canonical_json(self.record()).encode("utf-8")
        else:
            raise InputError(f"unknown output type {suffix or '(none)'}: use .pdf, .html or .json", file=path)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, data)
        return path

    def write_manifest(self, files, *, key: bytes | None = None) -> Path:
        """Write ``<stem>.manifest.json`` next to the first of ``files`` (the report files just saved):
        their SHA-256 and those of the model, data, reference and pack; signed when ``key`` is given
        (default: ``signing_key()``)."""
        from ..integrity import signing_key, write_document_manifest

        prov = self.provenance or {}
        inputs = {role: {"sha256": prov[k]} for role, k in (("model", "model_sha256"), ("model_file", "model_file_sha256"),
                                                              ("data", "data_sha256"), ("reference", "reference_sha256"))
                  if prov.get(k)}
        if prov.get("pack"):
            inputs["pack"] = prov["pack"]
        if prov.get("template"):
            inputs["templates"] = {prov["template"]["name"]: prov["template"]}
        return write_document_manifest(files, "audit_report", software=prov.get("software"), inputs=inputs,
                                       key=key if key is not None else signing_key())

    def __repr__(self) -> str:
        counts = {k: sum(f["severity"] == k for f in self.findings) for k in SEVERITY_ORDER}
        return f"<AuditReport {self.date}: {len(self.sections)} sections, findings {counts}>"


def rerender_audit(record: dict, *, pack=None, templates=None, formats=("pdf",)) -> dict[str, bytes]:
    """The files an audit record (``audit_record.json``) renders to now (used by ``xai-reports verify``).

    Raises:
        PackError: the recorded pack is not found (the message names the ``--pack`` to pass).
        TemplateError: the template differs from the recorded version.
        RenderError: a record written before the figures were recorded.
    """
    from ..errors import RenderError, TemplateError
    from ..outputs import canonical_json
    from ..packs import load_recorded_pack
    from ..render import check_recorded_template

    prov = record.get("provenance") or {}
    if "figures" not in record:
        raise RenderError("this audit record does not hold its figures (written by an older xai-reports)")
    pack = load_recorded_pack(prov.get("pack"), pack)
    if templates:
        raise TemplateError("audit reports use the pack's templates only; pass --pack instead of --templates")
    if prov.get("template"):
        check_recorded_template({"document": {"template": prov["template"]}}, pack.template_dirs(), None)
    report = AuditReport(title=record["title"], date=record["date"], sections=record["sections"],
                         results=record["results"], findings=record["findings"], figures=record["figures"],
                         pack=pack, provenance=prov)
    out: dict[str, bytes] = {}
    if "pdf" in formats:
        out["pdf"] = report.to_pdf()
    if "html" in formats:
        out["html"] = report.to_html().encode("utf-8")
    if "json" in formats:
        out["json"] = canonical_json(report.record()).encode("utf-8")
    return out


# ----------------------------------------------------------------------------- inputs
_POS = {"1", "1.0", "yes", "y", "true", "t"}
_NEG = {"0", "0.0", "no", "n", "false", "f"}


def _parse_target(series: pd.Series, column: str, source, positive_label) -> tuple[np.ndarray, dict]:
    """0/1 labels; returns ``(y, bad_rows)`` where bad_rows maps row position -> InputError."""
    from ..tabular import _is_missing

    y = np.zeros(len(series), dtype=np.int64)
    bad: dict[int, InputError] = {}
    pos = None if positive_label is None else str(positive_label).strip().lower()
    distinct = {str(v).strip().lower() for v in series.tolist() if not _is_missing(v)}
    for i, v in enumerate(series.tolist()):
        if _is_missing(v):
            bad[i] = InputError("missing label", file=source, row=i + 1, column=column)
            continue
        s = str(v).strip().lower()
        if isinstance(v, (bool, np.bool_)):
            s = "true" if v else "false"
        if pos is not None:
            try:
                same = s == pos or float(s) == float(pos)
            except ValueError:
                same = s == pos
            if same:
                y[i] = 1
            elif s in _NEG or len(distinct) <= 2:
                y[i] = 0
            else:
                bad[i] = InputError(f"label {v!r} is neither the positive label {positive_label!r} nor a negative "
                                    "value (0/no/false), and the column has more than two values",
                                    file=source, row=i + 1, column=column)
            continue
        if s in _POS:
            y[i] = 1
        elif s in _NEG:
            y[i] = 0
        else:
            bad[i] = InputError(f"label {v!r} is not 0/1, yes/no or true/false (set audit.positive_label in the pack)",
                                file=source, row=i + 1, column=column)
    return y, bad


def _resolve_date(report_date, raw: pd.DataFrame, pack) -> tuple[str, str]:
    if report_date:
        try:
            return date.fromisoformat(str(report_date)[:10]).isoformat(), "given for this run"
        except ValueError:
            raise InputError(f"report date {report_date!r} is not an ISO date (YYYY-MM-DD)") from None
    col = pack.spec.columns.decision_date
    if col and col in raw.columns:
        ds = []
        for v in raw[col].tolist():
            try:
                ds.append(date.fromisoformat(str(v).strip()[:10]))
            except ValueError:
                continue
        if ds:
            return max(ds).isoformat(), f"latest decision date in the data (column '{col}')"
    a = pack.spec.audit
    if a is not None and a.report_date:
        return date.fromisoformat(a.report_date[:10]).isoformat(), "the pack's audit.report_date"
    sde = os.environ.get("SOURCE_DATE_EPOCH")
    if sde and sde.strip().isdigit():
        return datetime.fromtimestamp(int(sde), tz=timezone.utc).date().isoformat(), "SOURCE_DATE_EPOCH"
    raise InputError("no report date: the data has no decision-date column; pass --date YYYY-MM-DD "
                     "(report_date=) or set audit.report_date in the pack")


def _sha256_frame(df: pd.DataFrame) -> str:
    return hashlib.sha256(df.to_csv(index=False).encode("utf-8")).hexdigest()


def _software() -> dict:
    """Versions of the packages that shaped the numbers (read from metadata; nothing imported)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"xai_reports": __version__, "python": platform.python_version()}
    for dist in ("numpy", "pandas", "scipy", "scikit-learn", "xgboost", "matplotlib", "jinja2", "weasyprint",
                 "pydantic", "torch"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            pass
    from ..render import font_subsetter

    out["font_subsetter"] = font_subsetter()
    return out


def _optional_api(name: str):
    """A public xai_reports function that parallel work provides, or ``None`` when this build lacks it."""
    import xai_reports

    return getattr(xai_reports, name, None)


class _Ctx:
    """What every section builder needs (inputs, predictions, attributions, settings)."""

    def __init__(self, **kw):
        self.__dict__.update(kw)
        self.findings: list[dict] = []
        self.results: dict = {}
        self.figures: dict = {}
        self.reviewed: list[str] = []
        self.not_reviewed: list[str] = []

    def finding(self, severity, title, evidence, section):
        self.findings.append({"severity": severity, "title": title, "evidence": evidence, "section": section})

    def feature_label(self, f: str) -> str:
        spec = self.pack.spec.features.get(f)
        return spec.label if spec else f

    def group_label(self, attr: str, key: str) -> str:
        spec = self.pack.spec.features.get(attr)
        if spec is None or key == "(missing)" or attr in getattr(self, "bands", {}):
            return key
        return format_value(key, spec, currency=self.pack.spec.currency)


# ----------------------------------------------------------------------------- entry point
def audit(model, data, pack="finance", *, target: str, out=None, protected=None, reference=None,
          report_date: str | None = None, model_name: str | None = None, progress: bool = False) -> AuditReport:
    """Audit a model on labelled data and build the validation / compliance report.

    Args:
        model: a model file (XGBoost ``.json``/``.ubj``, torch) or a model object / adapter.
        data: labelled data, a CSV/Parquet path or a DataFrame: the model's
            input columns, the ``target`` column and the protected attributes.
        pack: pack name or path, or a loaded pack (its ``audit:`` section gives
            the identification, fair-lending settings, monitoring plan and sign-off).
        target: the label column; its positive value (1/yes/true, or the pack's
            ``audit.positive_label``) is the model's positive class.
        out: if given, write the report there (``.pdf``, ``.html`` or ``.json``).
        protected: protected-attribute columns for the subgroup and fair-lending
            sections (default: the pack's ``protected: true`` features present in the data).
        reference: reference population rows for the reason-code audit
            (default: the audited data).
        report_date: ISO date of the report (default: the data's latest decision
            date, else the pack's ``audit.report_date``, else ``SOURCE_DATE_EPOCH``).
        model_name: a display name when the pack does not give one.
        progress: show a progress bar.

    Returns:
        An :class:`AuditReport` (``.sections``, ``.results``, ``.findings``,
        ``.to_html()``, ``.to_pdf()``, ``.save(path)``).

    Raises:
        InputError: the target or a protected column is missing, the labels have
            one class only, no usable rows, no report date.
        PackError, ModelLoadError: as for letters.

    Examples::

        >>> report = audit("model.json", "holdout_labelled.csv", "finance", target="deny",
        ...                protected=["afam"], out="audit.pdf")
        >>> report.results["fairness"]["afam"]["groups"][1]["air"]
        0.79
    """
    from ..adapters import load_model, wrap_model
    from .letter import declared_model_features as _model_features
    from ..packs import load_pack
    from ..tabular import check_frame, read_table

    pack = load_pack(pack)
    spec = pack.spec
    asec = spec.audit
    pack.require_complete("audit")
    settings = asec.settings if asec else None
    if settings is None:
        from ..packs.schema import AuditSettings

        settings = AuditSettings()
    if isinstance(model, (str, Path)):
        model_path = Path(model)
        adapter = load_model(model_path)
    else:
        model_path = None
        adapter = wrap_model(model)
    if not adapter.is_classifier:
        raise InputError(f"the audit report is for binary classifiers; {adapter!r} is not a classifier")
    features = _model_features(adapter, pack, model_path)

    source = str(data) if isinstance(data, (str, Path)) else "<DataFrame>"
    raw = read_table(data) if isinstance(data, (str, Path)) else data.astype(object).reset_index(drop=True)
    if target not in raw.columns:
        raise InputError(f"target column '{target}' is not in the data (columns: {', '.join(map(str, raw.columns))})",
                         file=source, column=target)
    if target in features:
        raise InputError(f"target column '{target}' is also a model input", file=source, column=target)
    if protected is None:
        protected = [f for f in pack.protected_features() if f in raw.columns]
        protected_source = "the pack's protected attributes present in the data"
    else:
        protected = list(dict.fromkeys(protected))
        missing = [c for c in protected if c not in raw.columns]
        if missing:
            raise InputError(f"protected column(s) {', '.join(repr(m) for m in missing)} not in the data",
                             file=source, column=missing[0])
        protected_source = "given for this run"
    if target in protected:
        raise InputError(f"'{target}' is both the target and a protected attribute", file=source, column=target)

    when, date_source = _resolve_date(report_date, raw, pack)
    positive_label = asec.positive_label if asec else None
    y_all, bad_y = _parse_target(raw[target], target, source, positive_label)
    checked = check_frame(raw, pack, features, source=source,
                          allowed_extra=[c for c in raw.columns if c not in features])
    bad_rows: dict[int, InputError] = dict(bad_y)
    pos_of_index = {ix: i for i, ix in enumerate(raw.index)}
    for e in checked.errors:
        bad_rows.setdefault(e.row - 1, e)
    ok = np.array([i not in bad_rows for i in range(len(raw))])
    if not ok.any():
        first = bad_rows[min(bad_rows)]
        raise InputError(f"no usable rows (first problem: {first})", file=source)
    keep_pos = np.flatnonzero(ok)
    X = checked.X.loc[[raw.index[i] for i in keep_pos if raw.index[i] in checked.X.index]]
    _ = pos_of_index
    y = y_all[keep_pos]
    raw_ok = raw.iloc[keep_pos].reset_index(drop=True)
    X = X.reset_index(drop=True)
    if len(np.unique(y)) < 2:
        only = int(y[0])
        raise InputError(f"target column '{target}' has one class only (every usable row is {only}); "
                         "AUC, KS and calibration need both outcomes", file=source, column=target)

    # thresholds and the meaning of the model's positive class
    fin = spec.finance
    if fin is not None:
        threshold = fin.decision.threshold
        positive_name = fin.decision.positive_class
        favorable_is_negative = fin.decision.positive_class == "deny"
    else:
        threshold = (asec.threshold if asec and asec.threshold else 0.5)
        positive_name = "positive"
        favorable_is_negative = True
    if asec and asec.fairness.favorable is not None:
        favorable_is_negative = asec.fairness.favorable == "negative"

    p = adapter.predict(X, output="probability")
    decision = p >= threshold
    favorable = ~decision if favorable_is_negative else decision

    ref_X = None
    ref_source = None
    if reference is not None:
        ref_source = str(reference) if isinstance(reference, (str, Path)) else "<reference DataFrame>"
        ref_df = read_table(reference) if isinstance(reference, (str, Path)) else reference.astype(object)
        ref_checked = check_frame(ref_df, pack, features, source=ref_source,
                                  allowed_extra=[c for c in ref_df.columns if c not in features])
        if ref_checked.errors:
            raise ref_checked.errors[0]
        ref_X = ref_checked.X.reset_index(drop=True)

    groups = {}
    bands: dict[str, dict] = {}
    from ..fairness import band_groups, band_labels, default_bands
    from ..tabular import _is_missing, _norm_category, missing_tokens

    for a in protected:
        fs = spec.features.get(a)
        toks = missing_tokens(spec, a)
        col = raw_ok[a].tolist()
        numeric = fs is not None and (fs.bands is not None or fs.type == "numeric"
                                      or (fs.type == "ordinal" and not fs.categories))
        if fs is None:   # a column given with --protected: numeric when (nearly) every value is a number
            num = pd.to_numeric(pd.Series([None if _is_missing(v, toks) else v for v in col], dtype=object),
                                errors="coerce")
            present = sum(not _is_missing(v, toks) for v in col)
            numeric = present > 0 and num.notna().sum() == present and num.nunique() > 10
        if numeric:
            clean = [None if _is_missing(v, toks) else v for v in col]
            if fs is not None and fs.bands is not None:
                edges, src = list(fs.bands), "declared in the pack (features." + a + ".bands)"
            else:
                edges, src = default_bands(a, fs.label if fs is not None else a, clean)
            groups[a] = band_groups(clean, edges)
            bands[a] = {"edges": edges, "labels": band_labels(edges), "source": src}
            continue
        vals = []
        for v in col:
            if _is_missing(v, toks):
                vals.append("(missing)")
                continue
            if fs is not None and fs.categories:
                c = _norm_category(v, fs.categories)
                vals.append(str(c) if c is not None else str(v).strip())
            else:
                vals.append(str(v).strip())
        groups[a] = pd.Series(vals, dtype=object)

    ctx = _Ctx(adapter=adapter, pack=pack, spec=spec, asec=asec, settings=settings, X=X, y=y, p=p,
               threshold=threshold, decision=decision, favorable=favorable, positive_name=positive_name,
               favorable_is_negative=favorable_is_negative, features=features, protected=protected,
               protected_source=protected_source, groups=groups, raw=raw, raw_ok=raw_ok, target=target,
               source=source, bad_rows=bad_rows, ref_X=ref_X, ref_source=ref_source, model_path=model_path,
               data_path=Path(data) if isinstance(data, (str, Path)) else None,
               reference_path=Path(reference) if isinstance(reference, (str, Path)) else None,
               date=when, date_source=date_source, model_name=model_name, seed=settings.seed, bands=bands)

    steps = [("data", _sec_data), ("performance", _sec_performance), ("attributions", _compute_attributions),
             ("importance", _sec_importance), ("dependence", _sec_dependence), ("surrogate", _sec_surrogate),
             ("reasons", _sec_reasons), ("explanation_quality", _sec_explanation_quality),
             ("recourse", _sec_recourse), ("fairness", _sec_fairness)]
    built: dict[str, dict] = {}
    timings: dict[str, float] = {}
    prog = None
    if progress:
        from rich.progress import Progress

        prog = Progress(transient=True)
        prog.start()
        task = prog.add_task("auditing", total=len(steps))
    try:
        for name, fn in steps:
            if prog:
                prog.update(task, description=f"audit: {name}")
            t0 = time.perf_counter()
            sec = fn(ctx)
            timings[name] = time.perf_counter() - t0
            if sec is not None:
                built[name] = sec
            if prog:
                prog.advance(task)
    finally:
        if prog:
            prog.stop()

    report = _assemble(ctx, built)
    report.timings = timings
    if out is not None:
        report.save(out)
    return report


# ----------------------------------------------------------------------------- sections
def _sec_data(c: _Ctx) -> dict:
    from ..tabular import _is_missing

    spec = c.spec
    raw, X = c.raw, c.X
    n_in, n_used = len(raw), len(X)
    roles = {}
    for col in raw.columns:
        if col in c.features:
            roles[col] = "model input"
        elif col == c.target:
            roles[col] = "target (label)"
        elif col in c.protected:
            roles[col] = "protected attribute (not a model input)"
        if col in c.features and col in c.protected:
            roles[col] = "model input and protected attribute"
        elif col in {spec.columns.id, spec.columns.decision_date, spec.columns.name, spec.columns.address,
                     spec.columns.language}:
            roles[col] = "identifier / metadata"
        else:
            roles[col] = "not used"
    rows = []
    col_results = []
    from ..tabular import missing_tokens

    for col in raw.columns:
        toks = missing_tokens(spec, col)
        miss = int(sum(_is_missing(v, toks) for v in raw[col].tolist()))
        fs = spec.features.get(col)
        summary, lo, hi = "", math.nan, math.nan
        if col in c.features:
            s = X[col]
            if isinstance(s.dtype, pd.CategoricalDtype):
                counts = s.value_counts(sort=False)
                summary = ", ".join(f"{format_value(k, fs, currency=c.spec.currency)}: {v:,}" for k, v in counts.items())
            elif fs.type == "ordinal" and fs.categories:
                v = s.to_numpy(dtype=float)
                lo, hi = float(np.nanmin(v)), float(np.nanmax(v))
                vc = pd.Series(v).value_counts().sort_index()
                summary = "levels " + ", ".join(f"{int(k) if float(k).is_integer() else k}: {n:,}" for k, n in vc.items())
            else:
                v = s.to_numpy(dtype=float)
                lo, hi = float(np.nanmin(v)), float(np.nanmax(v))
                summary = (f"min {format_value(lo, fs, currency=c.spec.currency)}, median {format_value(float(np.nanmedian(v)), fs, currency=c.spec.currency)}, "
                           f"max {format_value(hi, fs, currency=c.spec.currency)}, mean {format_value(float(np.nanmean(v)), fs, currency=c.spec.currency)}")
        elif col == c.target:
            summary = f"positive ({c.positive_name}) rate {pct(c.y.mean())}"
        elif col in c.protected:
            vc = c.groups[col].value_counts().sort_index()
            summary = ", ".join(f"{c.group_label(col, k)}: {v:,}" for k, v in vc.items())
        col_results.append({"column": col, "role": roles[col], "missing": miss, "min": lo, "max": hi,
                            "type": fs.type if fs else None, "summary": summary})
        rows.append([cell(col), cell(fs.label if fs else ""), cell(roles[col]),
                     cell(f"{miss:,}", miss), cell(summary)])
    excluded = [{"row": r + 1, "error": str(e.reason), "column": e.column} for r, e in sorted(c.bad_rows.items())]
    prot_rows, prot_res = [], {}
    for a in c.protected:
        g = c.groups[a]
        res = []
        for k in sorted(g.unique()):
            m = (g == k).to_numpy()
            n = int(m.sum())
            r = {"group": k, "label": c.group_label(a, k), "n": n, "share": n / n_used,
                 "observed_positive_rate": float(c.y[m].mean()), "model_positive_rate": float(c.decision[m].mean())}
            res.append(r)
            prot_rows.append([cell(c.feature_label(a)), cell(r["label"]), cell(f"{n:,}", n), cell(pct(r["share"]), r["share"]),
                              cell(pct(r["observed_positive_rate"]), r["observed_positive_rate"]),
                              cell(pct(r["model_positive_rate"]), r["model_positive_rate"])])
        prot_res[a] = res
    c.results["data"] = {"rows_received": n_in, "rows_used": n_used, "rows_excluded": len(excluded),
                         "excluded": excluded[:100], "columns": col_results, "target": c.target,
                         "target_rate": float(c.y.mean()), "model_positive_rate": float(c.decision.mean()),
                         "threshold": c.threshold, "protected": prot_res,
                         "source": Path(c.source).name if c.data_path else c.source}
    blocks = [kv([("Data file", Path(c.source).name if c.data_path else c.source),
                  ("Rows received / used", f"{n_in:,} / {n_used:,}"),
                  ("Columns", f"{len(raw.columns)} ({len(c.features)} model inputs)"),
                  ("Target", f"'{c.target}': observed {c.positive_name} rate {pct(c.y.mean())}"),
                  ("Model decisions", f"{c.positive_name} at P >= {c.threshold:g}: {pct(c.decision.mean())} of rows"),
                  ("Protected attributes", ", ".join(c.protected) + f" ({c.protected_source})" if c.protected else "none")])]
    if c.asec and c.asec.data_description:
        blocks.insert(0, para(c.asec.data_description))
    if c.asec and c.asec.target_description:
        blocks.insert(1, para("Labels: " + c.asec.target_description))
    blocks.append(table(["Column", "Meaning", "Role", "Missing", "Values"], rows, caption="Columns, missing values and ranges",
                        numeric=[3]))
    if prot_rows:
        blocks.append(table(["Attribute", "Group", "Rows", "Share", f"Observed {c.positive_name} rate",
                             f"Model {c.positive_name} rate"], prot_rows, caption="Protected-attribute distribution",
                            numeric=[2, 3, 4, 5]))
    if excluded:
        blocks.append(para(f"{len(excluded):,} row(s) were excluded because of invalid values.", "warning"))
        blocks.append(details(f"Excluded rows ({len(excluded):,})",
                              [table(["Row", "Column", "Problem"],
                                     [[cell(e["row"], e["row"]), cell(e["column"] or ""), cell(e["error"])] for e in excluded[:200]])]))
        c.finding("medium", f"{len(excluded):,} row(s) of the audit data were excluded for invalid values",
                  f"first: row {excluded[0]['row']}: {excluded[0]['error']}", "data")
    c.reviewed.append("Data: completeness, ranges, target rate and protected-attribute distribution of the audit data")
    return {"id": "data", "title": "Data", "blocks": blocks}


def _sec_performance(c: _Ctx) -> dict:
    from sklearn.metrics import roc_curve

    from ..performance import binary_performance, performance_by_group

    st = c.settings
    overall = binary_performance(c.y, c.p, c.threshold, n_bins=st.calibration_bins)
    res = {"overall": overall, "by_group": {}, "threshold": c.threshold, "positive_class": c.positive_name}

    def perf_row(label, r, attr=None):
        cm = r["confusion"] or {}
        flag = "flag" if (attr and not _nan(r["auc"]) and not _nan(overall["auc"]) and overall["auc"] - r["auc"] > 0.05) else None
        return [cell(attr or "all rows"), cell(label), cell(f"{r['n']:,}", r["n"]), cell(pct(r["base_rate"]), r["base_rate"]),
                cell(f3(r["auc"]), r["auc"], flag=flag), cell(f3(r["ks"]), r["ks"]), cell(f3(r["brier"]), r["brier"]),
                cell(f3(r["ece"]), r["ece"]),
                cell(pct(cm.get("tpr")), cm.get("tpr")), cell(pct(cm.get("fpr")), cm.get("fpr")),
                cell(pct(cm.get("accuracy")), cm.get("accuracy")), cell(r["note"])]

    rows = [perf_row("all", overall)]
    cal_series = [{"label": "all rows", "bins": overall["calibration"]}]
    fpr, tpr, _ = roc_curve(c.y, c.p)
    roc_series = [{"label": f"all rows (AUC {f3(overall['auc'])})", "fpr": _thin(fpr), "tpr": _thin(tpr)}]
    for a in c.protected:
        t = performance_by_group(c.y, c.p, c.groups[a], c.threshold, n_bins=st.calibration_bins,
                                 min_rows=st.subgroup_min_rows)
        recs = t.to_dict(orient="records")
        res["by_group"][a] = recs
        unassessed = []
        for r in recs:
            r["label"] = c.group_label(a, r["group"])
            rows.append(perf_row(r["label"], r, c.feature_label(a)))
            if r["note"].endswith("not assessed"):
                unassessed.append(f"{r['label']} ({r['n']} rows)")
            elif not _nan(r["auc"]) and overall["auc"] - r["auc"] > 0.05:
                c.finding("medium", f"Lower discrimination for {c.feature_label(a)} = {r['label']}",
                          f"AUC {f3(r['auc'])} against {f3(overall['auc'])} overall (gap above 0.05)", "performance")
            if r["calibration"] and not r["note"]:
                cal_series.append({"label": f"{c.feature_label(a)}: {r['label']}", "bins": r["calibration"]})
        if unassessed:   # one finding per attribute, not one per group
            c.finding("low", f"Performance not assessed for {len(unassessed)} group(s) of {c.feature_label(a)}",
                      f"fewer than {st.subgroup_min_rows} rows: {_listing(unassessed)}", "performance")
    cm = overall["confusion"]
    conf_rows = [[cell(f"actual {c.positive_name}"), cell(f"{cm['tp']:,}", cm["tp"]), cell(f"{cm['fn']:,}", cm["fn"])],
                 [cell(f"actual not {c.positive_name}"), cell(f"{cm['fp']:,}", cm["fp"]), cell(f"{cm['tn']:,}", cm["tn"])]]
    c.figures["calibration"] = {"type": "calibration", "series": cal_series[:8],
                                "xlabel": f"mean predicted P({c.positive_name})", "ylabel": f"observed {c.positive_name} rate",
                                "alt": "Reliability diagram: observed rate against mean predicted probability in "
                                       f"{st.calibration_bins} quantile bins, overall and by group; "
                                       f"overall expected calibration error {f3(overall['ece'])}."}
    for a in c.protected:
        for r in res["by_group"][a]:
            if r["n"] >= st.subgroup_min_rows and not _nan(r["auc"]):
                m = (c.groups[a] == r["group"]).to_numpy()
                gf, gt, _ = roc_curve(c.y[m], c.p[m])
                roc_series.append({"label": f"{c.feature_label(a)}: {r['label']} (AUC {f3(r['auc'])})",
                                   "fpr": _thin(gf), "tpr": _thin(gt)})
    c.figures["roc"] = {"type": "roc", "series": roc_series[:6],
                        "alt": f"ROC curves overall (AUC {f3(overall['auc'])}) and for each protected group."}
    c.results["performance"] = res
    if not _nan(overall["auc"]) and overall["auc"] < 0.7:
        c.finding("medium", "Weak discrimination on the labelled data", f"AUC {f3(overall['auc'])} (below 0.70)", "performance")
    if overall["ece"] > 0.05:
        c.finding("low", "Calibration error above 0.05", f"expected calibration error {f3(overall['ece'])}", "performance")
    c.reviewed.append("Outcomes analysis on the labelled data: AUC, KS, Brier score, calibration and confusion at "
                      "the threshold, overall and by protected group")
    blocks = [
        para(f"Scores are P({c.positive_name}); the decision threshold is {c.threshold:g} "
             f"(P >= {c.threshold:g} means {c.positive_name}). Subgroups with fewer than {st.subgroup_min_rows} rows "
             "are reported without metrics. AUC: area under the ROC curve; KS: largest gap between the score "
             "distributions of the two classes; ECE: expected calibration error over quantile bins."),
        table(["Attribute", "Group", "Rows", f"{c.positive_name} rate", "AUC", "KS", "Brier", "ECE", "TPR", "FPR",
               "Accuracy", "Note"], rows, caption="Performance overall and by subgroup", id="perf-table",
              numeric=list(range(2, 11))),
        table(["", f"predicted {c.positive_name}", f"predicted not {c.positive_name}"], conf_rows,
              caption=f"Confusion at the threshold {c.threshold:g}, all rows", sortable=False, numeric=[1, 2]),
        {"type": "grid", "blocks": [
            figure("roc", "ROC curves, overall and by group", c.figures["roc"]["alt"]),
            figure("calibration", "Calibration (reliability) curves", c.figures["calibration"]["alt"])]},
        details("Calibration bins (all rows)", [table(
            ["Bin", "P range", "Rows", "Mean predicted", "Observed rate"],
            [[cell(i + 1, i + 1), cell(f"{b['lo']:.3f} to {b['hi']:.3f}"), cell(f"{b['n']:,}", b["n"]),
              cell(f3(b["mean_predicted"]), b["mean_predicted"]), cell(f3(b["observed_rate"]), b["observed_rate"])]
             for i, b in enumerate(overall["calibration"])], numeric=[0, 2, 3, 4])]),
    ]
    return {"id": "performance", "title": "Performance on the labelled data", "blocks": blocks}


def _thin(a, n=200):
    a = np.asarray(a, dtype=float)
    if len(a) <= n:
        return a.tolist()
    idx = np.unique(np.linspace(0, len(a) - 1, n).astype(int))
    return a[idx].tolist()


def _compute_attributions(c: _Ctx):
    from ..attribution import explain

    from ..attribution.auto import background_options

    method = c.spec.explanation.method
    try:
        # methods that explain against a population get the reference data (else the audited data)
        c.explain_options = {**background_options(method, c.adapter, c.ref_X if c.ref_X is not None else c.X),
                             **c.spec.explanation.options}
        c.attr = explain(c.adapter, c.X, method=method, tolerance=c.spec.explanation.additivity_tolerance,
                         **c.explain_options)
        c.attr_error = None
    except ExplanationError as exc:
        c.attr = None
        c.attr_error = f"attribution method '{method}' failed: {exc}"
    return None


def _sec_importance(c: _Ctx) -> dict:
    blocks, res = [], {}
    if c.attr is not None:
        vals = np.abs(c.attr.values).mean(axis=0)
        signed = c.attr.values.mean(axis=0)
        order = np.argsort(-vals, kind="stable")
        res["mean_abs_attribution"] = [{"feature": c.features[j], "label": c.feature_label(c.features[j]),
                                        "mean_abs": float(vals[j]), "mean": float(signed[j])} for j in order]
        c.importance_order = [c.features[j] for j in order]
        c.figures["importance_attr"] = {
            "type": "hbar", "xlabel": f"mean |attribution| ({c.attr.output} units)",
            "items": [{"label": c.feature_label(c.features[j]), "value": float(vals[j]), "text": f"{vals[j]:.3f}",
                       "title": f"{c.feature_label(c.features[j])} ({c.features[j]}): mean |attribution| {vals[j]:.6f}"}
                      for j in order],
            "alt": "Bar chart of mean absolute attribution per feature, largest first: " +
                   ", ".join(f"{c.feature_label(c.features[j])} {vals[j]:.3f}" for j in order[:5]) + "."}
        blocks.append(para(f"Mean absolute {c.attr.method} attribution over the {len(c.X):,} audited rows, in "
                           f"{c.attr.output} units (the model's raw output)."))
        blocks.append(figure("importance_attr", f"Global importance: mean |{c.attr.method} attribution|",
                             c.figures["importance_attr"]["alt"]))
        blocks.append(details("Mean and mean absolute attribution per feature", [table(
            ["Feature", "Column", "Mean |attribution|", "Mean attribution"],
            [[cell(r["label"]), cell(r["feature"]), cell(f"{r['mean_abs']:.4f}", r["mean_abs"]),
              cell(f"{r['mean']:+.4f}", r["mean"])] for r in res["mean_abs_attribution"]], numeric=[2, 3])]))
        c.reviewed.append(f"Global importance by mean |{c.attr.method} attribution|")
    else:
        c.importance_order = list(c.features)
        blocks.append(not_computed(c.attr_error))
        c.not_reviewed.append("Global importance by attribution (" + c.attr_error + ")")
    # permutation importance (provided by xai_reports.global_importance when available)
    gi = _optional_api("global_importance")
    if gi is None:
        why = ("permutation importance needs xai_reports.global_importance, which is not part of this build "
               "(it comes with the global-attribution engine)")
        blocks.append(not_computed(why))
        res["permutation"] = {"computed": False, "why": why}
        c.not_reviewed.append("Permutation importance (" + why + ")")
    else:
        try:
            imp = gi(c.adapter, c.X, c.y, method="permutation", n_repeats=c.settings.permutation_repeats,
                     random_state=c.seed, pack=c.pack)
            fr = imp.frame
            perm = [{"feature": str(r["feature"]), "label": c.feature_label(str(r["feature"])),
                     "importance": float(r["importance"]), "std": None if _nan(r["std"]) else float(r["std"])}
                    for _, r in fr.iterrows()]
            scoring = imp.params.get("scoring", "score")
            res["permutation"] = {"computed": True, "rows": perm, "repeats": c.settings.permutation_repeats,
                                  "seed": c.seed, "scoring": str(scoring), "baseline_score": imp.baseline_score}
            c.figures["importance_perm"] = {
                "type": "hbar", "xlabel": f"drop in {scoring} when the feature is shuffled", "color": "#009E73",
                "items": [{"label": r["label"], "value": r["importance"], "err": r["std"],
                           "text": f"{r['importance']:.4f}",
                           "title": f"{r['label']}: {r['importance']:.6f} ± {r['std'] or 0:.6f} (SD over "
                                    f"{c.settings.permutation_repeats} shuffles)"} for r in perm],
                "alt": f"Bar chart of permutation importance (drop in {scoring}) per feature: " +
                       ", ".join(f"{r['label']} {r['importance']:.4f}" for r in perm[:5]) + "."}
            blocks.append(para(f"Permutation importance: the drop in {scoring} on the labelled data (baseline "
                               f"{f3(imp.baseline_score)}) when one feature's column is shuffled, mean of "
                               f"{c.settings.permutation_repeats} seeded shuffles; error bars one SD."))
            blocks.append(figure("importance_perm", "Permutation importance", c.figures["importance_perm"]["alt"]))
            neg = [r["label"] for r in perm if r["importance"] < 0 and r["std"] is not None and r["importance"] + 2 * r["std"] < 0]
            if neg:
                c.finding("low", "Shuffling some features improves the model's ranking of outcomes",
                          "negative permutation importance beyond two SDs: " + ", ".join(neg), "importance")
            c.reviewed.append(f"Permutation importance ({scoring})")
        except Exception as exc:  # noqa: BLE001 - report, never fake
            why = f"permutation importance failed: {exc}"
            blocks.append(not_computed(why))
            res["permutation"] = {"computed": False, "why": why}
    c.results["importance"] = res
    return {"id": "importance", "title": "Global importance", "blocks": blocks}


def _sec_dependence(c: _Ctx) -> dict:
    st = c.settings
    if c.attr is None:
        return {"id": "dependence", "title": "Dependence of the top features",
                "blocks": [not_computed(c.attr_error)]}
    top = c.importance_order[: st.dependence_top_k]
    n = len(c.X)
    rng = np.random.default_rng(c.seed)
    idx = np.sort(rng.choice(n, size=min(n, st.dependence_max_points), replace=False))
    blocks = [para(f"Each point is one audited row ({len(idx):,} of {n:,}, a seeded random sample): the feature's "
                   f"value against its attribution. A monotone, smooth pattern is expected of a credit factor; "
                   "jumps or reversals deserve an explanation from the developer.")]
    res = []
    grid = []
    for f in top:
        j = c.features.index(f)
        s = c.X[f].iloc[idx]
        fs = c.spec.features.get(f)
        cats = None
        if isinstance(s.dtype, pd.CategoricalDtype):
            cats = [format_value(k, fs, currency=c.spec.currency) for k in s.cat.categories]
            x = s.cat.codes.to_numpy(dtype=float)
        else:
            x = s.to_numpy(dtype=float)
        yv = c.attr.values[idx, j]
        ok = ~np.isnan(x) & (x >= 0 if cats else True)
        corr = float(np.corrcoef(x[ok], yv[ok])[0, 1]) if ok.sum() > 2 and np.std(x[ok]) > 0 else math.nan
        fid = f"dependence_{f}"
        c.figures[fid] = {"type": "dependence", "x": np.round(x[ok], 6).tolist(), "y": np.round(yv[ok], 6).tolist(),
                          "categories": cats, "xlabel": c.feature_label(f), "ylabel": f"attribution ({c.attr.output})",
                          "alt": f"Scatter plot of {c.feature_label(f)} against its attribution for {int(ok.sum()):,} rows; "
                                 f"correlation {f3(corr, 2)}."}
        res.append({"feature": f, "label": c.feature_label(f), "points": int(ok.sum()), "correlation": corr})
        grid.append(figure(fid, f"{c.feature_label(f)} (correlation of value and attribution {f3(corr, 2)})",
                           c.figures[fid]["alt"]))
    blocks.append({"type": "grid", "blocks": grid})
    c.results["dependence"] = {"features": res, "sample_rows": int(len(idx)), "seed": c.seed}
    c.reviewed.append(f"Dependence of the {len(top)} most important features")
    return {"id": "dependence", "title": "Dependence of the top features", "blocks": blocks}


def _sec_surrogate(c: _Ctx) -> dict:
    fn = _optional_api("surrogate")
    depth = c.settings.surrogate_max_depth
    if fn is None:
        why = ("the distilled surrogate tree needs xai_reports.surrogate, which is not part of this build "
               "(it comes with the global-attribution engine)")
        c.results["surrogate"] = {"computed": False, "why": why}
        c.not_reviewed.append("Distilled surrogate tree (" + why + ")")
        return {"id": "surrogate", "title": "Distilled surrogate tree", "blocks": [not_computed(why)]}
    pos, neg = c.positive_name, ("approve" if c.positive_name == "deny" else f"not {c.positive_name}")
    try:
        sur = fn(c.adapter, c.X, max_depth=depth, pack=c.pack, random_state=c.seed, class_names=[neg, pos])
    except Exception as exc:  # noqa: BLE001
        why = f"surrogate tree failed: {exc}"
        c.results["surrogate"] = {"computed": False, "why": why}
        return {"id": "surrogate", "title": "Distilled surrogate tree", "blocks": [not_computed(why)]}
    # agreement with the model's decisions at 0.5 on every audited row, overall and by group
    model_dec = (c.p >= 0.5).astype(int)
    sur_pred = np.asarray(sur.predict(c.X))
    sur_dec = np.array([1 if str(v) in (pos, "1") else 0 for v in sur_pred]) if sur_pred.dtype.kind not in "iub" else sur_pred.astype(int)
    agree = sur_dec == model_dec
    by_group = {}
    for a in c.protected:
        g = c.groups[a]
        by_group[a] = [{"group": k, "label": c.group_label(a, k), "n": int((g == k).sum()),
                        "agreement": float(agree[(g == k).to_numpy()].mean())} for k in sorted(g.unique())]
    rules = _jsonable(sur.rules)
    res = {"computed": True, "max_depth": depth, "fidelity": sur.fidelity, "fidelity_train": sur.fidelity_train,
           "fidelity_metric": sur.fidelity_metric, "n_train": sur.n_train, "n_test": sur.n_test,
           "agreement_all_rows": float(agree.mean()), "by_group": by_group, "rules": rules, "text": sur.text}
    c.results["surrogate"] = res
    blocks = [para(f"A decision tree of depth at most {depth}, fitted to imitate the model's decisions "
                   f"(P({pos}) >= 0.5) on {sur.n_train:,} audited rows. It is a readable approximation, not the "
                   "model: its fidelity says how often it takes the model's decision."),
              kv([("Fidelity on held-out rows", f"{pct(sur.fidelity)} {sur.fidelity_metric} ({sur.n_test:,} rows)"),
                  ("Fidelity on the rows it was fitted on", pct(sur.fidelity_train)),
                  ("Agreement on all audited rows", pct(agree.mean()))]
                 + [(f"Agreement, {c.feature_label(a)} = {r['label']}", f"{pct(r['agreement'])} ({r['n']:,} rows)")
                    for a in c.protected for r in by_group[a]])]
    if abs(c.threshold - 0.5) > 1e-12:
        blocks.append(para(f"The surrogate imitates decisions at P = 0.5; the pack's threshold is {c.threshold:g}.", "warning"))
    rule_rows = []
    for k, r in enumerate(rules, 1):
        cond = " AND ".join(r["conditions"]) or "(all rows)"
        rule_rows.append([cell(k, k), cell(cond), cell(r["prediction"]), cell(f"{r['samples']:,}", r["samples"]),
                          cell(pct(r["share"]), r["share"]),
                          cell(pct(r["purity"]) if r.get("purity") is not None else "", r.get("purity"))])
    blocks.append(table(["Rule", "If", "Then", "Rows", "Share", "Agreeing rows"], rule_rows,
                        caption=f"Surrogate rules ({len(rules)} leaves)", numeric=[0, 3, 4, 5]))
    if sur.fidelity < 0.9:
        c.finding("low", "The depth-limited surrogate tree is a loose approximation",
                  f"fidelity {pct(sur.fidelity)} on held-out rows (below 90%)", "surrogate")
    c.reviewed.append(f"Distilled surrogate tree (depth {depth}) and its fidelity, overall and by group")
    return {"id": "surrogate", "title": "Distilled surrogate tree", "blocks": blocks}


def _get(obj, name):
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


def _reference_values(c: _Ctx, X_ref: pd.DataFrame) -> dict:
    """The reference value of each feature: median (numeric, ordinal snapped to a level) or mode."""
    out = {}
    for f in c.features:
        s = X_ref[f]
        fs = c.spec.features[f]
        if isinstance(s.dtype, pd.CategoricalDtype):
            vc = s.value_counts(sort=False)
            out[f] = vc.idxmax() if len(vc) else None
        else:
            v = float(np.nanmedian(s.to_numpy(dtype=float)))
            if fs.type == "ordinal" and fs.categories:
                levels = np.array([float(x) for x in fs.categories])
                v = float(levels[np.argmin(np.abs(levels - v))])
            out[f] = v
    return out


def _sec_reasons(c: _Ctx) -> dict:
    title = "Reason-code audit"
    c.reason_stats = None
    if c.spec.finance is None or not c.spec.reasons:
        why = "the pack declares no reason statements (reason codes are a finance-pack feature)"
        c.results["reasons"] = {"computed": False, "why": why}
        return {"id": "reasons", "title": title, "blocks": [not_computed(why)]}
    if c.attr is None:
        c.results["reasons"] = {"computed": False, "why": c.attr_error}
        return {"id": "reasons", "title": title, "blocks": [not_computed(c.attr_error)]}
    from ..reasons import build_reference, deny_probability, select_reasons

    pack, fin = c.pack, c.spec.finance
    X_ref = c.ref_X if c.ref_X is not None else c.X
    try:
        ref = build_reference(c.adapter, X_ref, pack, method=c.spec.explanation.method,
                              options=c.spec.explanation.options)
    except InputError as exc:
        c.results["reasons"] = {"computed": False, "why": str(exc)}
        return {"id": "reasons", "title": title, "blocks": [not_computed(str(exc))]}
    p_deny = deny_probability(c.adapter, c.X, pack)
    denied = np.flatnonzero(p_deny >= fin.decision.threshold)
    top, allr, flagged, flag_why = [], [], [], {}
    rows_dicts = c.X.iloc[denied].to_dict(orient="records") if len(denied) else []
    results = []
    for k, i in enumerate(denied):
        r = select_reasons(c.attr, int(i), ref, pack, values=rows_dicts[k])
        results.append(r)
        if r.flagged:
            flagged.append(int(i))
            flag_why[r.flag_reason] = flag_why.get(r.flag_reason, 0) + 1
            top.append(None)
        else:
            top.append(r.reasons[0]["key"])
            allr.append([x["key"] for x in r.reasons])
    n_denied = len(denied)
    c.reason_stats = {"n_denied": n_denied, "n_flagged": len(flagged),
                      "share_flagged": len(flagged) / n_denied if n_denied else math.nan, "flag_reasons": flag_why}
    top_s = pd.Series([t if t is not None else "(flagged: no valid reason)" for t in top], dtype=object)
    dist = top_s.value_counts()
    any_counts = pd.Series([k for ks in allr for k in ks], dtype=object).value_counts()

    def rlabel(k):
        return pack.reasons[k].text if k in pack.reasons else k

    dist_rows = []
    for k, v in dist.items():
        dist_rows.append({"reason": k, "text": rlabel(k), "code": pack.reasons[k].code if k in pack.reasons else "",
                          "principal": int(v), "share": v / n_denied, "any_rank": int(any_counts.get(k, 0))})
    by_group = {}
    chi = {}
    group_tables = []
    for a in c.protected:
        g = c.groups[a].iloc[denied].reset_index(drop=True)
        ct = pd.crosstab(top_s, g)
        by_group[a] = {str(col): {str(k): int(ct.loc[k, col]) for k in ct.index} for col in ct.columns}
        cols = list(ct.columns)
        rows = []
        for k in dist.index:
            row = [cell(rlabel(k))]
            for col in cols:
                tot = int(ct[col].sum())
                v = int(ct.loc[k, col]) if k in ct.index else 0
                share = v / tot if tot else math.nan
                row.append(cell(f"{pct(share)} ({v})", share, title=f"{v} of {tot} denied applicants in this group"))
            rows.append(row)
        rows.append([cell("denied applicants")] + [cell(f"{int(ct[col].sum()):,}", int(ct[col].sum())) for col in cols])
        from scipy.stats import chi2_contingency

        sub = ct.loc[[k for k in ct.index if not k.startswith("(flagged")]]
        sub = sub.loc[:, [col for col in sub.columns if sub[col].sum() >= c.settings.subgroup_min_rows]]
        sub = sub.loc[sub.sum(axis=1) > 0]
        if sub.shape[0] >= 2 and sub.shape[1] >= 2:
            stat, pv, dof, _ = chi2_contingency(sub.to_numpy())
            chi[a] = {"chi2": float(stat), "p_value": float(pv), "dof": int(dof),
                      "groups": [str(x) for x in sub.columns]}
        else:
            chi[a] = {"chi2": None, "p_value": None, "why": "fewer than two groups or reasons with enough denied applicants"}
        per = 6   # group columns per table, so a table fits the page's width
        for k0 in range(0, len(cols), per):
            part = "" if len(cols) <= per else f", groups {k0 + 1}-{min(k0 + per, len(cols))} of {len(cols)}"
            group_tables.append(table(["Principal reason"] + [c.group_label(a, col) for col in cols[k0:k0 + per]],
                                      [[r[0]] + r[1 + k0:1 + k0 + per] for r in rows],
                                      caption=f"Principal reason by {c.feature_label(a)} (share of the group's "
                                              f"denied applicants{part})",
                                      numeric=list(range(1, len(cols[k0:k0 + per]) + 1))))
        if chi[a].get("p_value") is not None:
            group_tables.append(para(
                f"Chi-square test of independence between principal reason and {c.feature_label(a)}: "
                f"chi2 = {chi[a]['chi2']:.2f}, {chi[a]['dof']} degrees of freedom, {p_is(chi[a]['p_value'])}. "
                "A difference in reason mix between groups is expected when their credit profiles differ; it is "
                "evidence to read with the fair-lending section, not a finding by itself."))

    # neutralisation: set each applicant's top-reason features to the reference value
    refvals = _reference_values(c, X_ref)
    ok_rows = [(int(i), r) for i, r in zip(denied, results) if not r.flagged]
    neut = {"n": len(ok_rows)}
    if ok_rows:
        Xn = c.X.iloc[[i for i, _ in ok_rows]].copy().reset_index(drop=True)
        by_set: dict[tuple, list[int]] = {}
        for pos, (_, r) in enumerate(ok_rows):
            feats = tuple(sorted(x["name"] for x in r.reasons[0]["features"]))
            by_set.setdefault(feats, []).append(pos)
        for feats, poss in by_set.items():
            for f in feats:
                Xn.loc[poss, f] = refvals[f]
        before = p_deny[[i for i, _ in ok_rows]]
        after = deny_probability(c.adapter, Xn, pack)
        delta = after - before
        toward = delta < -1e-12
        away = delta > 1e-12
        crosses = after < fin.decision.threshold
        keys = [r.reasons[0]["key"] for _, r in ok_rows]
        per_reason = []
        for k in sorted(set(keys), key=lambda k: (-keys.count(k), k)):
            m = np.array([kk == k for kk in keys])
            per_reason.append({"reason": k, "text": rlabel(k), "n": int(m.sum()), "toward": int(toward[m].sum()),
                               "no_change": int((~toward[m] & ~away[m]).sum()), "away": int(away[m].sum()),
                               "mean_delta": float(delta[m].mean()), "approved_after": int(crosses[m].sum())})
        neut.update({"toward": int(toward.sum()), "no_change": int((~toward & ~away).sum()), "away": int(away.sum()),
                     "share_toward": float(toward.mean()), "mean_delta": float(delta.mean()),
                     "median_delta": float(np.median(delta)), "approved_after": int(crosses.sum()),
                     "per_reason": per_reason,
                     "reference_values": {f: (v if not isinstance(v, (np.generic,)) else v.item()) for f, v in refvals.items()}})
        if neut["away"] or neut["no_change"]:
            sev = "high" if neut["away"] / len(ok_rows) > 0.05 else "medium"
            c.finding(sev, "Neutralising the principal reason does not always move the score toward approval",
                      f"{neut['away']} of {len(ok_rows)} denied applicants moved away from approval and "
                      f"{neut['no_change']} did not move when their top reason's features were set to the reference value",
                      "reasons")
    c.results["reasons"] = {"computed": True, "reference_population": ref.to_dict(), "denied": n_denied,
                            "flagged": len(flagged), "flag_reasons": flag_why, "distribution": dist_rows,
                            "by_group": by_group, "chi_square": chi, "neutralisation": neut}
    if flagged:
        share = len(flagged) / n_denied
        c.finding("high" if share > 0.05 else "medium", "Denials with no valid principal reason",
                  f"{len(flagged)} of {n_denied} denials ({pct(share)}) flagged for human review: "
                  + "; ".join(f"{k} ({v})" for k, v in flag_why.items()), "reasons")
    blocks = [
        para(f"Principal reasons are selected as the adverse-action letters select them (Reg B comment 9(b)(2)-5): "
             f"each factor's push toward denial relative to the reference population ({ref.description}, "
             f"{ref.n_rows:,} rows), summed per reason statement, at most {fin.max_reasons} reasons. "
             f"{n_denied:,} of {len(c.X):,} audited applications are denied by the model."),
        table(["Principal reason", "Code", "Denied applicants", "Share", "Among the top reasons"],
              [[cell(r["text"]), cell(r["code"] or ""), cell(f"{r['principal']:,}", r["principal"]),
                cell(pct(r["share"]), r["share"]), cell(f"{r['any_rank']:,}", r["any_rank"])] for r in dist_rows],
              caption="Distribution of principal reasons (all denied applicants)", numeric=[2, 3, 4]),
    ]
    c.figures["reasons_dist"] = {
        "type": "hbar", "xlabel": "share of denied applicants (principal reason)", "color": "#D55E00",
        "items": [{"label": r["text"], "value": r["share"], "text": pct(r["share"]),
                   "title": f"{r['text']}: {r['principal']} of {n_denied} ({pct(r['share'], 2)})"} for r in dist_rows],
        "alt": "Bar chart of the share of denied applicants by principal reason: " +
               ", ".join(f"{r['text']} {pct(r['share'])}" for r in dist_rows[:4]) + "."}
    blocks.append(figure("reasons_dist", "Principal reasons of denied applicants", c.figures["reasons_dist"]["alt"]))
    blocks += group_tables
    if ok_rows:
        blocks.append(para(
            f"Neutralisation check: for each denied applicant with valid reasons ({len(ok_rows):,}), the features behind "
            "the principal reason are set to the reference population's typical value (median, or the most common "
            f"category) and the model is re-scored. {neut['toward']:,} ({pct(neut['share_toward'])}) moved toward "
            f"approval, {neut['no_change']:,} did not move, {neut['away']:,} moved away; mean change in P(deny) "
            f"{100 * neut['mean_delta']:+.1f} percentage points; {neut['approved_after']:,} would be approved."))
        blocks.append(table(["Principal reason", "Applicants", "Toward approval", "No change", "Away", "Mean change in P(deny)",
                             "Approved after"],
                            [[cell(r["text"]), cell(r["n"], r["n"]), cell(r["toward"], r["toward"]),
                              cell(r["no_change"], r["no_change"]), cell(r["away"], r["away"], flag="flag" if r["away"] else None),
                              cell(f"{100 * r['mean_delta']:+.1f} pp", r["mean_delta"]),
                              cell(r["approved_after"], r["approved_after"])] for r in neut["per_reason"]],
                            caption="Neutralising the principal reason", numeric=[1, 2, 3, 4, 5, 6]))
        blocks.append(details("Reference values used for neutralisation", [table(
            ["Feature", "Reference value"],
            [[cell(c.feature_label(f)), cell(format_value(v, c.spec.features[f], currency=c.spec.currency))] for f, v in refvals.items()])]))
    c.reviewed.append("Reason codes: distribution overall and by protected group, and the neutralisation check")
    return {"id": "reasons", "title": title, "blocks": blocks}


def _sec_explanation_quality(c: _Ctx) -> dict:
    blocks, res = [], {}
    if c.attr is not None and c.attr.self_check:
        sc = c.attr.self_check
        per = np.asarray(sc.get("per_row")) if sc.get("per_row") is not None else None
        over = int((per > sc["tolerance"]).sum()) if per is not None else None
        res["additivity"] = {"kind": sc.get("kind"), "max_abs_error": sc.get("max_abs_error"),
                             "mean_abs_error": float(per.mean()) if per is not None else None,
                             "tolerance": sc.get("tolerance"), "rows_over_tolerance": over, "passed": sc.get("passed")}
        rows = [("Method", f"{c.attr.method} ({', '.join(f'{k}={v}' for k, v in c.attr.params.items())})"),
                ("Additivity: largest |sum of attributions + base - output|", f"{sc['max_abs_error']:.2e} ({c.attr.output} units)"),
                ("Additivity: mean error", f"{res['additivity']['mean_abs_error']:.2e}"),
                ("Tolerance", f"{sc['tolerance']:.0e}"),
                ("Rows over tolerance", f"{over:,} of {len(per):,}")]
        blocks.append(kv(rows))
        if not sc.get("passed"):
            c.finding("high", "Attributions fail the additivity check",
                      f"{over} rows with error above {sc['tolerance']:.0e} (largest {sc['max_abs_error']:.2e})",
                      "explanation_quality")
        c.reviewed.append("Explanation fidelity: additivity of the attributions")
    else:
        blocks.append(not_computed(c.attr_error or "the attribution method reports no self-check"))
    # faithfulness and stability (xai_reports.metrics, when present)
    metrics = _optional_api("metrics")
    if metrics is None:
        try:
            import importlib

            metrics = importlib.import_module("xai_reports.metrics")
        except ModuleNotFoundError:
            metrics = None
    if metrics is not None and not all(hasattr(metrics, f) for f in ("deletion", "insertion", "max_sensitivity")):
        metrics = None
    if metrics is None or c.attr is None:
        why = (c.attr_error if c.attr is None else
               "deletion/insertion faithfulness and stability need xai_reports.metrics, which is not part of this build "
               "(it comes with the explanation-metrics work)")
        blocks.append(not_computed(why))
        res["faithfulness"] = {"computed": False, "why": why}
        res["stability"] = {"computed": False, "why": why}
        c.not_reviewed.append("Faithfulness (deletion/insertion) and stability of explanations (" + why + ")")
    else:
        fq, fq_blocks = _faithfulness(c, metrics)
        res.update(fq)
        blocks += fq_blocks
    if c.reason_stats is not None:
        rs = c.reason_stats
        res["no_valid_reasons"] = rs
        blocks.append(kv([("Denials flagged for having no valid reasons",
                           f"{rs['n_flagged']:,} of {rs['n_denied']:,} ({pct(rs['share_flagged'])})")]))
    c.results["explanation_quality"] = res
    return {"id": "explanation_quality", "title": "Explanation quality", "blocks": blocks}


class _CodedAdapter:
    """The model seen through numeric codes (categoricals as category indices), for metrics that need numbers."""

    def __init__(self, adapter, X: pd.DataFrame):
        from ..adapters.base import ModelAdapter

        cats = {f: X[f].cat.categories for f in X.columns if isinstance(X[f].dtype, pd.CategoricalDtype)}
        columns = list(X.columns)

        class Coded(ModelAdapter):
            family = "coded"

            def _raw_predict(self, Z):
                return adapter.predict(self.decode(Z))

            def decode(self, Z):
                Z = Z if isinstance(Z, pd.DataFrame) else pd.DataFrame(np.asarray(Z, dtype=float), columns=columns)
                out = {}
                for f in columns:
                    if f in cats:
                        k = np.clip(np.rint(Z[f].to_numpy(dtype=float)), 0, len(cats[f]) - 1).astype(int)
                        out[f] = pd.Categorical.from_codes(k, categories=cats[f])
                    else:
                        out[f] = Z[f].to_numpy(dtype=float)
                return pd.DataFrame(out)[columns]

            def model_bytes(self):
                return adapter.model_bytes()

        self.model = Coded(adapter.model, feature_names=columns)
        self.model.output_space = adapter.output_space
        self.model.is_classifier = adapter.is_classifier
        self.cats = cats
        self.columns = columns

    def encode(self, X: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({f: (X[f].cat.codes.to_numpy(dtype=float) if f in self.cats else X[f].to_numpy(dtype=float))
                             for f in self.columns}, index=X.index)[self.columns]


def _faithfulness(c: _Ctx, metrics) -> tuple[dict, list]:
    """Deletion/insertion against random orders and max-sensitivity, through ``xai_reports.metrics``."""
    st = c.settings
    rng = np.random.default_rng(c.seed)
    n = len(c.X)
    idx = np.sort(rng.choice(n, size=min(n, st.faithfulness_rows), replace=False))
    coded = _CodedAdapter(c.adapter, c.X)
    Z = coded.encode(c.X.iloc[idx]).reset_index(drop=True)
    X_ref = c.ref_X if c.ref_X is not None else c.X
    refvals = _reference_values(c, X_ref)
    base = np.array([(list(coded.cats[f]).index(refvals[f]) if f in coded.cats else float(refvals[f]))
                     for f in coded.columns], dtype=float)
    res, blocks, rows = {}, [], []
    space = c.attr.output
    try:
        dele = metrics.deletion(coded.model, Z, c.attr.values[idx], baselines=base, n_random=10, seed=c.seed,
                                output=space)
        ins = metrics.insertion(coded.model, Z, c.attr.values[idx], baselines=base, n_random=10, seed=c.seed,
                                output=space)
        for cr in (dele, ins):
            sm = cr.summary()
            res[cr.kind] = {"auc": sm["auc"], "random_auc": sm["random_auc"], "gain": sm["gain"],
                            "share_better_than_random": sm["better_than_random"], "rows": int(len(idx))}
            # a one-sided sign test of "better than random" per row
            from scipy.stats import binomtest

            wins = int((cr.gain > 0).sum())
            ties = int((cr.gain == 0).sum())
            m = len(cr.gain) - ties
            res[cr.kind]["sign_test_p"] = float(binomtest(wins, m, 0.5, alternative="greater").pvalue) if m else math.nan
            rows.append([cell(cr.kind), cell(f3(sm["auc"]), sm["auc"]), cell(f3(sm["random_auc"]), sm["random_auc"]),
                         cell(f"{sm['gain']:+.3f}", sm["gain"], flag=None if sm["gain"] > 0 else "flag"),
                         cell(pct(sm["better_than_random"]), sm["better_than_random"]),
                         cell(pval(res[cr.kind]["sign_test_p"]), res[cr.kind]["sign_test_p"])])
            if sm["gain"] <= 0 or res[cr.kind]["sign_test_p"] >= 0.05:
                c.finding("high", f"Explanations are not more faithful than random ({cr.kind})",
                          f"mean {cr.kind} gain over random orderings {sm['gain']:+.3f} "
                          f"(sign test {p_is(res[cr.kind]['sign_test_p'])})", "explanation_quality")
        res["faithfulness"] = {"computed": True, "rows": int(len(idx)), "baseline": "reference values (median / most common)",
                               "output": space, "random_orders": 10}
        blocks.append(para(
            f"Faithfulness on {len(idx):,} seeded rows: features are replaced by the reference value (deletion) or "
            f"restored from it (insertion) in the order of their attribution, and the area under the model's "
            f"{space} curve is compared with 10 random orders. A faithful explanation has a lower deletion area "
            "and a higher insertion area than random (positive gain)."))
        blocks.append(table(["Curve", "Area (attribution order)", "Area (random orders)", "Gain over random",
                             "Rows better than random", "Sign test p"], rows,
                            caption="Deletion / insertion faithfulness", sortable=False, numeric=[1, 2, 3, 4, 5]))
        c.reviewed.append("Explanation faithfulness: deletion and insertion against random orderings")
    except Exception as exc:  # noqa: BLE001
        res["faithfulness"] = {"computed": False, "why": f"faithfulness failed: {exc}"}
        blocks.append(not_computed(res["faithfulness"]["why"]))
    try:
        sidx = idx[: st.stability_rows]
        Zs = coded.encode(c.X.iloc[sidx]).reset_index(drop=True)
        numeric = [j for j, f in enumerate(coded.columns)
                   if f not in coded.cats and c.spec.features[f].type == "numeric"]
        sd = X_ref[[coded.columns[j] for j in numeric]].to_numpy(dtype=float).std(axis=0) if numeric else np.empty(0)
        radius = st.stability_radius

        def perturb(x, r):
            x = np.array(x, dtype=float, copy=True)
            if numeric:
                x[:, numeric] += r.uniform(-1, 1, size=(len(x), len(numeric))) * (radius * sd)[None, :]
            return x

        def explain_coded(Zp):
            from ..attribution import explain

            return explain(c.adapter, coded.model.decode(Zp), method=c.spec.explanation.method,
                           **getattr(c, "explain_options", c.spec.explanation.options)).values

        sens = np.asarray(metrics.max_sensitivity(explain_coded, Zs, perturb_func=perturb, n_perturb_samples=10,
                                                  seed=c.seed))
        res["stability"] = {"computed": True, "rows": int(len(sidx)), "radius_sd": radius, "samples": 10,
                            "median": float(np.median(sens)), "p95": float(np.quantile(sens, 0.95)),
                            "max": float(sens.max()), "perturbed_features": [coded.columns[j] for j in numeric]}
        blocks.append(para(
            f"Stability on {len(sidx):,} rows: each numeric input is moved by up to {radius:g} of its standard "
            "deviation (10 seeded draws; categorical and ordinal inputs unchanged) and the largest relative change "
            "of the attribution vector, ||phi(x') - phi(x)|| / ||phi(x)||, is recorded (max-sensitivity)."))
        blocks.append(kv([("Max-sensitivity, median", f3(res["stability"]["median"])),
                          ("Max-sensitivity, 95th percentile", f3(res["stability"]["p95"])),
                          ("Max-sensitivity, largest", f3(res["stability"]["max"]))]))
        if res["stability"]["p95"] > 1.0:
            c.finding("low", "Explanations of some applicants change more than their own size under small perturbations",
                      f"95th percentile of max-sensitivity {f3(res['stability']['p95'])} (radius {radius:g} SD)",
                      "explanation_quality")
        c.reviewed.append("Explanation stability under small perturbations (max-sensitivity)")
    except Exception as exc:  # noqa: BLE001
        res["stability"] = {"computed": False, "why": f"stability failed: {exc}"}
        blocks.append(not_computed(res["stability"]["why"]))
    return res, blocks


def _sec_recourse(c: _Ctx) -> dict:
    title = "Counterfactual recourse"
    fn = _optional_api("counterfactuals")
    if fn is None:
        why = ("counterfactual search needs xai_reports.counterfactuals, which is not part of this build "
               "(it comes with the counterfactuals work)")
        c.results["recourse"] = {"computed": False, "why": why}
        c.not_reviewed.append("Counterfactual recourse (" + why + ")")
        return {"id": "recourse", "title": title, "blocks": [not_computed(why)]}
    st = c.settings
    adverse = np.flatnonzero(~c.favorable)
    rng = np.random.default_rng(c.seed)
    sample = np.sort(rng.choice(adverse, size=min(len(adverse), st.counterfactual_rows), replace=False)) if len(adverse) else adverse
    X_ref = c.ref_X if c.ref_X is not None else c.X
    try:
        cfs = fn(c.adapter, c.X.iloc[sample].reset_index(drop=True), pack=c.pack, k=1, background=X_ref,
                 random_state=c.seed)
    except Exception as exc:  # noqa: BLE001
        why = f"counterfactual search failed: {exc}"
        c.results["recourse"] = {"computed": False, "why": why}
        return {"id": "recourse", "title": title, "blocks": [not_computed(why)]}
    status = cfs.status.reset_index(drop=True)
    found = (status["status"] == "found").to_numpy()
    cost = np.full(len(sample), np.nan)
    nchg = np.full(len(sample), np.nan)
    best = cfs.counterfactuals[cfs.counterfactuals["rank"] == 0].set_index("row")
    for i in range(len(sample)):
        if i in best.index:
            cost[i] = float(best.loc[i, "cost"])
            nchg[i] = float(best.loc[i, "n_changed"])
    why_none = status.loc[status["status"] == "none", "reason"].astype(str).value_counts().to_dict()
    changed = cfs.changes()["feature"].value_counts().to_dict() if len(cfs.counterfactuals) else {}
    res = {"computed": True, "adverse": int(len(adverse)), "searched": int(len(sample)), "seed": c.seed,
           "found": int(found.sum()), "share_found": float(found.mean()) if len(sample) else math.nan,
           "mean_cost": float(np.nanmean(cost[found])) if found.any() else math.nan,
           "median_cost": float(np.nanmedian(cost[found])) if found.any() else math.nan,
           "mean_features_changed": float(np.nanmean(nchg[found])) if found.any() else math.nan,
           "features_changed": {str(k): int(v) for k, v in changed.items()}, "why_none": why_none,
           "desired": cfs.desired, "by_group": {}}
    rows = [[cell("all"), cell("all searched"), cell(len(sample), len(sample)),
             cell(pct(res["share_found"]), res["share_found"]), cell(f3(res["mean_cost"]), res["mean_cost"]),
             cell(f3(res["mean_features_changed"], 2), res["mean_features_changed"])]]
    for a in c.protected:
        g = c.groups[a].iloc[sample].reset_index(drop=True)
        res["by_group"][a] = []
        for k in sorted(g.unique()):
            m = (g == k).to_numpy()
            r = {"group": k, "label": c.group_label(a, k), "n": int(m.sum()),
                 "share_found": float(found[m].mean()) if m.any() else math.nan,
                 "mean_cost": float(np.nanmean(cost[m & found])) if (m & found).any() else math.nan,
                 "mean_features_changed": float(np.nanmean(nchg[m & found])) if (m & found).any() else math.nan}
            res["by_group"][a].append(r)
            rows.append([cell(c.feature_label(a)), cell(r["label"]), cell(r["n"], r["n"]),
                         cell(pct(r["share_found"]), r["share_found"]), cell(f3(r["mean_cost"]), r["mean_cost"]),
                         cell(f3(r["mean_features_changed"], 2), r["mean_features_changed"])])
    c.results["recourse"] = res
    c.reviewed.append("Counterfactual recourse for denied applicants, overall and by group")
    blocks = [para(f"For a seeded sample of {len(sample):,} of the {len(adverse):,} applicants with an adverse decision, "
                   f"the cheapest change of actionable features (as the pack constrains them: protected and "
                   f"non-actionable features never change) that gives the desired outcome ({cfs.desired}). "
                   "Cost: the MAD-normalised L1 distance weighted by the pack's feature costs."),
              table(["Attribute", "Group", "Applicants searched", "With a counterfactual", "Mean cost",
                     "Mean features changed"], rows, caption="Recourse by group", numeric=[2, 3, 4, 5])]
    if changed:
        blocks.append(details("Features changed by the counterfactuals", [table(
            ["Feature", "Counterfactuals changing it"],
            [[cell(c.feature_label(k)), cell(v, v)] for k, v in changed.items()], numeric=[1])]))
    if why_none:
        blocks.append(details("Why no counterfactual was found", [table(
            ["Reason", "Applicants"], [[cell(k), cell(v, v)] for k, v in why_none.items()], numeric=[1])]))
    for a in c.protected:
        gs = [r for r in res["by_group"][a] if r["n"] >= c.settings.subgroup_min_rows and not _nan(r["share_found"])]
        if len(gs) >= 2:
            lo, hi = min(gs, key=lambda r: r["share_found"]), max(gs, key=lambda r: r["share_found"])
            if hi["share_found"] - lo["share_found"] > 0.10:
                c.finding("medium", f"Less recourse for {c.feature_label(a)} = {lo['label']}",
                          f"{pct(lo['share_found'])} of searched applicants have a counterfactual against "
                          f"{pct(hi['share_found'])} for {hi['label']}", "recourse")
    if len(sample) and res["share_found"] < 0.5:
        c.finding("medium", "Most denied applicants have no actionable counterfactual",
                  f"{pct(res['share_found'])} of {len(sample)} searched", "recourse")
    return {"id": "recourse", "title": title, "blocks": blocks}


def _sec_fairness(c: _Ctx) -> dict:
    from ..fairness import adverse_impact_ratio, logit_marginal_effect, proxy_screen, standardized_mean_difference

    title = "Fair-lending metrics"
    fs = c.asec.fairness if c.asec else None
    if fs is None:
        from ..packs.schema import FairnessSettings

        fs = FairnessSettings()
    if not fs.enabled:
        c.results["fairness"] = {"computed": False, "why": "disabled in the pack (audit.fairness.enabled: false)"}
        return {"id": "fairness", "title": title, "blocks": [not_computed("disabled in the pack (audit.fairness.enabled: false)")]}
    if not c.protected:
        why = "no protected attribute in the data (give --protected COL or mark pack features protected: true)"
        c.results["fairness"] = {"computed": False, "why": why}
        c.not_reviewed.append("Fair-lending metrics (" + why + ")")
        return {"id": "fairness", "title": title, "blocks": [not_computed(why)]}
    fav_name = "approval" if (c.spec.finance is not None) else "favourable decision"
    p_fav = 1 - c.p if c.favorable_is_negative else c.p
    y_fav = (c.y == 0) if c.favorable_is_negative else (c.y == 1)
    blocks = [para("The legal basis of these metrics depends on jurisdiction (and on the product and the law "
                   "applied). What the pack records about it: " + fs.legal_basis, "legal"),
              para(f"Jurisdiction: {fs.jurisdiction or c.spec.jurisdiction or 'not stated in the pack'}. "
                   "These metrics are configurable in the pack (audit.fairness) and are reported as measurements; "
                   "this report does not determine compliance or discrimination.", "legal"),
              para(f"Favourable outcome: the model's {fav_name} (P({c.positive_name}) "
                   f"{'<' if c.favorable_is_negative else '>='} {c.threshold:g}). Groups with fewer than "
                   f"{fs.min_group_size} rows are listed but not assessed. Significance level {fs.alpha:g}.")]
    res = {"computed": True, "legal_basis": fs.legal_basis, "jurisdiction": fs.jurisdiction, "metrics": list(fs.metrics),
           "air_threshold": fs.air_threshold, "smd_threshold": fs.smd_threshold, "alpha": fs.alpha,
           "min_group_size": fs.min_group_size, "favorable": fav_name}
    Z = c.X if fs.control_for_model_inputs else None
    air_items = []
    for a in c.protected:
        g = c.groups[a]
        ref = fs.reference_groups.get(a)
        ref_key = None if ref is None else str(ref)
        if ref_key is not None and ref_key not in set(g):
            ref_key = None
        t = adverse_impact_ratio(c.favorable, g, reference=ref_key, threshold=fs.air_threshold,
                                 min_group_size=fs.min_group_size)
        ref_row = t[t["is_reference"]]
        ref_used = None if ref_row.empty else ref_row.iloc[0]["group"]
        t_obs = adverse_impact_ratio(y_fav, g, reference=ref_used, threshold=fs.air_threshold,
                                     min_group_size=fs.min_group_size) if ref_used is not None else None
        ares = {"reference_group": ref_used, "reference_source": "pack (audit.fairness.reference_groups)" if ref is not None and ref_key else "highest favourable rate",
                "groups": []}
        smd = standardized_mean_difference(p_fav, g, reference=ref_used, min_group_size=fs.min_group_size) if ref_used is not None else None
        rows = []
        unassessed = []
        if a in c.bands:
            ares["bands"] = c.bands[a]
        for _, r in t.iterrows():
            gr = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()}
            gr["label"] = c.group_label(a, r["group"])
            if t_obs is not None:
                o = t_obs[t_obs["group"] == r["group"]].iloc[0]
                gr["observed_rate"] = float(o["rate"])
                gr["observed_air"] = float(o["air"])
            if smd is not None:
                s = smd[smd["group"] == r["group"]].iloc[0]
                gr["mean_p_favorable"] = float(s["mean"])
                gr["smd"] = float(s["smd"])
            me = None
            if "marginal_effect" in fs.metrics and r["assessed"] and not r["is_reference"]:
                m = ((g == r["group"]) | (g == ref_used)).to_numpy()
                me = logit_marginal_effect(c.favorable[m].astype(int), (g[m] == r["group"]).to_numpy(),
                                           None if Z is None else Z[m], alpha=fs.alpha)
                gr["adjusted_marginal_effect"] = me.to_dict()
            ares["groups"].append(gr)
            if r["flag"]:
                c.finding("high", f"Adverse impact ratio below {fs.air_threshold:g} for {c.feature_label(a)} = {gr['label']}",
                          f"AIR {f3(r['air'])}: {fav_name} rate {pct(r['rate'])} against {pct(ref_row.iloc[0]['rate'])} "
                          f"for the reference group (z-test {p_is(r['p_value'])})", "fairness")
            if smd is not None and not _nan(gr.get("smd")) and abs(gr["smd"]) >= fs.smd_threshold and "standardized_mean_difference" in fs.metrics:
                c.finding("medium", f"Standardized mean difference of {gr['smd']:+.2f} for {c.feature_label(a)} = {gr['label']}",
                          f"mean P({fav_name}) {f3(gr['mean_p_favorable'])}; |SMD| at or above {fs.smd_threshold:g}", "fairness")
            if (r["assessed"] and not r["is_reference"] and not r["flag"] and not _nan(r["p_value"])
                    and r["p_value"] < fs.alpha and r["difference_pp"] < 0
                    and "adverse_impact_ratio" in fs.metrics):
                adj = ("" if me is None or not me.converged else
                       f"; adjusted for the model's inputs {100 * me.ame:+.1f} pp ({p_is(me.p_value)})")
                c.finding("medium", f"Significantly lower {fav_name} rate for {c.feature_label(a)} = {gr['label']}",
                          f"{r['difference_pp']:+.1f} percentage points (z-test {p_is(r['p_value'])}), AIR "
                          f"{f3(r['air'])}{adj}", "fairness")
            if me is not None and me.converged and me.p_value < fs.alpha:
                c.finding("high" if me.ame < 0 else "info",
                          f"Significant adjusted marginal effect {'against' if me.ame < 0 else 'in favour of'} "
                          f"{c.feature_label(a)} = {gr['label']}",
                          f"{100 * me.ame:+.1f} percentage points in {fav_name} probability controlling for the model's "
                          f"inputs ({p_is(me.p_value)})", "fairness")
            if not r["assessed"] and not r["is_reference"]:
                unassessed.append(f"{gr['label']} ({r['n']} rows)")
            air_items.append({"label": f"{c.feature_label(a)}: {gr['label']}", "value": float(r["air"]) if r["assessed"] else math.nan,
                              "text": f3(r["air"], 2) if r["assessed"] else "not assessed",
                              "color": "#D55E00" if r["flag"] else "#0072B2",
                              "title": f"{c.feature_label(a)} = {gr['label']}: AIR {f3(r['air'])}, {fav_name} rate {pct(r['rate'])}, n = {r['n']}"})
            me_text = "reference" if r["is_reference"] else ("n/a" if me is None else
                      (f"{100 * me.ame:+.1f} pp ({p_is(me.p_value)})" if me.converged else "not estimable"))
            rows.append([cell(gr["label"]), cell(f"{r['n']:,}", r["n"]), cell(pct(r["rate"]), r["rate"]),
                         cell("reference" if r["is_reference"] else f3(r["air"]), r["air"],
                              flag="flag" if r["flag"] else None),
                         cell("" if r["is_reference"] or _nan(r["difference_pp"]) else f"{r['difference_pp']:+.1f} pp", r["difference_pp"]),
                         cell(pval(r["p_value"]) if not r["is_reference"] else "", r["p_value"]),
                         cell(f3(gr.get("smd"), 2) if not r["is_reference"] else "", gr.get("smd")),
                         cell(me_text, None if me is None else me.ame,
                              title=None if me is None or not me.converged else
                              f"AME {me.ame:.6f}, SE {me.se:.6f}, 95% CI [{me.ci[0]:.4f}, {me.ci[1]:.4f}], n = {me.n}"),
                         cell(f3(gr.get("observed_air")) if not r["is_reference"] else "", gr.get("observed_air")),
                         cell(r["note"])])
        cols = ["Group", "Rows", f"{fav_name.capitalize()} rate", "AIR", "Difference", "z-test p", "SMD",
                "Adjusted marginal effect", "AIR (observed outcomes)", "Note"]
        keep = [0, 1, 2]
        if "adverse_impact_ratio" in fs.metrics:
            keep += [3, 4, 5]
        if "standardized_mean_difference" in fs.metrics:
            keep += [6]
        if "marginal_effect" in fs.metrics:
            keep += [7]
        keep += [8, 9]
        if unassessed:   # one finding per attribute, not one per group
            c.finding("low", f"Fair-lending metrics not assessed for {len(unassessed)} group(s) of {c.feature_label(a)}",
                      f"fewer than {fs.min_group_size} rows: {_listing(unassessed)}", "fairness")
        blocks.append({"type": "h3", "text": c.feature_label(a) + f" ({a})"})
        band_note = (f" Groups are bands of {c.feature_label(a)}: {', '.join(c.bands[a]['labels'])} "
                     f"({c.bands[a]['source']})." if a in c.bands else "")
        blocks.append(para(f"Reference group: {c.group_label(a, ref_used) if ref_used else 'none'} "
                           f"({ares['reference_source']}).{band_note}"))
        blocks.append(table([cols[i] for i in keep], [[row[i] for i in keep] for row in rows],
                            caption=f"Fair-lending metrics by {c.feature_label(a)}", numeric=[i for i, k in enumerate(keep) if 1 <= k <= 8]))
        if "proxy_screen" in fs.metrics:
            ps = proxy_screen(c.X, g, reference=ref_used, min_group_size=fs.min_group_size)
            ares["proxy_screen"] = ps.to_dict(orient="records")
            flagged = ps[ps["abs_correlation"] >= fs.proxy_threshold]
            for _, r in flagged.iterrows():
                c.finding("medium", f"Possible proxy: {c.feature_label(r['feature'])} correlates with {c.feature_label(a)}",
                          f"correlation {r['correlation']:+.2f} with group {c.group_label(a, r['group'])} (threshold {fs.proxy_threshold:g})",
                          "fairness")
            blocks.append(details(f"Proxy screen: correlation of each model input with {c.feature_label(a)}", [table(
                ["Feature", "Group", "Correlation"],
                [[cell(c.feature_label(r["feature"])), cell(c.group_label(a, r["group"]) if r["group"] else "n/a"),
                  cell(f3(r["correlation"], 3), r["correlation"], flag="flag" if r["abs_correlation"] >= fs.proxy_threshold else None)]
                 for _, r in ps.iterrows()], numeric=[2])]))
        res[a] = ares
    not_plotted = [i for i in air_items if _nan(i["value"])]
    air_items = [i for i in air_items if not _nan(i["value"])]   # groups not assessed: in the tables, not the chart
    if "adverse_impact_ratio" in fs.metrics and air_items:
        c.figures["air"] = {"type": "hbar", "items": air_items, "threshold": fs.air_threshold,
                            "xlabel": f"adverse impact ratio ({fav_name} rate / reference rate); dashed line: {fs.air_threshold:g}",
                            "alt": "Bar chart of adverse impact ratios by group with the flag threshold "
                                   f"{fs.air_threshold:g}: " + ", ".join(f"{i['label']} {i['text']}" for i in air_items) + "."}
        blocks.insert(3, figure("air", "Adverse impact ratio by group" + (
            f" ({len(not_plotted)} group(s) not assessed are listed in the tables)" if not_plotted else ""),
            c.figures["air"]["alt"]))
    blocks.append(para("Adjusted marginal effect: the average change in the probability of a favourable model decision "
                       "associated with group membership in a logistic regression on the model's decisions that controls "
                       "for the model's inputs (legitimate credit factors), compared pairwise with the reference group; "
                       "delta-method standard errors. Difference: the unadjusted gap in favourable rates with a pooled "
                       "two-proportion z-test. SMD: standardized mean difference of the model's P(favourable). "
                       "AIR (observed outcomes) applies the same ratio to the labels of the audit data, for comparison."))
    c.results["fairness"] = res
    c.reviewed.append("Fair-lending metrics: " + ", ".join(m.replace("_", " ") for m in fs.metrics))
    c.not_reviewed.append("Search for less discriminatory alternative models (not performed by this tool)")
    return {"id": "fairness", "title": title, "blocks": blocks}


# ----------------------------------------------------------------------------- assembly
_BUILTIN_NOT_REVIEWED = [
    "Conceptual soundness of the development process and alternatives considered (developer documentation is outside this run)",
    "Implementation and integration in production systems (input/output reconciliation in production)",
    "Back-testing over time and population stability against the development sample",
]


def _assemble(c: _Ctx, built: dict) -> AuditReport:
    spec, asec = c.spec, c.asec
    m = asec.model if asec else None
    model_desc = c.adapter.describe()
    model_hash = c.adapter.sha256
    file_hash = sha256_file(c.model_path) if c.model_path else None
    data_hash = sha256_file(c.data_path) if c.data_path else _sha256_frame(c.raw)
    ref_hash = None
    if c.reference_path:
        ref_hash = sha256_file(c.reference_path)
    elif c.ref_X is not None:
        ref_hash = _sha256_frame(c.ref_X)
    from ..render import template_fingerprint

    tpl_name = spec.templates.get("audit", "audit/audit_report.html.j2")
    try:
        tpl = template_fingerprint(tpl_name, c.pack.template_dirs())
    except Exception as exc:  # noqa: BLE001
        raise PackError(f"audit template: {exc}", file=c.pack.files[-1], key_path="templates.audit") from None
    title = asec.title if asec else "Model validation and compliance audit report"
    name = (m.name if m else None) or c.model_name or (c.model_path.name if c.model_path else type(c.adapter.model).__name__)

    # -- identification
    if m is None:
        c.finding("medium", "The pack has no audit section",
                  "model id, owner, validator, risk tier, monitoring plan and sign-off are not recorded", "identification")
    ident_rows = [
        ("Model", name),
        ("Model id / version", f"{m.id if m else 'not recorded'} / {m.version if m else 'not recorded'}"),
        ("Inventory id", (m.inventory_id if m and m.inventory_id else "not recorded")),
        ("Model SHA-256 (canonical serialisation)", model_hash),
        ("Model file", f"{c.model_path.name} (SHA-256 {file_hash})" if c.model_path else "in-memory model object"),
        ("Model family", f"{model_desc['family']} ({model_desc['class']}), output {model_desc['output_space']}"),
        ("Report date", f"{c.date} ({c.date_source})"),
        ("Owner", m.owner if m else "not recorded"),
        ("Developer", (m.developer if m and m.developer else "not recorded")),
        ("Validator", m.validator if m else "not recorded"),
        ("Independence", (m.independence if m and m.independence else "not stated")),
        ("Risk tier / materiality", f"{(m.risk_tier if m and m.risk_tier else 'not recorded')}"
                                    f"{'; ' + m.materiality if m and m.materiality else ''}"),
        ("Regulatory classification", "; ".join(m.regulatory_classification) if m and m.regulatory_classification else "not recorded"),
        ("Domain pack", f"{spec.name} {spec.version} (SHA-256 {c.pack.sha256})"),
        ("Guidance structure", "SR 26-2 (supersedes SR 11-7); EU AI Act Annex IV where applicable"),
    ]
    ident = {"id": "identification", "title": "Identification", "blocks": [kv(ident_rows)]}
    c.results["identification"] = {
        "model_name": name, "model_id": m.id if m else None, "model_version": m.version if m else None,
        "inventory_id": m.inventory_id if m else None, "model_sha256": model_hash, "model_file_sha256": file_hash,
        "date": c.date, "date_source": c.date_source, "owner": m.owner if m else None,
        "developer": m.developer if m else None, "validator": m.validator if m else None,
        "risk_tier": m.risk_tier if m else None,
        "regulatory_classification": list(m.regulatory_classification) if m else [], "pack": c.pack.describe()}

    # -- model description
    c.results["model_structure"] = describe_trees(c.adapter)
    md = [("Purpose", (m.purpose if m and m.purpose else "not recorded")),
          ("Intended use", (m.intended_use if m and m.intended_use else "not recorded")),
          ("Intended users", (m.intended_users if m and m.intended_users else "not recorded")),
          ("Algorithm", f"{model_desc['family']} {model_desc['class']}" + _trees(c.adapter)),
          ("Output", f"P({c.positive_name}); decision {c.positive_name} when P >= {c.threshold:g}"),
          ("Inputs", f"{len(c.features)} features (below); protected attributes are not inputs"
                     if not set(c.protected) & set(c.features) else f"{len(c.features)} features"),
          ("Explanation method", f"{spec.explanation.method} (additivity tolerance {spec.explanation.additivity_tolerance:g})"),
          ("Components", "; ".join(m.components) if m and m.components else "not recorded")]
    if m and m.use_restrictions:
        md.append(("Use restrictions", "; ".join(m.use_restrictions)))
    prot_inputs = [f for f in c.features if f in c.protected or (f in spec.features and spec.features[f].protected)]
    for a in prot_inputs:
        lu = spec.features[a].lawful_use if a in spec.features else None
        if lu is None:
            ev = ("a protected attribute should not be used by a credit model; letters are refused until the pack "
                  f"declares its lawful use (features.{a}.lawful_use)")
        else:
            ev = (f"the pack declares its lawful use: {lu.basis} ({'; '.join(lu.citations)}). The validator must "
                  "confirm that basis (for age: an empirically derived, demonstrably and statistically sound system, "
                  "12 CFR 1002.2(p), 1002.6(b)(2), in which the age of an elderly applicant is not assigned a "
                  "negative factor or value)")
        c.finding("high", f"Protected attribute '{a}' is a model input", ev, "model")
    feat_rows = []
    for f in c.features:
        fsp = spec.features[f]
        rk = fsp.reason or ", ".join(sorted(set(fsp.reason_by_value.values()))) or ""
        feat_rows.append([cell(f), cell(fsp.label), cell(fsp.type), cell(fsp.description or ""),
                          cell(spec.reasons[rk].text if rk in spec.reasons else rk),
                          cell("yes" if fsp.actionable else "no")])
    model_sec = {"id": "model", "title": "Model description", "blocks": [
        kv(md), table(["Column", "Feature", "Type", "Description", "Reason statement", "Actionable"], feat_rows,
                      caption="Model inputs as the pack declares them")]}
    c.reviewed.append("Model description against the pack: inputs, output, threshold, explanation method")

    # -- limitations
    lim = list(asec.limitations) if asec else []
    lim.append(f"The audit data has {len(c.X):,} rows; every figure is an estimate on this sample, not on the population.")
    small = [f"{c.feature_label(a)} = {c.group_label(a, r['group'])} ({r['n']} rows)"
             for a in c.protected for r in c.results.get("performance", {}).get("by_group", {}).get(a, [])
             if r["n"] < c.settings.subgroup_min_rows]
    if small:
        lim.append("Subgroups too small to assess: " + "; ".join(small) + ".")
    for key, label in (("importance", "permutation importance"), ("surrogate", "surrogate tree"),
                       ("recourse", "counterfactual recourse")):
        r = c.results.get(key, {})
        r = r.get("permutation", {}) if key == "importance" else r
        if r.get("computed") is False:
            lim.append(f"The {label} was not computed in this run: {r['why']}.")
    eq = c.results.get("explanation_quality", {})
    if eq.get("faithfulness", {}).get("computed") is False:
        lim.append("Faithfulness and stability of the explanations were not computed in this run: "
                   f"{eq['faithfulness']['why']}.")
    lim.append("This report documents tests run by software on the data supplied. It does not certify compliance "
               "with any law or guidance; the validator's conclusions and sign-off below are required.")
    lim_blocks = [ul(lim)]
    if asec and asec.compensating_controls:
        lim_blocks += [{"type": "h3", "text": "Compensating controls (from the pack)"}, ul(asec.compensating_controls)]
    limitations = {"id": "limitations", "title": "Limitations", "blocks": lim_blocks}

    # -- monitoring and sign-off
    mon = asec.monitoring if asec else None
    if mon and (mon.metrics or mon.revalidation_triggers):
        mblocks = [kv([("Owner", mon.owner or "not recorded"), ("Frequency", mon.frequency or "not recorded"),
                       ("Next review due", mon.next_review_due or "not recorded")]),
                   table(["Metric", "Threshold", "Frequency", "Action"],
                         [[cell(x.metric), cell(x.threshold), cell(x.frequency), cell(x.action or "")] for x in mon.metrics],
                         caption="Monitoring metrics", sortable=False)]
        if mon.revalidation_triggers:
            mblocks += [{"type": "h3", "text": "Revalidation triggers"}, ul(mon.revalidation_triggers)]
        # current values of monitored quantities, where this run measured them
        cur = _current_monitoring_values(c)
        if cur:
            mblocks.append(table(["Quantity", "Value in this run"], [[cell(k), cell(v)] for k, v in cur],
                                 caption="Baseline values measured by this run", sortable=False))
    else:
        mblocks = [para("No monitoring plan is recorded in the pack (audit.monitoring).", "warning")]
        c.finding("medium", "No monitoring plan recorded", "the pack's audit.monitoring is empty", "monitoring")
    monitoring = {"id": "monitoring", "title": "Ongoing monitoring plan", "blocks": mblocks}
    so = list(asec.sign_off) if asec and asec.sign_off else []
    sblocks = [para("Validator's overall rating (to be completed by the validator; this software does not rate the model):"),
               {"type": "checkboxes", "items": ["Approved", "Approved with conditions", "Rejected"]},
               {"type": "signoff", "rows": [{"role": s.role, "name": s.name or "", "organisation": s.organisation or ""} for s in so]
                or [{"role": r, "name": "", "organisation": ""} for r in ("Independent validator", "Model owner")]}]
    if asec and asec.retention:
        sblocks.append(para("Retention: " + asec.retention))
    signoff = {"id": "signoff", "title": "Sign-off", "blocks": sblocks}

    # -- findings and executive summary
    findings = sorted(c.findings, key=lambda f: SEVERITY_ORDER[f["severity"]])
    owner = m.owner if m else "model owner"
    for i, f in enumerate(findings, 1):
        f["id"] = f"F-{i:02d}"
        f["owner"] = owner
        f["status"] = "open"
        f["due"] = "set by the validator"
    counts = {k: sum(f["severity"] == k for f in findings) for k in SEVERITY_ORDER}
    perf = c.results.get("performance", {}).get("overall", {})
    headline = [("Rows audited", f"{len(c.X):,}"),
                ("AUC / KS on the labelled data", f"{f3(perf.get('auc'))} / {f3(perf.get('ks'))}"),
                (f"Model {c.positive_name} rate at {c.threshold:g}", pct(c.decision.mean()))]
    fr = c.results.get("fairness", {})
    for a in c.protected:
        if isinstance(fr.get(a), dict):
            worst = [g for g in fr[a]["groups"] if g.get("assessed") and not g.get("is_reference")]
            if worst:
                w = min(worst, key=lambda g: g["air"] if not _nan(g["air"]) else 9)
                headline.append((f"Lowest AIR, {c.feature_label(a)}", f"{f3(w['air'])} ({w['label']})"))
    rs = c.results.get("reasons", {})
    if rs.get("computed"):
        headline.append(("Denials without a valid reason", f"{rs['flagged']:,} of {rs['denied']:,}"))
    sblocks_exec = [
        para(f"This report records the automated validation tests run on {c.date} for {name}. Findings are ranked by "
             f"severity: {counts['high']} high, {counts['medium']} medium, {counts['low']} low, {counts['info']} "
             "informational. The overall rating, "
             "conditions of use and effective challenge are the validator's to record in the sign-off section; "
             "this report does not certify compliance."),
        kv(headline),
        table(["ID", "Severity", "Finding", "Evidence", "Section", "Owner", "Status"],
              [[cell(f["id"]), cell(f["severity"], SEVERITY_ORDER[f["severity"]], flag=f"sev-{f['severity']}"),
                cell(f["title"]), cell(f["evidence"]), cell(f["section"]), cell(f["owner"]), cell(f["status"])]
               for f in findings] or [[cell("-"), cell("-"), cell("no findings"), cell(""), cell(""), cell(""), cell("")]],
              caption="Findings log (ranked by severity)", id="findings"),
    ]
    summary = {"id": "summary", "title": "Executive summary and findings", "blocks": sblocks_exec}

    # -- scope
    not_rev = list(dict.fromkeys(c.not_reviewed + _BUILTIN_NOT_REVIEWED + (list(asec.not_reviewed) if asec else [])))
    scope = {"id": "scope", "title": "Scope of review", "blocks": [
        {"type": "h3", "text": "Reviewed in this run"}, ul(c.reviewed),
        {"type": "h3", "text": "Not reviewed"}, ul(not_rev)]}

    # -- appendix
    software = _software()
    st = c.settings
    appendix_rows = [("Model SHA-256 (canonical)", model_hash)]
    if file_hash:
        appendix_rows.append((f"Model file {c.model_path.name}", file_hash))
    appendix_rows += [(f"Data {c.data_path.name if c.data_path else '(DataFrame, as CSV)'}", data_hash)]
    if ref_hash:
        appendix_rows.append(("Reference data", ref_hash))
    appendix_rows += [("Pack " + " + ".join(f.name for f in c.pack.files) + " (merged)", c.pack.sha256),
                      (f"Template {tpl['name']} (with what it extends)", tpl["sha256"])]
    appendix_rows += [(f"  {k}", v) for k, v in tpl["files"].items()]
    settings_rows = [("Seed", str(st.seed)), ("Decision threshold", f"{c.threshold:g}"),
                     ("Explanation", f"{spec.explanation.method} {spec.explanation.options or ''}".strip()),
                     ("Calibration bins", str(st.calibration_bins)), ("Subgroup minimum rows", str(st.subgroup_min_rows)),
                     ("Permutation repeats", str(st.permutation_repeats)),
                     ("Dependence sample", f"{st.dependence_max_points:,} rows, top {st.dependence_top_k} features"),
                     ("Surrogate depth", str(st.surrogate_max_depth)),
                     ("Faithfulness / stability rows", f"{st.faithfulness_rows} / {st.stability_rows} (radius {st.stability_radius:g} SD)"),
                     ("Counterfactual sample", str(st.counterfactual_rows))]
    appendix = {"id": "appendix", "title": "Reproducibility appendix", "blocks": [
        para("Re-running the same command with the same files and software versions reproduces this report; "
             "the full JSON record of every figure is embedded in the PDF (attachment audit_record.json) and in the HTML."),
        table(["Artefact", "SHA-256"], [[cell(a), cell(b)] for a, b in appendix_rows], caption="Hashes", sortable=False),
        table(["Package", "Version"], [[cell(k), cell(v)] for k, v in software.items()], caption="Software", sortable=False),
        table(["Setting", "Value"], [[cell(k), cell(v)] for k, v in settings_rows], caption="Settings and seeds", sortable=False),
    ]}
    refs = list(asec.references) if asec else []
    if refs or spec.regulatory_references:
        appendix["blocks"].append(table(["Citation", "Title"], [[cell(r.citation), cell(r.title or "")] for r in refs + list(spec.regulatory_references)],
                                        caption="References", sortable=False))
    provenance = {"model_sha256": model_hash, "model_file_sha256": file_hash, "data_sha256": data_hash,
                  "reference_sha256": ref_hash, "pack": c.pack.describe(), "template": tpl, "software": software,
                  "settings": st.model_dump(), "threshold": c.threshold, "date": c.date, "date_source": c.date_source}
    c.results["findings_counts"] = counts

    order = ["identification", "summary", "scope", "model", "data", "performance", "importance", "dependence",
             "surrogate", "explanation_quality", "reasons", "recourse", "fairness", "limitations", "monitoring",
             "signoff", "appendix"]
    pool = {**built, "identification": ident, "summary": summary, "scope": scope, "model": model_sec,
            "limitations": limitations, "monitoring": monitoring, "signoff": signoff, "appendix": appendix}
    sections = [pool[k] for k in order if k in pool]
    for i, s in enumerate(sections, 1):
        s["number"] = i
    return AuditReport(title=title, date=c.date, sections=_jsonable(sections), results=_jsonable(c.results),
                       findings=findings, figures=_jsonable(c.figures), pack=c.pack, provenance=_jsonable(provenance))


def _listing(items: list[str], limit: int = 6) -> str:
    """``a, b, c and 4 more``: a bounded list for a finding's evidence."""
    head = ", ".join(items[:limit])
    return head + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _trees(adapter) -> str:
    """The ensemble described from its trees: count, depth measured on them, features split on, objective."""
    info = describe_trees(adapter)
    if info is None:
        return ""
    obj = f", objective {info['objective']}" if info.get("objective") else ""
    return (f", {info['n_trees']} trees, depth {info['max_depth']} (measured on the trees; mean "
            f"{info['mean_depth']:.1f}), {info['n_features_used']} of {info['n_features']} features used in splits{obj}")


def describe_trees(adapter) -> dict | None:
    """What a tree ensemble is, measured from its parsed trees (``None`` for other models).

    Returns ``{"n_trees", "max_depth", "mean_depth", "n_leaves", "features_used", "n_features_used",
    "n_features", "objective"}``; the depth is the longest root-to-leaf path of each tree,
    not a training parameter.
    """
    from ..attribution._trees import parse_ensemble

    try:
        ens = parse_ensemble(adapter)
    except Exception:  # noqa: BLE001 - not a tree model this parser reads
        return None
    n_nodes = len(ens.feature)
    leaf_depth = (ens.path_node != n_nodes).sum(axis=1)
    if ens.leaf_tree is not None and len(leaf_depth):
        per_tree = pd.Series(leaf_depth).groupby(ens.leaf_tree).max()
    else:
        per_tree = pd.Series([int(leaf_depth.max(initial=0))])
    names = list(adapter.feature_names or [])
    used = sorted(set(int(f) for f in ens.feature))
    used_names = [names[j] if j < len(names) else f"f{j}" for j in used]
    return {"n_trees": int(ens.n_trees or len(per_tree)), "max_depth": int(per_tree.max()) if len(per_tree) else 0,
            "mean_depth": float(per_tree.mean()) if len(per_tree) else 0.0, "n_leaves": int(ens.n_leaves),
            "features_used": used_names, "n_features_used": len(used_names), "n_features": int(ens.n_features),
            "objective": getattr(adapter, "objective", None)}


def _current_monitoring_values(c: _Ctx) -> list[tuple[str, str]]:
    out = []
    perf = c.results.get("performance", {}).get("overall", {})
    if perf:
        out.append(("AUC on the labelled data", f3(perf.get("auc"))))
        out.append(("Expected calibration error", f3(perf.get("ece"))))
    fr = c.results.get("fairness", {})
    for a in c.protected:
        if isinstance(fr.get(a), dict):
            for g in fr[a]["groups"]:
                if g.get("assessed") and not g.get("is_reference"):
                    out.append((f"AIR, {c.feature_label(a)} = {g['label']}", f3(g["air"])))
    rs = c.results.get("reasons", {})
    if rs.get("computed") and rs["denied"]:
        out.append(("Share of denials flagged for no valid reason", pct(rs["flagged"] / rs["denied"], 2)))
    add = c.results.get("explanation_quality", {}).get("additivity")
    if add:
        out.append(("Largest additivity error", f"{add['max_abs_error']:.2e}"))
    return out


# ----------------------------------------------------------------------------- demo
def run_audit_demo(out_dir, *, model_path=None, data_path=None, reference_path=None, report_date: str | None = None,
                   formats=("pdf", "html"), progress: bool = False) -> dict:
    """Audit the demo's HMDA model on its labelled held-out applications.

    Race (``afam``) and marital status (``single``) are not model inputs; they
    feed the subgroup and fair-lending sections.

    Args:
        out_dir: the demo folder (holding ``model/hmda_xgb.json`` and ``data/``).
        model_path, data_path, reference_path: override the demo's files.
        report_date: ISO date of the report (default: the demo's fixed date).
        formats: ``"pdf"`` and/or ``"html"`` (and ``"json"``).

    Returns:
        ``{"report": AuditReport, "files": [paths]}``.

    Examples::

        >>> run_audit_demo("xai-reports-demo")["files"]
        ['xai-reports-demo/audit/audit_report.pdf', 'xai-reports-demo/audit/audit_report.html']
    """
    from ..demo import DEMO_DATE

    out = Path(out_dir)
    report = audit(model_path or out / "model" / "hmda_xgb.json", data_path or out / "data" / "holdout_labelled.csv",
                   "finance_hmda_example", target="deny", protected=["afam", "single"],
                   reference=reference_path or out / "data" / "reference.csv",
                   report_date=report_date or DEMO_DATE, progress=progress)
    files = []
    (out / "audit").mkdir(parents=True, exist_ok=True)
    for ext in formats:
        files.append(str(report.save(out / "audit" / f"audit_report.{ext}")))
    report.write_manifest(files)
    return {"report": report, "files": files}
