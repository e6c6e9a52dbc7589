"""Explanation quality: additivity, deletion/insertion faithfulness against random orders, and stability."""

from __future__ import annotations

import math

import numpy as np

from ...adapters.coded import CodedModel
from ..blocks import cell, fixed, key_value_table, not_computed, p_value_phrase, p_value_text, paragraph, percent, table
from .context import AuditContext
from .reasons import reference_values


def explanation_quality_section(c: AuditContext) -> dict:
    """Explanation quality: additivity, faithfulness (deletion/insertion) and stability of the attributions."""
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
        blocks.append(key_value_table(rows))
        if not sc.get("passed"):
            c.finding("high", "Attributions fail the additivity check",
                      f"{over} rows with error above {sc['tolerance']:.0e} (largest {sc['max_abs_error']:.2e})",
                      "explanation_quality")
        c.reviewed.append("Explanation fidelity: additivity of the attributions")
    else:
        blocks.append(not_computed(c.attr_error or "the attribution method reports no self-check"))
    # faithfulness and stability
    if c.attr is None:
        why = c.attr_error
        blocks.append(not_computed(why))
        res["faithfulness"] = {"computed": False, "why": why}
        res["stability"] = {"computed": False, "why": why}
        c.not_reviewed.append("Faithfulness (deletion/insertion) and stability of explanations (" + why + ")")
    else:
        fq, fq_blocks = _faithfulness(c)
        res.update(fq)
        blocks += fq_blocks
    if c.reason_stats is not None:
        rs = c.reason_stats
        res["no_valid_reasons"] = rs
        blocks.append(key_value_table([("Denials flagged for having no valid reasons",
                           f"{rs['n_flagged']:,} of {rs['n_denied']:,} ({percent(rs['share_flagged'])})")]))
    c.results["explanation_quality"] = res
    return {"id": "explanation_quality", "title": "Explanation quality", "blocks": blocks}


def _faithfulness(c: AuditContext) -> tuple[dict, list]:
    """Deletion/insertion against random orders and max-sensitivity, through ``xai_reports.metrics``."""
    from ...metrics import deletion, insertion, max_sensitivity

    st = c.settings
    rng = np.random.default_rng(c.seed)
    n = len(c.X)
    idx = np.sort(rng.choice(n, size=min(n, st.faithfulness_rows), replace=False))
    coded = CodedModel.for_frame(c.adapter, c.X)
    Z = coded.encode(c.X.iloc[idx]).reset_index(drop=True)
    X_ref = c.ref_X if c.ref_X is not None else c.X
    refvals = reference_values(c, X_ref)
    base = np.array([(list(coded.categories[f]).index(refvals[f]) if f in coded.categories else float(refvals[f]))
                     for f in coded.columns], dtype=float)
    res, blocks, rows = {}, [], []
    space = c.attr.output
    try:
        dele = deletion(coded, Z, c.attr.values[idx], baselines=base, n_random=10, seed=c.seed,
                        output=space)
        ins = insertion(coded, Z, c.attr.values[idx], baselines=base, n_random=10, seed=c.seed,
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
            rows.append([cell(cr.kind), cell(fixed(sm["auc"]), sm["auc"]), cell(fixed(sm["random_auc"]), sm["random_auc"]),
                         cell(f"{sm['gain']:+.3f}", sm["gain"], flag=None if sm["gain"] > 0 else "flag"),
                         cell(percent(sm["better_than_random"]), sm["better_than_random"]),
                         cell(p_value_text(res[cr.kind]["sign_test_p"]), res[cr.kind]["sign_test_p"])])
            if sm["gain"] <= 0 or res[cr.kind]["sign_test_p"] >= 0.05:
                c.finding("high", f"Explanations are not more faithful than random ({cr.kind})",
                          f"mean {cr.kind} gain over random orderings {sm['gain']:+.3f} "
                          f"(sign test {p_value_phrase(res[cr.kind]['sign_test_p'])})", "explanation_quality")
        res["faithfulness"] = {"computed": True, "rows": int(len(idx)), "baseline": "reference values (median / most common)",
                               "output": space, "random_orders": 10}
        blocks.append(paragraph(
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
                   if f not in coded.categories and c.spec.features[f].type == "numeric"]
        sd = X_ref[[coded.columns[j] for j in numeric]].to_numpy(dtype=float).std(axis=0) if numeric else np.empty(0)
        radius = st.stability_radius

        def perturb(x, r):
            x = np.array(x, dtype=float, copy=True)
            if numeric:
                x[:, numeric] += r.uniform(-1, 1, size=(len(x), len(numeric))) * (radius * sd)[None, :]
            return x

        def explain_coded(Zp):
            from ...attribution import explain

            return explain(c.adapter, coded.decode(Zp), method=c.spec.explanation.method,
                           **getattr(c, "explain_options", c.spec.explanation.options)).values

        sens = np.asarray(max_sensitivity(explain_coded, Zs, perturb_func=perturb, n_perturb_samples=10,
                                          seed=c.seed))
        res["stability"] = {"computed": True, "rows": int(len(sidx)), "radius_sd": radius, "samples": 10,
                            "median": float(np.median(sens)), "p95": float(np.quantile(sens, 0.95)),
                            "max": float(sens.max()), "perturbed_features": [coded.columns[j] for j in numeric]}
        blocks.append(paragraph(
            f"Stability on {len(sidx):,} rows: each numeric input is moved by up to {radius:g} of its standard "
            "deviation (10 seeded draws; categorical and ordinal inputs unchanged) and the largest relative change "
            "of the attribution vector, ||phi(x') - phi(x)|| / ||phi(x)||, is recorded (max-sensitivity)."))
        blocks.append(key_value_table([("Max-sensitivity, median", fixed(res["stability"]["median"])),
                          ("Max-sensitivity, 95th percentile", fixed(res["stability"]["p95"])),
                          ("Max-sensitivity, largest", fixed(res["stability"]["max"]))]))
        if res["stability"]["p95"] > 1.0:
            c.finding("low", f"Explanations of some {c.words.subjects} change more than their own size under small perturbations",
                      f"95th percentile of max-sensitivity {fixed(res['stability']['p95'])} (radius {radius:g} SD)",
                      "explanation_quality")
        c.reviewed.append("Explanation stability under small perturbations (max-sensitivity)")
    except Exception as exc:  # noqa: BLE001
        res["stability"] = {"computed": False, "why": f"stability failed: {exc}"}
        blocks.append(not_computed(res["stability"]["why"]))
    return res, blocks
