"""The parts every case-review sheet shares: output with uncertainty, performance context, model, record.

:class:`Cases` holds what one batch needs once (calibrator, conformal
threshold, overall performance) and builds the sheet sections common to
tabular and image models; :mod:`.tabular` and :mod:`.image` add the
model-kind specifics (inputs, findings or evidence maps, similar cases).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np

from ...io.outputs import canonical_json
from .charts import class_probabilities_png, probability_png
from .heads import calibrator_from_dict, label_set, labelwise_qhats, multiclass_qhat, multiclass_set, per_class_metrics
from .content import case_review_content
from .privacy import format_date, patient_section
from .uncertainty import PlattCalibrator, conformal_set, conformal_threshold, wilson_interval

RECORD_SCHEMA = "xai-reports/case-review-record/1"


def fmt_probability(p: float) -> str:
    """A probability as sheets print it: two decimals, or ``< 0.01`` / ``> 0.99`` at the ends."""
    return f"{p:.2f}" if 0.005 <= p <= 0.995 else ("< 0.01" if p < 0.005 else "> 0.99")


def fmt_interval(lo: float, hi: float) -> str:
    """An interval as sheets print it; never ``> 0.99 to > 0.99`` (both ends past the same limit).

    Examples::

        >>> fmt_interval(0.2, 0.41), fmt_interval(0.996, 0.999), fmt_interval(0.001, 0.004)
        ('0.20 to 0.41', 'above 0.99 (both ends)', 'below 0.01 (both ends)')
    """
    a, b = fmt_probability(lo), fmt_probability(hi)
    if a == b and a in ("> 0.99", "< 0.01"):
        return ("above 0.99" if a == "> 0.99" else "below 0.01") + " (both ends)"
    return f"{a} to {b}"


def data_uri(png: bytes) -> str:
    """A PNG as a ``data:`` URI (sheets embed every figure)."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


# --- performance context ---------------------------------------------------------------------

def performance_metrics(p, y, threshold: float) -> dict:
    """Sensitivity, specificity, PPV, NPV (Wilson 95 % intervals) and AUC at ``threshold``.

    Examples::

        >>> performance_metrics([0.9, 0.2, 0.7, 0.1], [1, 0, 0, 0], 0.5)["sensitivity"]
        1.0
    """
    from sklearn.metrics import roc_auc_score

    p = np.asarray(p, dtype=float)
    y = np.asarray(y, dtype=int)
    pos = p >= threshold
    tp, fn = int((pos & (y == 1)).sum()), int((~pos & (y == 1)).sum())
    tn, fp = int((~pos & (y == 0)).sum()), int((pos & (y == 0)).sum())

    def ratio(k, n):
        return None if n == 0 else k / n

    both = len(set(y.tolist())) == 2
    return {"n": int(len(y)), "n_positive": int((y == 1).sum()), "threshold": threshold,
            "sensitivity": ratio(tp, tp + fn), "sensitivity_ci": wilson_interval(tp, tp + fn),
            "specificity": ratio(tn, tn + fp), "specificity_ci": wilson_interval(tn, tn + fp),
            "ppv": ratio(tp, tp + fp), "npv": ratio(tn, tn + fn),
            "auc": float(roc_auc_score(y, p)) if both else None,
            "counts": {"tp": tp, "fn": fn, "tn": tn, "fp": fp}}


def _subgroup(card, value: float | None, threshold: float) -> dict | None:
    sub = card["holdout"].get("subgroup")
    if not sub or value is None or not np.isfinite(value):
        return None
    vals = np.asarray(sub["values"], dtype=float)
    edges = np.quantile(vals, [1 / 3, 2 / 3])
    k = int(np.searchsorted(edges, value, side="right"))
    names = ["lowest third", "middle third", "highest third"]
    lo = -np.inf if k == 0 else edges[k - 1]
    hi = np.inf if k == 2 else edges[k]
    sel = (vals >= lo) & (vals < hi) if k < 2 else vals >= lo
    m = performance_metrics(np.asarray(card["holdout"]["p"])[sel], np.asarray(card["holdout"]["y"])[sel], threshold)
    rng = (f"below {edges[0]:.4g}" if k == 0 else f"{edges[0]:.4g} to {edges[1]:.4g}" if k == 1
           else f"{edges[1]:.4g} or more")
    return {"name": sub["name"], "value": float(value), "band": names[k], "range_text": rng, **m}


@dataclass
class Context:
    """What every case of one batch shares: pack, model (spec, card, adapter), print profile, time, template."""

    pack: object
    spec: object
    mid: str
    card: object
    adapter: object
    profile_name: str
    profile: object
    when: datetime
    template: dict
    software: dict

    @property
    def calibrator(self) -> PlattCalibrator:
        """The model card's calibrator (built once): Platt (two classes), temperature (softmax) or per label."""
        if not hasattr(self, "_cal"):
            self._cal = calibrator_from_dict(self.card["calibration"])
        return self._cal


class Cases:
    """Shared parts of a sheet; subclasses add the model-kind specifics."""

    def __init__(self, ctx: Context):
        self.ctx = ctx
        spec, card = ctx.spec, ctx.card
        cs = card["calibration_set"]
        self.level = spec.uncertainty_level
        self.head = getattr(spec, "head", "binary")   # specs built by hand (tests) are two-class
        self.threshold = spec.operating_threshold
        if self.head == "binary":
            self.qhat = conformal_threshold(cs["p"], cs["y"], self.level)
            self.overall = performance_metrics(card["holdout"]["p"], card["holdout"]["y"], self.threshold)
        else:
            self.qhat = (multiclass_qhat(cs["p"], cs["y"], self.level) if self.head == "multiclass"
                         else labelwise_qhats(cs["p"], cs["y"], self.level))
            self.overall = per_class_metrics(card["holdout"]["p"], card["holdout"]["y"], spec.classes,
                                             head=self.head, threshold=self.threshold)

    def prepare(self, rows):  # pragma: no cover - abstract
        """Batched work for one chunk's cases (attributions, reference embeddings) before :meth:`record`."""
        raise NotImplementedError

    def record(self, k, case) -> dict:  # pragma: no cover - abstract
        """The JSON record of the ``k``-th case of the prepared chunk (the sheet's content inside)."""
        raise NotImplementedError

    # pieces ----------------------------------------------------------------------------------
    def output_section(self, score: float) -> dict:
        """Calibrated probability, interval, conformal set, threshold and probability chart of a model score."""
        spec, cal = self.ctx.spec, self.ctx.calibrator
        p = float(cal.predict([score])[0])
        lo, hi = (float(v) for v in cal.interval([score], level=self.level)[0])
        positive = spec.positive_class
        negative = [c for c in spec.classes if c != positive][0]
        above = p >= self.threshold
        cset = conformal_set([p], self.qhat, classes=tuple(spec.classes))[0]
        pct = round(self.level * 100)
        name = ("isotonic regression" if self.ctx.card["calibration"].get("method") == "isotonic"
                else "Platt scaling")
        return {
            "class": positive if above else negative,
            "headline": positive if above else negative,
            "positive_class": positive,
            "probability": p, "probability_text": fmt_probability(p),
            "threshold": self.threshold, "above_threshold": above,
            "meaning": spec.above_threshold if above else spec.below_threshold,
            "above_text": spec.above_threshold, "below_text": spec.below_threshold,
            "interval": {"low": lo, "high": hi, "level": self.level,
                         "text": fmt_interval(lo, hi),
                         "method": (f"{pct}% bootstrap percentile interval of the calibrated probability: {name} "
                                    f"refitted on {self.ctx.card['calibration']['n_bootstrap']} resamples "
                                    f"of the {len(self.ctx.card['calibration_set']['y'])} calibration cases "
                                    "(reflects calibration uncertainty, not all model uncertainty)")},
            "conformal": {"set": cset, "level": self.level, "qhat": self.qhat,
                          "text": ("{" + ", ".join(cset) + "}") if cset else "{} (empty: no class fits the case at this coverage)",
                          "method": (f"split conformal prediction set, {pct}% coverage on exchangeable cases "
                                     f"(score 1 - p(true class), {len(self.ctx.card['calibration_set']['y'])} "
                                     "calibration cases)"),
                          "ambiguous": len(cset) > 1, "empty": not cset},
            "calibration_text": (f"{name[0].upper() + name[1:]} of the model score ({self.ctx.card['score']}) fitted "
                                 "on a held-out calibration split"),
            "chart": {"png": data_uri(probability_png(p, (lo, hi), self.threshold, positive=positive)),
                      "alt": (f"Probability scale from 0 to 1: calibrated probability of {positive} {fmt_probability(p)}, "
                              f"interval {fmt_interval(lo, hi)}, operating threshold {self.threshold:g}.")},
        }

    def logits_output(self, z) -> tuple[float | list, dict]:
        """``(score, output section)`` of a model's logits ``(K,)``, whatever the head."""
        z = np.asarray(z, dtype=np.float64)
        if self.head == "binary":
            score = float(z[1] - z[0]) if z.size == 2 else float(z.reshape(-1)[0])
            return score, self.output_section(score)
        return [float(v) for v in z], self.multi_output_section(z)

    def multi_output_section(self, z) -> dict:
        """Output of a softmax model with 3+ classes or a multi-label model: every class with its calibrated
        probability, interval and (per label) conformal set; the headline is the predicted class(es)."""
        spec, cal, card = self.ctx.spec, self.ctx.calibrator, self.ctx.card
        classes = list(spec.classes)
        p = cal.predict(z[None])[0]
        iv = cal.interval(z[None], level=self.level)[0]
        pct = round(self.level * 100)
        n_cal = len(card["calibration_set"]["y"])
        rows = [{"class": c, "probability": float(p[k]), "text": fmt_probability(float(p[k])),
                 "interval": [float(iv[k, 0]), float(iv[k, 1])], "interval_text": fmt_interval(*iv[k])}
                for k, c in enumerate(classes)]
        if self.head == "multiclass":
            k = int(np.argmax(p))
            cset = multiclass_set(p, self.qhat, classes)
            for r in rows:
                r["predicted"], r["in_set"] = r["class"] == classes[k], r["class"] in cset
            predicted = [classes[k]]
            meaning = (f"The most probable of the {len(classes)} classes is {classes[k]} "
                       f"(calibrated probability {fmt_probability(float(p[k]))}).")
            conformal = {"set": cset, "text": ("{" + ", ".join(cset) + "}") if cset else
                         "{} (empty: no class fits the case at this coverage)",
                         "ambiguous": len(cset) > 1, "empty": not cset, "qhat": self.qhat,
                         "method": (f"split conformal prediction set, {pct}% coverage on exchangeable cases (score "
                                    f"1 - p(true class), {n_cal} calibration cases)")}
            cal_text = (f"temperature scaling of the model's logits (T = {cal.t_:.3g}) fitted on a held-out "
                        "calibration split")
            imethod = (f"{pct}% bootstrap percentile interval of each calibrated probability: temperature refitted "
                       f"on {len(cal.boot_)} resamples of the {n_cal} calibration cases (reflects calibration "
                       "uncertainty, not all model uncertainty)")
            top = k
        else:
            predicted = [c for c, pk in zip(classes, p) if pk >= self.threshold]
            sets = [label_set(float(pk), q) for pk, q in zip(p, self.qhat)]
            for r, s_ in zip(rows, sets):
                r["predicted"] = r["class"] in predicted
                r["set"], r["set_text"] = s_, ("{" + ", ".join(s_) + "}") if s_ else "{} (no answer fits)"
            undecided = [c for c, s_ in zip(classes, sets) if len(s_) != 1]
            meaning = ((f"Labels at or above the threshold {self.threshold:g}: {', '.join(predicted)}." if predicted
                        else f"No label reaches the threshold {self.threshold:g}.") +
                       " Each label is judged on its own; several can be present.")
            conformal = {"set": [c for c, s_ in zip(classes, sets) if "present" in s_], "per_label": dict(zip(classes, sets)),
                         "text": "; ".join(f"{c}: {r['set_text']}" for c, r in zip(classes, rows)),
                         "ambiguous": bool(undecided), "empty": any(not s_ for s_ in sets), "qhat": self.qhat,
                         "method": (f"split conformal set per label, {pct}% coverage of each label on exchangeable "
                                    f"cases ({n_cal} calibration cases)")}
            cal_text = "Platt scaling of each label's logit, fitted on a held-out calibration split"
            imethod = (f"{pct}% bootstrap percentile interval of each label's calibrated probability (Platt scaling "
                       f"refitted on resamples of the {n_cal} calibration cases)")
            top = int(np.argmax(p))
        headline = (predicted[0] if self.head == "multiclass" else
                    ("present: " + ", ".join(predicted)) if predicted else "no label at or above the threshold")
        return {"head": self.head, "class": ", ".join(predicted) if predicted else "none", "headline": headline,
                "predicted": predicted, "positive_class": classes[top], "rows": rows,
                "probability": float(p[top]), "probability_text": fmt_probability(float(p[top])),
                "threshold": self.threshold if self.head == "multilabel" else None,
                "above_threshold": bool(predicted) if self.head == "multilabel" else None,
                "meaning": meaning, "above_text": "", "below_text": "",
                "interval": {"low": float(iv[top, 0]), "high": float(iv[top, 1]), "level": self.level,
                             "text": fmt_interval(*iv[top]), "method": imethod},
                "conformal": {**conformal, "level": self.level}, "calibration_text": cal_text,
                "chart": {"png": data_uri(class_probabilities_png(rows, self.threshold if self.head == "multilabel"
                                                                  else None)),
                          "alt": "Calibrated probability of each class with its interval: " +
                                 "; ".join(f"{r['class']} {r['text']} ({r['interval_text']})" for r in rows) + "."}}

    def performance_section(self, subgroup_value) -> dict:
        """Held-out performance at the operating threshold, overall and for the case's subgroup tertile."""
        card = self.ctx.card
        if self.head != "binary":
            return {"overall": None, "per_class": self.overall, "subgroup": None,
                    "dataset": card["holdout"]["description"], "threshold": self.threshold,
                    "trained": card["trained"], "limitations": list(self.ctx.spec.limitations)}
        return {"overall": self.overall, "subgroup": _subgroup(card, subgroup_value, self.threshold),
                "dataset": card["holdout"]["description"], "threshold": self.threshold,
                "trained": card["trained"], "limitations": list(self.ctx.spec.limitations)}

    def model_section(self) -> dict:
        """Model identity, intended use and training facts, from the pack and the model card."""
        spec, ctx = self.ctx.spec, self.ctx
        return {"id": ctx.mid, "name": spec.name, "kind": spec.kind,
                "version": f"{ctx.pack.spec.version}+{ctx.adapter.sha256[:12]}",
                "sha256": ctx.adapter.sha256, "file_sha256": ctx.card["model_sha256"],
                "intended_use": spec.intended_use, "intended_user": spec.intended_user,
                "population": spec.population, "regulatory_status": spec.regulatory_status,
                "manufacturer": spec.manufacturer, "data_notice": spec.data_notice,
                "trained": ctx.card["trained"], "classes": list(spec.classes),
                "last_monitoring_review": (None if spec.last_monitoring_review is None else
                                           format_date(spec.last_monitoring_review, self.ctx.profile))}

    def base_record(self, case, *, score, output, inputs_public, explanation, document_parts) -> dict:
        """The case record: prediction, explanation, audit metadata and the sheet's content tree."""
        ctx = self.ctx
        prof = ctx.profile
        year_only = prof.dates == "year"
        stamp = str(ctx.when.year) if year_only else ctx.when.isoformat().replace("+00:00", "Z")
        date_text = format_date(ctx.when.date(), prof)
        patient = {**patient_section(case["raw"], ctx.pack, ctx.profile_name, prof), "dicom_note": None}
        if case.get("dicom"):  # identity from the DICOM header (see .dicom.header_facts)
            facts = case["dicom"]
            # identity may come from the header alone: CSV identifier columns the row leaves empty are not listed
            shown = [it for it in patient["shown"] if it["value"] != "not provided"] if facts["identity"] else \
                patient["shown"]
            patient["shown"] = shown + facts["identity"]
            if facts["removed"]:
                patient["removed_columns"] = patient["removed_columns"] + [f"DICOM {kw}" for kw in facts["removed"]]
            patient["dicom_note"] = facts["profile_note"]
        input_hash = hashlib.sha256(canonical_json(inputs_public).encode()).hexdigest()
        audit = {
            "inference_time": stamp,
            "software": ctx.software,
            "model_sha256": ctx.adapter.sha256,
            "model_file_sha256": ctx.card["model_sha256"],
            "model_card_sha256": ctx.card.sha256,
            "pack": ctx.pack.describe(),
            "template": {"name": ctx.template["name"], "sha256": ctx.template["sha256"]},
            "explanation": explanation,
            "input_sha256": input_hash,
            "profile": ctx.profile_name,
        }
        audit["log_id"] = hashlib.sha256(canonical_json({"case": case["id"], **audit}).encode()).hexdigest()[:16]
        document_parts = _profiled_parts(document_parts, prof.deidentification == "safe_harbor")
        output = document_parts["output"]
        content = case_review_content(
            pack=ctx.pack, model_id=ctx.mid, case_id=case["id"], date_text=date_text, patient=patient,
            model=self.model_section(), audit=audit,
            synthetic=ctx.card.get("synthetic") if ctx.spec.synthetic_data or ctx.card.get("synthetic") else None,
            **document_parts)
        created = datetime(ctx.when.year, 1, 1, tzinfo=timezone.utc) if year_only else ctx.when
        return {
            "schema": RECORD_SCHEMA,
            "case_id": case["id"],
            "profile": {"name": ctx.profile_name, "purpose": prof.purpose,
                        "deidentification": prof.deidentification, "dates": prof.dates},
            "inputs": inputs_public,
            "model": {"id": ctx.mid, **{k: v for k, v in self.model_section().items() if k in
                                        ("name", "version", "sha256", "file_sha256", "kind")}},
            "pack": ctx.pack.describe(),
            "prediction": {"score": score, "probability": output["probability"],
                           "interval": [output["interval"]["low"], output["interval"]["high"]],
                           "conformal_set": output["conformal"]["set"], "threshold": self.threshold,
                           "class": output["class"], "out_of_scope": document_parts["inputs"]["out_of_scope"],
                           **({"head": output["head"], "predicted": output["predicted"],
                               "probabilities": {r["class"]: r["probability"] for r in output["rows"]},
                               "conformal_per_label": output["conformal"].get("per_label")}
                              if output.get("rows") else {})},
            "explanation": explanation,
            "audit": audit,
            "document": {"kind": "case_review", "template": ctx.template, "pdf_created": created.isoformat(),
                         "content": content},
        }


OUT_OF_SCOPE_HEADLINE = "out of scope: not for clinical use"


def _profiled_parts(parts: dict, deidentified: bool) -> dict:
    """The review fixes every sheet gets: an out-of-scope input changes the headline and suppresses the
    similar-case reassurance; under a de-identifying profile, reference cases are numbered, never named
    by their ids (other patients' ids never appear)."""
    parts = dict(parts)
    out_of_scope = bool(parts["inputs"].get("out_of_scope"))
    if out_of_scope:
        parts["output"] = {**parts["output"], "headline": OUT_OF_SCOPE_HEADLINE,
                           "meaning": ("The input is out of scope for this model (see Inputs): the output is "
                                       "shown for audit only and must not be used for clinical decisions. "
                                       + parts["output"]["meaning"])}
    sim = {**parts["similar"], "ids_note": None}
    items = [dict(it) for it in sim.get("items", [])]
    if deidentified:
        for k, it in enumerate(items, start=1):
            new = f"reference case {k}"
            if it.get("alt"):
                it["alt"] = it["alt"].replace(str(it["ref_id"]), new)
            it["ref_id"] = new
        sim["ids_note"] = "Reference case ids are withheld under this print profile."
    sim["items"] = items
    if out_of_scope:
        sim["summary"] = ("Not shown as reassurance: the input is out of scope, so its nearest reference cases "
                          "say nothing reliable about it.")
        sim["items"], sim["suppressed"] = [], True
    parts["similar"] = sim
    return parts


__all__ = ["RECORD_SCHEMA", "OUT_OF_SCOPE_HEADLINE", "fmt_interval", "Context", "Cases", "performance_metrics", "fmt_probability", "data_uri"]
