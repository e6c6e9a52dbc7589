"""Fairness metrics by protected group: adverse impact ratio, standardized mean difference, adjusted
marginal effect and the proxy screen (the pack's ``audit.fairness`` configures them)."""

from __future__ import annotations

import math

import numpy as np

from ..blocks import (bounded_list, cell, collapsible, figure, fixed, is_nan, not_computed, p_value_phrase, p_value_text,
                      paragraph, percent, subheading, table)
from .context import AuditContext


def fairness_section(c: AuditContext) -> dict:
    """The fairness section, per protected attribute: the pack's ``audit.fairness`` metrics and their findings."""
    from ...metrics.fairness import adverse_impact_ratio, logit_marginal_effect, proxy_screen, standardized_mean_difference

    title = c.words.fairness_title
    fs = c.asec.fairness if c.asec else None
    if fs is None:
        from ...packs.sections.audit import FairnessSettings

        fs = FairnessSettings()
    if not fs.enabled:
        c.results["fairness"] = {"computed": False, "why": "disabled in the pack (audit.fairness.enabled: false)"}
        return {"id": "fairness", "title": title, "blocks": [not_computed("disabled in the pack (audit.fairness.enabled: false)")]}
    if not c.protected:
        why = "no protected attribute in the data (give --protected COL or mark pack features protected: true)"
        c.results["fairness"] = {"computed": False, "why": why}
        c.not_reviewed.append(title + " (" + why + ")")
        return {"id": "fairness", "title": title, "blocks": [not_computed(why)]}
    fav_name = "approval" if (c.spec.section("letter") is not None) else "favourable decision"
    p_fav = 1 - c.p if c.favorable_is_negative else c.p
    y_fav = (c.y == 0) if c.favorable_is_negative else (c.y == 1)
    blocks = [paragraph("The legal basis of these metrics depends on jurisdiction (and on the product and the law "
                        "applied). What the pack records about it: " + fs.legal_basis, "legal"),
              paragraph(f"Jurisdiction: {fs.jurisdiction or c.spec.jurisdiction or 'not stated in the pack'}. "
                        "These metrics are configurable in the pack (audit.fairness) and are reported as measurements; "
                        "this report does not determine compliance or discrimination.", "legal"),
              paragraph(f"Favourable outcome: the model's {fav_name} (P({c.positive_name}) "
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
                          f"AIR {fixed(r['air'])}: {fav_name} rate {percent(r['rate'])} against {percent(ref_row.iloc[0]['rate'])} "
                          f"for the reference group (z-test {p_value_phrase(r['p_value'])})", "fairness")
            if smd is not None and not is_nan(gr.get("smd")) and abs(gr["smd"]) >= fs.smd_threshold and "standardized_mean_difference" in fs.metrics:
                c.finding("medium", f"Standardized mean difference of {gr['smd']:+.2f} for {c.feature_label(a)} = {gr['label']}",
                          f"mean P({fav_name}) {fixed(gr['mean_p_favorable'])}; |SMD| at or above {fs.smd_threshold:g}", "fairness")
            if (r["assessed"] and not r["is_reference"] and not r["flag"] and not is_nan(r["p_value"])
                    and r["p_value"] < fs.alpha and r["difference_pp"] < 0
                    and "adverse_impact_ratio" in fs.metrics):
                adj = ("" if me is None or not me.converged else
                       f"; adjusted for the model's inputs {100 * me.ame:+.1f} pp ({p_value_phrase(me.p_value)})")
                c.finding("medium", f"Significantly lower {fav_name} rate for {c.feature_label(a)} = {gr['label']}",
                          f"{r['difference_pp']:+.1f} percentage points (z-test {p_value_phrase(r['p_value'])}), AIR "
                          f"{fixed(r['air'])}{adj}", "fairness")
            if me is not None and me.converged and me.p_value < fs.alpha:
                c.finding("high" if me.ame < 0 else "info",
                          f"Significant adjusted marginal effect {'against' if me.ame < 0 else 'in favour of'} "
                          f"{c.feature_label(a)} = {gr['label']}",
                          f"{100 * me.ame:+.1f} percentage points in {fav_name} probability controlling for the model's "
                          f"inputs ({p_value_phrase(me.p_value)})", "fairness")
            if not r["assessed"] and not r["is_reference"]:
                unassessed.append(f"{gr['label']} ({r['n']} rows)")
            air_items.append({"label": f"{c.feature_label(a)}: {gr['label']}", "value": float(r["air"]) if r["assessed"] else math.nan,
                              "text": fixed(r["air"], 2) if r["assessed"] else "not assessed",
                              "color": "#D55E00" if r["flag"] else "#0072B2",
                              "title": f"{c.feature_label(a)} = {gr['label']}: AIR {fixed(r['air'])}, {fav_name} rate {percent(r['rate'])}, n = {r['n']}"})
            me_text = "reference" if r["is_reference"] else ("n/a" if me is None else
                      (f"{100 * me.ame:+.1f} pp ({p_value_phrase(me.p_value)})" if me.converged else "not estimable"))
            rows.append([cell(gr["label"]), cell(f"{r['n']:,}", r["n"]), cell(percent(r["rate"]), r["rate"]),
                         cell("reference" if r["is_reference"] else fixed(r["air"]), r["air"],
                              flag="flag" if r["flag"] else None),
                         cell("" if r["is_reference"] or is_nan(r["difference_pp"]) else f"{r['difference_pp']:+.1f} pp", r["difference_pp"]),
                         cell(p_value_text(r["p_value"]) if not r["is_reference"] else "", r["p_value"]),
                         cell(fixed(gr.get("smd"), 2) if not r["is_reference"] else "", gr.get("smd")),
                         cell(me_text, None if me is None else me.ame,
                              title=None if me is None or not me.converged else
                              f"AME {me.ame:.6f}, SE {me.se:.6f}, 95% CI [{me.ci[0]:.4f}, {me.ci[1]:.4f}], n = {me.n}"),
                         cell(fixed(gr.get("observed_air")) if not r["is_reference"] else "", gr.get("observed_air")),
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
            c.finding("low", f"{title} not assessed for {len(unassessed)} group(s) of {c.feature_label(a)}",
                      f"fewer than {fs.min_group_size} rows: {bounded_list(unassessed)}", "fairness")
        blocks.append(subheading(c.feature_label(a) + f" ({a})"))
        band_note = (f" Groups are bands of {c.feature_label(a)}: {', '.join(c.bands[a]['labels'])} "
                     f"({c.bands[a]['source']})." if a in c.bands else "")
        blocks.append(paragraph(f"Reference group: {c.group_label(a, ref_used) if ref_used else 'none'} "
                                f"({ares['reference_source']}).{band_note}"))
        blocks.append(table([cols[i] for i in keep], [[row[i] for i in keep] for row in rows],
                            caption=f"{title} by {c.feature_label(a)}", numeric=[i for i, k in enumerate(keep) if 1 <= k <= 8]))
        if "proxy_screen" in fs.metrics:
            ps = proxy_screen(c.X, g, reference=ref_used, min_group_size=fs.min_group_size)
            ares["proxy_screen"] = ps.to_dict(orient="records")
            flagged = ps[ps["abs_correlation"] >= fs.proxy_threshold]
            for _, r in flagged.iterrows():
                c.finding("medium", f"Possible proxy: {c.feature_label(r['feature'])} correlates with {c.feature_label(a)}",
                          f"correlation {r['correlation']:+.2f} with group {c.group_label(a, r['group'])} (threshold {fs.proxy_threshold:g})",
                          "fairness")
            blocks.append(collapsible(f"Proxy screen: correlation of each model input with {c.feature_label(a)}", [table(
                ["Feature", "Group", "Correlation"],
                [[cell(c.feature_label(r["feature"])), cell(c.group_label(a, r["group"]) if r["group"] else "n/a"),
                  cell(fixed(r["correlation"], 3), r["correlation"], flag="flag" if r["abs_correlation"] >= fs.proxy_threshold else None)]
                 for _, r in ps.iterrows()], numeric=[2])]))
        res[a] = ares
    not_plotted = [i for i in air_items if is_nan(i["value"])]
    air_items = [i for i in air_items if not is_nan(i["value"])]   # groups not assessed: in the tables, not the chart
    if "adverse_impact_ratio" in fs.metrics and air_items:
        c.figures["air"] = {"type": "hbar", "items": air_items, "threshold": fs.air_threshold,
                            "xlabel": f"adverse impact ratio ({fav_name} rate / reference rate); dashed line: {fs.air_threshold:g}",
                            "alt": "Bar chart of adverse impact ratios by group with the flag threshold "
                                   f"{fs.air_threshold:g}: " + ", ".join(f"{i['label']} {i['text']}" for i in air_items) + "."}
        blocks.insert(3, figure("air", "Adverse impact ratio by group" + (
            f" ({len(not_plotted)} group(s) not assessed are listed in the tables)" if not_plotted else ""),
            c.figures["air"]["alt"]))
    blocks.append(paragraph("Adjusted marginal effect: the average change in the probability of a favourable model decision "
                            "associated with group membership in a logistic regression on the model's decisions that controls "
                            f"for the model's inputs (legitimate {c.words.decision_factor}s), compared pairwise with the reference group; "
                            "delta-method standard errors. Difference: the unadjusted gap in favourable rates with a pooled "
                            "two-proportion z-test. SMD: standardized mean difference of the model's P(favourable). "
                            "AIR (observed outcomes) applies the same ratio to the labels of the audit data, for comparison."))
    c.results["fairness"] = res
    c.reviewed.append(title + ": " + ", ".join(m.replace("_", " ") for m in fs.metrics))
    c.not_reviewed.append("Search for less discriminatory alternative models (not performed by this tool)")
    return {"id": "fairness", "title": title, "blocks": blocks}
