"""SYNTHETIC incident clips of the driving example: scripted scenarios, simulated and written as clip folders.

The folder format (``xai-reports/driving-clip/1``) and its reader are in
:mod:`xai_reports.documents.incident.clips`. The ego vehicle in a synthetic clip
is driven by the documented rule (:func:`examples.driving_synthetic.scenes.correct_action`)
with a reaction latency, and its request is logged as ``recorded_request``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from xai_reports.documents.incident.clips import CLIP_SCHEMA, SIGNAL_COLUMNS
from xai_reports.documents.incident.models import NO_LEAD_DISTANCE, TTC_CAP
from xai_reports.documents.incident.scenes import (CAMERA_HEIGHT, SYNTHETIC_NOTICE, Scene, SceneObject, ground_truth,
                                                   render_scene)
from xai_reports.io.outputs import atomic_write, canonical_json

from .scenes import correct_action

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


__all__ = ["SCENARIOS", "Scenario", "Actor", "simulate", "write_clip", "lead_signals"]
