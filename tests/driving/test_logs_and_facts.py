"""MCAP / ROS 2 logs, facts computed from the log, the cross-check of the incident file, SGO export."""

import copy
import io

import numpy as np
import pytest
import yaml

pytest.importorskip("mcap_ros2")

from examples.driving_synthetic.clips import write_clip  # noqa: E402
from xai_reports.documents.incident.analysis import debounce  # noqa: E402
from xai_reports.documents.incident.clips import read_clip  # noqa: E402
from xai_reports.documents.incident.content import human_number  # noqa: E402
from xai_reports.documents.incident.facts import (compute_facts, cross_check, event_key_frames,  # noqa: E402
                                                  hidden_by_debounce)
from xai_reports.documents.incident.incident_file import EXAMPLE_INCIDENT, validate_incident  # noqa: E402
from xai_reports.documents.incident.logs import read_mcap_clip, write_mcap_clip  # noqa: E402
from xai_reports.errors import InputError  # noqa: E402
from xai_reports.packs.sections.incident import CrossCheckSpec, LogTopics  # noqa: E402


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("logs")
    folder = read_clip(write_clip(d / "clip", "pedestrian_step_in"))
    topics = LogTopics()
    path = write_mcap_clip(folder, d / "clip.mcap", topics)
    return {"dir": d, "folder": folder, "mcap": read_mcap_clip(path, topics), "path": path, "topics": topics}


def test_mcap_holds_the_same_clip_as_the_folder(clips):
    f, m = clips["folder"], clips["mcap"]
    assert np.array_equal(f.images, m.images) and np.array_equal(f.times, m.times)
    assert m.signals.equals(f.signals[list(m.signals.columns)])
    assert m.meta["events"] == [dict(e) for e in f.meta["events"]]
    assert m.meta["conditions"] == f.meta["conditions"] and m.meta["fps"] == f.meta["fps"]
    assert [s.to_dict() for s in m.scenes] == [s.to_dict() for s in f.scenes]
    keep = ("id", "class", "box", "distance_m", "lateral_m")
    assert [[{k: o[k] for k in keep} for o in objs] for objs in m.truth] == \
           [[{k: o[k] for k in keep} for o in objs] for objs in f.truth]
    assert m.meta["source"]["format"] == "MCAP (ROS 2 CDR)"


def test_raw_images_and_an_independent_reader(clips):
    """Raw rgb8 Image messages read back the same pixels; the plain mcap reader sees the topics."""
    from mcap.reader import make_reader

    p = write_mcap_clip(clips["folder"], clips["dir"] / "raw.mcap", clips["topics"], image="raw")
    m = read_mcap_clip(p, clips["topics"])
    assert np.array_equal(m.images, clips["folder"].images)
    summary = make_reader(open(p, "rb")).get_summary()
    topics = {c.topic: summary.schemas[c.schema_id].name for c in summary.channels.values()}
    assert topics["/camera/front/image/compressed"] == "sensor_msgs/msg/Image"
    assert topics["/vehicle/twist"] == "geometry_msgs/msg/TwistStamped"
    assert topics["/ground_truth/objects"] == "vision_msgs/msg/Detection2DArray"
    counts = summary.statistics.channel_message_counts
    cam = next(i for i, c in summary.channels.items() if c.topic == "/camera/front/image/compressed")
    assert counts[cam] == len(clips["folder"])


def test_signals_are_synchronised_with_the_stated_tolerance(clips):
    f = copy.copy(clips["folder"])
    f.signals = f.signals.copy()
    f.times = f.times.copy()
    topics = clips["topics"]
    p = write_mcap_clip(f, clips["dir"] / "ok.mcap", topics)
    # a topic map whose tolerance is tighter than zero lag still works (samples share the frame stamps)
    tight = topics.model_copy(update={"sync_tolerance_s": 0.001})
    assert read_mcap_clip(p, tight).signals["speed_mps"].tolist() == f.signals["speed_mps"].tolist()
    # the speed topic is renamed in the map: no samples -> a one-line error naming the topic
    sig = dict(topics.signals)
    sig["speed_mps"] = sig["speed_mps"].model_copy(update={"topic": "/vehicle/odom"})
    with pytest.raises(InputError) as exc:
        read_mcap_clip(p, topics.model_copy(update={"signals": sig}))
    msg = str(exc.value)
    assert "\n" not in msg and str(p) in msg and "/vehicle/odom" in msg and "speed_mps" in msg


def _tiny_log(path, lag_s, *, extra=None):
    """3 camera frames 0.1 s apart, four Float64 signal topics logged ``lag_s`` before each frame."""
    from mcap_ros2.writer import Writer

    from xai_reports.documents.incident.logs import MSGDEFS

    with open(path, "wb") as fh:
        w = Writer(fh)
        cam = w.register_msgdef("sensor_msgs/msg/CompressedImage", MSGDEFS["sensor_msgs/msg/CompressedImage"])
        f64 = w.register_msgdef("std_msgs/msg/Float64", MSGDEFS["std_msgs/msg/Float64"])
        for k in range(3):
            ns = 10**9 + k * 10**8
            for name in ("speed", "gap", "ttc", "rel"):
                w.write_message(f"/s/{name}", f64, {"data": float(10 * k + 1)}, log_time=ns - int(lag_s * 1e9))
                w.write_message(f"/s/{name}", f64, {"data": -1.0}, log_time=ns + 5 * 10**7)   # after: never used
            w.write_message("/cam", cam, {"header": {"stamp": {"sec": ns // 10**9, "nanosec": ns % 10**9},
                                                    "frame_id": "c"}, "format": "png",
                                         "data": (extra or {}).get(k, _png())}, log_time=ns)
        w.finish()
    sig = {n: {"topic": f"/s/{t}", "field": "data"} for n, t in (("speed_mps", "speed"), ("distance_to_lead_m", "gap"),
                                                                  ("ttc_s", "ttc"), ("rel_velocity_mps", "rel"))}
    return LogTopics(camera="/cam", signals=sig, objects=None, detections=None, scene=None, events=[])


def test_nearest_preceding_sample_within_the_tolerance(tmp_path):
    ok = tmp_path / "ok.mcap"
    topics = _tiny_log(ok, 0.02)
    clip = read_mcap_clip(ok, topics)
    assert clip.times.tolist() == [0.0, 0.1, 0.2]
    assert clip.signals["speed_mps"].tolist() == [1.0, 11.0, 21.0]          # preceding, not the later -1
    assert clip.meta["fps"] == 10 and "within 0.05 s" in clip.meta["source"]["sync"]
    late = tmp_path / "late.mcap"
    topics = _tiny_log(late, 0.08)
    with pytest.raises(InputError) as exc:
        read_mcap_clip(late, topics)
    msg = str(exc.value)
    assert str(late) in msg and "topic /s/speed" in msg and "camera frame 0" in msg and "0.05 s" in msg


def test_corrupt_mcap_is_one_line_naming_the_file(clips, tmp_path):
    bad = tmp_path / "bad.mcap"
    bad.write_bytes(clips["path"].read_bytes()[:5000])
    with pytest.raises(InputError) as exc:
        read_mcap_clip(bad, clips["topics"])
    assert str(bad) in str(exc.value) and "\n" not in str(exc.value)
    junk = tmp_path / "junk.mcap"
    junk.write_bytes(b"not an mcap file at all")
    with pytest.raises(InputError) as exc:
        read_mcap_clip(junk, clips["topics"])
    assert str(junk) in str(exc.value)


def test_undecodable_camera_message_names_topic_and_index(tmp_path):
    p = tmp_path / "badimg.mcap"
    topics = _tiny_log(p, 0.0, extra={2: b"garbage"})
    with pytest.raises(InputError) as exc:
        read_mcap_clip(p, topics)
    msg = str(exc.value)
    assert str(p) in msg and "topic /cam, message 2" in msg and "\n" not in msg


def _png():
    from PIL import Image

    b = io.BytesIO()
    Image.new("RGB", (96, 64)).save(b, format="PNG")
    return b.getvalue()


# ------------------------------------------------------------------ facts and cross-check
def _decisions(clip):
    """A stand-in replay: the recorded request one frame early (no model needed)."""
    req = list(clip.signals["recorded_request"])
    return req[1:] + req[-1:]


def test_facts_are_measured_from_the_log(clips):
    clip = clips["folder"]
    facts = compute_facts(clip, _decisions(clip), max_decel=7.0)
    sig = clip.signals
    ev = facts["event"]
    assert ev["kind"] == "crash" and ev["t_s"] == 4.2 and ev["object"] == "pedestrian_1"
    k = int(np.flatnonzero(sig["recorded_request"] == "brake")[0])
    gap, v = sig["distance_to_lead_m"][k], sig["speed_mps"][k]
    # time to collision = gap / closing speed, computed here independently of the log's ttc column
    assert facts["measures"]["ttc_at_first_brake_request_s"] == pytest.approx(gap / v, abs=2e-3)
    row = next(r for r in facts["events"] if r["label"] == "first recorded brake request")
    assert row["stopping_needed_m"] == pytest.approx(v * v / 14.0)
    assert row["requested_accel_mps2"] == -7.0
    crash = next(r for r in facts["events"] if r["label"] == "crash")
    assert crash["gap_m"] is None and crash["ttc_s"] == 0.0        # no lead left at contact: none, not 100 m
    assert facts["measures"]["precrash_speed_mph"] == pytest.approx(sig["speed_mps"][42] / 0.44704)


# the demo's old contradictions (surface 'wet' beside the clip's dry asphalt, SPI 0.8 s), and others
OLD_WRONG = {"time_place.roadway_surface": "wet", "time_place.weather": "clear",
             "safety_case.spis[0].observed": "0.8 s in this event", "timings.first_brake_request_t_s": 3.1}


def _set(d, path, value):
    import re

    keys = [int(k) if k.isdigit() else k for k in re.split(r"\.|\[|\]\.?", path) if k != ""]
    for k in keys[:-1]:
        d = d[k]
    d[keys[-1]] = value


def test_cross_check_agrees_with_the_corrected_example_and_catches_the_old_values(clips):
    clip = clips["folder"]
    facts = compute_facts(clip, debounce(_decisions(clip), 2))
    good = validate_incident(yaml.safe_load(EXAMPLE_INCIDENT))
    findings = cross_check(good, clip, facts, CrossCheckSpec())
    items = {f["item"] for f in findings}
    assert {"weather", "lighting", "roadway surface", "posted speed limit", "crash occurred", "SV pre-crash speed",
            "SPI-07 observed", "SPI-07 breached", "timing first_brake_request_t_s"} <= items
    wrong = {f["item"] for f in findings if not f["agrees"]}
    assert wrong <= {"timing model_first_response_t_s", "timing model_first_response_distance_m"}  # stand-in replay
    for path, value in OLD_WRONG.items():
        data = yaml.safe_load(EXAMPLE_INCIDENT)
        _set(data, path, value)
        bad = cross_check(validate_incident(data), clip, facts, CrossCheckSpec())
        assert len([f for f in bad if not f["agrees"]]) > len(wrong), path


def test_flickers_that_contradict_a_request_are_shown_and_key_frames_follow_the_story(clips):
    clip = clips["folder"]
    dec = ["continue"] * 20 + ["brake"] * 5 + ["continue"] + ["brake"] * 25
    deb = debounce(dec, 2)
    assert deb[25] == "brake"                                   # debouncing alone would hide frame 25
    hidden = hidden_by_debounce(clip.times, dec, deb, clip.signals, min_duration_s=0.2)
    assert [h["index"] for h in hidden] == [25] and "'continue' for 1 frame(s) with pedestrian_1" in hidden[0]["event"]
    facts = compute_facts(clip, deb)
    kfs = event_key_frames(clip, deb, facts, max_frames=8)
    why = {k["index"]: k["why"] for k in kfs}
    assert "crash" in why[42] and "first appearance of 'pedestrian_1'" in why[0]
    assert any("model request changes to 'brake'" in w for w in why.values())
    assert any("recorded ADS request changes to 'slow'" in w for w in why.values())


def test_numbers_for_people():
    assert human_number(18250.0) == "18,250" and human_number(22) == "22" and human_number(37.7) == "37.7"
    assert human_number(None) is None


def test_location_fields_are_validated():
    data = yaml.safe_load(EXAMPLE_INCIDENT)
    inc = validate_incident(data)
    assert inc.time_place.zip_code == "94000" and inc.time_place.latitude == 37.7
    data["time_place"]["latitude"] = 123.0
    with pytest.raises(InputError, match="time_place.latitude"):
        validate_incident(data)


def test_the_ads_detections_with_confidence_are_read_and_printed(clips, tmp_path):
    from mcap_ros2.writer import Writer

    from xai_reports.documents.incident.facts import detections_text
    from xai_reports.documents.incident.logs import MSGDEFS

    p = tmp_path / "dets.mcap"
    topics = _tiny_log(p, 0.0)
    # the topic map of the tiny log; the file is rewritten with a detections topic added
    with open(p, "wb") as fh:
        w = Writer(fh)
        cam = w.register_msgdef("sensor_msgs/msg/CompressedImage", MSGDEFS["sensor_msgs/msg/CompressedImage"])
        f64 = w.register_msgdef("std_msgs/msg/Float64", MSGDEFS["std_msgs/msg/Float64"])
        det = w.register_msgdef("vision_msgs/msg/Detection2DArray", MSGDEFS["vision_msgs/msg/Detection2DArray"])
        for k in range(2):
            ns = 10**9 + k * 10**8
            hdr = {"stamp": {"sec": 1, "nanosec": k * 10**8}, "frame_id": "c"}
            for name in ("speed", "gap", "ttc", "rel"):
                w.write_message(f"/s/{name}", f64, {"data": 1.0}, log_time=ns)
            w.write_message("/cam", cam, {"header": hdr, "format": "png", "data": _png()}, log_time=ns)
            d = {"header": hdr, "id": "ped_7", "bbox": {"center": {"position": {"x": 50.0, "y": 30.5}, "theta": 0.0},
                                                         "size_x": 4.0, "size_y": 9.0},
                 "results": [{"hypothesis": {"class_id": "pedestrian", "score": 0.5 + 0.4 * k},
                              "pose": {"pose": {"position": {"x": 28.8, "y": 2.0, "z": 0.0},
                                                "orientation": {"x": 0.0, "y": 0.0, "z": 0.0, "w": 1.0}},
                                       "covariance": [0.0] * 36}}]}
            w.write_message("/dets", det, {"header": hdr, "detections": [d]}, log_time=ns)
        w.finish()
    clip = read_mcap_clip(p, topics.model_copy(update={"detections": "/dets"}))
    dets = clip.meta["detections"]
    assert dets[1][0]["score"] == pytest.approx(0.9) and dets[1][0]["box"] == [48, 26, 52, 35]
    assert clip.truth[0][0]["id"] == "ped_7"              # no objects topic: the detections are the objects
    assert detections_text(dets[1]) == "ped_7: pedestrian (confidence 0.90) at 28.8 m, box [48, 26, 52, 35]"
    assert detections_text([]) == "no detections in this frame" and detections_text(None) is None
