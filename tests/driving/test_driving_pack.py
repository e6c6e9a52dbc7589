"""The autonomous-driving pack validates strictly."""

import pytest

from xai_reports.errors import PackError
from xai_reports.packs import load_pack


def test_shipped_pack():
    p = load_pack("autonomous_driving")
    ad = p.autonomous_driving
    assert p.spec.domain == "autonomous_driving"
    assert ad.decision_model.architecture == "driving_cnn_v1"
    assert ad.image_explanation.primary == "grad_cam" and "occlusion" in ad.image_explanation.methods
    assert set(p.features) == {"speed_mps", "distance_to_lead_m", "ttc_s", "rel_velocity_mps"}
    assert "does not certify compliance" in p.spec.disclaimer
    assert p.templates["incident"] == "autonomous_driving/incident_report.html.j2"


@pytest.mark.parametrize("body, key, msg", [
    ("autonomous_driving:\n  decision_model:\n    architecture: my_resnet\n",
     "autonomous_driving.decision_model.architecture", "unknown architecture 'my_resnet'"),
    ("autonomous_driving:\n  image_explanation:\n    primary: lime\n",
     "autonomous_driving.image_explanation", "primary method 'lime' is not in methods"),
    ("autonomous_driving:\n  odd:\n    colour: blue\n", "autonomous_driving.odd.colour", "unknown key"),
])
def test_derived_pack_errors_name_the_key(tmp_path, body, key, msg):
    f = tmp_path / "pack.yaml"
    f.write_text("extends: autonomous_driving\nname: my_av\n" + body)
    with pytest.raises(PackError) as exc:
        load_pack(f)
    assert exc.value.key_path == key
    assert msg in str(exc.value)


def test_pack_without_its_section_loads_but_cannot_make_incident_reports(tmp_path):
    """An audit-only pack may leave the domain section out; the incident report asks for it."""
    from xai_reports.documents.incident.report import generate_incident_report

    f = tmp_path / "pack.yaml"
    f.write_text("extends: autonomous_driving\nname: audit_only\nautonomous_driving: null\n")
    pack = load_pack(f)
    with pytest.raises(PackError) as exc:
        generate_incident_report("model", "clip", "incident.yaml", tmp_path / "r.pdf", pack=pack)
    assert exc.value.key_path == "autonomous_driving"
    assert "has no 'incident' section" in str(exc.value) and str(f) in str(exc.value)
