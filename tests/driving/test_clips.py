"""Clip folders: simulation consistency and a strict reader."""

import json
import shutil

import numpy as np
import pytest

from examples.driving_synthetic.clips import SCENARIOS, simulate, write_clip
from xai_reports.documents.incident.clips import read_clip
from xai_reports.documents.incident.models import NO_LEAD_DISTANCE, TTC_CAP
from xai_reports.errors import InputError


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    return write_clip(tmp_path_factory.mktemp("clips") / "ped", "pedestrian_step_in")


def test_round_trip(clip_dir):
    clip = read_clip(clip_dir)
    sim = simulate("pedestrian_step_in")
    assert clip.synthetic and clip.meta["notice"].startswith("SYNTHETIC")
    assert np.array_equal(clip.images, sim["images"])
    assert len(clip) == 51 and clip.images.shape[1:] == (64, 96, 3)
    assert np.allclose(clip.times, np.arange(51) / 10)
    assert read_clip(clip_dir).sha256 == clip.sha256


def test_signals_agree_with_ground_truth(clip_dir):
    clip = read_clip(clip_dir)
    for k in range(len(clip)):
        row = clip.signals.iloc[k]
        lane = [g for g in clip.truth[k] if g["in_ego_lane"]]
        if not lane:
            assert row["distance_to_lead_m"] == NO_LEAD_DISTANCE and row["ttc_s"] == TTC_CAP
            continue
        lead = min(lane, key=lambda g: g["distance_m"])
        assert row["distance_to_lead_m"] == pytest.approx(lead["distance_m"], abs=1e-3)
        assert row["lead_object_id"] == lead["id"]
        closing = -row["rel_velocity_mps"]
        if closing > 0:
            assert row["ttc_s"] == pytest.approx(min(lead["distance_m"] / closing, TTC_CAP), abs=2e-3)
    # the ego vehicle's speed only changes as the recorded request says (decelerations 0 / 2.5 / 7)
    dv = np.diff(clip.signals["speed_mps"].to_numpy()) * 10
    req = clip.signals["recorded_request"].to_numpy()[:-1]
    want = np.array([{"continue": 0.0, "slow": -2.5, "brake": -7.0}[r] for r in req])
    v = clip.signals["speed_mps"].to_numpy()[:-1]
    assert np.all((np.abs(dv - want) < 1e-6) | (v + want / 10 <= 1e-6))


@pytest.mark.parametrize("name", SCENARIOS)
def test_every_scenario_has_a_decisive_event(name):
    sim = simulate(name)
    assert any("request changed to 'brake'" in e["event"] or "slow" in e["event"] for e in sim["events"])


def _copy(clip_dir, tmp_path):
    d = tmp_path / "clip"
    shutil.copytree(clip_dir, d)
    return d


def test_missing_frame_names_the_file(clip_dir, tmp_path):
    d = _copy(clip_dir, tmp_path)
    (d / "frames" / "frame_007.png").unlink()
    with pytest.raises(InputError, match=r"frame_007\.png.*frame 7 \(t = 0\.7 s\) is missing"):
        read_clip(d)


def test_changed_frame_fails_its_hash(clip_dir, tmp_path):
    d = _copy(clip_dir, tmp_path)
    shutil.copyfile(d / "frames" / "frame_001.png", d / "frames" / "frame_002.png")
    with pytest.raises(InputError, match=r"frame_002\.png: frame 2: SHA-256 does not match"):
        read_clip(d)


def test_signals_problems_name_row_and_column(clip_dir, tmp_path):
    d = _copy(clip_dir, tmp_path)
    lines = (d / "signals.csv").read_text().splitlines()
    cols = lines[0].split(",")
    cells = lines[4].split(",")
    cells[cols.index("ttc_s")] = "soon"
    lines[4] = ",".join(cells)
    (d / "signals.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"signals\.csv: row 4, column 'ttc_s': expected a finite number, got 'soon'"):
        read_clip(d)
    (d / "signals.csv").write_text("\n".join(lines[:10]) + "\n")
    with pytest.raises(InputError, match="9 rows but clip.json lists 51 frames"):
        read_clip(d)
    (d / "signals.csv").unlink()
    with pytest.raises(InputError, match="signals.csv is missing"):
        read_clip(d)


def test_bad_clip_json(clip_dir, tmp_path):
    d = _copy(clip_dir, tmp_path)
    meta = json.loads((d / "clip.json").read_text())
    meta["frames"][3]["file"] = "../../etc/passwd"
    (d / "clip.json").write_text(json.dumps(meta))
    with pytest.raises(InputError, match=r"frames\[3\]\.file: .* must be a path inside the clip folder"):
        read_clip(d)
    (d / "clip.json").write_text("{not json")
    with pytest.raises(InputError, match="clip.json: not valid JSON"):
        read_clip(d)
    (d / "clip.json").unlink()
    with pytest.raises(InputError, match="clip.json is missing"):
        read_clip(d)
    with pytest.raises(InputError, match="clip folder not found"):
        read_clip(tmp_path / "nope")
