"""Facts computed from the log, and the cross-check of the incident file against them.

Nothing here is typed in: the event (crash or near miss), time to collision, the
stopping distance needed against the distance available, the requested acceleration,
the safety performance indicators (SPIs) and the replayed model's first response are all
measured from the clip's signals, events and ground truth. :func:`cross_check` then
compares every value of the incident file that the log also measures (weather, lighting,
surface, posted speed limit, pre-crash speed, crash occurrence, SPI observations and
stated timings) and returns one finding per comparison.
"""

from __future__ import annotations

import re

import numpy as np

from .models import NO_LEAD_DISTANCE, TTC_CAP

MPH = 0.44704          # m/s per mph
KPH_PER_MPH = 1.609344
SURFACES = ("dry", "wet", "icy", "snow", "slush", "gravel")

MEASURES = {
    "ttc_at_first_brake_request_s": ("time to collision at the ADS's first recorded brake request", "s"),
    "ttc_at_first_response_s": ("time to collision at the ADS's first recorded slow or brake request", "s"),
    "gap_at_first_brake_request_m": ("gap to the road user at the ADS's first recorded brake request", "m"),
    "min_ttc_s": ("smallest time to collision in the clip", "s"),
    "precrash_speed_mph": ("ego speed at the event", "mph"),
    "first_response_t_s": ("time of the ADS's first recorded slow or brake request", "s"),
    "first_brake_request_t_s": ("time of the ADS's first recorded brake request", "s"),
    "event_t_s": ("time of the event (crash or near miss)", "s"),
    "model_first_response_t_s": ("time of the replayed decision model's first slow or brake request", "s"),
    "model_first_response_distance_m": ("distance to the event's road user at the model's first response", "m"),
}
"""Computed quantities an SPI (``measure:``) or a stated timing can name: key -> (meaning, unit)."""


def has_lead(sig, k: int) -> bool:
    """Is a road user ahead in the ego lane at frame ``k`` (not the no-lead placeholder)?"""
    lid = str(sig["lead_object_id"].iloc[k]) if "lead_object_id" in sig.columns else ""
    if "lead_object_id" in sig.columns:
        return lid != ""
    return float(sig["distance_to_lead_m"].iloc[k]) < NO_LEAD_DISTANCE


def gap_text(sig, k: int) -> str:
    """``"24.64 m"`` or ``"none"`` (no road user ahead in the ego lane)."""
    return f"{float(sig['distance_to_lead_m'].iloc[k]):.2f} m" if has_lead(sig, k) else "none"


def ttc_text(sig, k: int) -> str:
    """``"1.77 s"``; ``"none"`` with no lead; ``"not closing"`` when the gap is not closing."""
    if not has_lead(sig, k):
        return "none"
    t = float(sig["ttc_s"].iloc[k])
    return "not closing" if t >= TTC_CAP else f"{t:.2f} s"


def detections_text(detections) -> str | None:
    """The ADS's own detections of a frame as printed: ``"pedestrian (confidence 0.93) at 28.8 m; ..."``."""
    if detections is None:
        return None
    if not detections:
        return "no detections in this frame"
    parts = []
    for d in sorted(detections, key=lambda d: -(d.get("score") or 0.0)):
        conf = "" if d.get("score") is None else f" (confidence {d['score']:.2f})"
        dist = "" if not d.get("distance_m") else f" at {d['distance_m']:.1f} m"
        parts.append(f"{d['id']}: {str(d['class']).replace('_', ' ')}{conf}{dist}, box {d['box']}")
    return "; ".join(parts)


def _frame_at(times, t: float) -> int:
    return int(np.argmin(np.abs(np.asarray(times) - t)))


def _first(seq, pred):
    return next((i for i, v in enumerate(seq) if pred(v)), None)


def compute_facts(clip, decisions, *, max_decel: float = 7.0) -> dict:
    """Measure the incident's facts from the clip and the replayed (debounced) requests.

    Returns:
        ``{"event": {...}, "events": [...], "measures": {key: value or None}, "model_first_response": {...}}``.
        ``event`` is the crash (a logged collision event) or, without one, the near miss (the
        frame of smallest time to collision with a road user ahead); ``None`` when neither.
    """
    sig, times = clip.signals, clip.times
    n = len(times)
    speed = sig["speed_mps"].to_numpy(dtype=float)
    lead = [has_lead(sig, k) for k in range(n)]
    crash = next((e for e in clip.meta.get("events", []) if "collision" in str(e["event"]).lower()), None)
    event = None
    if crash is not None:
        k = _frame_at(times, float(crash["t_s"]))
        m = re.search(r"'([^']+)'", str(crash["event"]))
        event = {"kind": "crash", "t_s": float(times[k]), "index": k, "text": str(crash["event"]),
                 "object": m.group(1) if m else None}
    else:
        ttc = np.where(lead, sig["ttc_s"].to_numpy(dtype=float), np.inf)
        if np.isfinite(ttc).any() and ttc.min() < TTC_CAP:
            k = int(np.argmin(ttc))
            event = {"kind": "near miss", "t_s": float(times[k]), "index": k,
                     "text": f"near miss: smallest time to collision {ttc[k]:.2f} s",
                     "object": str(sig["lead_object_id"].iloc[k]) if "lead_object_id" in sig.columns else None}
    req = list(sig["recorded_request"]) if "recorded_request" in sig.columns else [""] * n
    first_resp = _first(req, lambda r: r in ("slow", "brake"))
    first_brake = _first(req, lambda r: r == "brake")
    model_resp = _first(decisions, lambda d: d != "continue")

    def ttc_at(k):
        return None if k is None or not lead[k] or float(sig["ttc_s"].iloc[k]) >= TTC_CAP else float(sig["ttc_s"].iloc[k])

    lead_ttc = [ttc_at(k) for k in range(n)]
    finite = [t for t in lead_ttc if t is not None]
    measures = {
        "ttc_at_first_brake_request_s": ttc_at(first_brake),
        "ttc_at_first_response_s": ttc_at(first_resp),
        "gap_at_first_brake_request_m": (float(sig["distance_to_lead_m"].iloc[first_brake])
                                         if first_brake is not None and lead[first_brake] else None),
        "min_ttc_s": min(finite) if finite else None,
        "precrash_speed_mph": speed[event["index"]] / MPH if event else None,
        "first_response_t_s": float(times[first_resp]) if first_resp is not None else None,
        "first_brake_request_t_s": float(times[first_brake]) if first_brake is not None else None,
        "event_t_s": event["t_s"] if event else None,
        "model_first_response_t_s": float(times[model_resp]) if model_resp is not None else None,
        "model_first_response_distance_m": None,
    }
    mfr = None
    if model_resp is not None:
        obj_id = event["object"] if event else None
        objs = clip.truth[model_resp]
        o = next((o for o in objs if o["id"] == obj_id), None) if obj_id else None
        if o is not None and o.get("distance_m") is not None:
            measures["model_first_response_distance_m"] = float(o["distance_m"])
        in_lane = lead[model_resp] and (obj_id is None or str(sig["lead_object_id"].iloc[model_resp]) == obj_id)
        mfr = {"t_s": float(times[model_resp]), "decision": decisions[model_resp], "object": obj_id,
               "distance_m": measures["model_first_response_distance_m"], "in_ego_lane": bool(in_lane)}
    rows = []
    picks = [("first recorded slow/brake request", first_resp), ("first recorded brake request", first_brake)]
    if event:
        picks.append((event["kind"], event["index"]))
    for label, k in picks:
        if k is None:
            continue
        v = float(speed[k])
        need = v * v / (2 * max_decel)
        rows.append({"label": label, "t_s": float(times[k]), "index": k, "speed_mps": v,
                     "gap_m": float(sig["distance_to_lead_m"].iloc[k]) if lead[k] else None,
                     "ttc_s": 0.0 if (event and k == event["index"] and event["kind"] == "crash") else ttc_at(k),
                     "stopping_needed_m": need,
                     "requested_accel_mps2": float(sig["accel_mps2"].iloc[k]) if "accel_mps2" in sig.columns else None})
    return {"event": event, "events": rows, "measures": measures, "model_first_response": mfr,
            "max_decel_mps2": max_decel}


def _number(text):
    m = re.search(r"[-+]?\d+(?:\.\d+)?", str(text or ""))
    return float(m.group()) if m else None


def _threshold_breached(threshold: str, value: float):
    m = re.match(r"\s*(>=|<=|>|<)\s*([-+]?\d+(?:\.\d+)?)", str(threshold))
    if not m:
        return None
    op, x = m.group(1), float(m.group(2))
    ok = {">=": value >= x, "<=": value <= x, ">": value > x, "<": value < x}[op]
    return not ok


def cross_check(incident, clip, facts: dict, tol) -> list[dict]:
    """Compare the incident file with what the log measures.

    Returns:
        ``[{"item", "incident", "log", "agrees": bool}]``; an item the log does not measure is left out.
    """
    out = []
    cond = clip.meta.get("conditions", {}) or {}
    tp = incident.time_place

    def add(item, said, measured, agrees):
        out.append({"item": item, "incident": str(said), "log": str(measured), "agrees": bool(agrees)})

    for key in ("weather", "lighting"):
        if cond.get(key) is not None:
            said = str(getattr(tp, key))
            add(key, said, cond[key], said.strip().lower().split(" ")[0] == str(cond[key]).strip().lower().split(" ")[0])
    road = str(cond.get("road", "")).lower()
    surf = next((s for s in SURFACES if re.search(rf"\b{s}\b", road)), None)
    if surf:
        add("roadway surface", tp.roadway_surface, f"{surf} (clip: {cond['road']})",
            str(tp.roadway_surface).strip().lower().startswith(surf))
    if tp.posted_speed_limit_mph is not None and cond.get("posted_speed_limit_kph") is not None:
        mph = float(cond["posted_speed_limit_kph"]) / KPH_PER_MPH
        add("posted speed limit", f"{tp.posted_speed_limit_mph} mph",
            f"{cond['posted_speed_limit_kph']} km/h = {mph:.1f} mph",
            abs(tp.posted_speed_limit_mph - mph) <= tol.speed_limit_mph)
    ev = facts["event"]
    crashed = bool(ev and ev["kind"] == "crash")
    add("crash occurred", "yes" if incident.crash.occurred else "no",
        f"yes ({ev['text']} at t = {ev['t_s']:.1f} s)" if crashed else "no collision in the log",
        incident.crash.occurred == crashed)
    m = facts["measures"]
    if incident.crash.sv_precrash_speed_mph is not None and crashed:
        add("SV pre-crash speed", f"{incident.crash.sv_precrash_speed_mph:g} mph",
            f"{m['precrash_speed_mph']:.1f} mph at t = {ev['t_s']:.1f} s",
            abs(incident.crash.sv_precrash_speed_mph - m["precrash_speed_mph"]) <= tol.speed_mph)
    for spi in incident.safety_case.spis:
        if not spi.measure:
            continue
        meaning, unit = MEASURES[spi.measure]
        val = m.get(spi.measure)
        if val is None:
            add(f"{spi.id} observed", spi.observed or "not stated", f"not measurable in this clip ({meaning})",
                spi.observed is None)
            continue
        said = _number(spi.observed)
        t = tol.seconds if unit == "s" else tol.metres if unit == "m" else tol.speed_mph
        add(f"{spi.id} observed", spi.observed or "not stated", f"{val:.2f} {unit} ({meaning})",
            said is not None and abs(said - val) <= t)
        br = _threshold_breached(spi.threshold, val)
        if br is not None:
            add(f"{spi.id} breached", "yes" if spi.breached else "no",
                f"{'yes' if br else 'no'} ({val:.2f} {unit} against {spi.threshold})", br == spi.breached)
    for key, said in sorted((incident.timings or {}).items()):
        meaning, unit = MEASURES[key]
        val = m.get(key)
        t = tol.seconds if unit == "s" else tol.metres if unit == "m" else tol.speed_mph
        add(f"timing {key}", f"{said:g} {unit}", "not measurable in this clip" if val is None else
            f"{val:.2f} {unit} ({meaning})", val is not None and abs(said - val) <= t)
    return out




_CAUTION = {"continue": 0, "slow": 1, "brake": 2}


def hidden_by_debounce(times, decisions, debounced, sig, *, min_duration_s: float) -> list[dict]:
    """Frames debouncing would hide although they contradict the summary, as timeline events.

    A run of frames whose replayed request is *less* cautious than the debounced request
    (e.g. one frame of ``continue`` inside a ``brake`` request) is never hidden: it becomes an
    event, naming the road user ahead in the ego lane when there is one.
    """
    out = []
    n = len(decisions)
    k = 0
    while k < n:
        if decisions[k] != debounced[k] and _CAUTION.get(decisions[k], 0) < _CAUTION.get(debounced[k], 0):
            j = k
            while j < n and decisions[j] == decisions[k] and debounced[j] == debounced[k]:
                j += 1
            who = (f" with {sig['lead_object_id'].iloc[k]} in the ego lane at {float(sig['distance_to_lead_m'].iloc[k]):.1f} m"
                   if has_lead(sig, k) and "lead_object_id" in sig.columns else "")
            out.append({"t_s": float(times[k]), "index": k,
                        "event": f"'{decisions[k]}' for {j - k} frame(s){who}, inside the '{debounced[k]}' request "
                                 f"(shorter than {min_duration_s:g} s, shown because it contradicts it)",
                        "source": "decision model replay"})
            k = j
        else:
            k += 1
    return out


def event_key_frames(clip, debounced, facts: dict, *, max_frames: int) -> list[dict]:
    """Key frames: the event, the event object's first appearance, each change of request.

    Returns ``[{"index", "why"}]`` in time order, at most ``max_frames`` (the event and the
    first appearance first, then the recorded ADS request's changes, then the model's).
    """
    picks = []
    ev = facts["event"]
    if ev is not None:
        picks.append((ev["index"], ev["kind"]))
        if ev.get("object"):
            first = _first(clip.truth, lambda objs: any(o["id"] == ev["object"] for o in objs))
            if first is not None:
                picks.append((first, f"first appearance of '{ev['object']}'"))
    model = [(k, f"model request changes to '{debounced[k]}'") for k in range(1, len(debounced))
             if debounced[k] != debounced[k - 1]]
    sig = clip.signals
    recorded = []
    if "recorded_request" in sig.columns:
        req = list(sig["recorded_request"])
        recorded = [(k, f"recorded ADS request changes to '{req[k]}'") for k in range(1, len(req)) if req[k] != req[k - 1]]
    picks += recorded + model
    if not picks:
        picks.append((0, "first frame"))
    chosen: dict[int, list] = {}
    for k, why in picks:
        if k in chosen:
            chosen[k].append(why)
        elif len(chosen) < max_frames:
            chosen[k] = [why]
    return [{"index": k, "why": "; ".join(chosen[k])} for k in sorted(chosen)]



__all__ = ["compute_facts", "cross_check", "detections_text", "has_lead", "gap_text", "ttc_text", "hidden_by_debounce", "event_key_frames",
           "MEASURES", "SURFACES"]
