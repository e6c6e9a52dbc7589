"""The clip folder format of incident reports, and its strict reader.

Clip folder format (``xai-reports/driving-clip/1``)::

    CLIP_DIR/
      clip.json      metadata: schema, "synthetic": true, fps, frame size, camera,
                     conditions (lighting, weather, road), logged events, and per
                     frame: index, t_s, file, sha256, ground-truth objects
                     (id, class, box [x0, y0, x1, y1] px, distance_m, lateral_m,
                     in_ego_lane, state) and, for synthetic clips, the scene
                     description that re-renders the frame (used for counterfactual
                     "remove/move the object" tests)
      signals.csv    one row per frame: t_s, frame, speed_mps, accel_mps2,
                     distance_to_lead_m, ttc_s, rel_velocity_mps, lead_object_id,
                     lead_class, recorded_request
      frames/frame_000.png ...   RGB frames, width x height

``distance_to_lead_m`` is 100 and ``ttc_s`` is 10 when no road user is ahead in
the ego lane (or the gap is not closing). The SYNTHETIC clips of the driving
example (``examples/driving_synthetic/clips.py``) are written in this format.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import InputError
from .models import PLANNER_FEATURES
from .scenes import ACTIONS, Scene

CLIP_SCHEMA = "xai-reports/driving-clip/1"
SIGNAL_COLUMNS = ("t_s", "frame") + PLANNER_FEATURES + ("accel_mps2", "lead_object_id", "lead_class",
                                                      "recorded_request")


@dataclass
class Clip:
    """A validated clip.

    Attributes:
        directory: the clip folder.
        meta: ``clip.json`` (parsed).
        images: ``uint8`` ``(n, H, W, 3)``.
        times: ``(n,)`` seconds.
        signals: DataFrame with :data:`SIGNAL_COLUMNS`.
        truth: per frame, the ground-truth object list.
        scenes: per frame, a :class:`Scene` (synthetic clips) or ``None``.
        sha256: hash over ``clip.json``, ``signals.csv`` and every frame file.
    """

    directory: Path
    meta: dict
    images: np.ndarray
    times: np.ndarray
    signals: object
    truth: list
    scenes: list
    sha256: str

    @property
    def synthetic(self) -> bool:
        return bool(self.meta.get("synthetic"))

    def __len__(self) -> int:
        return len(self.times)


def _err(msg, file, row=None, column=None):
    return InputError(msg, file=file, row=row, column=column)


def read_clip(clip_dir) -> Clip:
    """Read and check a clip folder; every problem names the file (and frame/column).

    Raises:
        InputError: a missing folder/file, bad JSON, a frame whose size or hash does not
            match ``clip.json``, missing signal columns, or signals that do not line up with
            the frames.

    Examples::

        >>> clip = read_clip("clips/ped")
        >>> clip.images.shape
        (51, 64, 96, 3)
    """
    import pandas as pd
    from PIL import Image

    d = Path(clip_dir)
    if not d.is_dir():
        raise _err("clip folder not found" if not d.exists() else "expected a clip folder, got a file", d)
    meta_path = d / "clip.json"
    if not meta_path.is_file():
        raise _err("clip.json is missing (see 'clip folder format' in the README)", meta_path)
    raw_meta = meta_path.read_bytes()
    try:
        meta = json.loads(raw_meta.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _err(f"not valid JSON ({exc})", meta_path) from None
    if not isinstance(meta, dict):
        raise _err("expected a JSON object at the top level", meta_path)
    if meta.get("schema") != CLIP_SCHEMA:
        raise _err(f"schema: expected {CLIP_SCHEMA!r}, got {meta.get('schema')!r}", meta_path)
    for key, typ in (("fps", (int, float)), ("width", int), ("height", int), ("frames", list)):
        if key not in meta:
            raise _err(f"{key}: required key is missing", meta_path)
        if not isinstance(meta[key], typ) or isinstance(meta[key], bool):
            raise _err(f"{key}: expected {typ.__name__ if isinstance(typ, type) else 'a number'}, "
                       f"got {meta[key]!r}", meta_path)
    if meta["fps"] <= 0 or not meta["frames"]:
        raise _err("fps must be > 0 and frames must list at least one frame", meta_path)
    W, H = meta["width"], meta["height"]
    h = hashlib.sha256(raw_meta)
    images, times, truth, scenes = [], [], [], []
    for i, fr in enumerate(meta["frames"]):
        where = f"frames[{i}]"
        if not isinstance(fr, dict) or "file" not in fr or "t_s" not in fr:
            raise _err(f"{where}: each frame needs 'file' and 't_s'", meta_path)
        rel = Path(str(fr["file"]))
        if rel.is_absolute() or ".." in rel.parts:
            raise _err(f"{where}.file: {fr['file']!r} must be a path inside the clip folder", meta_path)
        fpath = d / rel
        if not fpath.is_file():
            raise _err(f"frame {i} (t = {fr['t_s']} s) is missing", fpath)
        data = fpath.read_bytes()
        if fr.get("sha256") and hashlib.sha256(data).hexdigest() != fr["sha256"]:
            raise _err(f"frame {i}: SHA-256 does not match clip.json (the file was changed)", fpath)
        h.update(data)
        try:
            with Image.open(io.BytesIO(data)) as im:
                arr = np.asarray(im.convert("RGB"), dtype=np.uint8)
        except Exception as exc:  # noqa: BLE001 - PIL raises several kinds
            raise _err(f"frame {i}: not a readable image ({exc})", fpath) from None
        if arr.shape[:2] != (H, W):
            raise _err(f"frame {i}: size {arr.shape[1]}x{arr.shape[0]} does not match clip.json "
                       f"({W}x{H})", fpath)
        images.append(arr)
        times.append(float(fr["t_s"]))
        truth.append(list(fr.get("objects") or []))
        scenes.append(Scene.from_dict(fr["scene"]) if isinstance(fr.get("scene"), dict) else None)
    sig_path = d / "signals.csv"
    if not sig_path.is_file():
        raise _err("signals.csv is missing", sig_path)
    raw_sig = sig_path.read_bytes()
    h.update(raw_sig)
    try:
        sig = pd.read_csv(io.BytesIO(raw_sig), keep_default_na=False)
    except Exception as exc:  # noqa: BLE001
        raise _err(f"not a readable CSV ({exc})", sig_path) from None
    missing = [c for c in ("t_s",) + PLANNER_FEATURES if c not in sig.columns]
    if missing:
        raise _err(f"missing column(s) {', '.join(missing)}", sig_path)
    if len(sig) != len(images):
        raise _err(f"{len(sig)} rows but clip.json lists {len(images)} frames", sig_path)
    for c in ("t_s",) + PLANNER_FEATURES:
        vals = pd.to_numeric(sig[c], errors="coerce")
        bad = np.flatnonzero(~np.isfinite(vals.to_numpy(dtype=float)))
        if len(bad):
            raise _err(f"expected a finite number, got {sig[c].iloc[bad[0]]!r}", sig_path, row=int(bad[0]) + 1,
                       column=c)
        sig[c] = vals.astype(float)
    dt = np.abs(sig["t_s"].to_numpy() - np.asarray(times))
    if (dt > 1e-3).any():
        r = int(np.argmax(dt > 1e-3))
        raise _err(f"t_s {sig['t_s'].iloc[r]} does not match frame {r}'s t_s {times[r]} in clip.json",
                   sig_path, row=r + 1, column="t_s")
    if "recorded_request" in sig.columns:
        bad = [i for i, v in enumerate(sig["recorded_request"]) if v not in ACTIONS + ("",)]
        if bad:
            raise _err(f"expected one of {', '.join(ACTIONS)}, got {sig['recorded_request'].iloc[bad[0]]!r}",
                       sig_path, row=bad[0] + 1, column="recorded_request")
    return Clip(directory=d, meta=meta, images=np.stack(images), times=np.asarray(times), signals=sig,
                truth=truth, scenes=scenes, sha256=h.hexdigest())


__all__ = ["CLIP_SCHEMA", "SIGNAL_COLUMNS", "Clip", "read_clip"]
