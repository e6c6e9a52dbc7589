"""MCAP logs with Foxglove protobuf schemas, read through a topic map like any other log."""

import io
import json

import numpy as np
import pytest

pytest.importorskip("mcap_protobuf")
pytest.importorskip("foxglove_schemas_protobuf")

from examples.driving_synthetic.clips import write_clip  # noqa: E402
from xai_reports.documents.incident.clips import read_clip  # noqa: E402
from xai_reports.documents.incident.logs import META_NAME, T0_NS, clip_metadata, read_mcap_clip  # noqa: E402
from xai_reports.packs.sections.incident import EventTopic, LogTopics, SignalTopic  # noqa: E402


def _write(clip, path, *, raw: bool):
    from foxglove_schemas_protobuf.CompressedImage_pb2 import CompressedImage
    from foxglove_schemas_protobuf.Log_pb2 import Log
    from foxglove_schemas_protobuf.PoseInFrame_pb2 import PoseInFrame
    from foxglove_schemas_protobuf.RawImage_pb2 import RawImage
    from mcap.writer import CompressionType
    from mcap_protobuf.writer import Writer
    from PIL import Image

    buf = io.BytesIO()
    w = Writer(buf, compression=CompressionType.NONE)
    w._writer.add_metadata(META_NAME, clip_metadata(clip))
    sig = clip.signals
    for k, t in enumerate(clip.times):
        ns = T0_NS + int(round(float(t) * 1e9)) - 3_000_000       # the camera a little after the signals
        img = clip.images[k]
        cam_ns = ns + 3_000_000
        if raw:
            m = RawImage(frame_id="cam", width=img.shape[1], height=img.shape[0], encoding="bgr8",
                         step=img.shape[1] * 3, data=img[:, :, ::-1].tobytes())
        else:
            b = io.BytesIO()
            Image.fromarray(img).save(b, format="PNG")
            m = CompressedImage(frame_id="cam", format="png", data=b.getvalue())
        m.timestamp.FromNanoseconds(cam_ns)
        w.write_message("/cam/front", m, log_time=cam_ns)
        ego = PoseInFrame(frame_id="base_link")
        ego.timestamp.FromNanoseconds(ns)
        ego.pose.position.x = float(sig["speed_mps"][k])
        w.write_message("/ego/state", ego, log_time=ns)
        lead = PoseInFrame(frame_id="lead")
        lead.timestamp.FromNanoseconds(ns)
        lead.pose.position.x = float(sig["distance_to_lead_m"][k])
        lead.pose.position.y = float(sig["ttc_s"][k])
        lead.pose.position.z = float(sig["rel_velocity_mps"][k])
        w.write_message("/ego/lead", lead, log_time=ns)
        req = Log(message=str(sig["recorded_request"][k]), name="planner")
        req.timestamp.FromNanoseconds(ns)
        w.write_message("/ego/request", req, log_time=ns)
    for e in clip.meta["events"]:
        ev = Log(message=e["event"], name="ads")
        n = T0_NS + int(round(float(e["t_s"]) * 1e9))
        ev.timestamp.FromNanoseconds(n)
        w.write_message("/ego/events", ev, log_time=n)
    w.finish()
    path.write_bytes(buf.getvalue())
    return path


TOPICS = LogTopics(camera="/cam/front", objects=None, detections=None, scene=None,
                   events=[EventTopic(topic="/ego/events", source="log")],
                   signals={"speed_mps": SignalTopic(topic="/ego/state", field="pose.position.x"),
                            "distance_to_lead_m": SignalTopic(topic="/ego/lead", field="pose.position.x"),
                            "ttc_s": SignalTopic(topic="/ego/lead", field="pose.position.y"),
                            "rel_velocity_mps": SignalTopic(topic="/ego/lead", field="pose.position.z"),
                            "recorded_request": SignalTopic(topic="/ego/request", field="message")})


@pytest.mark.parametrize("raw", [False, True])
def test_foxglove_protobuf_mcap_reads_like_the_folder(tmp_path, raw):
    f = read_clip(write_clip(tmp_path / "clip", "pedestrian_step_in"))
    p = _write(f, tmp_path / "fox.mcap", raw=raw)
    m = read_mcap_clip(p, TOPICS)
    assert m.meta["source"]["format"] == "MCAP (protobuf)"
    assert np.array_equal(m.images, f.images) and np.allclose(m.times, f.times)
    cols = ["speed_mps", "distance_to_lead_m", "ttc_s", "rel_velocity_mps", "recorded_request"]
    assert m.signals[cols].equals(f.signals[cols])
    assert [e["event"] for e in m.meta["events"]] == [e["event"] for e in f.meta["events"]]
    assert m.meta["conditions"] == json.loads(clip_metadata(f)["conditions"])
