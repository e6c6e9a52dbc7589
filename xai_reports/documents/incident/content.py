"""The driving incident explanation report as a plain content tree (no HTML, no PDF engine).

Sections follow REGULATORY.md §4.2 (rows 1-15): identification, vehicle and software
configuration, time and place with scenario and ODD facts, automation state, crash
facts, narrative, timeline (DSSAD-style events), perception explanation (key frames,
object shares, occlusion test), planning explanation (signal attributions), safety
analysis, safety-case impact, corrective actions, regulatory reporting, review and
sign-off, privacy, and method notes with the saliency caveat.
"""

from __future__ import annotations

from .incident_file import mask_vin

_CLASSIFICATION = {
    "malfunction_iso26262": "Malfunction (ISO 26262: E/E system fault)",
    "functional_insufficiency_iso21448": "Functional insufficiency / triggering condition (ISO 21448, SOTIF)",
    "ai_element_error_iso_pas_8800": "AI-element error (ISO/PAS 8800)",
    "reasonably_foreseeable_misuse": "Reasonably foreseeable misuse (ISO 21448)",
    "undetermined": "Undetermined (investigation open)",
}
_SOTIF_AREA = {"known_safe": "Area 1: known, safe", "known_unsafe": "Area 2: known, unsafe",
               "unknown_unsafe": "Area 3: unknown, unsafe", "unknown_safe": "Area 4: unknown, safe"}
_DEADLINE = {"1-day": "1 day (fatality, hospital transport or vulnerable road user)",
             "5-day": "5 days (tow-away or air-bag deployment)",
             "monthly": "by the 15th of the following month (other ADS crashes)",
             "internal": "not reportable (internal investigation)"}


def _yn(v) -> str:
    return "not stated" if v is None else ("yes" if v else "no")


def _kv(*pairs) -> list[dict]:
    return [{"label": k, "value": "not stated" if v in (None, "") else str(v)} for k, v in pairs]


def human_number(v) -> str | None:
    """Numbers for people: ``18250.0`` -> ``"18,250"``, ``1234.56`` -> ``"1,234.56"``; ``None`` stays ``None``.

    Examples::

        >>> human_number(18250.0), human_number(22), human_number(37.7)
        ('18,250', '22', '37.7')
    """
    if v is None or isinstance(v, bool):
        return v
    f = float(v)
    if f.is_integer():
        return f"{int(f):,}"
    return f"{f:,.6f}".rstrip("0").rstrip(".")


def _fmt_s(t: float) -> str:
    return f"{t:.1f} s"


def incident_content(*, incident, pack, identification: dict, scenario: dict, timeline: dict,
                     perception: dict, planning: dict | None, report_date: str, facts: dict | None = None) -> dict:
    """Everything the incident template prints, as plain data.

    Args:
        incident: the validated :class:`~xai_reports.documents.incident.incident_file.Incident`.
        pack: the loaded autonomous-driving pack.
        identification: ``{"software": {...}, "models": [...], "clip": {...}, "pack": {...}}``.
        scenario: clip conditions and ODD facts (``conditions``, ``odd_checks``, ``description``).
        timeline: ``{"figure", "events", "coverage"}``.
        perception: ``{"key_frames": [...], "caveat", "primary", "methods"}``.
        planning: planner section or ``None`` when no planner was supplied.
        report_date: ISO date printed on the report.

    Returns:
        A dict of sections; every figure is ``{"src": data-URI, "alt": text}``.
    """
    spec = pack.spec
    ad = spec.section("incident")
    r, v, c, tp, au, cr = (incident.report, incident.vehicle, incident.configuration, incident.time_place,
                           incident.automation, incident.crash)
    sa, sc = incident.safety_analysis, incident.safety_case
    synthetic = bool(ad.synthetic_data or incident.synthetic or scenario.get("synthetic"))
    content = {
        "lang": spec.language,
        "title": "Incident explanation report",
        "synthetic": synthetic,
        "synthetic_notice": ("SYNTHETIC: the images, signals and models in this report come from the xai-reports "
                             "procedural scene generator; no real vehicle, person or road is shown."
                             if synthetic else None),
        "report_id": r.id,
        "report_version": r.version,
        "reporting_entity": r.reporting_entity,
        "date": report_date,
        "identification": {
            "report": _kv(("Report ID", r.id), ("Report version", r.version), ("Report type / deadline class",
                                                                                _DEADLINE[r.type]),
                          ("Reporting entity", r.reporting_entity), ("Operating entity", r.operating_entity),
                          ("Notice received", r.notice_received_date), ("Submission date", r.submission_date),
                          ("Same incident ID", r.same_incident_id), ("Same vehicle ID", r.same_vehicle_id)),
            "software": [{"label": k, "value": str(val)} for k, val in identification["software"].items()],
            "models": identification["models"],
            "clip": identification["clip"],
            "pack": identification["pack"],
        },
        "vehicle": _kv(("Make", v.make), ("Model", v.model), ("Model year", v.model_year),
                       ("VIN (restricted, masked)", mask_vin(v.vin)), ("Mileage", human_number(v.mileage)),
                       ("ADS hardware version", c.ads_hardware_version),
                       ("ADS software version", c.ads_software_version),
                       ("Automation feature version", c.automation_feature_version),
                       ("Calibration version", c.calibration_version), ("Map version", c.map_version)),
        "time_place": _kv(("Date", tp.date), ("Time (24 h)", tp.time), ("Location", tp.location),
                          ("City", tp.city), ("State", tp.state), ("ZIP code", tp.zip_code),
                          ("Latitude", tp.latitude), ("Longitude", tp.longitude),
                          ("Roadway type", tp.roadway_type), ("Roadway surface", tp.roadway_surface),
                          ("Roadway description", tp.roadway_description),
                          ("Posted speed limit (mph)", tp.posted_speed_limit_mph), ("Lighting", tp.lighting),
                          ("Weather", tp.weather), ("Work zone", _yn(tp.work_zone))),
        "scenario": scenario,
        "odd": {"description": ad.odd.description, "road_types": ad.odd.road_types, "lighting": ad.odd.lighting,
                "weather": ad.odd.weather, "max_speed_kph": ad.odd.max_speed_kph},
        "automation": _kv(("ADS equipped", _yn(au.ads_equipped)), ("Automation engaged", _yn(au.engaged)),
                          ("Engagement status (30 s before)", au.engagement_status),
                          ("Within ODD", _yn(au.within_odd)), ("ODD boundary", au.odd_boundary),
                          ("Driver / operator type", au.operator_type.replace("_", "-")),
                          ("Fallback state", au.fallback_state), ("MRM started", _yn(au.mrm_started)),
                          ("MRC achieved", _yn(au.mrc_achieved)),
                          ("Remote intervention", _yn(au.remote_intervention))),
        "crash": {"occurred": cr.occurred,
                  "fields": _kv(("Crash with", cr.crash_with), ("SV pre-crash movement", cr.sv_pre_crash_movement),
                                ("CP pre-crash movement", cr.cp_pre_crash_movement),
                                ("SV pre-crash speed (mph)", human_number(cr.sv_precrash_speed_mph)),
                                ("SV contact area", cr.sv_contact_area),
                                ("Highest injury severity alleged", cr.highest_injury_severity),
                                ("Air bags deployed", _yn(cr.airbags_deployed)),
                                ("Vehicle towed", _yn(cr.vehicle_towed)), ("All belted", _yn(cr.all_belted)),
                                ("Property damage", _yn(cr.property_damage)),
                                ("Law enforcement investigating", _yn(cr.law_enforcement_investigating)),
                                ("Investigating agency", cr.investigating_agency))},
        "narrative": {"text": incident.narrative.text, "cbi": incident.narrative.cbi},
        "timeline": timeline,
        "facts": facts,
        "perception": perception,
        "planning": planning,
        "safety_analysis": _kv(("Classification", _CLASSIFICATION[sa.classification]),
                               ("Insufficiency kind", sa.insufficiency_kind),
                               ("Triggering condition (ISO 21448 cl. 7)", sa.triggering_condition),
                               ("SOTIF scenario area (cl. 4.2.2)", _SOTIF_AREA.get(sa.sotif_area) if sa.sotif_area
                                else None),
                               ("AI-element error type (ISO/PAS 8800)", sa.ai_error_type),
                               ("Hazard log entry", sa.hazard_log_entry), ("Root cause", sa.root_cause)),
        "contributing_factors": list(sa.contributing_factors),
        "safety_case": {
            "claims": [{"id": x.id, "text": x.text, "status": x.status.replace("_", " ")} for x in sc.claims],
            "spis": [{"id": x.id, "name": x.name, "threshold": x.threshold, "observed": x.observed or "not stated",
                      "breached": "yes" if x.breached else "no"} for x in sc.spis],
            "valid": sc.safety_case_valid.replace("_", " "), "update_required": _yn(sc.update_required)},
        "corrective": {"actions": [{"action": a.action, "verification": a.verification or "not stated",
                                    "status": a.status.replace("_", " ")} for a in incident.corrective.actions],
                       "fields": _kv(("Recall (49 CFR Part 573) needed", _yn(incident.corrective.recall_needed)),
                                     ("Regression scenario added", _yn(incident.corrective.regression_scenario_added)),
                                     ("ODD restriction", incident.corrective.odd_restriction))},
        "filings": [{"authority": f.authority, "form": f.form, "date": str(f.date) if f.date else "not filed yet",
                     "reference": f.reference or ""} for f in incident.regulatory_reporting],
        "review": {"investigator": incident.review.investigator.model_dump(),
                   "reviewer": incident.review.reviewer.model_dump() if incident.review.reviewer else None,
                   "independence_level": incident.review.independence_level or "not stated",
                   "signed_off": incident.review.signed_off,
                   "signoff_date": str(incident.review.signoff_date) if incident.review.signoff_date else None},
        "privacy": _kv(("Faces and licence plates redacted", _yn(incident.privacy.faces_plates_redacted)),
                       ("Public copy", _yn(incident.privacy.public_copy)),
                       ("Narrative contains CBI", _yn(incident.narrative.cbi)), ("Note", incident.privacy.note)),
        "references": [{"citation": x.citation, "title": x.title or "", "url": x.url or ""}
                       for x in spec.regulatory_references],
        "disclaimer": spec.disclaimer,
    }
    return content


def facts_content(facts: dict, findings: list, max_decel: float) -> dict:
    """The 'computed from the log' table, the model's first response and the cross-check findings."""
    rows = []
    for r in facts["events"]:
        ttc = "none" if r["ttc_s"] is None else ("0 (contact)" if r["ttc_s"] == 0 else f"{r['ttc_s']:.2f} s")
        rows.append({"t": f"{r['t_s']:.1f}", "what": r["label"],
                     "speed": f"{r['speed_mps']:.1f} m/s ({r['speed_mps'] * 3.6:.0f} km/h)",
                     "gap": "none" if r["gap_m"] is None else f"{r['gap_m']:.1f} m", "ttc": ttc,
                     "stopping": f"{r['stopping_needed_m']:.1f} m",
                     "available": "none" if r["gap_m"] is None else f"{r['gap_m']:.1f} m",
                     "accel": "not logged" if r["requested_accel_mps2"] is None else
                     f"{r['requested_accel_mps2']:+.1f} m/s²"})
    mfr = facts["model_first_response"]
    if mfr is None:
        first = "The replayed decision model never requests 'slow' or 'brake' in this clip."
    else:
        where = ("" if mfr["object"] is None or mfr["distance_m"] is None else
                 f", with '{mfr['object']}' at {mfr['distance_m']:.1f} m, "
                 + ("in the ego lane" if mfr["in_ego_lane"] else "not yet in the ego lane"))
        first = f"The replayed decision model first requests '{mfr['decision']}' at t = {mfr['t_s']:.1f} s{where}."
    bad = [f for f in findings if not f["agrees"]]
    return {"rows": rows, "model_first_response": first,
            "note": (f"Stopping distance needed: v² / (2 × {max_decel:g} m/s²), the pack's maximum "
                     "deceleration, with no further reaction time. Distance available: the gap to the road user "
                     "ahead in the ego lane ('none' when no road user is ahead). Time to collision: gap / closing "
                     "speed ('none' with no road user ahead, 'not closing' when the gap does not shrink)."),
            "findings": [{**f, "verdict": "agrees" if f["agrees"] else "CONTRADICTS THE LOG"} for f in findings],
            "contradictions": len(bad),
            "summary": (f"{len(bad)} of {len(findings)} facts of the incident file that the log also measures "
                        "contradict it: " + "; ".join(f"{f['item']} ({f['incident']} vs {f['log']})" for f in bad)
                        + "." if bad else f"All {len(findings)} facts of the incident file that the log also "
                        "measures agree with it.")}


def event_sentence(e: dict) -> str:
    """``{"t_s": 3.2, "event": "'brake' requested"}`` -> ``"'brake' requested at t = 3.2 s"``."""
    return f"{e['event']} at t = {_fmt_s(e['t_s'])}"


def panel_rows_figure(srcs: list[str], subject: str, panels: list[str], statement: str, cols: int = 2) -> dict:
    """A figure printed as rows of panels (one image a row, so a page may break between rows).

    Args:
        srcs: the rows' image URIs, in order (see :func:`.figures.key_frame_rows`).
        subject: what the figure shows, e.g. ``"Frame at t = 2.1 s"``.
        panels: a description of each panel, ``cols`` a row.
        statement: the finding the figure supports; ends the last row's alt text.
        cols: panels a row (a figure with one panel has one a row).

    Returns:
        ``{"rows": [{"src", "alt"}, ...]}``; each row's alt text names its own panels.

    Examples::

        >>> panel_rows_figure(["a", "b"], "Frame", ["the frame", "map A", "map B"], "A drove it.")["rows"][1]
        {'src': 'b', 'alt': 'Frame, row 2 of 2: map B. A drove it.'}
    """
    cols = cols if len(panels) > 1 else 1
    rows = []
    for i, src in enumerate(srcs):
        where = f", row {i + 1} of {len(srcs)}" if len(srcs) > 1 else ""
        alt = f"{subject}{where}: " + " and ".join(panels[cols * i:cols * (i + 1)]) + "."
        rows.append({"src": src, "alt": alt + (" " + statement if i == len(srcs) - 1 else "")})
    return {"rows": rows}


__all__ = ["incident_content", "event_sentence", "human_number", "facts_content", "panel_rows_figure"]
