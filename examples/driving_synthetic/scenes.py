"""The procedural, SYNTHETIC scene sampler of the driving example, and the documented rule that labels scenes.

No driving data set can be downloaded, so scenes are drawn from the small world
model of :mod:`xai_reports.documents.incident.scenes` (which also renders them and
gives their exact ground truth).

The correct action (:func:`correct_action`) is a documented rule over the
objects in the scene, assuming an urban speed of about 50 km/h:

===========================  ==============================  ==========================
object                       condition                       action
===========================  ==============================  ==========================
vehicle/pedestrian/cyclist   in the ego lane, Z <= 15 m      ``brake``
vehicle/pedestrian/cyclist   in the ego lane, 15 < Z <= 30   ``slow``
pedestrian/cyclist           within 1.5 m of the ego lane,   ``slow``
                             Z <= 20 m
traffic light, red           Z <= 20 m                       ``brake``
traffic light, red/yellow    Z <= 40 m                       ``slow``
stop sign                    Z <= 25 m                       ``slow``
anything else                                                ``continue``
===========================  ==============================  ==========================

"In the ego lane" means the object's lateral extent overlaps ``|X| < 1.75 m``.
The scene's action is the most severe action over its objects; the objects
that reach it are the *decisive* objects.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xai_reports.documents.incident.scenes import (ACTIONS, CLASSES, EGO_HALF, LANE_WIDTH, LIGHT_STATES, LIGHTINGS,
                                                   NEAR_MARGIN, ROAD_HALF, ROAD_USERS, SIDEWALK, SIGN_KINDS, WEATHERS,
                                                   Scene, SceneObject, ground_truth, object_box, render_scene)

# Thresholds of the documented rule (metres).
BRAKE_DIST = 15.0
SLOW_DIST = 30.0
VRU_NEAR_DIST = 20.0
RED_BRAKE_DIST = 20.0
LIGHT_SLOW_DIST = 40.0
STOP_SIGN_DIST = 25.0


# --------------------------------------------------------------------------- the documented rule
def object_action(obj: SceneObject) -> str:
    """The action one object calls for under the documented rule (module docstring)."""
    z = obj.distance
    if z <= 1.0:
        return "continue"
    if obj.kind in ROAD_USERS:
        if obj.in_ego_lane():
            return "brake" if z <= BRAKE_DIST else "slow" if z <= SLOW_DIST else "continue"
        if obj.kind in ("pedestrian", "cyclist") and obj.near_ego_lane() and z <= VRU_NEAR_DIST:
            return "slow"
        return "continue"
    if obj.kind == "traffic_light":
        if obj.state == "red" and z <= RED_BRAKE_DIST:
            return "brake"
        if obj.state in ("red", "yellow") and z <= LIGHT_SLOW_DIST:
            return "slow"
        return "continue"
    if obj.kind == "sign" and obj.state == "stop" and z <= STOP_SIGN_DIST:
        return "slow"
    return "continue"


def correct_action(scene: Scene) -> tuple[str, list[str]]:
    """The documented rule's action for a scene and the ids of its decisive objects.

    Only objects visible in the frame count (a camera cannot react to what it cannot see).

    Returns:
        ``(action, decisive_ids)``; ``decisive_ids`` is empty for ``"continue"``.

    Examples::

        >>> s = Scene(objects=[SceneObject("pedestrian", 0.0, 12.0, id="p")])
        >>> correct_action(s)
        ('brake', ['p'])
    """
    visible = {g["id"] for g in ground_truth(scene)}
    best, ids = 0, []
    for o in scene.objects:
        if o.id not in visible:
            continue
        sev = ACTIONS.index(object_action(o))
        if sev > best:
            best, ids = sev, [o.id]
        elif sev == best and sev > 0:
            ids.append(o.id)
    return ACTIONS[best], ids


# --------------------------------------------------------------------------- sampling
def _colour(rng) -> tuple:
    palette = [(200, 30, 30), (30, 60, 170), (230, 230, 230), (40, 40, 40), (30, 140, 60),
               (220, 160, 30), (120, 60, 150), (0, 150, 170)]
    return palette[int(rng.integers(len(palette)))]


def _random_object(rng, kind: str, oid: str, *, lateral=None, distance=None, state=None) -> SceneObject:
    if lateral is None:
        if kind == "vehicle":
            lateral = float(rng.choice([-LANE_WIDTH, 0.0, LANE_WIDTH]) + rng.normal(0, 0.25))
        elif kind in ("pedestrian", "cyclist"):
            side = rng.choice([-1, 1])
            lateral = float(side * rng.uniform(0.0, ROAD_HALF + SIDEWALK - 0.5))
        else:
            lateral = float(rng.choice([-1, 1]) * rng.uniform(ROAD_HALF + 0.4, ROAD_HALF + 1.6))
    if distance is None:
        distance = float(rng.uniform(6.0, 60.0))
    if state is None:
        state = (str(rng.choice(LIGHT_STATES)) if kind == "traffic_light"
                 else str(rng.choice(SIGN_KINDS)) if kind == "sign" else None)
    return SceneObject(kind, lateral, distance, _colour(rng), state, oid, float(rng.uniform()))


def _decisive_object(rng, action: str, oid: str) -> SceneObject:
    """An object that on its own calls for ``action`` (``slow`` or ``brake``)."""
    options = ["vehicle", "pedestrian", "cyclist", "traffic_light"] + (["sign"] if action == "slow" else [])
    kind = str(rng.choice(options, p=None))
    if kind == "traffic_light":
        if action == "brake":
            return _random_object(rng, kind, oid, distance=float(rng.uniform(7, RED_BRAKE_DIST)), state="red")
        state = str(rng.choice(["red", "yellow"]))
        lo = RED_BRAKE_DIST + 0.5 if state == "red" else 7.0
        return _random_object(rng, kind, oid, distance=float(rng.uniform(lo, LIGHT_SLOW_DIST)), state=state)
    if kind == "sign":
        return _random_object(rng, kind, oid, distance=float(rng.uniform(7, STOP_SIGN_DIST)), state="stop")
    if action == "brake":
        return _random_object(rng, kind, oid, lateral=float(rng.uniform(-1.3, 1.3)),
                              distance=float(rng.uniform(5.0, BRAKE_DIST)))
    if kind != "vehicle" and rng.uniform() < 0.4:  # a vulnerable road user at the lane edge
        side = rng.choice([-1, 1])
        lat = float(side * rng.uniform(EGO_HALF + 0.35, EGO_HALF + NEAR_MARGIN))
        return _random_object(rng, kind, oid, lateral=lat, distance=float(rng.uniform(6.0, VRU_NEAR_DIST)))
    return _random_object(rng, kind, oid, lateral=float(rng.uniform(-1.3, 1.3)),
                          distance=float(rng.uniform(BRAKE_DIST + 0.5, SLOW_DIST)))


def sample_scene(rng: np.random.Generator, action: str | None = None, *, width: int = 96, height: int = 64,
                 max_distractors: int = 3, single_decisive: bool = True) -> Scene:
    """A random scene whose correct action is ``action`` (any action when ``None``).

    Distractors (objects that do not call for a stronger action) are added around the
    decisive object; with ``single_decisive=True`` exactly one object is decisive for
    ``slow``/``brake`` scenes.

    Args:
        rng: a ``numpy.random.Generator`` (the scene is a pure function of its state).
        action: ``"continue"``, ``"slow"``, ``"brake"`` or ``None``.
        width, height: image size.
        max_distractors: at most this many non-decisive objects.

    Returns:
        A :class:`Scene` (render it with :func:`render_scene`).

    Examples::

        >>> s = sample_scene(np.random.default_rng(0), "brake")
        >>> correct_action(s)[0]
        'brake'
    """
    if action is None:
        action = str(rng.choice(ACTIONS))
    for _attempt in range(200):
        lighting = str(rng.choice(LIGHTINGS, p=[0.5, 0.25, 0.25]))
        weather = str(rng.choice(WEATHERS, p=[0.6, 0.25, 0.15]))
        scene = Scene(width=width, height=height, lighting=lighting, weather=weather,
                      odometer=float(rng.uniform(0, 9)), seed=int(rng.integers(2**31)))
        objs = []
        if action != "continue":
            objs.append(_decisive_object(rng, action, "obj0"))
        for i in range(int(rng.integers(0, max_distractors + 1))):
            kind = str(rng.choice(CLASSES, p=[0.35, 0.25, 0.15, 0.12, 0.13]))
            objs.append(_random_object(rng, kind, f"obj{i + 1}"))
        scene.objects = objs
        got, ids = correct_action(scene)
        if got != action:
            continue
        if action != "continue":
            if "obj0" not in ids or (single_decisive and len(ids) != 1):
                continue
            # keep the decisive object clear of overlaps so its box is its own
            box0 = object_box(scene, objs[0])
            if any(_overlap(box0, object_box(scene, o)) > 0.2 for o in objs[1:] if o.distance < objs[0].distance):
                continue
        return scene
    raise RuntimeError(f"could not sample a scene with action {action!r}")  # pragma: no cover


def _overlap(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    area = max((a[2] - a[0]) * (a[3] - a[1]), 1e-9)
    return ix * iy / area


@dataclass
class SceneDataset:
    """A labelled synthetic data set.

    Attributes:
        images: ``uint8`` array ``(n, H, W, 3)``.
        labels: ``int64`` array ``(n,)`` of indices into :data:`ACTIONS`.
        scenes: the :class:`Scene` of each image.
        truth: the :func:`ground_truth` of each image.
        decisive: the decisive object ids of each image.
    """

    images: np.ndarray
    labels: np.ndarray
    scenes: list
    truth: list
    decisive: list

    def __len__(self) -> int:
        return len(self.labels)

    def tensors(self):
        """``(x, y)``: float tensor ``(n, 3, H, W)`` in [0, 1] and label tensor."""
        import torch

        x = torch.from_numpy(self.images).permute(0, 3, 1, 2).float().div_(255.0)
        return x, torch.from_numpy(self.labels)


def make_dataset(n: int, seed: int = 0, *, width: int = 96, height: int = 64, balanced: bool = True,
                 progress: bool = False) -> SceneDataset:
    """``n`` rendered scenes with labels from the documented rule.

    Args:
        n: number of images.
        seed: seeds everything (same seed, same images, bit for bit).
        balanced: cycle through the actions so classes are equally frequent.

    Returns:
        :class:`SceneDataset`.

    Examples::

        >>> ds = make_dataset(30, seed=1)
        >>> ds.images.shape, np.bincount(ds.labels).tolist()
        ((30, 64, 96, 3), [10, 10, 10])
    """
    rng = np.random.default_rng(seed)
    images = np.empty((n, height, width, 3), dtype=np.uint8)
    labels = np.empty(n, dtype=np.int64)
    scenes, truth, decisive = [], [], []
    for i in range(n):
        action = ACTIONS[i % 3] if balanced else None
        scene = sample_scene(rng, action, width=width, height=height)
        images[i] = render_scene(scene)
        act, ids = correct_action(scene)
        labels[i] = ACTIONS.index(act)
        scenes.append(scene)
        truth.append(ground_truth(scene))
        decisive.append(ids)
    return SceneDataset(images, labels, scenes, truth, decisive)


__all__ = ["object_action", "correct_action", "sample_scene", "make_dataset", "SceneDataset"]
