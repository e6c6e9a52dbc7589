"""Driving logs as ROS 1 bags (``.bag``) and ROS 2 bags (a folder with ``metadata.yaml``).

Read through ``rosbags`` (pure Python, no ROS install) and the same pack topic map as
MCAP logs (:mod:`.logs`): camera ``Image`` / ``CompressedImage``, vehicle-state signals
by topic and field path, ``vision_msgs/Detection2DArray`` objects and detections, and
``std_msgs/String`` events. Message types not in the ROS distribution's standard set
(``vision_msgs``, the example's ``xai_reports_msgs/msg/LeadObject``) are read from the
definitions the bag carries (ROS 1 always, ROS 2 bags from rosbag2 version 8 on) or else
from :data:`~.logs.MSGDEFS`. Clip metadata, when present, is one ``std_msgs/String``
message of JSON on :data:`META_TOPIC`.

:func:`write_bag_clip` writes a clip as either kind of bag (the driving demo writes a
ROS 2 bag). Needs ``pip install 'xai-reports[rosbag]'`` (``rosbags``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from ...errors import InputError
from .logs import MSGDEFS, LogCollector, clip_messages, clip_metadata

META_TOPIC = "/xai_reports/clip"
_NUMPY = {"bool": np.bool_, "int8": np.int8, "uint8": np.uint8, "byte": np.uint8, "char": np.uint8,
          "int16": np.int16, "uint16": np.uint16, "int32": np.int32, "uint32": np.uint32, "int64": np.int64,
          "uint64": np.uint64, "float32": np.float32, "float64": np.float64}


def _need_rosbags(path):
    try:
        import rosbags  # noqa: F401
    except ImportError:
        raise InputError("reading ROS bags needs the 'rosbag' extra: pip install 'xai-reports[rosbag]'",
                         file=path) from None


def is_bag(path) -> bool:
    """A ROS 1 bag file (``.bag``) or a ROS 2 bag folder (``metadata.yaml`` inside)."""
    p = Path(path)
    return (p.is_file() and p.suffix.lower() == ".bag") or (p.is_dir() and (p / "metadata.yaml").is_file())


def typestore(ros: int = 2):
    """A ``rosbags`` typestore (ROS 1 Noetic or ROS 2 Humble) with :data:`~.logs.MSGDEFS` added."""
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    ts = get_typestore(Stores.ROS1_NOETIC if ros == 1 else Stores.ROS2_HUMBLE)
    add = {}
    for name, text in MSGDEFS.items():
        if name not in ts.types:
            add.update({k: v for k, v in get_types_from_msg(text, name).items() if k not in ts.types})
    ts.register(add)
    return ts


def _value(ts, node: int, spec, v):
    """A plain value as the ``rosbags`` field type wants it (node: 1 base, 2 message, 3 array, 4 sequence)."""
    if node == 1:
        kind = spec[0]
        if kind == "string":
            return "" if v is None else str(v)
        if kind == "bool":
            return bool(v) if v is not None else False
        return (float if kind.startswith("float") else int)(0 if v is None else v)
    if node == 2:
        return to_message(ts, spec, v or {})
    (sub_node, sub_spec), length = spec
    if sub_node == 1 and sub_spec[0] in _NUMPY:
        dt = _NUMPY[sub_spec[0]]
        if isinstance(v, (bytes, bytearray, memoryview)):
            return np.frombuffer(bytes(v), dtype=dt).copy()
        arr = np.asarray([] if v is None else v, dtype=dt)
        return np.zeros(length, dtype=dt) if node == 3 and arr.size == 0 else arr
    return [_value(ts, sub_node, sub_spec, x) for x in (v or [])]


def to_message(ts, typename: str, value: dict):
    """A ``rosbags`` message object from a plain dict (missing fields take their zero value)."""
    _, fields = ts.fielddefs[typename]
    return ts.types[typename](**{name: _value(ts, int(node), spec, value.get(name))
                                 for name, (node, spec) in fields})


def _bag_hash(p: Path) -> str:
    h = hashlib.sha256()
    files = [p] if p.is_file() else sorted(f for f in p.rglob("*") if f.is_file())
    for f in files:
        if p.is_dir():
            h.update(f.relative_to(p).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()


def read_bag_clip(path, topics):
    """Read a clip from a ROS 1 bag or a ROS 2 bag folder, through a topic map.

    Args:
        path: a ``.bag`` file (ROS 1) or a ROS 2 bag folder (``metadata.yaml`` and its storage files,
            SQLite 3 or MCAP).
        topics: the pack's :class:`~xai_reports.packs.sections.incident.LogTopics`.

    Returns:
        A :class:`~xai_reports.documents.incident.clips.Clip` (``sha256`` over the bag's files).

    Raises:
        InputError: one line naming the bag, the topic and the message index.
    """
    p = Path(path)
    if not p.exists():
        raise InputError("ROS bag not found", file=p)
    _need_rosbags(p)
    from rosbags.highlevel import AnyReader

    ros = 1 if p.is_file() else 2
    fmt = "ROS 1 bag" if ros == 1 else "ROS 2 bag"
    col = LogCollector(topics, p)
    meta = {}
    try:
        with AnyReader([p], default_typestore=typestore(ros)) as reader:
            fmt = f"{fmt} ({'ROS 1' if ros == 1 else 'ROS 2 CDR'} messages, via rosbags)"
            conns = [c for c in reader.connections if c.topic in set(col.wanted) | {META_TOPIC}]
            for conn, t_ns, raw in reader.messages(connections=conns):
                msg = reader.deserialize(raw, conn.msgtype)
                if conn.topic == META_TOPIC:
                    meta = {k: (v if isinstance(v, str) else json.dumps(v)) for k, v in json.loads(msg.data).items()}
                    continue
                col.add(conn.msgtype, conn.topic, int(t_ns), msg)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - rosbags raises many kinds on corrupt input
        raise InputError(f"{col.where()}not a readable ROS bag ({type(exc).__name__}: {exc})", file=p) from None
    clip = col.clip(meta, _bag_hash(p), fmt)
    clip.meta["schema"] = "rosbag1" if ros == 1 else "rosbag2"
    return clip


def write_bag_clip(clip, path, topics, *, ros: int = 2, image: str = "compressed") -> Path:
    """Write a clip as a ROS 2 bag folder (``ros=2``, SQLite 3 storage) or a ROS 1 ``.bag`` file.

    Messages, stamps and metadata are those of :func:`~.logs.write_mcap_clip` (clock-free);
    the metadata goes as JSON on :data:`META_TOPIC`. The bag is written beside ``path`` and
    moved into place when complete, so a failure leaves nothing half-written.
    """
    from rosbags.rosbag1 import Writer as Writer1
    from rosbags.rosbag2 import Writer as Writer2

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    ts = typestore(ros)
    tmp_dir = Path(tempfile.mkdtemp(prefix=".bag-", dir=out.parent))
    tmp = tmp_dir / ("clip.bag" if ros == 1 else "clip")
    try:
        writer = Writer1(tmp) if ros == 1 else Writer2(tmp, version=8)
        conns = {}
        with writer:
            def put(topic, typename, msg, ns):
                if topic not in conns:
                    conns[topic] = writer.add_connection(topic, typename, typestore=ts)
                obj = to_message(ts, typename, msg)
                data = ts.serialize_ros1(obj, typename) if ros == 1 else ts.serialize_cdr(obj, typename)
                writer.write(conns[topic], ns, bytes(data))

            msgs = sorted(clip_messages(clip, topics, image=image), key=lambda m: m[3])
            put(META_TOPIC, "std_msgs/msg/String", {"data": json.dumps(clip_metadata(clip), sort_keys=True)},
                msgs[0][3] if msgs else 0)
            for topic, typename, msg, ns, _seq in msgs:
                put(topic, typename, msg, ns)
        if out.is_dir():
            shutil.rmtree(out)
        elif out.exists():
            out.unlink()
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return out


__all__ = ["read_bag_clip", "write_bag_clip", "is_bag", "typestore", "to_message", "META_TOPIC"]
