"""The audit's entry point: read and check the inputs, run every section, assemble the report."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from ...errors import InputError
from .assemble import assemble
from .context import AuditContext, parse_target, resolve_date
from .data import data_section
from .fairness import fairness_section
from .importance import compute_attributions, dependence_section, importance_section, surrogate_section
from .performance import performance_section
from .quality import explanation_quality_section
from .reasons import reasons_section
from .recourse import recourse_section
from .report import AuditReport
from .wording import audit_wording

# ----------------------------------------------------------------------------- entry point
def audit(model, data, pack="finance", *, target: str, out=None, protected=None, reference=None,
          report_date: str | None = None, model_name: str | None = None, progress: bool = False) -> AuditReport:
    """Audit a model on labelled data and build the validation / compliance report.

    Args:
        model: a model file (XGBoost ``.json``/``.ubj``, torch) or a model object / adapter.
        data: labelled data, a CSV/Parquet path or a DataFrame: the model's
            input columns, the ``target`` column and the protected attributes.
        pack: pack name or path, or a loaded pack (its ``audit:`` section gives
            the identification, fairness settings, monitoring plan and sign-off).
        target: the label column; its positive value (1/yes/true, or the pack's
            ``audit.positive_label``) is the model's positive class.
        out: if given, write the report there (``.pdf``, ``.html`` or ``.json``).
        protected: protected-attribute columns for the subgroup and fairness
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
    from ...adapters import load_model, wrap_model
    from ..letter import declared_model_features
    from ...packs import load_pack
    from ...io.tabular import check_frame, read_table

    pack = load_pack(pack)
    spec = pack.spec
    asec = spec.audit
    pack.require_complete("audit")
    settings = asec.settings if asec else None
    if settings is None:
        from ...packs.sections.audit import AuditSettings

        settings = AuditSettings()
    if isinstance(model, (str, Path)):
        from ...io.remote import local_file, relabelled

        model_path = Path(local_file(str(model)))  # a URL: a private copy keeping the object's name
        with relabelled(model_path, str(model)):
            adapter = load_model(model_path)
    else:
        model_path = None
        adapter = wrap_model(model)
    if not adapter.is_classifier:
        raise InputError(f"the audit report is for binary classifiers; {adapter!r} is not a classifier")
    features = declared_model_features(adapter, pack, model_path)

    from ...io.storage import scrub

    source = scrub(str(data)) if isinstance(data, (str, Path)) else "<DataFrame>"  # no credentials in records
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

    when, date_source = resolve_date(report_date, raw, pack)
    positive_label = asec.positive_label if asec else None
    y_all, bad_y = parse_target(raw[target], target, source, positive_label)
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
    fin = spec.section("letter")
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
        ref_source = scrub(str(reference)) if isinstance(reference, (str, Path)) else "<reference DataFrame>"
        ref_df = read_table(reference) if isinstance(reference, (str, Path)) else reference.astype(object)
        ref_checked = check_frame(ref_df, pack, features, source=ref_source,
                                  allowed_extra=[c for c in ref_df.columns if c not in features])
        if ref_checked.errors:
            raise ref_checked.errors[0]
        ref_X = ref_checked.X.reset_index(drop=True)

    groups = {}
    bands: dict[str, dict] = {}
    from ...metrics.fairness import band_groups, band_labels, default_bands
    from ...io.tabular import _is_missing, _norm_category, missing_tokens

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

    ctx = AuditContext(adapter=adapter, pack=pack, spec=spec, asec=asec, settings=settings, X=X, y=y, p=p,
                       threshold=threshold, decision=decision, favorable=favorable, positive_name=positive_name,
                       favorable_is_negative=favorable_is_negative, features=features, protected=protected,
                       protected_source=protected_source, groups=groups, raw=raw, raw_ok=raw_ok, target=target,
                       source=source, bad_rows=bad_rows, ref_X=ref_X, ref_source=ref_source, model_path=model_path,
                       data_path=_path_or_url(data), reference_path=_path_or_url(reference),
                       date=when, date_source=date_source, model_name=model_name, seed=settings.seed, bands=bands,
                       words=audit_wording(spec))

    steps = [("data", data_section), ("performance", performance_section), ("attributions", compute_attributions),
             ("importance", importance_section), ("dependence", dependence_section), ("surrogate", surrogate_section),
             ("reasons", reasons_section), ("explanation_quality", explanation_quality_section),
             ("recourse", recourse_section), ("fairness", fairness_section)]
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

    report = assemble(ctx, built)
    report.timings = timings
    if out is not None:
        report.save(out)
    return report


def _path_or_url(x):
    """A file input as the report hashes and names it: a local ``Path``, a URL string, or ``None``."""
    from ...io.storage import is_remote

    if not isinstance(x, (str, Path)):
        return None
    return str(x) if is_remote(x) else Path(x)
