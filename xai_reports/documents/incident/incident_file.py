"""The incident file (INCIDENT.yaml) the investigator supplies: facts and safety analysis.

Read with ``yaml.safe_load`` and validated strictly: unknown keys, wrong types and
missing required fields are errors that name the key path, e.g.::

    incident.yaml: safety_analysis.classification: expected one of 'malfunction_iso26262',
    'functional_insufficiency_iso21448', ... got 'bug'

Sections follow REGULATORY.md §4.2 (NHTSA SGO data elements, UN ADS DSSAD, UL 4600,
ISO 21448, ISO 26262, ISO/PAS 8800). Everything the model and the clip can tell
(timeline, explanations, occlusion tests) is computed, never typed in here.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Annotated, Literal, Optional

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from ...errors import CONTROL_CHARS, InputError
from .facts import MEASURES

MEASURE_NAMES = tuple(MEASURES)


def _printable(v: str) -> str:
    if CONTROL_CHARS.search(v):
        raise ValueError("an id must be printable text; this one contains a control character (NUL, line break, ...)")
    return v


# report, claim and indicator ids: printed in the report and record, so no control characters
Identifier = Annotated[str, AfterValidator(_printable)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReportInfo(_Strict):
    """SGO report identification (checklist row 1)."""

    id: Identifier = Field(min_length=1)
    version: int = Field(default=1, ge=1)
    type: Literal["1-day", "5-day", "monthly", "internal"] = Field(
        description="SGO deadline class: 1-day (fatality, hospital transport, vulnerable road user), "
                    "5-day (tow-away, air bag), monthly (other ADS crashes), internal (not reportable).")
    reporting_entity: str
    operating_entity: Optional[str] = None
    notice_received_date: Optional[_dt.date] = None
    submission_date: Optional[_dt.date] = None
    same_incident_id: Optional[Identifier] = None
    same_vehicle_id: Optional[Identifier] = None
    date: _dt.date = Field(description="The report's date (printed, and used as the PDF's date).")


class Vehicle(_Strict):
    make: str
    model: str
    model_year: int = Field(ge=1990, le=2100)
    vin: Optional[str] = Field(default=None, description="Printed masked to the last 6 characters.")
    mileage: Optional[float] = Field(default=None, ge=0)


class Configuration(_Strict):
    """Vehicle and software configuration (row 2). Model hashes are computed, not typed."""

    ads_hardware_version: str
    ads_software_version: str
    automation_feature_version: Optional[str] = None
    calibration_version: Optional[str] = None
    map_version: Optional[str] = None


class TimePlace(_Strict):
    """Time and place (row 3); location precision should be reduced in public copies."""

    date: _dt.date
    time: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="24-hour HH:MM")
    location: str
    city: Optional[str] = Field(default=None, description="SGO: city of the incident.")
    state: Optional[str] = Field(default=None, description="SGO: state (two-letter code).")
    zip_code: Optional[str] = Field(default=None, pattern=r"^\d{5}(-\d{4})?$", description="SGO: ZIP code.")
    latitude: Optional[float] = Field(default=None, ge=-90, le=90, description="SGO: latitude (decimal degrees).")
    longitude: Optional[float] = Field(default=None, ge=-180, le=180, description="SGO: longitude (decimal degrees).")
    roadway_type: str
    roadway_surface: str = "dry"
    roadway_description: Optional[str] = None
    posted_speed_limit_mph: Optional[int] = Field(default=None, ge=0, le=100)
    lighting: str
    weather: str
    work_zone: bool = False


class Automation(_Strict):
    """Automation state (row 4)."""

    ads_equipped: bool = True
    engaged: bool
    engagement_status: str = Field(description="e.g. 'engaged for the whole 30 s before the incident'")
    within_odd: bool
    odd_boundary: Optional[str] = Field(default=None, description="Which ODD boundary was near or exceeded.")
    operator_type: Literal["none", "in_vehicle", "remote"]
    fallback_state: Optional[str] = None
    mrm_started: bool = False
    mrc_achieved: bool = False
    remote_intervention: bool = False

    @model_validator(mode="after")
    def _odd(self):
        if not self.within_odd and not self.odd_boundary:
            raise ValueError("within_odd is false, so odd_boundary must say which boundary was exceeded")
        return self


class Crash(_Strict):
    """Crash facts (row 5); ``occurred: false`` for a near miss or a disengagement."""

    occurred: bool
    crash_with: Optional[str] = None
    sv_pre_crash_movement: Optional[str] = None
    cp_pre_crash_movement: Optional[str] = None
    sv_precrash_speed_mph: Optional[float] = Field(default=None, ge=0)
    sv_contact_area: Optional[str] = None
    highest_injury_severity: Optional[Literal["fatality", "serious", "moderate", "minor", "none", "unknown"]] = None
    airbags_deployed: Optional[bool] = None
    vehicle_towed: Optional[bool] = None
    all_belted: Optional[bool] = None
    property_damage: Optional[bool] = None
    law_enforcement_investigating: Optional[bool] = None
    investigating_agency: Optional[str] = None

    @model_validator(mode="after")
    def _facts(self):
        if self.occurred:
            missing = [k for k in ("crash_with", "sv_pre_crash_movement", "highest_injury_severity")
                       if getattr(self, k) is None]
            if missing:
                raise ValueError(f"occurred is true, so {', '.join(missing)} must be given")
        return self


class Narrative(_Strict):
    text: str = Field(min_length=1)
    cbi: bool = Field(default=False, description="Contains confidential business information (redact in public copies).")


class SafetyAnalysis(_Strict):
    """Row 10: malfunction (ISO 26262) vs functional insufficiency (ISO 21448) vs AI-element error (ISO/PAS 8800)."""

    classification: Literal["malfunction_iso26262", "functional_insufficiency_iso21448",
                             "ai_element_error_iso_pas_8800", "reasonably_foreseeable_misuse", "undetermined"]
    insufficiency_kind: Optional[Literal["specification", "performance"]] = None
    triggering_condition: Optional[str] = Field(
        default=None, description="ISO 21448 clause 7: the condition that triggered the hazardous behaviour.")
    sotif_area: Optional[Literal["known_safe", "known_unsafe", "unknown_unsafe", "unknown_safe"]] = Field(
        default=None, description="ISO 21448 clause 4.2.2 scenario area (before this incident).")
    ai_error_type: Optional[Literal["output_insufficiency", "systematic_error", "random_hardware_error"]] = None
    hazard_log_entry: Optional[str] = None
    root_cause: Optional[str] = None
    contributing_factors: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self):
        if self.classification == "functional_insufficiency_iso21448" and not self.triggering_condition:
            raise ValueError("a functional insufficiency (ISO 21448) needs its triggering_condition")
        if self.classification == "ai_element_error_iso_pas_8800" and not self.ai_error_type:
            raise ValueError("an AI-element error (ISO/PAS 8800) needs ai_error_type")
        return self


class Claim(_Strict):
    id: Identifier
    text: str
    status: Literal["supported", "challenged", "invalidated", "under_review"]


class SPI(_Strict):
    id: Identifier
    name: str
    threshold: str
    observed: Optional[str] = None
    breached: bool
    measure: Optional[Literal[MEASURE_NAMES]] = Field(
        default=None, description="The quantity the log measures for this SPI (see facts.MEASURES); the "
                                  "observation and the breach are then cross-checked against the log.")


class SafetyCase(_Strict):
    """Row 11 (UL 4600): the claims and safety performance indicators this incident touches."""

    claims: list[Claim] = Field(default_factory=list)
    spis: list[SPI] = Field(default_factory=list)
    safety_case_valid: Literal["yes", "no", "under_review"]
    update_required: bool


class CorrectiveAction(_Strict):
    action: str
    verification: Optional[str] = None
    status: Literal["planned", "in_progress", "done"] = "planned"


class Corrective(_Strict):
    """Row 12."""

    actions: list[CorrectiveAction] = Field(default_factory=list)
    recall_needed: Optional[bool] = None
    regression_scenario_added: Optional[bool] = None
    odd_restriction: Optional[str] = None


class Filing(_Strict):
    """Row 13: one regulatory report."""

    authority: str
    form: str
    date: Optional[_dt.date] = None
    reference: Optional[str] = None


class Person(_Strict):
    name: str
    role: Optional[str] = None


class Review(_Strict):
    """Row 14: investigator, reviewer, independence level (ISO 26262-2 I0-I3), sign-off."""

    investigator: Person
    reviewer: Optional[Person] = None
    independence_level: Optional[Literal["I0", "I1", "I2", "I3"]] = None
    signed_off: bool = False
    signoff_date: Optional[_dt.date] = None

    @model_validator(mode="after")
    def _signoff(self):
        if self.signed_off and (self.reviewer is None or self.signoff_date is None):
            raise ValueError("signed_off is true, so reviewer and signoff_date must be given")
        return self


class Privacy(_Strict):
    """Row 15."""

    faces_plates_redacted: Optional[bool] = None
    public_copy: bool = False
    note: Optional[str] = None


class Incident(_Strict):
    """A validated incident file."""

    report: ReportInfo
    vehicle: Vehicle
    configuration: Configuration
    time_place: TimePlace
    automation: Automation
    crash: Crash
    narrative: Narrative
    safety_analysis: SafetyAnalysis
    safety_case: SafetyCase
    corrective: Corrective = Field(default_factory=Corrective)
    regulatory_reporting: list[Filing] = Field(default_factory=list)
    review: Review
    privacy: Privacy = Field(default_factory=Privacy)
    timings: dict[Literal[MEASURE_NAMES], float] = Field(
        default_factory=dict, description="Timings and distances the investigator states (facts.MEASURES keys); "
                                          "each is cross-checked against the log.")
    synthetic: bool = Field(default=False, description="The incident is a SYNTHETIC example (printed on every page).")


def _loc(loc) -> str:
    out = ""
    for p in loc:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += ("." if out else "") + str(p)
    return out


def _message(err: dict) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        return "unknown key (check the spelling; see the example incident file)"
    if kind == "missing":
        return "required key is missing"
    if kind == "literal_error":
        return f"expected {err['ctx']['expected']}, got {err.get('input')!r}"
    msg = err["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix):]
    inp = err.get("input")
    if not isinstance(inp, (dict, list)) and kind != "value_error":
        msg += f" (got {inp!r})"
    return msg


def load_incident(path) -> Incident:
    """Read and validate an incident YAML file.

    Args:
        path: the ``INCIDENT.yaml`` file.

    Returns:
        :class:`Incident`.

    Raises:
        InputError: naming the file and the key path (``crash.highest_injury_severity``,
            ``safety_case.claims[1].status``), or the YAML line for syntax errors.

    Examples::

        >>> inc = load_incident("incident.yaml")
        >>> inc.safety_analysis.classification
        'functional_insufficiency_iso21448'
    """
    p = Path(path)
    if not p.is_file():
        raise InputError("incident file not found", file=p)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise InputError("incident file is not UTF-8 text", file=p) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise InputError(f"{where}invalid YAML ({getattr(exc, 'problem', None) or exc})", file=p) from None
    return validate_incident(data, source=p)


def validate_incident(data, *, source="<incident>") -> Incident:
    """Validate already-parsed incident data (a dict); see :func:`load_incident`."""
    if data is None:
        raise InputError("incident file is empty", file=source)
    if not isinstance(data, dict):
        raise InputError(f"expected a mapping at the top level, got {type(data).__name__}", file=source)
    try:
        return Incident.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise InputError(f"{_loc(err['loc']) or '(top level)'}: {_message(err)}{more}", file=source) from None


def mask_vin(vin: str | None) -> str | None:
    """``1HGCM82633A004352`` -> ``***********004352`` (VINs are restricted in SGO public data)."""
    if not vin:
        return vin
    return "*" * max(len(vin) - 6, 0) + vin[-6:]


EXAMPLE_INCIDENT = """\
# SYNTHETIC example incident file for xai-reports (all facts are invented).
synthetic: true
report:
  id: INC-SYN-0001
  version: 1
  type: 1-day                 # vulnerable road user involved
  reporting_entity: Example Robotaxi Co. (fictional)
  operating_entity: Example Robotaxi Co. (fictional)
  notice_received_date: 2026-11-02
  submission_date: 2026-11-03
  date: 2026-11-03
vehicle:
  make: Example
  model: Shuttle S1
  model_year: 2026
  vin: 1EXAMPLE0VIN04352
  mileage: 18250
configuration:
  ads_hardware_version: HW 4.1
  ads_software_version: ADS 2026.10.2
  automation_feature_version: urban-pilot 3.2
  calibration_version: cam-front 2026-09-14
  map_version: none (mapless lane keeping)
time_place:
  date: 2026-11-02
  time: "18:42"
  location: Example City (precision reduced)
  city: Example City
  state: CA
  zip_code: "94000"
  latitude: 37.70
  longitude: -122.40
  roadway_type: urban street, three lanes one way
  roadway_surface: dry
  roadway_description: straight, level, sidewalks both sides
  posted_speed_limit_mph: 30
  lighting: dusk
  weather: rain
  work_zone: false
automation:
  ads_equipped: true
  engaged: true
  engagement_status: engaged for the whole 30 s before the incident
  within_odd: true
  operator_type: in_vehicle
  fallback_state: none requested
  mrm_started: false
  mrc_achieved: false
  remote_intervention: false
crash:
  occurred: true
  crash_with: pedestrian
  sv_pre_crash_movement: proceeding straight
  cp_pre_crash_movement: crossing from the right
  sv_precrash_speed_mph: 22
  sv_contact_area: front
  highest_injury_severity: unknown
  airbags_deployed: false
  vehicle_towed: false
  all_belted: true
  property_damage: false
  law_enforcement_investigating: true
  investigating_agency: Example City Police (fictional)
narrative:
  text: >-
    SYNTHETIC. While proceeding straight at about 50 km/h in the centre lane at dusk in rain,
    the vehicle approached a pedestrian who stepped off the right sidewalk and crossed into
    its lane. The system requested braking late and the vehicle made contact at reduced speed.
  cbi: false
safety_analysis:
  classification: functional_insufficiency_iso21448
  insufficiency_kind: performance
  triggering_condition: pedestrian entering the lane from the kerb in low light and rain, with a 0.8 s reaction latency
  sotif_area: known_unsafe
  hazard_log_entry: HAZ-PED-017 late detection of crossing pedestrian
  root_cause: >-
    under investigation; the replayed decision model requested 'slow' at t = 2.1 s with the pedestrian
    28.8 m ahead and not yet in the lane, and 'brake' at t = 3.1 s, but the recorded ADS request changed
    to 'slow' only at t = 3.2 s and to 'brake' at t = 3.9 s: the delay lies between decision and request
    (0.8 s end-to-end reaction latency), not in recognising the pedestrian
  contributing_factors:
    - dusk lighting with rain
    - 0.8 s end-to-end reaction latency
safety_case:
  claims:
    - id: C-3.2
      text: The ADS detects and yields to pedestrians entering the lane within its ODD.
      status: challenged
  spis:
    - id: SPI-07
      name: pedestrian time-to-collision at first brake request (fleet median)
      threshold: ">= 2.0 s"
      observed: "0.36 s in this event"
      breached: true
      measure: ttc_at_first_brake_request_s
  safety_case_valid: under_review
  update_required: true
corrective:
  actions:
    - action: add dusk/rain pedestrian step-in scenarios to the training and regression sets
      verification: scenario-based regression test, 500 variations
      status: planned
  recall_needed: false
  regression_scenario_added: true
regulatory_reporting:
  - authority: NHTSA
    form: Standing General Order 2021-01 incident report
    date: 2026-11-03
    reference: SGO-SYN-0001
review:
  investigator: {name: A. Investigator (fictional), role: safety engineer}
  reviewer: {name: R. Reviewer (fictional), role: functional safety assessor}
  independence_level: I2
  signed_off: false
timings:                      # stated by the investigator; cross-checked against the log
  first_response_t_s: 3.2
  first_brake_request_t_s: 3.9
  event_t_s: 4.2
  model_first_response_t_s: 2.1
  model_first_response_distance_m: 28.8
privacy:
  faces_plates_redacted: true
  public_copy: false
  note: SYNTHETIC images contain no real people or licence plates.
"""
"""A complete, valid, SYNTHETIC incident file (used by the demo and the tests)."""


__all__ = ["Incident", "load_incident", "validate_incident", "mask_vin", "EXAMPLE_INCIDENT"]
