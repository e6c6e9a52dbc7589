"""Driving logs as teams record them: MCAP files with ROS 2 (CDR) or protobuf messages.

Protobuf channels (Foxglove schemas such as ``foxglove.CompressedImage`` / ``foxglove.RawImage`` /
``foxglove.Log``, or a team's own) are decoded from the schemas the file carries when
``mcap-protobuf-support`` is installed; their stamp is the message's ``timestamp`` field,
events are ``foxglove.Log.message``, and signals are field paths as for ROS messages.

A clip is read from an MCAP file through the pack's topic map (``incident.log_topics``,
data, not code), which says which topic is the camera, which topic and field holds each
vehicle signal, where the object list, the logged events and (for synthetic clips) the
scene descriptions are:

* camera: ``sensor_msgs/msg/Image`` (``rgb8``, ``bgr8``, ``mono8``) or
  ``sensor_msgs/msg/CompressedImage`` (PNG, JPEG); one frame per message, stamped
  by ``header.stamp``.
* signals: any message type; the topic map names the topic and a dotted field path
  (``twist.linear.x``). Each camera frame takes each signal's nearest preceding sample
  (stamp <= frame stamp); a sample older than ``sync_tolerance_s`` is an error.
* objects / detections: ``vision_msgs/msg/Detection2DArray`` (``id``, ``bbox``,
  ``results[0].hypothesis.class_id`` and ``score``; ``results[0].pose.pose.position.x``
  is the distance ahead in metres and ``.y`` the lateral offset).
* events: ``std_msgs/msg/String``, one event per message, with the source the topic map
  gives that topic.
* clip metadata: an MCAP metadata record named ``xai-reports/clip`` (clip id, synthetic
  flag, description, ``conditions`` and ``camera`` as JSON text).

Stamps are message ``header.stamp`` where the message has a header, else the MCAP log
time. :func:`write_mcap_clip` writes a :class:`~xai_reports.documents.incident.clips.Clip`
in this layout (the driving example's demo uses it); needs ``pip install
'xai-reports[mcap]'`` (``mcap``, ``mcap-ros2-support``).
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np

from ...errors import InputError
from .models import PLANNER_FEATURES
from .scenes import Scene

META_NAME = "xai-reports/clip"
T0_NS = 1_790_000_000_000_000_000   # the synthetic clips' time origin (2026-09-21 UTC), stamps are t_s after it

_TIME = "MSG: builtin_interfaces/Time\nint32 sec\nuint32 nanosec\n"
_HEADER = "MSG: std_msgs/Header\nbuiltin_interfaces/Time stamp\nstring frame_id\n"
_SEP = "=" * 80 + "\n"
_VEC3 = "MSG: geometry_msgs/Vector3\nfloat64 x\nfloat64 y\nfloat64 z\n"


def _def(body: str, *deps: str) -> str:
    return body + "".join(_SEP + d for d in deps)


MSGDEFS = {
    "sensor_msgs/msg/CompressedImage": _def("std_msgs/Header header\nstring format\nuint8[] data\n", _HEADER, _TIME),
    "sensor_msgs/msg/Image": _def("std_msgs/Header header\nuint32 height\nuint32 width\nstring encoding\n"
                                  "uint8 is_bigendian\nuint32 step\nuint8[] data\n", _HEADER, _TIME),
    "geometry_msgs/msg/TwistStamped": _def("std_msgs/Header header\ngeometry_msgs/Twist twist\n", _HEADER, _TIME,
                                           "MSG: geometry_msgs/Twist\ngeometry_msgs/Vector3 linear\n"
                                           "geometry_msgs/Vector3 angular\n", _VEC3),
    "geometry_msgs/msg/AccelStamped": _def("std_msgs/Header header\ngeometry_msgs/Accel accel\n", _HEADER, _TIME,
                                           "MSG: geometry_msgs/Accel\ngeometry_msgs/Vector3 linear\n"
                                           "geometry_msgs/Vector3 angular\n", _VEC3),
    "std_msgs/msg/String": "string data\n",
    "std_msgs/msg/Float64": "float64 data\n",
    # a team's own message (the topic map names its fields): the lead road user the planner follows
    "xai_reports_msgs/msg/LeadObject": _def("std_msgs/Header header\nstring id\nstring class_name\nfloat64 distance_m\n"
                                            "float64 ttc_s\nfloat64 rel_velocity_mps\n", _HEADER, _TIME),
    "vision_msgs/msg/Detection2DArray": _def(
        "std_msgs/Header header\nvision_msgs/Detection2D[] detections\n", _HEADER, _TIME,
        "MSG: vision_msgs/Detection2D\nstd_msgs/Header header\nvision_msgs/ObjectHypothesisWithPose[] results\n"
        "vision_msgs/BoundingBox2D bbox\nstring id\n",
        "MSG: vision_msgs/ObjectHypothesisWithPose\nvision_msgs/ObjectHypothesis hypothesis\n"
        "geometry_msgs/PoseWithCovariance pose\n",
        "MSG: vision_msgs/ObjectHypothesis\nstring class_id\nfloat64 score\n",
        "MSG: geometry_msgs/PoseWithCovariance\ngeometry_msgs/Pose pose\nfloat64[36] covariance\n",
        "MSG: geometry_msgs/Pose\ngeometry_msgs/Point position\ngeometry_msgs/Quaternion orientation\n",
        "MSG: geometry_msgs/Point\nfloat64 x\nfloat64 y\nfloat64 z\n",
        "MSG: geometry_msgs/Quaternion\nfloat64 x\nfloat64 y\nfloat64 z\nfloat64 w\n",
        "MSG: vision_msgs/BoundingBox2D\nvision_msgs/Pose2D center\nfloat64 size_x\nfloat64 size_y\n",
        "MSG: vision_msgs/Pose2D\nvision_msgs/Point2D position\nfloat64 theta\n",
        "MSG: vision_msgs/Point2D\nfloat64 x\nfloat64 y\n"),
}
"""ROS 2 message definitions the writer embeds (the reader uses whatever schemas the file holds)."""

def _need_mcap(path):
    try:
        import mcap  # noqa: F401
        import mcap_ros2  # noqa: F401
    except ImportError:
        raise InputError("reading MCAP logs needs the 'mcap' extra: pip install 'xai-reports[mcap]'",
                         file=path) from None


def _field(msg, path: str):
    cur = msg
    for part in path.split("."):
        if "[" in part:
            name, idx = part[:-1].split("[")
            cur = getattr(cur, name)[int(idx)]
        else:
            cur = getattr(cur, part)
    return cur


def _stamp_ns(msg, log_time: int) -> int:
    h = getattr(msg, "header", None)
    st = getattr(h, "stamp", None)
    if st is not None and hasattr(st, "sec"):
        return int(st.sec) * 1_000_000_000 + int(st.nanosec)
    ts = getattr(msg, "timestamp", None)            # Foxglove protobuf schemas: google.protobuf.Timestamp
    if ts is not None and hasattr(ts, "seconds") and (ts.seconds or ts.nanos):
        return int(ts.seconds) * 1_000_000_000 + int(ts.nanos)
    return int(log_time)


def _text(msg) -> str:
    """The text of an event message: ``std_msgs/String.data`` or ``foxglove.Log.message``."""
    return str(msg.data if hasattr(msg, "data") else getattr(msg, "message", ""))


def _stamp(ns: int) -> dict:
    return {"sec": ns // 1_000_000_000, "nanosec": ns % 1_000_000_000}


def _decode_image(msg, schema: str, where: str, path):
    from PIL import Image

    if schema.endswith("CompressedImage"):
        try:
            with Image.open(io.BytesIO(bytes(msg.data))) as im:
                return np.asarray(im.convert("RGB"), dtype=np.uint8)
        except Exception as exc:  # noqa: BLE001 - PIL raises several kinds
            raise InputError(f"{where}: not a readable {msg.format or 'compressed'} image ({exc})", file=path) from None
    if schema.endswith("/Image") or schema.endswith("RawImage"):
        enc = str(msg.encoding).lower()
        ch = {"rgb8": 3, "bgr8": 3, "mono8": 1}.get(enc)
        if ch is None:
            raise InputError(f"{where}: image encoding {msg.encoding!r} is not supported (rgb8, bgr8, mono8)", file=path)
        if not getattr(msg, "step", 0):
            msg_step = int(msg.width) * ch       # Foxglove RawImage may leave step 0 for packed rows
        else:
            msg_step = int(msg.step)
        h, w, step = int(msg.height), int(msg.width), msg_step
        buf = np.frombuffer(bytes(msg.data), dtype=np.uint8)
        if step < w * ch or len(buf) < step * h:
            raise InputError(f"{where}: {len(buf)} bytes do not hold a {w}x{h} {enc} image with step {step}", file=path)
        arr = buf[:step * h].reshape(h, step)[:, :w * ch].reshape(h, w, ch)
        arr = np.repeat(arr, 3, axis=2) if ch == 1 else arr[:, :, ::-1] if enc == "bgr8" else arr
        return np.ascontiguousarray(arr)
    raise InputError(f"{where}: message type {schema} is not a camera image (sensor_msgs/msg/Image or "
                     "CompressedImage, foxglove.RawImage or foxglove.CompressedImage)", file=path)


def _detections(msg, where, path) -> list[dict]:
    out = []
    for j, d in enumerate(msg.detections):
        try:
            cx, cy = float(d.bbox.center.position.x), float(d.bbox.center.position.y)
            sx, sy = float(d.bbox.size_x), float(d.bbox.size_y)
            hyp = d.results[0] if len(d.results) else None
            o = {"id": str(d.id) or f"det_{j}", "class": str(hyp.hypothesis.class_id) if hyp else "object",
                 "box": [int(round(cx - sx / 2)), int(round(cy - sy / 2)), int(round(cx + sx / 2)),
                         int(round(cy + sy / 2))],
                 "distance_m": float(hyp.pose.pose.position.x) if hyp else None,
                 "lateral_m": float(hyp.pose.pose.position.y) if hyp else None,
                 "score": float(hyp.hypothesis.score) if hyp else None}
        except (AttributeError, TypeError, ValueError) as exc:
            raise InputError(f"{where}, detection {j}: not a vision_msgs/Detection2D ({exc})", file=path) from None
        out.append(o)
    return out


class LogCollector:
    """Gathers a clip from a stream of decoded ROS messages, through the topic map.

    Shared by the MCAP reader and the ROS 1 / ROS 2 bag reader (:mod:`.bags`): each
    message goes through :meth:`add`, then :meth:`clip` synchronises the streams on the
    camera frames and returns the :class:`~xai_reports.documents.incident.clips.Clip`.
    """

    def __init__(self, topics, path):
        self.topics, self.path = topics, Path(path)
        self.sig_topics = {name: (s.topic, s.field) for name, s in topics.signals.items()}
        self.ev_sources = {e.topic: e.source for e in topics.events}
        self.wanted = sorted(({topics.camera, topics.objects, topics.detections, topics.scene}
                              | {t for t, _ in self.sig_topics.values()} | set(self.ev_sources)) - {None})
        self.counts: dict[str, int] = {}
        self.frames, self.signals, self.objects, self.dets, self.scenes, self.events = [], {}, [], [], [], []
        self.topic, self.idx = "(file)", -1
        self.encodings: set[str] = set()

    def add(self, schema_name: str, topic: str, log_time: int, msg) -> None:
        """One decoded message (``schema_name`` as ``pkg/msg/Type``; ``log_time`` in ns)."""
        topics, p = self.topics, self.path
        self.topic, idx = topic, self.counts.get(topic, 0)
        self.idx = idx
        self.counts[topic] = idx + 1
        where = f"topic {topic}, message {idx}"
        ns = _stamp_ns(msg, log_time)
        if topic == topics.camera:
            self.frames.append((ns, _decode_image(msg, schema_name, where, p), idx))
        if topic == topics.objects:
            self.objects.append((ns, _detections(msg, where, p)))
        if topic == topics.detections:
            self.dets.append((ns, _detections(msg, where, p)))
        if topic == topics.scene:
            try:
                self.scenes.append((ns, Scene.from_dict(json.loads(_text(msg)))))
            except Exception as exc:  # noqa: BLE001 - bad JSON or scene keys
                raise InputError(f"{where}: not a scene description ({exc})", file=p) from None
        if topic in self.ev_sources:
            self.events.append({"ns": ns, "event": _text(msg), "source": self.ev_sources[topic]})
        for name, (t, fld) in self.sig_topics.items():
            if t == topic:
                try:
                    v = _field(msg, fld)
                except (AttributeError, IndexError, ValueError):
                    raise InputError(f"{where}: field {fld!r} for signal {name} is not in {schema_name}",
                                     file=p) from None
                self.signals.setdefault(name, []).append((ns, v, idx))

    def where(self) -> str:
        """``"topic T, message i: "`` for the message being read when a reader failed (or ``""``)."""
        return f"topic {self.topic}, message {self.idx}: " if self.idx >= 0 else ""

    def clip(self, meta: dict, sha256: str, fmt: str):
        """The synchronised clip (``meta``: the ``xai-reports/clip`` metadata, JSON text values)."""
        import pandas as pd

        from .clips import SIGNAL_COLUMNS, Clip

        topics, p, frames, signals, sig_topics = self.topics, self.path, self.frames, self.signals, self.sig_topics
        if not frames:
            raise InputError(f"topic {topics.camera}: no camera frames (set incident.log_topics.camera in the pack)",
                             file=p)
        frames.sort(key=lambda f: f[0])
        shape = frames[0][1].shape
        for ns, img, i in frames:
            if img.shape != shape:
                raise InputError(f"topic {topics.camera}, message {i}: frame is {img.shape[1]}x{img.shape[0]}, the "
                                 f"first is {shape[1]}x{shape[0]}", file=p)
        f_ns = np.array([f[0] for f in frames], dtype=np.int64)
        t0 = int(f_ns[0])
        times = np.round((f_ns - t0) / 1e9, 6)
        tol = int(round(topics.sync_tolerance_s * 1e9))
        cols = {"t_s": times, "frame": np.arange(len(frames))}
        for name in SIGNAL_COLUMNS[2:]:
            samples = signals.get(name)
            if not samples:
                if name in PLANNER_FEATURES:
                    t = sig_topics.get(name, ("(not in the topic map)",))[0]
                    raise InputError(f"topic {t}: no samples for signal {name}", file=p)
                continue
            s_ns = np.array([s[0] for s in samples], dtype=np.int64)
            order = np.argsort(s_ns, kind="stable")
            s_ns = s_ns[order]
            pos = np.searchsorted(s_ns, f_ns, side="right") - 1
            vals = []
            for k, j in enumerate(pos):
                if j < 0 or f_ns[k] - s_ns[j] > tol:
                    raise InputError(f"topic {sig_topics[name][0]}: no {name} sample within "
                                     f"{topics.sync_tolerance_s:g} s before camera frame {k} (t = {times[k]:.3f} s)",
                                     file=p)
                ns_, v, i = samples[order[j]]
                if name in PLANNER_FEATURES + ("accel_mps2", "steering_rad"):
                    try:
                        v = float(v)
                    except (TypeError, ValueError):
                        v = float("nan")
                    if not np.isfinite(v):
                        raise InputError(f"topic {sig_topics[name][0]}, message {i}: {name} is not a finite number "
                                         f"({samples[order[j]][1]!r})", file=p)
                else:
                    v = str(v)
                vals.append(v)
            cols[name] = vals
        sig = pd.DataFrame(cols)

        def per_frame(stream, default):
            if not stream:
                return [default() for _ in frames]
            stream = sorted(stream, key=lambda s: s[0])
            s_ns = np.array([s[0] for s in stream], dtype=np.int64)
            out = []
            for fn in f_ns:
                j = int(np.searchsorted(s_ns, fn, side="right")) - 1
                out.append(stream[j][1] if j >= 0 and fn - s_ns[j] <= tol else default())
            return out

        truth = per_frame(self.objects or self.dets, list)
        detections = per_frame(self.dets, list) if self.dets else None
        scene_list = per_frame(self.scenes, lambda: None)
        if "fps" in meta:
            fps = json.loads(meta["fps"])
        else:
            fps = round(1.0 / float(np.median(np.diff(times)))) if len(times) > 1 else 1
        clip_meta = {
            "schema": "mcap/ros2", "clip_id": meta.get("clip_id", p.stem), "synthetic": meta.get("synthetic") == "true",
            "description": meta.get("description", ""), "fps": fps, "width": int(shape[1]), "height": int(shape[0]),
            "conditions": json.loads(meta["conditions"]) if "conditions" in meta else {},
            "events": [{"t_s": round((e["ns"] - t0) / 1e9, 6), "event": e["event"], "source": e["source"]}
                       for e in sorted(self.events, key=lambda e: e["ns"])],
            "source": {"format": fmt, "file": p.name, "camera_topic": topics.camera,
                       "sync": f"nearest preceding sample within {topics.sync_tolerance_s:g} s of each camera frame",
                       "topics": {name: f"{t}:{f}" for name, (t, f) in sig_topics.items() if name in signals}},
        }
        for key in ("camera", "controller", "notice", "scenario"):
            if key in meta:
                clip_meta[key] = json.loads(meta[key])
        clip = Clip(directory=p, meta=clip_meta, images=np.stack([f[1] for f in frames]), times=times, signals=sig,
                    truth=truth, scenes=scene_list, sha256=sha256)
        if detections is not None:      # the ADS's own detections per frame (printed with the key frames)
            clip.meta["detections"] = dict(enumerate(detections))
        return clip


def clip_metadata(clip) -> dict:
    """The ``xai-reports/clip`` metadata of a clip (JSON text values), as the writers store it."""
    meta = {"clip_id": str(clip.meta.get("clip_id", "")), "synthetic": "true" if clip.synthetic else "false",
            "description": str(clip.meta.get("description", "")), "fps": json.dumps(clip.meta["fps"]),
            "conditions": json.dumps(clip.meta.get("conditions", {}), sort_keys=True)}
    for key in ("camera", "controller", "notice", "scenario"):
        if key in clip.meta:
            meta[key] = json.dumps(clip.meta[key], sort_keys=True)
    return meta


def read_mcap_clip(path, topics):
    """Read a clip from an MCAP file with ROS 2 messages, through a topic map.

    Args:
        path: the ``.mcap`` file.
        topics: the pack's :class:`~xai_reports.packs.sections.incident.LogTopics`.

    Returns:
        A :class:`~xai_reports.documents.incident.clips.Clip` whose ``directory`` is the file,
        whose ``sha256`` is the file's hash and whose ``meta["source"]`` describes the log.

    Raises:
        InputError: one line naming the file, the topic and the message index (a missing
            camera or signal topic, an undecodable message, a signal with no sample within
            the sync tolerance of a frame, frames of different sizes).
    """
    p = Path(path)
    if not p.is_file():
        raise InputError("MCAP log not found", file=p)
    _need_mcap(p)
    from mcap.exceptions import McapError
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory

    raw = p.read_bytes()
    col = LogCollector(topics, p)
    meta = {}
    factories = [DecoderFactory()]
    try:
        from mcap_protobuf.decoder import DecoderFactory as ProtobufDecoderFactory
    except ImportError:       # protobuf channels then fail with a line naming the encoding
        pass
    else:
        factories.append(ProtobufDecoderFactory())
    try:
        reader = make_reader(io.BytesIO(raw), decoder_factories=factories)
        for m in reader.iter_metadata():
            if m.name == META_NAME:
                meta = dict(m.metadata)
        for schema, channel, message, msg in reader.iter_decoded_messages(topics=col.wanted, log_time_order=True):
            col.encodings.add(schema.encoding)
            col.add(schema.name, channel.topic, message.log_time, msg)
    except InputError:
        raise
    except (McapError, Exception) as exc:  # noqa: BLE001 - the mcap readers raise many kinds on corrupt input
        raise InputError(f"{col.where()}not a readable MCAP/ROS 2 log ({type(exc).__name__}: {exc})", file=p) from None
    encodings = sorted(col.encodings) or ["ros2msg"]
    fmt = "MCAP (" + ", ".join({"ros2msg": "ROS 2 CDR", "protobuf": "protobuf"}.get(e, e) for e in encodings) + ")"
    return col.clip(meta, hashlib.sha256(raw).hexdigest(), fmt)


def clip_messages(clip, topics, *, image: str = "compressed", frame_id: str = "camera_front"):
    """The clip as ROS messages in the topic map's layout: ``(topic, type, message dict, ns, seq)``.

    Messages are plain dicts (ROS 2 field names); stamps are ``T0_NS`` plus each frame's
    ``t_s``. Used by the MCAP writer and the bag writer (:mod:`.bags`).
    """
    from PIL import Image

    sig = clip.signals
    by_topic: dict[str, dict] = {}
    for name, s in topics.signals.items():
        if name in sig.columns:
            by_topic.setdefault(s.topic, {})[s.field] = sig[name].tolist()
    for k, t in enumerate(clip.times):
        ns = T0_NS + int(round(float(t) * 1e9))
        hdr = {"stamp": _stamp(ns), "frame_id": frame_id}
        img = clip.images[k]
        if image in ("raw", "rgb8", "bgr8"):
            data = (img[:, :, ::-1] if image == "bgr8" else img).tobytes()
            yield (topics.camera, "sensor_msgs/msg/Image",
                   {"header": hdr, "height": img.shape[0], "width": img.shape[1], "encoding": image.replace("raw", "rgb8"),
                    "is_bigendian": 0, "step": img.shape[1] * 3, "data": data}, ns, k)
        else:
            b = io.BytesIO()
            Image.fromarray(img).save(b, format="PNG", optimize=False)
            yield (topics.camera, "sensor_msgs/msg/CompressedImage",
                   {"header": hdr, "format": "png", "data": b.getvalue()}, ns, k)
        for topic, fields in sorted(by_topic.items()):
            vals = {f: v[k] for f, v in fields.items()}
            first = next(iter(fields)).split(".")[0]
            if first == "twist":
                msg = {"header": hdr, "twist": {"linear": {"x": float(vals["twist.linear.x"]), "y": 0.0, "z": 0.0},
                                                "angular": {"x": 0.0, "y": 0.0, "z": 0.0}}}
                sch = "geometry_msgs/msg/TwistStamped"
            elif first == "accel":
                msg = {"header": hdr, "accel": {"linear": {"x": float(vals["accel.linear.x"]), "y": 0.0, "z": 0.0},
                                                "angular": {"x": 0.0, "y": 0.0, "z": 0.0}}}
                sch = "geometry_msgs/msg/AccelStamped"
            elif first == "data":
                v = vals["data"]
                sch = "std_msgs/msg/String" if isinstance(v, str) else "std_msgs/msg/Float64"
                msg = {"data": v if isinstance(v, str) else float(v)}
            else:
                msg = {"header": hdr, "id": str(vals.get("id", "")), "class_name": str(vals.get("class_name", "")),
                       "distance_m": float(vals["distance_m"]), "ttc_s": float(vals["ttc_s"]),
                       "rel_velocity_mps": float(vals["rel_velocity_mps"])}
                sch = "xai_reports_msgs/msg/LeadObject"
            yield (topic, sch, msg, ns, k)
        if topics.objects:
            dets = [{"header": hdr, "id": o["id"], "bbox": {
                "center": {"position": {"x": (o["box"][0] + o["box"][2]) / 2, "y": (o["box"][1] + o["box"][3]) / 2},
                           "theta": 0.0},
                "size_x": float(o["box"][2] - o["box"][0]), "size_y": float(o["box"][3] - o["box"][1])},
                "results": [{"hypothesis": {"class_id": o["class"], "score": float(o.get("score", 1.0))},
                             "pose": {"pose": {"position": {"x": float(o.get("distance_m") or 0.0),
                                                            "y": float(o.get("lateral_m") or 0.0), "z": 0.0},
                                               "orientation": {"x": 0.0, "y": 0.0, "z": 0.0, "w": 1.0}},
                                      "covariance": [0.0] * 36}}]} for o in clip.truth[k]]
            yield (topics.objects, "vision_msgs/msg/Detection2DArray",
                   {"header": hdr, "detections": dets}, ns, k)
        if topics.scene and clip.scenes[k] is not None:
            yield (topics.scene, "std_msgs/msg/String",
                   {"data": json.dumps(clip.scenes[k].to_dict(), sort_keys=True)}, ns, k)
    src_topic = {e.source: e.topic for e in topics.events}
    for e in clip.meta.get("events", []):
        topic = src_topic.get(e.get("source", "log")) or (topics.events[0].topic if topics.events else None)
        if topic:
            ns = T0_NS + int(round(float(e["t_s"]) * 1e9))
            yield (topic, "std_msgs/msg/String", {"data": str(e["event"])}, ns, 0)


def write_mcap_clip(clip, path, topics, *, image: str = "compressed") -> Path:
    """Write a clip as an MCAP file with ROS 2 messages, in the layout the topic map describes.

    Args:
        clip: a :class:`~xai_reports.documents.incident.clips.Clip` (e.g. read from a clip folder).
        path: the ``.mcap`` file to write.
        topics: the topic map (:class:`~xai_reports.packs.sections.incident.LogTopics`); the
            writer supports the field paths of the default map.
        image: ``"compressed"`` (PNG in ``CompressedImage``), ``"raw"`` (``rgb8`` ``Image``) or ``"bgr8"``.

    Stamps are ``T0_NS`` plus each frame's ``t_s``, so the bytes do not depend on the clock.
    """
    from mcap.writer import CompressionType
    from mcap_ros2.writer import Writer

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    w = Writer(buf, compression=CompressionType.NONE)
    schemas = {}
    w.add_metadata(META_NAME, clip_metadata(clip))
    for topic, name, msg, ns, seq in clip_messages(clip, topics, image=image):
        if name not in schemas:
            schemas[name] = w.register_msgdef(name, MSGDEFS[name])
        w.write_message(topic, schemas[name], msg, log_time=ns, sequence=seq)
    w.finish()
    from ...io.outputs import atomic_write

    atomic_write(out, buf.getvalue())
    return out


__all__ = ["read_mcap_clip", "write_mcap_clip", "LogCollector", "clip_metadata", "clip_messages", "MSGDEFS", "META_NAME", "T0_NS"]
