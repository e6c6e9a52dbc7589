"""The incident file: strict validation with key-path errors."""

import copy

import pytest
import yaml

from xai_reports.documents.incident.incident_file import EXAMPLE_INCIDENT, load_incident, mask_vin, validate_incident
from xai_reports.errors import InputError

BASE = yaml.safe_load(EXAMPLE_INCIDENT)


def _with(path, value, delete=False):
    d = copy.deepcopy(BASE)
    node = d
    for p in path[:-1]:
        node = node[p]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return d


def test_example_is_valid(tmp_path):
    f = tmp_path / "incident.yaml"
    f.write_text(EXAMPLE_INCIDENT)
    inc = load_incident(f)
    assert inc.report.id == "INC-SYN-0001" and inc.synthetic
    assert inc.safety_analysis.classification == "functional_insufficiency_iso21448"


@pytest.mark.parametrize("path, value, delete, message", [
    (("safety_case", "claims", 0, "status"), "bogus", False,
     r"safety_case\.claims\[0\]\.status: expected 'supported', 'challenged', 'invalidated' or 'under_review', got 'bogus'"),
    (("crash", "airbag"), True, False, r"crash\.airbag: unknown key"),
    (("report", "id"), None, True, r"report\.id: required key is missing"),
    (("vehicle", "model_year"), "new", False, r"vehicle\.model_year: .*integer"),
    (("time_place", "time"), "25:61", False, r"time_place\.time: .*pattern"),
    (("safety_analysis", "triggering_condition"), None, True,
     r"safety_analysis: a functional insufficiency \(ISO 21448\) needs its triggering_condition"),
    (("automation", "within_odd"), False, False, r"automation: within_odd is false, so odd_boundary must say"),
    (("review", "signed_off"), True, False, r"review: signed_off is true, so reviewer and signoff_date must be given"),
    (("regulatory_reporting", 0, "date"), "yesterday", False, r"regulatory_reporting\[0\]\.date: "),
    (("safety_analysis", "classification"), "bug", False, r"safety_analysis\.classification: expected 'malfunction_iso26262'"),
])
def test_errors_name_the_key_path(path, value, delete, message):
    with pytest.raises(InputError, match=r"^incident\.yaml: " + message):
        validate_incident(_with(path, value, delete), source="incident.yaml")


def test_yaml_syntax_error_names_the_line(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("report:\n  id: [unclosed\n")
    with pytest.raises(InputError, match=r"bad\.yaml: line \d+, column \d+: invalid YAML"):
        load_incident(f)


def test_not_a_mapping_and_empty(tmp_path):
    f = tmp_path / "i.yaml"
    f.write_text("- a\n- b\n")
    with pytest.raises(InputError, match="expected a mapping at the top level, got list"):
        load_incident(f)
    f.write_text("")
    with pytest.raises(InputError, match="incident file is empty"):
        load_incident(f)
    with pytest.raises(InputError, match="incident file not found"):
        load_incident(tmp_path / "missing.yaml")


def test_python_tags_are_not_executed(tmp_path):
    f = tmp_path / "evil.yaml"
    f.write_text("report: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(InputError, match="invalid YAML"):
        load_incident(f)


def test_vin_is_masked():
    assert mask_vin("1HGCM82633A004352") == "***********004352"
    assert mask_vin(None) is None
