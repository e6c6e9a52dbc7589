"""Performance on the labelled data: AUC, KS, Brier score, calibration and confusion, overall and by group."""

from __future__ import annotations

import numpy as np

from ..blocks import bounded_list, cell, collapsible, figure, fixed, grid, is_nan, paragraph, percent, table
from .context import AuditContext


def performance_section(c: AuditContext) -> dict:
    """Performance on the labelled data, overall and by protected group, with ROC and calibration figures."""
    from sklearn.metrics import roc_curve

    from ...metrics.performance import binary_performance, performance_by_group

    st = c.settings
    overall = binary_performance(c.y, c.p, c.threshold, n_bins=st.calibration_bins)
    res = {"overall": overall, "by_group": {}, "threshold": c.threshold, "positive_class": c.positive_name}

    def perf_row(label, r, attr=None):
        cm = r["confusion"] or {}
        flag = "flag" if (attr and not is_nan(r["auc"]) and not is_nan(overall["auc"]) and overall["auc"] - r["auc"] > 0.05) else None
        return [cell(attr or "all rows"), cell(label), cell(f"{r['n']:,}", r["n"]), cell(percent(r["base_rate"]), r["base_rate"]),
                cell(fixed(r["auc"]), r["auc"], flag=flag), cell(fixed(r["ks"]), r["ks"]), cell(fixed(r["brier"]), r["brier"]),
                cell(fixed(r["ece"]), r["ece"]),
                cell(percent(cm.get("tpr")), cm.get("tpr")), cell(percent(cm.get("fpr")), cm.get("fpr")),
                cell(percent(cm.get("accuracy")), cm.get("accuracy")), cell(r["note"])]

    rows = [perf_row("all", overall)]
    cal_series = [{"label": "all rows", "bins": overall["calibration"]}]
    fpr, tpr, _ = roc_curve(c.y, c.p)
    roc_series = [{"label": f"all rows (AUC {fixed(overall['auc'])})", "fpr": _thin(fpr), "tpr": _thin(tpr)}]
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
            elif not is_nan(r["auc"]) and overall["auc"] - r["auc"] > 0.05:
                c.finding("medium", f"Lower discrimination for {c.feature_label(a)} = {r['label']}",
                          f"AUC {fixed(r['auc'])} against {fixed(overall['auc'])} overall (gap above 0.05)", "performance")
            if r["calibration"] and not r["note"]:
                cal_series.append({"label": f"{c.feature_label(a)}: {r['label']}", "bins": r["calibration"]})
        if unassessed:   # one finding per attribute, not one per group
            c.finding("low", f"Performance not assessed for {len(unassessed)} group(s) of {c.feature_label(a)}",
                      f"fewer than {st.subgroup_min_rows} rows: {bounded_list(unassessed)}", "performance")
    cm = overall["confusion"]
    conf_rows = [[cell(f"actual {c.positive_name}"), cell(f"{cm['tp']:,}", cm["tp"]), cell(f"{cm['fn']:,}", cm["fn"])],
                 [cell(f"actual not {c.positive_name}"), cell(f"{cm['fp']:,}", cm["fp"]), cell(f"{cm['tn']:,}", cm["tn"])]]
    c.figures["calibration"] = {"type": "calibration", "series": cal_series[:8],
                                "xlabel": f"mean predicted P({c.positive_name})", "ylabel": f"observed {c.positive_name} rate",
                                "alt": "Reliability diagram: observed rate against mean predicted probability in "
                                       f"{st.calibration_bins} quantile bins, overall and by group; "
                                       f"overall expected calibration error {fixed(overall['ece'])}."}
    for a in c.protected:
        for r in res["by_group"][a]:
            if r["n"] >= st.subgroup_min_rows and not is_nan(r["auc"]):
                m = (c.groups[a] == r["group"]).to_numpy()
                gf, gt, _ = roc_curve(c.y[m], c.p[m])
                roc_series.append({"label": f"{c.feature_label(a)}: {r['label']} (AUC {fixed(r['auc'])})",
                                   "fpr": _thin(gf), "tpr": _thin(gt)})
    c.figures["roc"] = {"type": "roc", "series": roc_series[:6],
                        "alt": f"ROC curves overall (AUC {fixed(overall['auc'])}) and for each protected group."}
    c.results["performance"] = res
    if not is_nan(overall["auc"]) and overall["auc"] < 0.7:
        c.finding("medium", "Weak discrimination on the labelled data", f"AUC {fixed(overall['auc'])} (below 0.70)", "performance")
    if overall["ece"] > 0.05:
        c.finding("low", "Calibration error above 0.05", f"expected calibration error {fixed(overall['ece'])}", "performance")
    c.reviewed.append("Outcomes analysis on the labelled data: AUC, KS, Brier score, calibration and confusion at "
                      "the threshold, overall and by protected group")
    blocks = [
        paragraph(f"Scores are P({c.positive_name}); the decision threshold is {c.threshold:g} "
                  f"(P >= {c.threshold:g} means {c.positive_name}). Subgroups with fewer than {st.subgroup_min_rows} rows "
                  "are reported without metrics. AUC: area under the ROC curve; KS: largest gap between the score "
                  "distributions of the two classes; ECE: expected calibration error over quantile bins."),
        table(["Attribute", "Group", "Rows", f"{c.positive_name} rate", "AUC", "KS", "Brier", "ECE", "TPR", "FPR",
               "Accuracy", "Note"], rows, caption="Performance overall and by subgroup", id="perf-table",
              numeric=list(range(2, 11))),
        table(["", f"predicted {c.positive_name}", f"predicted not {c.positive_name}"], conf_rows,
              caption=f"Confusion at the threshold {c.threshold:g}, all rows", sortable=False, numeric=[1, 2]),
        grid([figure("roc", "ROC curves, overall and by group", c.figures["roc"]["alt"]),
              figure("calibration", "Calibration (reliability) curves", c.figures["calibration"]["alt"])]),
        collapsible("Calibration bins (all rows)", [table(
            ["Bin", "P range", "Rows", "Mean predicted", "Observed rate"],
            [[cell(i + 1, i + 1), cell(f"{b['lo']:.3f} to {b['hi']:.3f}"), cell(f"{b['n']:,}", b["n"]),
              cell(fixed(b["mean_predicted"]), b["mean_predicted"]), cell(fixed(b["observed_rate"]), b["observed_rate"])]
             for i, b in enumerate(overall["calibration"])], numeric=[0, 2, 3, 4])]),
    ]
    return {"id": "performance", "title": "Performance on the labelled data", "blocks": blocks}


def _thin(a, n=200):
    a = np.asarray(a, dtype=float)
    if len(a) <= n:
        return a.tolist()
    idx = np.unique(np.linspace(0, len(a) - 1, n).astype(int))
    return a[idx].tolist()
