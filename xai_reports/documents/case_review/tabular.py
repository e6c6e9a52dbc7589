"""Case-review sheets of a tabular model (e.g. XGBoost on the WDBC measurements).

Inputs are printed as a table of characteristics by statistic (``<characteristic>_mean``,
``_se``, ``_worst``, as the WDBC data names its 30 measurements); findings are the
top TreeSHAP contributions, similar cases the nearest reference cases in
standardised measurements, and the counterfactual moves one or two top findings to
the typical value of the other class.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...attribution import explain
from ...attribution.auto import background_options
from ...errors import XaiReportsError
from ...format import format_value
from .charts import contributions_png
from .quality import range_flags
from .sections import Cases, data_uri, fmt_probability

CHARACTERISTICS = ["radius", "texture", "perimeter", "area", "smoothness", "compactness", "concavity",
                   "concave_points", "symmetry", "fractal_dimension"]
"""The rows of the measurement table (columns: ``mean``, ``se``, ``worst``)."""


class TabularCases(Cases):
    """Sheets of a tabular model: the measurement table, TreeSHAP findings, nearest reference cases and a
    counterfactual statement."""

    def prepare(self, rows):
        """See :meth:`Cases.prepare`."""
        ctx = self.ctx
        self.features = list(ctx.spec.features)
        self.fspec = {f: ctx.pack.spec.features[f] for f in self.features}
        ref = ctx.card.reference
        self.ref_X, self.ref_y, self.ref_ids = ref["X"], ref["y"], [str(s) for s in ref["ids"]]
        if rows:
            X = pd.concat([c["x"] for c in rows])
            ex = ctx.pack.spec.explanation
            # the card's reference cases are the population of every method that explains against one
            # (interventional TreeSHAP on trees without covers, e.g. ONNX; linear; scorecard; Shapley)
            reference = pd.DataFrame(self.ref_X, columns=self.features)
            self.attr = explain(ctx.adapter, X, method=ex.method, tolerance=ex.additivity_tolerance,
                                **{**background_options(ex.method, ctx.adapter, reference), **ex.options})
            if not self.attr.self_check.get("passed", True):
                raise XaiReportsError(f"{self.attr.method} additivity self-check failed; no sheet written")
        scale = ctx.card["feature_scale"]
        self.mu = np.array([scale[f][0] for f in self.features])
        self.sd = np.array([scale[f][1] or 1.0 for f in self.features])

    def _fmt(self, f, v):
        return format_value(v, self.fspec[f])

    def record(self, k, case):
        """See :meth:`Cases.record`."""
        ctx, spec = self.ctx, self.ctx.spec
        x = case["x"]
        vals = {f: (None if not np.isfinite(float(x[f].iloc[0])) else float(x[f].iloc[0])) for f in self.features}
        score = float(self.attr.predictions[k])
        output = self.output_section(score)
        # inputs and flags
        labels = {f: self.fspec[f].label for f in self.features}
        oor, missing = range_flags(vals, ctx.card["training_ranges"], labels)
        flags = [f"{o['label']} = {self._fmt(o['feature'], o['value'])} is {o['side']} the range seen in training "
                 f"({self._fmt(o['feature'], o['range'][0])} to {self._fmt(o['feature'], o['range'][1])})" for o in oor]
        flags += [f"{m}: missing (the model used its learned default branch)" for m in missing]
        out_of_scope = bool(oor)
        table = []
        for c in CHARACTERISTICS:
            row = {"characteristic": c.replace("_", " "), "cells": []}
            for s in ("mean", "se", "worst"):
                f = f"{c}_{s}"
                if f not in self.fspec:
                    row["cells"].append({"text": "", "flag": False})
                    continue
                row["cells"].append({"text": self._fmt(f, vals[f]),
                                     "flag": any(o["feature"] == f for o in oor) or vals[f] is None})
            table.append(row)
        inputs = {"kind": "tabular", "summary": f"{len(self.features)} nucleus measurements of the fine-needle aspirate",
                  "table": table, "unit_note": "Sizes in the units of the digitised images of the WDBC study.",
                  "flags": flags, "missing": missing,
                  "out_of_scope": out_of_scope,
                  "out_of_scope_text": ("Out of scope: at least one value lies outside the range the model was "
                                        "trained on; the output is an extrapolation." if out_of_scope else
                                        "Within scope: every value lies inside the training range.")}
        # findings
        v = self.attr.values[k]
        order = np.argsort(-np.abs(v), kind="stable")
        items, full = [], []
        for j in order:
            f = self.features[j]
            fs = self.fspec[f]
            val = vals[f]
            rr = fs.reference_range
            pos = None
            if rr is not None and val is not None:
                pos = "above" if val > rr[1] else "below" if val < rr[0] else "within"
            item = {"feature": f, "label": fs.label, "value": val, "value_text": self._fmt(f, val),
                    "reference_text": (f"{self._fmt(f, rr[0])} to {self._fmt(f, rr[1])}" if rr else "not declared"),
                    "position": pos, "contribution": float(v[j]),
                    "direction": f"towards {spec.positive_class}" if v[j] > 0 else
                                 f"towards {[c for c in spec.classes if c != spec.positive_class][0]}"}
            full.append(item)
        items = [it for it in full[:spec.max_findings] if abs(it["contribution"]) > 0]
        findings = {"items": items, "method": (f"{method_text(self.attr)} contributions to the model's "
                                               f"{output_text(self.attr.output, spec.positive_class)}; base value "
                                               f"{float(self.attr.base_values[k]):.3f}; additivity error "
                                               f"{float(self.attr.self_check['per_row'][k]):.1e}"),
                    "reference_note": ("Reference range: central 90% (5th to 95th percentile) of the benign "
                                       "training cases; a value outside it is not by itself abnormal."),
                    "full_list_note": f"All {len(full)} contributions are in the embedded JSON record.",
                    "chart": {"png": data_uri(contributions_png(
                        items, positive=spec.positive_class,
                        axis=f"contribution to the {output_text(self.attr.output, spec.positive_class)} "
                             f"({_SHORT.get(self.attr.method, self.attr.method)})")),
                              "alt": "Bar chart of the top contributions: " + "; ".join(
                                  f"{it['label']} {it['contribution']:+.2f} ({it['direction']})" for it in items)}}
        similar = self._similar(vals)
        cf = self._counterfactual(x, v, output)
        inputs_public = {f: vals[f] for f in self.features}
        explanation = {"method": self.attr.method, "params": self.attr.params, "output": self.attr.output,
                       "base_value": float(self.attr.base_values[k]),
                       "attributions": {f: float(a) for f, a in zip(self.features, v)},
                       "self_check": {"kind": self.attr.self_check.get("kind"),
                                      "error": float(self.attr.self_check["per_row"][k]),
                                      "tolerance": self.attr.self_check.get("tolerance")}}
        perf = self.performance_section(vals.get(spec.subgroup_feature) if spec.subgroup_feature else None)
        return self.base_record(case, score=score, output=output, inputs_public=inputs_public,
                                explanation=explanation,
                                document_parts={"inputs": inputs, "output": output, "evidence": None,
                                                "findings": findings, "similar": similar,
                                                "counterfactual": cf, "performance": perf})

    def _similar(self, vals):
        spec = self.ctx.spec
        k = spec.similar_cases
        x = np.array([np.nan if vals[f] is None else vals[f] for f in self.features])
        z = (x - self.mu) / self.sd
        zr = (self.ref_X - self.mu) / self.sd
        ok = np.isfinite(z)
        d = np.sqrt(((zr[:, ok] - z[ok]) ** 2).sum(axis=1))
        idx = np.argsort(d, kind="stable")[:k]
        items = [{"ref_id": self.ref_ids[i], "outcome": spec.classes[int(self.ref_y[i])],
                  "distance": float(d[i])} for i in idx]
        n_pos = sum(1 for it in items if it["outcome"] == spec.positive_class)
        return {"items": items, "thumbnails": False,
                "space": ("Euclidean distance between the standardised measurements (z-scores with the training "
                          "mean and SD), among the training and calibration cases"),
                "summary": f"{n_pos} of the {len(items)} most similar reference cases had a confirmed "
                           f"{spec.positive_class} diagnosis.",
                "outcome_source": "confirmed diagnosis recorded in the WDBC data"}

    def _counterfactual(self, x, v, output):
        spec, ctx = self.ctx.spec, self.ctx
        above = output["above_threshold"]
        pos = spec.positive_class
        neg = [c for c in spec.classes if c != pos][0]
        goal = neg if above else pos
        medians = ctx.card["class_medians"][goal]
        sign = 1 if above else -1
        cands = [j for j in np.argsort(-sign * v, kind="stable") if sign * v[j] > 0][:5]

        def prob(frame):
            # the score the card calibrates is the output the attributions add up in (a classifier's margin)
            return float(ctx.calibrator.predict(ctx.adapter.predict(frame, output=self.attr.output))[0])

        def crosses(p):
            return (p < self.threshold) if above else (p >= self.threshold)

        found = None
        for j in cands:
            f = self.features[j]
            x2 = x.copy()
            x2[f] = medians[f]
            p2 = prob(x2)
            if crosses(p2):
                found = ([f], p2)
                break
        if found is None:
            for a in range(min(3, len(cands))):
                for b in range(a + 1, min(3, len(cands))):
                    fa, fb = self.features[cands[a]], self.features[cands[b]]
                    x2 = x.copy()
                    x2[fa], x2[fb] = medians[fa], medians[fb]
                    p2 = prob(x2)
                    if crosses(p2):
                        found = ([fa, fb], p2)
                        break
                if found:
                    break
        caveat = ("This describes how the model responds, not a clinical intervention: the measurements of an "
                  "aspirate cannot be changed. Typical values are the medians of the training cases of that class.")
        if found is None:
            return {"meaningful": True,
                    "text": (f"No change of one or two of the top findings to the typical {goal} value moves the "
                             f"calibrated probability {'below' if above else 'to or above'} the operating "
                             f"threshold {self.threshold:g}: the output does not hinge on a single finding."),
                    "caveat": caveat}
        fs, p2 = found
        parts = [f"{self.fspec[f].label} were {self._fmt(f, medians[f])} (instead of {self._fmt(f, float(x[f].iloc[0]))})"
                 for f in fs]
        return {"meaningful": True,
                "text": (f"If {' and '.join(parts)}, the typical {goal} value, with every other finding unchanged, "
                         f"the calibrated probability of {pos} would be {fmt_probability(p2)}, "
                         f"{'below' if above else 'at or above'} the operating threshold {self.threshold:g}."),
                "changed": [{"feature": f, "to": medians[f]} for f in fs], "probability": p2, "caveat": caveat}


_SHORT = {"tree_shap": "TreeSHAP", "scorecard": "scorecard points", "linear": "linear SHAP", "shapley": "Shapley",
          "kernel_shap": "KernelSHAP"}


def method_text(attr) -> str:
    """How the findings were computed, as the sheet prints it (from the attribution's own method and form).

    Examples::

        >>> from types import SimpleNamespace as A
        >>> method_text(A(method="tree_shap", params={"form": "interventional", "background_rows": 400}))
        'TreeSHAP (exact, interventional, against 400 reference cases)'
    """
    p = attr.params or {}
    if attr.method == "tree_shap":
        if p.get("form") == "interventional":
            return f"TreeSHAP (exact, interventional, against {p.get('background_rows', 'the')} reference cases)"
        return "TreeSHAP (exact, path-dependent)"
    if attr.method == "scorecard":
        against = "the reference cases' average" if p.get("reference") != "max_points" else "each maximum"
        return f"Scorecard points (points earned minus {against}, converted to the score's scale)"
    if attr.method == "linear":
        return "Linear SHAP (exact, against the reference cases)"
    if attr.method == "shapley":
        return "Shapley values (exact, against the reference cases)"
    return attr.method.replace("_", " ")


def output_text(output: str, positive: str) -> str:
    """The output space the contributions add up in, in words."""
    return {"margin": f"log-odds of {positive}", "logit": f"log-odds of {positive}",
            "probability": f"probability of {positive}"}.get(output, "score")


__all__ = ["TabularCases", "CHARACTERISTICS"]
