"""The facts of the audit: the data section (columns, ranges, missing values, protected groups) and
what a tree ensemble is, measured on its trees."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from ...format import format_value
from ..blocks import cell, collapsible, key_value_table, paragraph, percent, table
from .context import AuditContext

# ----------------------------------------------------------------------------- sections
def data_section(c: AuditContext) -> dict:
    """The data section: rows used and excluded, each column's role, missing values and range, the
    protected-attribute distribution."""
    from ...io.tabular import _is_missing

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
    from ...io.tabular import missing_tokens

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
            summary = f"positive ({c.positive_name}) rate {percent(c.y.mean())}"
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
            prot_rows.append([cell(c.feature_label(a)), cell(r["label"]), cell(f"{n:,}", n), cell(percent(r["share"]), r["share"]),
                              cell(percent(r["observed_positive_rate"]), r["observed_positive_rate"]),
                              cell(percent(r["model_positive_rate"]), r["model_positive_rate"])])
        prot_res[a] = res
    c.results["data"] = {"rows_received": n_in, "rows_used": n_used, "rows_excluded": len(excluded),
                         "excluded": excluded[:100], "columns": col_results, "target": c.target,
                         "target_rate": float(c.y.mean()), "model_positive_rate": float(c.decision.mean()),
                         "threshold": c.threshold, "protected": prot_res,
                         "source": Path(c.source).name if c.data_path else c.source}
    blocks = [key_value_table([("Data file", Path(c.source).name if c.data_path else c.source),
                  ("Rows received / used", f"{n_in:,} / {n_used:,}"),
                  ("Columns", f"{len(raw.columns)} ({len(c.features)} model inputs)"),
                  ("Target", f"'{c.target}': observed {c.positive_name} rate {percent(c.y.mean())}"),
                  ("Model decisions", f"{c.positive_name} at P >= {c.threshold:g}: {percent(c.decision.mean())} of rows"),
                  ("Protected attributes", ", ".join(c.protected) + f" ({c.protected_source})" if c.protected else "none")])]
    if c.asec and c.asec.data_description:
        blocks.insert(0, paragraph(c.asec.data_description))
    if c.asec and c.asec.target_description:
        blocks.insert(1, paragraph("Labels: " + c.asec.target_description))
    blocks.append(table(["Column", "Meaning", "Role", "Missing", "Values"], rows, caption="Columns, missing values and ranges",
                        numeric=[3]))
    if prot_rows:
        blocks.append(table(["Attribute", "Group", "Rows", "Share", f"Observed {c.positive_name} rate",
                             f"Model {c.positive_name} rate"], prot_rows, caption="Protected-attribute distribution",
                            numeric=[2, 3, 4, 5]))
    if excluded:
        blocks.append(paragraph(f"{len(excluded):,} row(s) were excluded because of invalid values.", "warning"))
        blocks.append(collapsible(f"Excluded rows ({len(excluded):,})",
                                  [table(["Row", "Column", "Problem"],
                                     [[cell(e["row"], e["row"]), cell(e["column"] or ""), cell(e["error"])] for e in excluded[:200]])]))
        c.finding("medium", f"{len(excluded):,} row(s) of the audit data were excluded for invalid values",
                  f"first: row {excluded[0]['row']}: {excluded[0]['error']}", "data")
    c.reviewed.append("Data: completeness, ranges, target rate and protected-attribute distribution of the audit data")
    return {"id": "data", "title": "Data", "blocks": blocks}


def tree_summary(adapter) -> str:
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
    from ...attribution._trees import parse_ensemble

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
