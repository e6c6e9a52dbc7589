"""The incident explanation report, end to end.

model + clip + incident file -> replay -> timeline and events -> key frames with
Grad-CAM / integrated gradients / occlusion maps and object shares -> occlusion
test of the named object -> planner TreeSHAP over time -> content tree ->
HTML and PDF (JSON record embedded) + JSON record.
"""

from __future__ import annotations

import base64
import platform
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ..._version import __version__
from ...errors import InputError, PackError
from ...io.outputs import atomic_write
from ...packs import load_pack, load_recorded_pack
from ...render import check_recorded_template, render_record_files, template_fingerprint
from ...render.env import template_search_path
from .analysis import (DEFAULT_METHOD_OPTIONS, debounce, decision_events, name_driver,
                       object_shares, occlusion_test, planner_explanation, predict_proba)
from .facts import (compute_facts, cross_check, detections_text, event_key_frames, gap_text, hidden_by_debounce,
                    ttc_text)
from .clips import Clip, read_clip
from .content import event_sentence, facts_content, incident_content, panel_rows_figure
from .redaction import Redactor, redaction_requested
from .team_detector import detector_section, resolve_detector
from .figures import key_frame_rows, occlusion_png, planner_rows, timeline_rows
from .incident_file import Incident, load_incident
from .bags import is_bag, read_bag_clip
from .logs import read_mcap_clip
from .decision_forms import decision_maps, form_notes, form_of, resolve_models, runnable_methods

RECORD_SCHEMA = "xai-reports/incident-record/1"
FORMATS = ("pdf", "html", "json")
METHOD_LABELS = {"grad_cam": "Grad-CAM", "integrated_gradients": "Integrated gradients",
                 "occlusion": "Occlusion", "saliency": "Saliency", "grad_cam_pp": "Grad-CAM++",
                 "smoothgrad": "SmoothGrad", "gradient_x_input": "Gradient x input"}


def _uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def software_versions() -> dict:
    """Versions of the software that produced the report."""
    from importlib.metadata import version

    import jinja2
    import xgboost

    from ...render import renderer_software

    out = {"xai_reports": __version__, "python": platform.python_version(), "numpy": np.__version__,
           "xgboost": xgboost.__version__, "jinja2": jinja2.__version__, "weasyprint": version("weasyprint"),
           **renderer_software()}
    try:
        import torch

        out["torch"] = torch.__version__
    except ImportError:  # pragma: no cover
        pass
    return out


def _odd_checks(clip: Clip, odd) -> list[dict]:
    cond = clip.meta.get("conditions", {})
    checks = []
    for key, allowed in (("lighting", odd.lighting), ("weather", odd.weather)):
        val = cond.get(key)
        if val is None or not allowed:
            continue
        inside = any(str(a).split(" ")[0] == str(val) for a in allowed)
        checks.append({"item": key, "value": val, "allowed": ", ".join(allowed), "inside": inside})
    speed = float(np.max(clip.signals["speed_mps"])) * 3.6
    if odd.max_speed_kph:
        checks.append({"item": "maximum speed in clip", "value": f"{speed:.0f} km/h",
                       "allowed": f"<= {odd.max_speed_kph:.0f} km/h", "inside": speed <= odd.max_speed_kph + 1e-9})
    return checks


def load_clip(path, topics) -> Clip:
    """A clip folder, an MCAP log (``.mcap``) or a ROS 1 / ROS 2 bag, read through the pack's topic map."""
    p = Path(path)
    if p.suffix.lower() == ".mcap":
        return read_mcap_clip(p, topics)
    if is_bag(p):
        return read_bag_clip(p, topics)
    return read_clip(p)


def explain_clip(adapter, clip: Clip, pack, *, planner=None, progress=None) -> dict:
    """Run every analysis on a clip; returns plain numbers and arrays (no figures).

    Returns:
        ``{"probs", "decisions", "events", "key_frames": [...], "planner": {...} or None}``;
        each key frame holds ``index``, ``t_s``, ``decision``, ``probabilities``, ``maps``
        (method -> ``(H, W)``), ``shares`` (method -> list), ``named`` (object id or None)
        and ``occlusion`` (the test on the named or top object).
    """
    ad = pack.section("incident")
    ie, not_run = runnable_methods(ad.image_explanation, form_of(adapter))
    classes = list(ad.decision_model.classes)
    probs = predict_proba(adapter, clip.images)
    if probs.shape[1] != len(classes):
        raise PackError(f"the decision model has {probs.shape[1]} outputs but the pack lists {len(classes)} "
                        f"classes {classes}", key_path=f"{pack.section_key('incident')}.decision_model.classes")
    decisions = [classes[i] for i in np.argmax(probs, axis=1)]
    times = clip.times
    min_frames = max(1, int(round(ad.event_min_duration_s * float(clip.meta["fps"]))))
    events = decision_events(times, decisions, min_frames=min_frames)
    out = {"probs": probs, "decisions": decisions, "key_frames": [], "planner": None, "image_explanation": ie,
           "not_run": not_run}
    pl = None
    if planner is not None:
        pl = planner_explanation(planner, clip.signals)
        pdec = ["brake" if p >= ad.planner.threshold else "continue" for p in pl["p_brake"]]
        events += decision_events(times, pdec, source="planner replay", min_frames=min_frames)
        out["planner"] = pl
    for e in clip.meta.get("events", []):
        events.append({"t_s": float(e["t_s"]), "event": str(e["event"]), "source": str(e.get("source", "log"))})
    events.sort(key=lambda e: (e["t_s"], e["source"]))
    out["events"] = events
    debounced = debounce(decisions, min_frames)
    facts = compute_facts(clip, debounced, max_decel=ad.max_deceleration_mps2)
    hidden = hidden_by_debounce(times, decisions, debounced, clip.signals, min_duration_s=ad.event_min_duration_s)
    events += [{k: v for k, v in e.items() if k != "index"} for e in hidden]
    events.sort(key=lambda e: (e["t_s"], e["source"]))
    out.update(facts=facts, hidden=hidden)
    picks = event_key_frames(clip, debounced, facts, max_frames=ie.max_key_frames)
    ks = [p["index"] for p in picks]
    why = {p["index"]: p["why"] for p in picks}
    imgs = clip.images[ks]
    targets = np.argmax(probs[ks], axis=1)
    maps = {}
    for m in ie.methods:
        maps[m] = decision_maps(adapter, imgs, m, targets, ie.options.get(m))
        if progress:
            progress(m)
    for j, k in enumerate(ks):
        objs = clip.truth[k]
        shares = {m: object_shares(maps[m][j], objs) for m in ie.methods}
        named = name_driver(shares[ie.primary], min_share=ie.name_min_share, min_ratio=ie.name_min_ratio)
        test_obj = named or next((s["id"] for s in shares[ie.primary] if s["id"] != "background"), None)
        occl = None
        if test_obj is not None:
            obj = next(o for o in objs if o["id"] == test_obj)
            occl = occlusion_test(adapter, clip.images[k], clip.scenes[k], obj)
        out["key_frames"].append({
            "index": int(k), "t_s": float(times[k]), "decision": decisions[k], "why": why[k],
            "probabilities": dict(zip(classes, map(float, probs[k]))),
            "maps": {m: maps[m][j] for m in ie.methods}, "shares": shares, "named": named,
            "occlusion": occl, "objects": objs})
    return out


def _signal_value(sig, name: str, k: int, unit: str) -> str:
    """A planner input as printed: ``"none"`` for the no-lead placeholders, never a number."""
    if name == "distance_to_lead_m":
        return gap_text(sig, k)
    if name == "ttc_s":
        return ttc_text(sig, k)
    if name == "rel_velocity_mps" and gap_text(sig, k) == "none":
        return "none"
    return f"{sig[name].iloc[k]:.2f} {unit}".strip()


def _planner_section(pl, clip, pack, key_frames) -> dict:
    feats = pl["features"]
    labels = {f: pack.features[f].label for f in feats if f in pack.features}
    units = {f: (pack.features[f].unit or "") for f in feats if f in pack.features}
    rows = []
    picks = sorted({kf["index"] for kf in key_frames} | {int(np.argmax(pl["p_brake"]))})
    for k in picks:
        vals = pl["values"][k]
        order = np.argsort(-np.abs(vals))
        rows.append({"t_s": f"{clip.times[k]:.1f}", "p_brake": f"{pl['p_brake'][k]:.2f}",
                     "contributions": [{"label": labels.get(feats[i], feats[i]),
                                        "value": _signal_value(clip.signals, feats[i], k, units.get(feats[i], "")),
                                        "shap": f"{vals[i]:+.2f}"} for i in order]})
    pngs = planner_rows(clip.times, pl["p_brake"], pl["values"], feats, labels)
    first = np.flatnonzero(pl["p_brake"] >= pack.section("incident").planner.threshold)
    summary = (f"The planner first requests braking at t = {clip.times[first[0]]:.1f} s." if len(first)
               else "The planner never requests braking in this clip.")
    return {
        "figure": panel_rows_figure([_uri(p) for p in pngs], "Planner replayed on the clip",
                                    ["a line chart over time of the planner's probability of braking",
                                     "a line chart over time of each signal's TreeSHAP contribution in log-odds"],
                                    summary, cols=1),
        "summary": summary, "rows": rows, "base_value": f"{pl['base_value']:+.2f}",
        "self_check": (f"TreeSHAP additivity: largest |sum of contributions + base - margin| = "
                       f"{pl['self_check']['max_abs_error']:.2e} (tolerance {pl['self_check']['tolerance']:.0e}, "
                       f"{'passed' if pl['self_check']['passed'] else 'FAILED'})"),
    }


def build_incident(model, clip, incident, pack="autonomous_driving", *, planner=None, progress=None,
                   detector=None) -> dict:
    """Compute an incident report's record (content included) without writing files.

    Args:
        model: decision-model weights (``.pt`` state dict), a model folder (one ``.pt`` and
            optionally ``planner_xgb.json``), or a ``torch.nn.Module`` / adapter.
        clip: a clip folder (see :mod:`xai_reports.documents.incident.clips`) or a :class:`Clip`.
        incident: an ``INCIDENT.yaml`` path or an :class:`Incident`.
        pack: pack name/path or a loaded pack (one whose kinds include ``incident``).
        planner: planner XGBoost JSON/UBJ path or model (optional).
        detector: the team's own detector (TorchScript / ONNX / torchvision state dict file, form
            from the pack's ``incident.perception_model``, or a ``Detector``), explained on the key frames.

    Returns:
        The JSON-ready record; ``record["document"]["content"]`` is what the template prints.
    """
    pack = load_pack(pack)
    if not pack.spec.has_kind("incident"):
        raise PackError(f"pack '{pack.name}' writes {', '.join(pack.spec.kinds)}; incident reports need a pack "
                        "whose kinds include incident", file=pack.files[-1], key_path="kinds")
    pack.require_section("incident")
    tpl_name = pack.templates.get("incident")
    if not tpl_name:
        raise PackError("the pack declares no 'incident' template", file=pack.files[-1], key_path="templates.incident")
    inc = incident if isinstance(incident, Incident) else load_incident(incident)
    ad = pack.section("incident")
    clip = clip if isinstance(clip, Clip) else load_clip(clip, ad.log_topics)
    if clip.images.shape[1:3] != (ad.decision_model.input_height, ad.decision_model.input_width):
        raise InputError(f"frames are {clip.images.shape[2]}x{clip.images.shape[1]} but the decision model takes "
                         f"{ad.decision_model.input_width}x{ad.decision_model.input_height}",
                         file=clip.directory if clip.directory.is_file() else clip.directory / "clip.json")
    adapter, dec_desc, padapter, pl_desc = resolve_models(model, planner, pack)
    res = explain_clip(adapter, clip, pack, planner=padapter, progress=progress)
    findings = cross_check(inc, clip, res["facts"], ad.cross_check)
    det = resolve_detector(detector, ad.perception_model) if detector is not None else None
    logged = clip.meta.get("detections") if isinstance(clip.meta.get("detections"), dict) else {}
    red = Redactor(ad.redaction, redaction_requested(inc))
    for kf in res["key_frames"]:
        k = kf["index"]
        red.add(k, log_annotations=clip.truth[k], ADS_detections=logged.get(k),
                team_detector=det.detect(clip.images[k][None])[0] if det and red.active else None)
    ie = res["image_explanation"]
    times = clip.times

    # --- timeline
    recorded = list(clip.signals["recorded_request"]) if "recorded_request" in clip.signals.columns else None
    tl_pngs = timeline_rows(times, res["probs"], recorded=recorded, events=res["events"], signals=clip.signals)
    first_brake = next((e for e in res["events"] if e["source"] == "decision model replay"
                        and e["event"].startswith("'brake'")), None)
    anchor = first_brake["t_s"] if first_brake else None
    ev = res["facts"]["event"]
    coverage = (f"The clip covers t = {times[0]:.1f} s to {times[-1]:.1f} s at {clip.meta['fps']} frames per second. "
                f"A replayed request is logged as an event once it persists "
                f"{ad.event_min_duration_s:g} s (the plot shows every frame; a shorter request that contradicts the "
                f"logged one is listed all the same). "
                + (f"Relative to the {ev['kind']} (t = {ev['t_s']:.1f} s) it covers "
                   f"{times[0] - ev['t_s']:+.1f} s to {times[-1] - ev['t_s']:+.1f} s of the -7 s to +7 s DSSAD window"
                   + (" (the log ends before the window does)." if times[-1] - ev['t_s'] < 7 or times[0] - ev['t_s'] > -7
                      else ".")
                   if ev is not None else "The log holds no crash and no near miss, so no DSSAD window is anchored."))
    timeline = {
        "figure": panel_rows_figure(
            [_uri(p) for p in tl_pngs], "Timeline of the clip",
            ["a line chart of the decision model's probabilities of continue, slow and brake, with the recorded ADS "
             "request as a coloured bar and events as dotted lines",
             "a line chart of ego speed, gap to the lead road user and time to collision, events as dotted lines"],
            "; ".join(event_sentence(e) for e in res["events"][:6]), cols=1),
        "events": [{"t": f"{e['t_s']:.1f}", "text": event_sentence(e), "source": e["source"]} for e in res["events"]],
        "coverage": coverage,
        "headline": (f"Decision model replay: brake requested at t = {anchor:.1f} s." if anchor is not None
                     else "Decision model replay: no brake request in this clip."),
    }

    facts_section = facts_content(res["facts"], findings, ad.max_deceleration_mps2)

    # --- perception
    kfs = []
    for kf in res["key_frames"]:
        maps = {METHOD_LABELS.get(m, m): kf["maps"][m] for m in ie.methods}
        img = clip.images[kf["index"]]
        rows = key_frame_rows(red(kf["index"], img), maps, kf["objects"], highlight=kf["named"],
                              detections=logged.get(kf["index"]))
        share_rows = []
        for s in kf["shares"][ie.primary]:
            row = {"id": s["id"], "class": s["class"].replace("_", " "),
                   "distance": "" if s["distance_m"] is None else f"{s['distance_m']:.1f} m", "shares": []}
            for m in ie.methods:
                match = next(x for x in kf["shares"][m] if x["id"] == s["id"])
                row["shares"].append(f"{100 * match['share']:.0f}%")
            share_rows.append(row)
        named = kf["named"]
        cls_named = next((o["class"] for o in kf["objects"] if o["id"] == named), None)
        top = kf["shares"][ie.primary][0]
        parts = [f"{100 * next(x['share'] for x in kf['shares'][m] if x['id'] == top['id']):.0f}% of the "
                 f"{METHOD_LABELS.get(m, m)}" for m in ie.methods]
        all_shares = ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0]
        statement = (f"Object '{named}' ({cls_named.replace('_', ' ')}) drove the decision '{kf['decision']}' by the "
                     f"{METHOD_LABELS[ie.primary]} rule: it holds {all_shares} attribution."
                     if named else
                     f"No single object drove the decision by the pack's rule (an object needs "
                     f"{100 * ie.name_min_share:.0f}% of the {METHOD_LABELS[ie.primary]} attribution and "
                     f"{ie.name_min_ratio:g} times the next object's share).")
        occ = kf["occlusion"]
        occ_out = None
        if occ is not None:
            o_png = occlusion_png(*(red(kf["index"], f) for f in (img, occ["frames"]["removed"],
                                                                  occ["frames"]["moved"])), occ)
            changed = occ["decision_changed"]
            verdict = ("confirmed: removing the object changes the decision" if changed and named else
                       "NOT confirmed: the decision does not change without the object" if named else
                       "for information (no object named)")
            occ_out = {
                "object": occ["object"], "how": occ["how"],
                "original": f"{occ['original']['decision']} ({occ['original']['probabilities'][occ['original']['decision']]:.2f})",
                "removed": f"{occ['removed']['decision']} ({occ['removed']['probabilities'][occ['removed']['decision']]:.2f})",
                "moved": (f"{occ['moved']['decision']} ({occ['moved']['probabilities'][occ['moved']['decision']]:.2f})"
                          if occ["moved"] else "not tested (the object cannot leave the ego lane's surroundings "
                                                "within the frame, or the clip has no scene description)"),
                "verdict": verdict, "changed": changed,
                "verdict_class": ("ok" if changed else "bad") if named else "",
                "figure": {"src": _uri(o_png), "panels": 3 if occ["moved"] else 2,
                           "alt": f"{'Three' if occ['moved'] else 'Two'} versions of the frame at t = {kf['t_s']:.1f} s: "
                           f"original (decision {occ['original']['decision']}), with '{occ['object']}' removed "
                           f"(decision {occ['removed']['decision']})"
                           + (f", and with it moved aside (decision {occ['moved']['decision']})" if occ["moved"] else "")
                           + "."}}
        kfs.append({
            "t": f"{kf['t_s']:.1f}", "index": kf["index"], "decision": kf["decision"], "why": kf["why"],
            "detections": detections_text((clip.meta.get("detections") or {}).get(kf["index"])
                                          if isinstance(clip.meta.get("detections"), dict) else None),
            "probabilities": [{"label": k, "value": f"{v:.2f}"} for k, v in kf["probabilities"].items()],
            "figure": panel_rows_figure(
                [_uri(r) for r in rows], f"Frame at t = {kf['t_s']:.1f} s",
                ["the frame with ground-truth boxes" + (" and the ADS's logged detections" if logged.get(kf["index"])
                                                        else "")] + [f"the {m} heatmap over it" for m in maps],
                statement),
            "statement": statement, "named": named, "methods": [METHOD_LABELS.get(m, m) for m in ie.methods],
            "shares": share_rows, "occlusion": occ_out})
    perception = {"key_frames": kfs, "caveat": ad.saliency_caveat, "primary": METHOD_LABELS[ie.primary],
                  "methods": [METHOD_LABELS.get(m, m) for m in ie.methods],
                  "method_notes": _method_notes(ie) + form_notes(form_of(adapter), res["not_run"], ie, METHOD_LABELS),
                  "detector": None}
    det_record = None
    if det is not None:
        perception["detector"], det_record = detector_section(det, ad.perception_model, clip, res["key_frames"],
                                                              printable=red)
        perception["method_notes"] += perception["detector"]["method_notes"]

    planning = _planner_section(res["planner"], clip, pack, res["key_frames"]) if res["planner"] else None

    cond = clip.meta.get("conditions", {})
    scenario = {"synthetic": clip.synthetic, "clip_id": clip.meta.get("clip_id", clip.directory.name),
                "description": clip.meta.get("description", ""),
                "conditions": [{"label": k.replace("_", " "), "value": str(v)} for k, v in cond.items()],
                "source": clip.meta.get("source"),
                "odd_checks": _odd_checks(clip, ad.odd)}
    report_date = inc.report.date.isoformat()
    template = template_fingerprint(tpl_name, pack.template_dirs())
    identification = {
        "software": software_versions(),
        "models": [d for d in (dec_desc, pl_desc) if d],
        "clip": {"id": scenario["clip_id"], "sha256": clip.sha256, "frames": len(clip), "fps": clip.meta["fps"],
                 "synthetic": clip.synthetic},
        "pack": {**pack.describe(), "template": template["name"], "template_sha256": template["sha256"]},
    }
    if det is not None:
        identification["models"].append({"role": "detector (camera, the team's own)", "name": det.name,
                                         "architecture": det.form, "classes": sorted(set(det.classes.values())),
                                         "file_sha256": det.sha256, "weights_sha256": det.sha256})
    content = incident_content(incident=inc, pack=pack, identification=identification, scenario=scenario,
                               timeline=timeline, perception=perception, planning=planning,
                               report_date=report_date, facts=facts_section)
    content["redaction"] = red.account()
    record = {
        "schema": RECORD_SCHEMA,
        "report_id": inc.report.id,
        "report_date": report_date,
        "synthetic": content["synthetic"],
        "incident": inc.model_dump(mode="json"),
        "models": identification["models"],
        "clip": identification["clip"],
        "pack": pack.describe(),
        "software": identification["software"],
        "replay": {"times": [float(t) for t in times], "classes": list(ad.decision_model.classes),
                   "probabilities": np.round(res["probs"], 6).tolist(), "decisions": res["decisions"]},
        "events": res["events"],
        "facts": {"event": res["facts"]["event"], "measures": res["facts"]["measures"],
                  "at_events": res["facts"]["events"], "model_first_response": res["facts"]["model_first_response"],
                  "max_deceleration_mps2": res["facts"]["max_decel_mps2"]},
        "cross_check": findings,
        "key_frames": [{"index": kf["index"], "t_s": kf["t_s"], "decision": kf["decision"],
                        "probabilities": kf["probabilities"], "named_object": kf["named"],
                        "shares": {m: [{k: v for k, v in s.items() if k != "box"} for s in kf["shares"][m]]
                                   for m in ie.methods},
                        "occlusion_test": None if kf["occlusion"] is None else
                        {k: v for k, v in kf["occlusion"].items() if k != "frames"}}
                       for kf in res["key_frames"]],
        "explanation": {"image_methods": list(ie.methods), "primary": ie.primary,
                        "options": {m: ie.options.get(m, DEFAULT_METHOD_OPTIONS.get(m, {})) for m in ie.methods},
                        "naming_rule": {"min_share": ie.name_min_share, "min_ratio": ie.name_min_ratio},
                        "model_form": form_of(adapter), "not_run": res["not_run"]},
        "planner": None if not res["planner"] else {
            "features": res["planner"]["features"], "base_value": res["planner"]["base_value"],
            "p_brake": np.round(res["planner"]["p_brake"], 6).tolist(),
            "shap_values": np.round(res["planner"]["values"], 6).tolist(),
            "self_check": res["planner"]["self_check"]},
        "detector": det_record,
        "redaction": content["redaction"],
        "document": {"kind": "incident_report", "template": template, "language": pack.spec.language,
                     "content": content},
    }
    return record


def _method_notes(ie) -> list[str]:
    win = {**DEFAULT_METHOD_OPTIONS["occlusion"], **ie.options.get("occlusion", {})}["window"]
    notes = {
        "grad_cam": "Grad-CAM (Selvaraju et al. 2017): gradient-weighted activations of layer "
                    f"{ie.options.get('grad_cam', DEFAULT_METHOD_OPTIONS['grad_cam']).get('layer', 'features.relu4')} "
                    "for the decided class, upsampled to the frame; non-negative.",
        "integrated_gradients": "Integrated gradients (Sundararajan et al. 2017) from a black frame; the map is the "
                                "absolute attribution summed over colour channels.",
        "occlusion": f"Occlusion (Zeiler and Fergus 2014): the drop in the decided class's logit when a "
                     f"{win[0]}x{win[1]} patch "
                     "is replaced by the frame's mean colour; positive part shown.",
    }
    out = [notes.get(m, f"{METHOD_LABELS.get(m, m)}.") for m in ie.methods]
    out.append(f"Object shares: the part of each map inside an object's ground-truth box (pixels shared by boxes "
               f"go to the nearer object). An object is named as having driven the decision when it holds at least "
               f"{100 * ie.name_min_share:.0f}% of the {METHOD_LABELS[ie.primary]} map and {ie.name_min_ratio:g} "
               f"times the next object's share; the occlusion test then removes it and replays the frame.")
    return out


def render_incident(record: dict, pack, *, formats=FORMATS, templates=None) -> dict[str, bytes]:
    """Render an incident record to ``{"html": ..., "pdf": ..., "json": ...}`` bytes.

    The document is rendered from ``record["document"]`` alone (dates come from the
    record), so a stored record regenerates the same report byte for byte.

    Args:
        record: an incident record from :func:`build_incident`.
        pack: pack name/path or loaded pack.
        formats: any of ``"pdf"``, ``"html"``, ``"json"``.
        templates: user template folder(s) searched before the pack's.

    Returns:
        ``{format: bytes}``; the PDF is PDF/A-3a + PDF/UA-1 with the record embedded as
        ``record.json`` (relationship ``Data``).

    Examples::

        >>> files = render_incident(record, "autonomous_driving", formats=("html",))
        >>> files["html"][:15]
        b'<!DOCTYPE html>'
    """
    pack = load_pack(pack)
    pack.require_section("incident")
    dirs = template_search_path(pack.template_dirs(), templates)
    created = datetime.fromisoformat(record["document"]["content"]["date"]).replace(tzinfo=timezone.utc)
    return render_record_files(record, dirs, formats, created=created, description="Incident record (JSON)")


def rerender_incident(record: dict, *, pack=None, templates=None, formats=("pdf",)) -> dict[str, bytes]:
    """The files an incident record renders to now (used by ``xai-reports verify``).

    Raises:
        TemplateError: the templates differ from the version the record names.
    """
    pack = load_recorded_pack(record.get("pack"), pack)
    check_recorded_template(record, pack.template_dirs(), templates)
    return render_incident(record, pack, formats=formats, templates=templates)


def generate_incident_report(model, clip, incident, out, pack="autonomous_driving", *, planner=None,
                             formats=("pdf", "json"), progress: bool = False, key: bytes | None = None,
                             strict: bool = False, sgo_out=None, detector=None) -> dict:
    """Write an incident explanation report.

    Args:
        model: the decision model: a state dict for the pack's architecture (loaded with
            ``weights_only=True``), a TorchScript archive or an ONNX graph (form recognised from the
            content, see :mod:`.decision_forms`), a model folder holding one (and
            ``planner_xgb.json``), or a torch module.
        clip: the clip folder.
        incident: the ``INCIDENT.yaml`` file (or a validated :class:`Incident`).
        out: the output file; its suffix is replaced per format (``report.pdf``,
            ``report.json``, ``report.html``).
        pack: pack name or path (default ``autonomous_driving``).
        planner: planner XGBoost JSON (optional; a model folder's ``planner_xgb.json`` is used
            when present).
        formats: any of ``"pdf"``, ``"html"``, ``"json"``.
        progress: print a progress bar (rich).
        key: HMAC key signing the manifest (default: ``signing_key()``, i.e.
            ``$XAI_REPORTS_SIGNING_KEY`` / ``$XAI_REPORTS_SIGNING_KEY_FILE``).
        strict: fail (``InputError``, nothing written) when the incident file contradicts the log.
        sgo_out: also write the SGO data elements to this ``.csv`` or ``.json`` file.
        detector: the team's own detector file (see :func:`build_incident`).

    Writes ``<stem>.manifest.json`` beside the report (SHA-256 of each file
    written, of the clip and models; signed when a key is set), for ``xai-reports verify``.

    Returns:
        ``{"files": [paths], "record": record, "manifest": path}``.

    Raises:
        InputError, PackError, ModelLoadError: before anything is written.

    Examples::

        >>> res = generate_incident_report("model/", "clips/ped", "incident.yaml", "out/incident.pdf")
        >>> [p.name for p in res["files"]]
        ['incident.pdf', 'incident.json']
    """
    from ...integrity import signing_key, write_document_manifest

    key = key if key is not None else signing_key()
    formats = tuple(formats)
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise InputError(f"unknown format(s) {bad}; choose from {', '.join(FORMATS)}")
    out = Path(out)
    if sgo_out is not None and Path(sgo_out).suffix.lower() not in (".csv", ".json"):
        raise InputError("the SGO export must end in .csv or .json", file=sgo_out)
    if out.exists() and out.is_dir():
        raise InputError("--out names a folder; give a file name such as incident.pdf", file=out)
    bar = None
    cb = None
    if progress:
        from rich.progress import Progress

        bar = Progress(transient=True)
        bar.start()
        task = bar.add_task("explaining the clip", total=None)

        def on_method(what):
            bar.update(task, description=f"explained with {what}")

        cb = on_method
    try:
        record = build_incident(model, clip, incident, pack, planner=planner, progress=cb, detector=detector)
        files = render_incident(record, pack, formats=formats)
    finally:
        if bar:
            bar.stop()
    bad = [f for f in record["cross_check"] if not f["agrees"]]
    if strict and bad:
        raise InputError(f"{len(bad)} fact(s) contradict the log (--strict): "
                         + "; ".join(f"{f['item']}: {f['incident']} vs {f['log']}" for f in bad),
                         file=incident if not isinstance(incident, Incident) else None)
    out.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for ext in formats:
        target = out.with_suffix(f".{ext}")
        atomic_write(target, files[ext])
        written.append(target)
    inputs = {"clip": {"name": record["clip"]["id"], "sha256": record["clip"]["sha256"]}, "pack": record["pack"]}
    for i, m in enumerate(record.get("models") or []):
        inputs[f"model_{i + 1}"] = m
    manifest = write_document_manifest(written, "incident_report", software=record["software"], inputs=inputs,
                                       key=key)
    sgo = None
    if sgo_out is not None:
        from .sgo import write_sgo

        sgo = write_sgo(record, sgo_out)
    return {"files": written, "record": record, "manifest": manifest, "sgo": sgo}


__all__ = ["generate_incident_report", "build_incident", "render_incident", "rerender_incident", "explain_clip",
           "RECORD_SCHEMA"]
