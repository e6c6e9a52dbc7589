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
    ("autonomous_driving: null\n", "autonomous_driving", "needs an 'autonomous_driving' section"),
])
def test_derived_pack_errors_name_the_key(tmp_path, body, key, msg):
    f = tmp_path / "pack.yaml"
    f.write_text("extends: autonomous_driving\nname: my_av\n" + body)
    with pytest.raises(PackError) as exc:
        load_pack(f)
    assert exc.value.key_path == key
    assert msg in str(exc.value)
