"""SYNTHETIC incident clips: scripted scenarios, the clip folder format, and a strict reader.

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
the ego lane (or the gap is not closing). The ego vehicle in a synthetic clip is
driven by the documented rule with a reaction latency, and its request is logged
as ``recorded_request``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..outputs import atomic_write, canonical_json
from .models import NO_LEAD_DISTANCE, PLANNER_FEATURES, TTC_CAP
from .scenes import (ACTIONS, CAMERA_HEIGHT, SYNTHETIC_NOTICE, Scene, SceneObject, correct_action,
                     ground_truth, render_scene)

CLIP_SCHEMA = "xai-reports/driving-clip/1"
SIGNAL_COLUMNS = ("t_s", "frame") + PLANNER_FEATURES + ("accel_mps2", "lead_object_id", "lead_class",
                                                      "recorded_request")
CONTACT_DISTANCE = 2.0   # m from the camera to the front bumper: a road user this close in the ego lane is hit
DECEL = {"continue": 0.0, "slow": 2.5, "brake": 7.0}


@dataclass
class Actor:
    """A scripted object: a :class:`SceneObject` plus motion.

    ``v_lateral``/``v_long`` (m/s, world frame) apply from ``t_start`` until ``t_stop``;
    ``lateral_stop`` ends sideways motion at that offset; ``long_decel`` slows the
    object from ``decel_from`` on (a lead vehicle braking).
    """

    obj: SceneObject
    v_lateral: float = 0.0
    v_long: float = 0.0
    t_start: float = 0.0
    t_stop: float = math.inf
    lateral_stop: float | None = None
    state_changes: list = field(default_factory=list)   # [(t, state)] for traffic lights
    long_decel: float = 0.0                              # m/s^2, from decel_from on
    decel_from: float = math.inf


@dataclass
class Scenario:
    """A scripted incident: conditions, actors, the ego's speed and the recorded controller's latency."""

    name: str
    description: str
    lighting: str
    weather: str
    ego_speed: float
    actors: list
    duration: float = 5.0
    fps: int = 10
    latency: float = 0.8
    road: str = "urban straight three-lane road, dry asphalt"
    speed_limit_kph: int = 50
    seed: int = 0


def _scenarios() -> dict:
    S = SceneObject
    return {
        "pedestrian_step_in": Scenario(
            "pedestrian_step_in",
            "A pedestrian steps from the right sidewalk into the ego lane at dusk in rain; a parked "
            "vehicle in the right lane and a green light ahead are distractors.",
            "dusk", "rain", 13.9,
            [Actor(S("pedestrian", 5.0, 58.0, (220, 160, 30), None, "pedestrian_1"), v_lateral=-1.6, t_start=0.5,
                   lateral_stop=-5.5),
             Actor(S("vehicle", 3.6, 70.0, (30, 60, 170), None, "vehicle_1")),
             Actor(S("traffic_light", -6.0, 95.0, (0, 0, 0), "green", "light_1")),
             Actor(S("sign", 6.2, 28.0, (0, 0, 0), "speed_limit", "sign_1"))],
            latency=0.8, seed=11),
        "lead_vehicle_brakes": Scenario(
            "lead_vehicle_brakes",
            "The lead vehicle in the ego lane brakes hard on a clear day.",
            "day", "clear", 13.0,
            [Actor(S("vehicle", 0.1, 32.0, (200, 30, 30), None, "vehicle_1"), v_long=13.0,
                   long_decel=8.0, decel_from=1.0),
             Actor(S("vehicle", -3.5, 45.0, (230, 230, 230), None, "vehicle_2"), v_long=12.0),
             Actor(S("pedestrian", -6.5, 40.0, (30, 140, 60), None, "pedestrian_1"))],
            latency=0.6, seed=12),
        "red_light": Scenario(
            "red_light",
            "The traffic light ahead turns from green to yellow to red at night.",
            "night", "clear", 12.5,
            [Actor(S("traffic_light", 6.0, 70.0, (0, 0, 0), "green", "light_1"),
                   state_changes=[(1.5, "yellow"), (2.5, "red")]),
             Actor(S("vehicle", 3.5, 30.0, (40, 40, 40), None, "vehicle_1"), v_long=12.5)],
            latency=0.5, seed=13),
        "cyclist_crossing": Scenario(
            "cyclist_crossing",
            "A cyclist crosses from the left in fog.",
            "day", "fog", 11.0,
            [Actor(S("cyclist", -5.5, 42.0, (30, 60, 170), None, "cyclist_1"), v_lateral=2.5, t_start=1.0,
                   lateral_stop=5.0),
             Actor(S("sign", 6.0, 60.0, (0, 0, 0), "stop", "sign_1"))],
            latency=0.8, seed=14),
    }


SCENARIOS = tuple(_scenarios())
"""Names of the scripted scenarios."""


def lead_signals(scene: Scene, objects_speed: dict, ego_speed: float) -> dict:
    """Planner signals from a scene's ground truth: the nearest road user in the ego lane.

    Args:
        scene: the frame's scene.
        objects_speed: object id -> longitudinal speed (m/s, world frame).
        ego_speed: the ego vehicle's speed (m/s).
    """
    visible = {g["id"] for g in ground_truth(scene)}
    leads = sorted((o for o in scene.objects if o.in_ego_lane() and o.id in visible and o.distance > 0),
                   key=lambda o: o.distance)
    if not leads:
        return {"distance_to_lead_m": NO_LEAD_DISTANCE, "ttc_s": TTC_CAP, "rel_velocity_mps": 0.0,
                "lead_object_id": "", "lead_class": ""}
    o = leads[0]
    rel = objects_speed.get(o.id, 0.0) - ego_speed
    ttc = min(o.distance / -rel, TTC_CAP) if rel < -1e-6 else TTC_CAP
    return {"distance_to_lead_m": round(o.distance, 3), "ttc_s": round(ttc, 3), "rel_velocity_mps": round(rel, 3),
            "lead_object_id": o.id, "lead_class": o.kind}


def simulate(scenario: Scenario | str, *, width: int = 96, height: int = 64) -> dict:
    """Run a scenario: per-frame scenes, images, ground truth, signals and logged events.

    The ego vehicle's controller applies the documented rule's action (seen
    ``scenario.latency`` seconds late) with decelerations 0 / 2.5 / 7 m/s^2.

    Returns:
        ``{"scenario", "times", "scenes", "images" (n, H, W, 3) uint8, "truth", "signals" (list of
        dicts), "events"}``.
    """
    sc = _scenarios()[scenario] if isinstance(scenario, str) else scenario
    dt = 1.0 / sc.fps
    n = int(round(sc.duration * sc.fps)) + 1
    actors = [replace(a, obj=replace(a.obj)) for a in sc.actors]
    v, odo = sc.ego_speed, 0.0
    history: list[str] = []
    out = {"times": [], "scenes": [], "images": [], "truth": [], "signals": [], "events": []}
    collided = False
    delay = int(round(sc.latency * sc.fps))
    prev_req = "continue"
    for k in range(n):
        t = round(k * dt, 6)
        objs = []
        for a in actors:
            o = a.obj
            for (ts, state) in a.state_changes:
                if t >= ts - 1e-9:
                    o.state = state
            objs.append(replace(o, phase=(t * 1.8 + sum(map(ord, o.id)) % 7 / 7) % 1.0))
        scene = Scene(width=width, height=height, lighting=sc.lighting, weather=sc.weather, objects=objs,
                      odometer=odo, seed=sc.seed * 1000 + k)
        truth_action, _ = correct_action(scene)
        history.append(truth_action)
        request = history[k - delay] if k >= delay else "continue"
        if collided:
            request = "brake"   # after contact the ego vehicle brakes to a stop
        speeds = {a.obj.id: (a.v_long if a.t_start <= t < a.t_stop else 0.0) for a in actors}
        sig = {"t_s": t, "frame": k, "speed_mps": round(v, 3)}
        sig.update(lead_signals(scene, speeds, v))
        accel = -DECEL[request] if v > 0 else 0.0
        sig["accel_mps2"] = accel
        sig["recorded_request"] = request
        if request != prev_req:
            out["events"].append({"t_s": t, "event": f"recorded ADS request changed to '{request}'",
                                  "source": "log"})
        prev_req = request
        if not collided and any(o.in_ego_lane() and o.distance <= CONTACT_DISTANCE for o in objs):
            collided = True
            who = next(o for o in objs if o.in_ego_lane() and o.distance <= CONTACT_DISTANCE)
            out["events"].append({"t_s": t, "event": f"detected collision with {who.kind} '{who.id}'",
                                  "source": "ground truth"})
        if v <= 0 and request != "continue" and not any(e["event"] == "vehicle stopped" for e in out["events"]):
            out["events"].append({"t_s": t, "event": "vehicle stopped", "source": "log"})
        out["times"].append(t)
        out["scenes"].append(scene)
        out["images"].append(render_scene(scene))
        out["truth"].append(ground_truth(scene))
        out["signals"].append(sig)
        # advance the world
        dv = accel * dt
        step = max(v * dt + 0.5 * dv * dt, 0.0) if v > 0 else 0.0
        v = max(v + dv, 0.0)
        odo += step
        for a in actors:
            o = a.obj
            moving = a.t_start <= t < a.t_stop
            if moving and a.v_lateral:
                nl = o.lateral + a.v_lateral * dt
                if a.lateral_stop is not None and (a.v_lateral < 0) == (nl < a.lateral_stop):
                    nl = a.lateral_stop
                o.lateral = nl
            o.distance = o.distance + (a.v_long if moving else 0.0) * dt - step
            if a.long_decel and t >= a.decel_from:
                a.v_long = max(a.v_long - a.long_decel * dt, 0.0)
    out["images"] = np.stack(out["images"])
    out["scenario"] = sc
    return out


def _png_bytes(img: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def write_clip(out_dir, scenario: Scenario | str = "pedestrian_step_in", *, clip_id: str | None = None,
               width: int = 96, height: int = 64) -> Path:
    """Simulate a scenario and write it as a clip folder (format in the module docstring).

    Args:
        out_dir: the clip folder (created).
        scenario: a name in :data:`SCENARIOS` or a :class:`Scenario`.
        clip_id: identifier stored in ``clip.json`` (default: the scenario name).

    Returns:
        The folder path.

    Examples::

        >>> write_clip("clips/ped", "pedestrian_step_in")
        PosixPath('clips/ped')
    """
    sim = simulate(scenario, width=width, height=height)
    sc = sim["scenario"]
    out = Path(out_dir)
    (out / "frames").mkdir(parents=True, exist_ok=True)
    frames = []
    for k, (t, scene, img, truth) in enumerate(zip(sim["times"], sim["scenes"], sim["images"], sim["truth"])):
        data = _png_bytes(img)
        name = f"frames/frame_{k:03d}.png"
        atomic_write(out / name, data)
        frames.append({"index": k, "t_s": t, "file": name, "sha256": hashlib.sha256(data).hexdigest(),
                       "objects": truth, "scene": scene.to_dict()})
    s0 = sim["scenes"][0]
    meta = {
        "schema": CLIP_SCHEMA, "synthetic": True, "notice": SYNTHETIC_NOTICE,
        "clip_id": clip_id or sc.name, "scenario": sc.name, "description": sc.description,
        "fps": sc.fps, "width": width, "height": height,
        "camera": {"model": "pinhole", "height_m": CAMERA_HEIGHT, "focal_px": round(s0.focal, 4),
                   "horizon_row": round(s0.horizon, 4), "position": "windscreen, forward facing"},
        "conditions": {"lighting": sc.lighting, "weather": sc.weather, "road": sc.road,
                       "posted_speed_limit_kph": sc.speed_limit_kph, "initial_speed_mps": sc.ego_speed},
        "controller": {"kind": "documented rule with reaction latency (synthetic ego vehicle)",
                       "latency_s": sc.latency, "decelerations_mps2": DECEL},
        "events": sim["events"], "frames": frames,
    }
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(SIGNAL_COLUMNS), lineterminator="\n")
    w.writeheader()
    for s in sim["signals"]:
        w.writerow({c: s[c] for c in SIGNAL_COLUMNS})
    atomic_write(out / "signals.csv", buf.getvalue())
    atomic_write(out / "clip.json", canonical_json(meta))
    return out


# --------------------------------------------------------------------------- reading
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


__all__ = ["CLIP_SCHEMA", "SCENARIOS", "SIGNAL_COLUMNS", "Scenario", "Actor", "Clip", "simulate", "write_clip",
           "read_clip", "lead_signals"]
