"""NHTSA Standing General Order 2021-01 data elements, exported from an incident record.

One row per data element, in the order of the SGO incident report form: the element's
name, its value (VIN masked to the last 6 characters, as in the public SGO data), and where
it comes from. Elements the log also measures say whether the cross-check agreed.
Written as CSV (``element,value,source``) or JSON (a list of objects), chosen by the file's
suffix; the bytes depend only on the record.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from ...errors import InputError
from ...io.outputs import atomic_write
from .content import human_number
from .incident_file import mask_vin

_CHECKED = {"Roadway Surface": "roadway surface", "Posted Speed Limit (MPH)": "posted speed limit",
            "Lighting": "lighting", "Weather": "weather", "SV Precrash Speed (MPH)": "SV pre-crash speed"}


def _v(x):
    if x is None:
        return ""
    if isinstance(x, bool):
        return "Y" if x else "N"
    if isinstance(x, float):
        return human_number(x).replace(",", "")
    return str(x)


def sgo_elements(record: dict) -> list[dict]:
    """``[{"element", "value", "source"}]`` from an incident record (:func:`build_incident`)."""
    inc = record["incident"]
    r, v, c, tp, au, cr = (inc["report"], inc["vehicle"], inc["configuration"], inc["time_place"],
                           inc["automation"], inc["crash"])
    rows = [
        ("Report ID", r["id"]), ("Report Version", r["version"]), ("Report Type", r["type"]),
        ("Reporting Entity", r["reporting_entity"]), ("Operating Entity", r.get("operating_entity")),
        ("Notice Received Date", r.get("notice_received_date")), ("Report Submission Date", r.get("submission_date")),
        ("Same Incident ID", r.get("same_incident_id")), ("Same Vehicle ID", r.get("same_vehicle_id")),
        ("Make", v["make"]), ("Model", v["model"]), ("Model Year", v["model_year"]),
        ("VIN", mask_vin(v.get("vin"))), ("Mileage", v.get("mileage")),
        ("ADS Hardware Version", c["ads_hardware_version"]), ("ADS Software Version", c["ads_software_version"]),
        ("Incident Date", tp["date"]), ("Incident Time (24:00)", tp["time"]),
        ("Address", tp["location"]), ("City", tp.get("city")), ("State", tp.get("state")),
        ("Zip Code", tp.get("zip_code")), ("Latitude", tp.get("latitude")), ("Longitude", tp.get("longitude")),
        ("Roadway Type", tp["roadway_type"]), ("Roadway Surface", tp["roadway_surface"]),
        ("Roadway Description", tp.get("roadway_description")),
        ("Posted Speed Limit (MPH)", tp.get("posted_speed_limit_mph")), ("Lighting", tp["lighting"]),
        ("Weather", tp["weather"]), ("Work Zone", tp.get("work_zone")),
        ("ADS Equipped?", au.get("ads_equipped")), ("Automation System Engaged?", au["engaged"]),
        ("Operating Entity Within ODD?", au["within_odd"]), ("Driver / Operator Type", au["operator_type"]),
        ("Crash With", cr.get("crash_with")), ("CP Pre-Crash Movement", cr.get("cp_pre_crash_movement")),
        ("SV Pre-Crash Movement", cr.get("sv_pre_crash_movement")),
        ("SV Precrash Speed (MPH)", cr.get("sv_precrash_speed_mph")), ("SV Contact Area", cr.get("sv_contact_area")),
        ("Highest Injury Severity Alleged", cr.get("highest_injury_severity")),
        ("SV Any Air Bags Deployed?", cr.get("airbags_deployed")), ("SV Was Vehicle Towed?", cr.get("vehicle_towed")),
        ("SV Were All Passengers Belted?", cr.get("all_belted")), ("Property Damage?", cr.get("property_damage")),
        ("Law Enforcement Investigating?", cr.get("law_enforcement_investigating")),
        ("Investigating Agency", cr.get("investigating_agency")),
        ("Narrative", inc["narrative"]["text"]), ("Narrative - CBI?", inc["narrative"].get("cbi")),
    ]
    checks = {f["item"]: f for f in record.get("cross_check") or []}
    out = []
    for name, val in rows:
        src = "incident file"
        f = checks.get(_CHECKED.get(name, ""))
        if f is not None:
            src += f"; log: {f['log']} ({'agrees' if f['agrees'] else 'CONTRADICTS'})"
        out.append({"element": name, "value": _v(val), "source": src})
    return out


def write_sgo(record: dict, path) -> Path:
    """Write the SGO data elements as ``.csv`` or ``.json`` (by suffix); returns the path."""
    p = Path(path)
    rows = sgo_elements(record)
    if p.suffix.lower() == ".json":
        data = json.dumps(rows, indent=2, ensure_ascii=False) + "\n"
    elif p.suffix.lower() == ".csv":
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=["element", "value", "source"], lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        data = buf.getvalue()
    else:
        raise InputError("the SGO export must end in .csv or .json", file=p)
    p.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(p, data)
    return p


__all__ = ["sgo_elements", "write_sgo"]
