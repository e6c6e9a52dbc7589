"""The explorer's data: every decision of a data file, scored, explained and reasoned, as one JSON blob.

The checks, the reference population, the explanation options and the
counterfactual background are the letter kind's (:class:`~xai_reports.documents.letter.job.LetterJob`
is built for them), so a decision's reasons in the explorer are those its letter states.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from ...attribution import explain
from ...io.tabular import check_frame, read_table
from ..letter.job import LetterJob
from ..letter.reasons import deny_probability, select_reasons
from .model_js import export_ensemble

__all__ = ["explorer_data", "hidden_columns", "identifier_columns"]

SCHEMA = "xai-reports/explorer-data/1"


def identifier_columns(pack, columns) -> list[str]:
    """The columns of ``columns`` that identify a person: the pack's ``columns.name`` and
    ``columns.address`` and every feature marked ``identifier: true``."""
    cols = pack.spec.columns
    named = {c for c in (cols.name, cols.address) if c}
    named |= {f for f, fs in pack.features.items() if fs.identifier}
    return [c for c in columns if c in named]


def hidden_columns(pack, columns, *, show_identifiers: bool = False) -> list[str]:
    """The input columns that identify a person and stay out of the page.

    The pack's ``columns.name`` and ``columns.address`` and every feature marked
    ``identifier: true`` (or with a Safe Harbor category) are hidden unless
    ``show_identifiers`` (a profile allowing them) is given.
    """
    return [] if show_identifiers else identifier_columns(pack, columns)


def _num(v, digits=6):
    """A float rounded to ``digits`` significant digits for display (``None`` for NaN/inf)."""
    v = float(v)
    if not math.isfinite(v):
        return None
    return float(f"{v:.{digits}g}")


def _shown(v):
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, (int, bool, str)):
        return v
    return str(v)


def _group_columns(pack, frame) -> list[str]:
    """Protected-group columns present in the data (the audit's fairness groups first)."""
    audit = pack.spec.section("audit") if pack.spec.has_kind("audit") else None
    named = list(getattr(getattr(audit, "fairness", None), "reference_groups", {}) or {})
    prot = [f for f, fs in pack.features.items() if fs.protected]
    return [c for c in dict.fromkeys(named + prot) if c in frame.columns]


def _group_label(pack, col, v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "missing"
    fs = pack.features.get(col)
    bands = getattr(fs, "bands", None) if fs is not None else None
    if bands:
        try:
            x = float(v)
        except (TypeError, ValueError):
            return str(v)
        lo = None
        for b in sorted(bands):
            if x < b:
                return f"< {b:g}" if lo is None else f"{lo:g} to < {b:g}"
            lo = b
        return f">= {lo:g}"
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    labels = getattr(fs, "category_labels", None) if fs is not None else None
    return str(labels.get(str(v), v)) if labels else str(v)


def _feature_meta(pack, features, X, ens_cats) -> list[dict]:
    out = []
    for j, f in enumerate(features):
        fs = pack.features[f]
        col = X[f]
        meta = {"name": f, "label": fs.label, "type": fs.type, "actionable": bool(fs.actionable and not fs.protected),
                "direction": fs.direction, "unit": getattr(fs, "unit", None)}
        if j in ens_cats or isinstance(col.dtype, pd.CategoricalDtype) or col.dtype == object:
            cats = ens_cats.get(j)
            if cats is None:
                cats = list(col.cat.categories) if isinstance(col.dtype, pd.CategoricalDtype) else \
                    sorted({str(v) for v in col.dropna()})
            meta["categories"] = [_shown(c) for c in cats]
        else:
            vals = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)
            vals = vals[np.isfinite(vals)]
            lo, hi = (float(vals.min()), float(vals.max())) if vals.size else (0.0, 1.0)
            if fs.bounds is not None:
                lo, hi = float(fs.bounds[0]), float(fs.bounds[1])
            meta["min"], meta["max"] = lo, hi
            ints = vals.size and np.all(np.equal(np.mod(vals, 1), 0))
            meta["step"] = 1 if ints else "any"
        out.append(meta)
    return out


def explorer_data(model, data, pack="finance", *, reference=None, id_column: str | None = None,
                  show_identifiers: bool = False, deidentify: bool = False, counterfactuals: bool = True,
                  title: str | None = None) -> dict:
    """The explorer's JSON-ready data for every valid row of ``data``.

    Args:
        model, data, pack, reference, id_column: as for letters.
        show_identifiers: keep name/address/identifier columns (they are never model inputs).
        deidentify: replace decision ids by row numbers (``row 12``).
        counterfactuals: search counterfactuals for the denied rows (the letters' statements).
        title: the page title (default: names the pack and the model).

    Raises:
        InputError, PackError, ModelLoadError: as letters, before anything is written.
    """
    from ...errors import PackError
    from ...packs import load_pack

    pack = load_pack(pack)
    if not pack.spec.has_kind("letter"):
        raise PackError(f"the explorer shows decisions as letters state them; pack '{pack.name}' has no letter kind "
                        f"(kinds: {', '.join(pack.spec.kinds)})", file=pack.files[-1], key_path="kinds")
    job = LetterJob(model, data, pack, reference=reference, id_column=id_column, formats=("json",))
    pack, adapter, features = job.pack, job.adapter, job.features
    letter = pack.spec.section("letter")
    frame = read_table(data) if isinstance(data, (str, Path)) else data.astype(object)
    checked = check_frame(frame, pack, features, source=job.source.label, id_column=job.id_column)
    X, raw = checked.X, checked.raw
    n = len(X)
    p = deny_probability(adapter, X, pack) if n else np.empty(0)
    denied = p >= letter.decision.threshold
    ex = pack.explanation
    attr = explain(adapter, X, method=ex.method, tolerance=ex.additivity_tolerance, **job.explain_options) \
        if n else None
    idx = np.flatnonzero(denied)
    cf = None
    if counterfactuals and len(idx) and pack.spec.counterfactuals.enabled:
        from ...counterfactuals.statements import letter_counterfactuals

        cf = letter_counterfactuals(adapter, X.iloc[idx], pack, background=job.cf_background,
                                    background_label=job.cf_background_label)
    values = X.to_dict("records")
    deny_pos = letter.decision.positive_class == "deny"   # a counterfactual's prediction: P(positive class)
    reason_keys: list[str] = []
    rows_reasons, flags, cfs = [], [], []
    pos = {int(i): k for k, i in enumerate(idx)}
    for i in range(n):
        if not denied[i]:
            rows_reasons.append([])
            flags.append(None)
            cfs.append(None)
            continue
        res = select_reasons(attr, i, job.ref, pack, values=values[i])
        ks = []
        for r in res.reasons:
            if r["key"] not in reason_keys:
                reason_keys.append(r["key"])
            ks.append(reason_keys.index(r["key"]))
        rows_reasons.append(ks)
        flags.append(res.flag_reason if res.flagged else None)
        if cf is not None:
            k = pos[i]
            rec = cf.record(k)
            content = cf.content(k, pack.language)
            cfs.append({"text": content["text"] if content else None,
                        "caveat": content["caveat"] if content else None,
                        "status": rec["status"], "note": rec.get("statement_note") or rec.get("reason"),
                        "points": [{"rank": it["rank"], "p": _num(it["prediction"] if deny_pos else 1.0 - it["prediction"], 9),
                                    "changes": {f: _shown(c["to"]) for f, c in it["changes"].items()}}
                                   for it in rec["counterfactuals"]]})
        else:
            cfs.append(None)

    hidden = hidden_columns(pack, raw.columns, show_identifiers=show_identifiers)
    groups = [g for g in _group_columns(pack, raw) if g not in hidden]
    group_vals = {g: [_group_label(pack, g, _shown(v)) for v in raw[g].tolist()] for g in groups}
    ids = [f"row {r + 1}" for r in raw.index] if deidentify else [str(x) for x in checked.ids]
    ens, whatif_note = export_ensemble(adapter, X, features, p, positive_deny=letter.decision.positive_class == "deny")
    meta = _feature_meta(pack, features, X, {int(j): c for j, c in (ens or {}).get("categories", {}).items()})
    phi = attr.values if n else np.empty((0, len(features)))
    imp = np.abs(phi).mean(axis=0) if n else np.zeros(len(features))
    fin_title = title or f"Decision explorer: {pack.name}, model {job.model_desc.get('name')}"
    return {
        "schema": SCHEMA,
        "title": fin_title,
        "pack": {"name": pack.name, "version": pack.spec.version, "language": pack.language},
        "model": {"name": job.model_desc.get("name"), "family": job.model_desc.get("family")},
        "decision": {"threshold": float(letter.decision.threshold), "positive_class": letter.decision.positive_class,
                     "deny_label": "denied", "approve_label": "approved"},
        "explanation": {"method": attr.method if attr else ex.method, "output": attr.output if attr else None,
                        "reference": job.ref.description},
        "features": meta,
        "importance": [_num(v) for v in imp],
        "reasons": [{"key": k, "code": pack.reasons[k].code, "text": pack.reasons[k].text} for k in reason_keys],
        "groups": [{"column": g, "label": pack.features[g].label if g in pack.features else g} for g in groups],
        "rows": {
            "id": ids,
            "p": [float(v) for v in p],
            "deny": [bool(v) for v in denied],
            "x": [[_shown(values[i][f]) for f in features] for i in range(n)],
            "phi": [[_num(v) for v in row] for row in phi],
            "base": [_num(v) for v in (attr.base_values if n else [])],
            "margin": [_num(v) for v in (attr.predictions if n else [])],
            "reasons": rows_reasons,
            "flag": flags,
            "cf": cfs,
            "group": [[group_vals[g][i] for g in groups] for i in range(n)],
            # identifying columns, only when the caller allows them (show_identifiers)
            "identity": {c: [_shown(v) for v in raw[c].tolist()]
                         for c in (identifier_columns(pack, raw.columns) if show_identifiers else [])},
        },
        "skipped_rows": [] if deidentify else [str(e) for e in checked.errors][:50],
        "n_skipped": len(checked.errors),
        "privacy": {"hidden_columns": hidden, "ids": "row numbers" if deidentify else "decision ids"},
        "whatif": {"model": ens, "note": whatif_note},
    }
