"""Global explanations: the attributions of every audited row, global importance (attribution and
permutation), dependence of the top features and the distilled surrogate tree."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ...errors import ExplanationError
from ...format import format_value
from ..blocks import (cell, collapsible, figure, fixed, grid, is_nan, jsonable, key_value_table, not_computed,
                      paragraph, percent, table)
from .context import AuditContext


def compute_attributions(c: AuditContext):
    """Attributions of every audited row (``c.attr``), or ``c.attr_error`` saying why there are none."""
    from ...attribution import explain

    from ...attribution.auto import background_options

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


def importance_section(c: AuditContext) -> dict:
    """Global importance: mean |attribution| per feature and permutation importance."""
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
        blocks.append(paragraph(f"Mean absolute {c.attr.method} attribution over the {len(c.X):,} audited rows, in "
                                f"{c.attr.output} units (the model's raw output)."))
        blocks.append(figure("importance_attr", f"Global importance: mean |{c.attr.method} attribution|",
                             c.figures["importance_attr"]["alt"]))
        blocks.append(collapsible("Mean and mean absolute attribution per feature", [table(
            ["Feature", "Column", "Mean |attribution|", "Mean attribution"],
            [[cell(r["label"]), cell(r["feature"]), cell(f"{r['mean_abs']:.4f}", r["mean_abs"]),
              cell(f"{r['mean']:+.4f}", r["mean"])] for r in res["mean_abs_attribution"]], numeric=[2, 3])]))
        c.reviewed.append(f"Global importance by mean |{c.attr.method} attribution|")
    else:
        c.importance_order = list(c.features)
        blocks.append(not_computed(c.attr_error))
        c.not_reviewed.append("Global importance by attribution (" + c.attr_error + ")")
    # permutation importance
    from ...attribution.global_ import global_importance

    try:
        imp = global_importance(c.adapter, c.X, c.y, method="permutation", n_repeats=c.settings.permutation_repeats,
                                random_state=c.seed, pack=c.pack)
        fr = imp.frame
        perm = [{"feature": str(r["feature"]), "label": c.feature_label(str(r["feature"])),
                 "importance": float(r["importance"]), "std": None if is_nan(r["std"]) else float(r["std"])}
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
        blocks.append(paragraph(f"Permutation importance: the drop in {scoring} on the labelled data (baseline "
                                f"{fixed(imp.baseline_score)}) when one feature's column is shuffled, mean of "
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


def dependence_section(c: AuditContext) -> dict:
    """Dependence plots (value against attribution) of the most important features, on a seeded sample."""
    st = c.settings
    if c.attr is None:
        return {"id": "dependence", "title": "Dependence of the top features",
                "blocks": [not_computed(c.attr_error)]}
    top = c.importance_order[: st.dependence_top_k]
    n = len(c.X)
    rng = np.random.default_rng(c.seed)
    idx = np.sort(rng.choice(n, size=min(n, st.dependence_max_points), replace=False))
    blocks = [paragraph(f"Each point is one audited row ({len(idx):,} of {n:,}, a seeded random sample): the feature's "
                        f"value against its attribution. A monotone, smooth pattern is expected of a {c.words.decision_factor}; "
                        "jumps or reversals deserve an explanation from the developer.")]
    res = []
    panels = []
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
                                 f"correlation {fixed(corr, 2)}."}
        res.append({"feature": f, "label": c.feature_label(f), "points": int(ok.sum()), "correlation": corr})
        panels.append(figure(fid, f"{c.feature_label(f)} (correlation of value and attribution {fixed(corr, 2)})",
                           c.figures[fid]["alt"]))
    blocks.append(grid(panels))
    c.results["dependence"] = {"features": res, "sample_rows": int(len(idx)), "seed": c.seed}
    c.reviewed.append(f"Dependence of the {len(top)} most important features")
    return {"id": "dependence", "title": "Dependence of the top features", "blocks": blocks}


def surrogate_section(c: AuditContext) -> dict:
    """The distilled surrogate tree: its rules and its fidelity to the model's decisions, overall and by group."""
    from ...attribution.global_ import surrogate as fn

    depth = c.settings.surrogate_max_depth
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
    rules = jsonable(sur.rules)
    res = {"computed": True, "max_depth": depth, "fidelity": sur.fidelity, "fidelity_train": sur.fidelity_train,
           "fidelity_metric": sur.fidelity_metric, "n_train": sur.n_train, "n_test": sur.n_test,
           "agreement_all_rows": float(agree.mean()), "by_group": by_group, "rules": rules, "text": sur.text}
    c.results["surrogate"] = res
    blocks = [paragraph(f"A decision tree of depth at most {depth}, fitted to imitate the model's decisions "
                        f"(P({pos}) >= 0.5) on {sur.n_train:,} audited rows. It is a readable approximation, not the "
                        "model: its fidelity says how often it takes the model's decision."),
              key_value_table([("Fidelity on held-out rows", f"{percent(sur.fidelity)} {sur.fidelity_metric} ({sur.n_test:,} rows)"),
                  ("Fidelity on the rows it was fitted on", percent(sur.fidelity_train)),
                  ("Agreement on all audited rows", percent(agree.mean()))]
                              + [(f"Agreement, {c.feature_label(a)} = {r['label']}", f"{percent(r['agreement'])} ({r['n']:,} rows)")
                    for a in c.protected for r in by_group[a]])]
    if abs(c.threshold - 0.5) > 1e-12:
        blocks.append(paragraph(f"The surrogate imitates decisions at P = 0.5; the pack's threshold is {c.threshold:g}.", "warning"))
    rule_rows = []
    for k, r in enumerate(rules, 1):
        cond = " AND ".join(r["conditions"]) or "(all rows)"
        rule_rows.append([cell(k, k), cell(cond), cell(r["prediction"]), cell(f"{r['samples']:,}", r["samples"]),
                          cell(percent(r["share"]), r["share"]),
                          cell(percent(r["purity"]) if r.get("purity") is not None else "", r.get("purity"))])
    blocks.append(table(["Rule", "If", "Then", "Rows", "Share", "Agreeing rows"], rule_rows,
                        caption=f"Surrogate rules ({len(rules)} leaves)", numeric=[0, 3, 4, 5]))
    if sur.fidelity < 0.9:
        c.finding("low", "The depth-limited surrogate tree is a loose approximation",
                  f"fidelity {percent(sur.fidelity)} on held-out rows (below 90%)", "surrogate")
    c.reviewed.append(f"Distilled surrogate tree (depth {depth}) and its fidelity, overall and by group")
    return {"id": "surrogate", "title": "Distilled surrogate tree", "blocks": blocks}
