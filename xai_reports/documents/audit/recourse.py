"""Counterfactual recourse: how many rows with an adverse decision have an actionable counterfactual, by group."""

from __future__ import annotations

import math

import numpy as np

from ..blocks import cell, collapsible, fixed, is_nan, not_computed, paragraph, percent, table
from .context import AuditContext


def recourse_section(c: AuditContext) -> dict:
    """Counterfactual recourse for a seeded sample of the rows with an adverse decision, overall and by group."""
    title = "Counterfactual recourse"
    from ...counterfactuals import counterfactuals as fn

    st = c.settings
    w = c.words
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
             cell(percent(res["share_found"]), res["share_found"]), cell(fixed(res["mean_cost"]), res["mean_cost"]),
             cell(fixed(res["mean_features_changed"], 2), res["mean_features_changed"])]]
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
                         cell(percent(r["share_found"]), r["share_found"]), cell(fixed(r["mean_cost"]), r["mean_cost"]),
                         cell(fixed(r["mean_features_changed"], 2), r["mean_features_changed"])])
    c.results["recourse"] = res
    c.reviewed.append(f"Counterfactual recourse for {w.adverse_subjects}, overall and by group")
    blocks = [paragraph(f"For a seeded sample of {len(sample):,} of the {len(adverse):,} {w.subjects} with an adverse decision, "
                        f"the cheapest change of actionable features (as the pack constrains them: protected and "
                        f"non-actionable features never change) that gives the desired outcome ({cfs.desired}). "
                        "Cost: the MAD-normalised L1 distance weighted by the pack's feature costs."),
              table(["Attribute", "Group", f"{w.subjects.capitalize()} searched", "With a counterfactual", "Mean cost",
                     "Mean features changed"], rows, caption="Recourse by group", numeric=[2, 3, 4, 5])]
    if changed:
        blocks.append(collapsible("Features changed by the counterfactuals", [table(
            ["Feature", "Counterfactuals changing it"],
            [[cell(c.feature_label(k)), cell(v, v)] for k, v in changed.items()], numeric=[1])]))
    if why_none:
        blocks.append(collapsible("Why no counterfactual was found", [table(
            ["Reason", w.subjects.capitalize()], [[cell(k), cell(v, v)] for k, v in why_none.items()], numeric=[1])]))
    for a in c.protected:
        gs = [r for r in res["by_group"][a] if r["n"] >= c.settings.subgroup_min_rows and not is_nan(r["share_found"])]
        if len(gs) >= 2:
            lo, hi = min(gs, key=lambda r: r["share_found"]), max(gs, key=lambda r: r["share_found"])
            if hi["share_found"] - lo["share_found"] > 0.10:
                c.finding("medium", f"Less recourse for {c.feature_label(a)} = {lo['label']}",
                          f"{percent(lo['share_found'])} of searched {w.subjects} have a counterfactual against "
                          f"{percent(hi['share_found'])} for {hi['label']}", "recourse")
    if len(sample) and res["share_found"] < 0.5:
        c.finding("medium", f"Most {w.adverse_subjects} have no actionable counterfactual",
                  f"{percent(res['share_found'])} of {len(sample)} searched", "recourse")
    return {"id": "recourse", "title": title, "blocks": blocks}
