"""ROS 1 bags and ROS 2 bag folders (rosbags): the same clip as the folder / MCAP, other shapes, bad input."""

import numpy as np
import pytest

pytest.importorskip("rosbags")

from examples.driving_synthetic.clips import write_clip  # noqa: E402
from xai_reports.documents.incident.bags import read_bag_clip, typestore, write_bag_clip  # noqa: E402
from xai_reports.documents.incident.clips import read_clip  # noqa: E402
from xai_reports.errors import InputError  # noqa: E402
from xai_reports.packs.sections.incident import LogTopics, SignalTopic  # noqa: E402

KEEP = ("id", "class", "box", "distance_m", "lateral_m")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("bags")
    return {"dir": d, "clip": read_clip(write_clip(d / "clip", "pedestrian_step_in"))}


def _same(a, b):
    assert np.array_equal(a.images, b.images) and np.array_equal(a.times, b.times)
    assert a.signals.equals(b.signals[list(a.signals.columns)])
    assert a.meta["events"] == [dict(e) for e in b.meta["events"]]
    assert a.meta["conditions"] == b.meta["conditions"] and a.meta["fps"] == b.meta["fps"]
    assert [[{k: o[k] for k in KEEP} for o in objs] for objs in a.truth] == \
           [[{k: o[k] for k in KEEP} for o in objs] for objs in b.truth]


def test_ros2_bag_holds_the_same_clip_as_the_folder_and_the_mcap(folder):
    pytest.importorskip("mcap_ros2")
    from xai_reports.documents.incident.logs import read_mcap_clip, write_mcap_clip

    topics = LogTopics()
    f = folder["clip"]
    bag = write_bag_clip(f, folder["dir"] / "ros2", topics)
    assert (bag / "metadata.yaml").is_file()
    b = read_bag_clip(bag, topics)
    _same(b, f)
    m = read_mcap_clip(write_mcap_clip(f, folder["dir"] / "c.mcap", topics), topics)
    _same(b, m)
    assert [s.to_dict() for s in b.scenes] == [s.to_dict() for s in f.scenes]
    assert b.meta["source"]["format"].startswith("ROS 2 bag") and b.meta["schema"] == "rosbag2"
    # bytes do not depend on the clock: a second write hashes the same
    assert read_bag_clip(write_bag_clip(f, folder["dir"] / "ros2b", topics), topics).sha256 == b.sha256


def test_ros1_bag_with_other_topics_size_and_encoding(folder):
    """A team's ROS 1 bag: remapped topics, raw bgr8 frames twice the demo's size, no scene topic."""
    from PIL import Image

    f = folder["clip"]
    big = np.stack([np.asarray(Image.fromarray(im).resize((im.shape[1] * 2, im.shape[0] * 2),
                                                          Image.Resampling.NEAREST)) for im in f.images])
    f2 = type(f)(directory=f.directory, meta=dict(f.meta), images=big, times=f.times, signals=f.signals,
                 truth=f.truth, scenes=[None] * len(f), sha256="")
    sig = {n: SignalTopic(topic=s.topic.replace("/ads/", "/planning/").replace("/vehicle/", "/can/"), field=s.field)
           for n, s in LogTopics().signals.items()}
    topics = LogTopics(camera="/sensors/cam0/image_raw", signals=sig, objects="/labels/boxes", detections=None,
                       scene=None, sync_tolerance_s=0.02)
    bag = write_bag_clip(f2, folder["dir"] / "team.bag", topics, ros=1, image="bgr8")
    b = read_bag_clip(bag, topics)
    assert b.images.shape == (len(f), 128, 192, 3) and np.array_equal(b.images, big)
    assert b.signals.equals(f.signals[list(b.signals.columns)]) and b.scenes == [None] * len(f)
    assert b.meta["source"]["format"].startswith("ROS 1 bag") and b.meta["source"]["camera_topic"] == topics.camera
    # the demo's topic map does not fit this bag: one line naming the bag and the topic
    with pytest.raises(InputError, match=r"team\.bag.*topic /camera/front/image/compressed: no camera frames"):
        read_bag_clip(bag, LogTopics())


def test_bag_written_by_rosbags_alone_is_synchronised_as_stated(tmp_path):
    """An independently written ROS 2 bag (rosbags' own writer, standard types, mono8 frames, jittered
    signal stamps): each frame takes the nearest preceding sample, checked by brute force."""
    from rosbags.rosbag2 import Writer

    ts = typestore(2)
    T = ts.types
    Time, Header = T["builtin_interfaces/msg/Time"], T["std_msgs/msg/Header"]
    rng = np.random.default_rng(3)
    frame_ns = [1_000_000_000 + k * 100_000_000 for k in range(12)]
    sig_ns = sorted({int(n - rng.integers(0, 40_000_000)) for n in frame_ns}
                    | {int(n + 45_000_000) for n in frame_ns})
    speed = {n: float(10 + 0.01 * (n // 1_000_000 % 997)) for n in sig_ns}
    path = tmp_path / "own"

    def hdr(n):
        return Header(stamp=Time(sec=n // 1_000_000_000, nanosec=n % 1_000_000_000), frame_id="cam")

    with Writer(path, version=8) as w:
        cam = w.add_connection("/cam", "sensor_msgs/msg/Image", typestore=ts)
        tw = w.add_connection("/odom/twist", "geometry_msgs/msg/TwistStamped", typestore=ts)
        lead = w.add_connection("/lead_gap", "std_msgs/msg/Float64", typestore=ts)
        V3 = T["geometry_msgs/msg/Vector3"]
        for n in sig_ns:
            msg = T["geometry_msgs/msg/TwistStamped"](header=hdr(n), twist=T["geometry_msgs/msg/Twist"](
                linear=V3(x=speed[n], y=0.0, z=0.0), angular=V3(x=0.0, y=0.0, z=0.0)))
            w.write(tw, n, ts.serialize_cdr(msg, "geometry_msgs/msg/TwistStamped"))
            w.write(lead, n, ts.serialize_cdr(T["std_msgs/msg/Float64"](data=42.0), "std_msgs/msg/Float64"))
        for k, n in enumerate(frame_ns):
            px = np.full((10, 14), 20 * k, np.uint8)
            img = T["sensor_msgs/msg/Image"](header=hdr(n), height=10, width=14, encoding="mono8", is_bigendian=0,
                                             step=14, data=px.ravel())
            w.write(cam, n, ts.serialize_cdr(img, "sensor_msgs/msg/Image"))
    gap = SignalTopic(topic="/lead_gap", field="data")
    topics = LogTopics(camera="/cam", signals={"speed_mps": SignalTopic(topic="/odom/twist", field="twist.linear.x"),
                                               "distance_to_lead_m": gap, "ttc_s": gap, "rel_velocity_mps": gap},
                       objects=None, detections=None, scene=None, events=[])
    clip = read_bag_clip(path, topics)
    want = [speed[max(s for s in sig_ns if s <= n)] for n in frame_ns]
    assert clip.signals["speed_mps"].tolist() == want
    assert np.allclose(clip.times, np.arange(12) * 0.1) and clip.images.shape == (12, 10, 14, 3)
    assert [int(im[0, 0, 1]) for im in clip.images] == [20 * k for k in range(12)]
    with pytest.raises(InputError, match=r"topic /odom/twist: no speed_mps sample within 0\.01 s before camera frame"):
        read_bag_clip(path, topics.model_copy(update={"sync_tolerance_s": 0.01}))


def test_bad_bags_are_one_line_naming_the_file(tmp_path):
    junk = tmp_path / "junk.bag"
    junk.write_bytes(b"#ROSBAG V2.0\nnot really a bag")
    with pytest.raises(InputError, match=r"junk\.bag: not a readable ROS bag") as e:
        read_bag_clip(junk, LogTopics())
    assert "\n" not in str(e.value)
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "metadata.yaml").write_text("rosbag2_bagfile_information: {version: 8}\n")
    with pytest.raises(InputError, match=r"broken: not a readable ROS bag"):
        read_bag_clip(folder, LogTopics())
    with pytest.raises(InputError, match="ROS bag not found"):
        read_bag_clip(tmp_path / "absent.bag", LogTopics())


def test_the_report_reads_a_bag_and_computes_the_same_facts_as_from_the_mcap(folder):
    """Through the report's own loader: the facts and the cross-check of the example incident file are equal."""
    pytest.importorskip("mcap_ros2")
    import yaml

    from xai_reports.documents.incident.analysis import debounce
    from xai_reports.documents.incident.facts import compute_facts, cross_check
    from xai_reports.documents.incident.incident_file import EXAMPLE_INCIDENT, validate_incident
    from xai_reports.documents.incident.logs import write_mcap_clip
    from xai_reports.documents.incident.report import load_clip
    from xai_reports.packs import load_pack

    ad = load_pack("autonomous_driving").section("incident")
    f = folder["clip"]
    bag = load_clip(write_bag_clip(f, folder["dir"] / "for_report", ad.log_topics), ad.log_topics)
    mcap = load_clip(write_mcap_clip(f, folder["dir"] / "for_report.mcap", ad.log_topics), ad.log_topics)
    assert bag.meta["schema"] == "rosbag2" and mcap.meta["schema"] == "mcap/ros2"
    inc = validate_incident(yaml.safe_load(EXAMPLE_INCIDENT))
    out = []
    for clip in (bag, mcap):
        decisions = debounce(list(clip.signals["recorded_request"]), 2)
        facts = compute_facts(clip, decisions, max_decel=ad.max_deceleration_mps2)
        out.append((facts, cross_check(inc, clip, facts, ad.cross_check)))
    assert out[0] == out[1]
    assert out[0][0]["event"]["kind"] == "crash" and len(out[0][1]) >= 9
