"""The reason-code audit: principal reasons of the model's denials, by group, and the neutralisation check."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ...errors import InputError
from ...format import format_value
from ..blocks import cell, collapsible, figure, not_computed, p_value_phrase, paragraph, percent, table
from .context import AuditContext


def reference_values(c: AuditContext, X_ref: pd.DataFrame) -> dict:
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


def reasons_section(c: AuditContext) -> dict:
    """The reason-code audit (packs with reason statements): principal reasons of the model's denials,
    their mix by group and the neutralisation check."""
    title = "Reason-code audit"
    c.reason_stats = None
    if c.spec.section("letter") is None or not c.spec.reasons:
        why = "the pack declares no reason statements (reason codes are a finance-pack feature)"
        c.results["reasons"] = {"computed": False, "why": why}
        return {"id": "reasons", "title": title, "blocks": [not_computed(why)]}
    if c.attr is None:
        c.results["reasons"] = {"computed": False, "why": c.attr_error}
        return {"id": "reasons", "title": title, "blocks": [not_computed(c.attr_error)]}
    from ..letter.reasons import build_reference, deny_probability, select_reasons

    pack, fin = c.pack, c.spec.section("letter")
    credit = "credit " if c.words.lending else ""   # lending packs: Regulation B wording
    reg_b = " (Reg B comment 9(b)(2)-5)" if c.words.lending else ""
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
                row.append(cell(f"{percent(share)} ({v})", share, title=f"{v} of {tot} denied applicants in this group"))
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
            group_tables.append(paragraph(
                f"Chi-square test of independence between principal reason and {c.feature_label(a)}: "
                f"chi2 = {chi[a]['chi2']:.2f}, {chi[a]['dof']} degrees of freedom, {p_value_phrase(chi[a]['p_value'])}. "
                f"A difference in reason mix between groups is expected when their {credit}profiles differ; it is "
                f"evidence to read with {c.words.fairness_section_name()}, not a finding by itself."))

    # neutralisation: set each applicant's top-reason features to the reference value
    refvals = reference_values(c, X_ref)
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
                  f"{len(flagged)} of {n_denied} denials ({percent(share)}) flagged for human review: "
                  + "; ".join(f"{k} ({v})" for k, v in flag_why.items()), "reasons")
    blocks = [
        paragraph(f"Principal reasons are selected as the adverse-action letters select them{reg_b}: "
                  f"each factor's push toward denial relative to the reference population ({ref.description}, "
                  f"{ref.n_rows:,} rows), summed per reason statement, at most {fin.max_reasons} reasons. "
                  f"{n_denied:,} of {len(c.X):,} audited applications are denied by the model."),
        table(["Principal reason", "Code", "Denied applicants", "Share", "Among the top reasons"],
              [[cell(r["text"]), cell(r["code"] or ""), cell(f"{r['principal']:,}", r["principal"]),
                cell(percent(r["share"]), r["share"]), cell(f"{r['any_rank']:,}", r["any_rank"])] for r in dist_rows],
              caption="Distribution of principal reasons (all denied applicants)", numeric=[2, 3, 4]),
    ]
    c.figures["reasons_dist"] = {
        "type": "hbar", "xlabel": "share of denied applicants (principal reason)", "color": "#D55E00",
        "items": [{"label": r["text"], "value": r["share"], "text": percent(r["share"]),
                   "title": f"{r['text']}: {r['principal']} of {n_denied} ({percent(r['share'], 2)})"} for r in dist_rows],
        "alt": "Bar chart of the share of denied applicants by principal reason: " +
               ", ".join(f"{r['text']} {percent(r['share'])}" for r in dist_rows[:4]) + "."}
    blocks.append(figure("reasons_dist", "Principal reasons of denied applicants", c.figures["reasons_dist"]["alt"]))
    blocks += group_tables
    if ok_rows:
        blocks.append(paragraph(
            f"Neutralisation check: for each denied applicant with valid reasons ({len(ok_rows):,}), the features behind "
            "the principal reason are set to the reference population's typical value (median, or the most common "
            f"category) and the model is re-scored. {neut['toward']:,} ({percent(neut['share_toward'])}) moved toward "
            f"approval, {neut['no_change']:,} did not move, {neut['away']:,} moved away; mean change in P(deny) "
            f"{100 * neut['mean_delta']:+.1f} percentage points; {neut['approved_after']:,} would be approved."))
        blocks.append(table(["Principal reason", "Applicants", "Toward approval", "No change", "Away", "Mean change in P(deny)",
                             "Approved after"],
                            [[cell(r["text"]), cell(r["n"], r["n"]), cell(r["toward"], r["toward"]),
                              cell(r["no_change"], r["no_change"]), cell(r["away"], r["away"], flag="flag" if r["away"] else None),
                              cell(f"{100 * r['mean_delta']:+.1f} pp", r["mean_delta"]),
                              cell(r["approved_after"], r["approved_after"])] for r in neut["per_reason"]],
                            caption="Neutralising the principal reason", numeric=[1, 2, 3, 4, 5, 6]))
        blocks.append(collapsible("Reference values used for neutralisation", [table(
            ["Feature", "Reference value"],
            [[cell(c.feature_label(f)), cell(format_value(v, c.spec.features[f], currency=c.spec.currency))] for f, v in refvals.items()])]))
    c.reviewed.append("Reason codes: distribution overall and by protected group, and the neutralisation check")
    return {"id": "reasons", "title": title, "blocks": blocks}
