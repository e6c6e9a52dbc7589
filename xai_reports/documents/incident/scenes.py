"""The SYNTHETIC front-camera road world of the incident report: scenes, ground truth, rendering.

A clip written by the synthetic generator (``examples/driving_synthetic``)
stores, per frame, the :class:`Scene` it was drawn from; the incident report
re-renders such a frame with one object removed or moved (the occlusion test,
:func:`~xai_reports.documents.incident.analysis.occlusion_test`). The world is a
straight three-lane road seen from a camera 1.4 m above the ground, with
vehicles, pedestrians, cyclists, traffic lights and signs placed at known
lateral offsets (metres, + = right) and distances (metres ahead of the camera).
Every pixel is SYNTHETIC; nothing here is a photograph.

Camera model (pinhole, no lens distortion)::

    u = W/2 + f * X / Z              (column)
    v = y_h + f * (h_cam - Y) / Z    (row; y_h is the horizon row)

so an object's ground-truth box, distance and lane position are exact.
"In the ego lane" means the object's lateral extent overlaps ``|X| < 1.75 m``.
The documented rule that labels scenes and the scene sampler live with the
example (``examples/driving_synthetic/scenes.py``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

import numpy as np

ACTIONS = ("continue", "slow", "brake")
"""Decision classes, in the model's output order (index 0, 1, 2)."""

CLASSES = ("vehicle", "pedestrian", "cyclist", "traffic_light", "sign")
ROAD_USERS = ("vehicle", "pedestrian", "cyclist")
LIGHTINGS = ("day", "dusk", "night")
WEATHERS = ("clear", "rain", "fog")
LIGHT_STATES = ("red", "yellow", "green")
SIGN_KINDS = ("stop", "speed_limit")

LANE_WIDTH = 3.5
EGO_HALF = LANE_WIDTH / 2          # the ego lane is |X| < 1.75 m
ROAD_HALF = 1.5 * LANE_WIDTH       # three lanes: |X| < 5.25 m
SIDEWALK = 2.75                    # sidewalk width beyond the road edge
NEAR_MARGIN = 1.5                  # "near the ego lane" for vulnerable road users
CAMERA_HEIGHT = 1.4

# Physical sizes: (width, height) in metres.
SIZES = {"vehicle": (1.8, 1.5), "pedestrian": (0.55, 1.75), "cyclist": (0.6, 1.8),
         "traffic_light": (0.45, 1.1), "sign": (0.75, 0.75)}
LIGHT_BOTTOM = 3.6   # traffic-light head spans Y in [3.6, 4.7]
SIGN_BOTTOM = 1.8    # sign face spans Y in [1.8, 2.55]

SYNTHETIC_NOTICE = "SYNTHETIC scene from the xai-reports procedural generator (not a camera image)"


@dataclass
class SceneObject:
    """One object in the world.

    Attributes:
        kind: one of :data:`CLASSES`.
        lateral: X of the object's centre, metres (+ = right of the camera).
        distance: Z, metres ahead of the camera.
        colour: RGB 0-255 (body/shirt colour).
        state: ``red``/``yellow``/``green`` for traffic lights, ``stop``/``speed_limit`` for signs.
        id: a stable identifier within a scene or clip (``"ped1"``).
        phase: walking/pedalling phase (0-1), animates legs in clips.
    """

    kind: str
    lateral: float
    distance: float
    colour: tuple = (200, 30, 30)
    state: str | None = None
    id: str = ""
    phase: float = 0.0

    def half_width(self) -> float:
        return SIZES[self.kind][0] / 2

    def in_ego_lane(self) -> bool:
        """Whether the object's lateral extent overlaps the ego lane (road users only)."""
        return self.kind in ROAD_USERS and abs(self.lateral) - self.half_width() < EGO_HALF

    def near_ego_lane(self) -> bool:
        return self.kind in ROAD_USERS and abs(self.lateral) - self.half_width() < EGO_HALF + NEAR_MARGIN

    def to_dict(self) -> dict:
        d = asdict(self)
        d["colour"] = list(self.colour)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "SceneObject":
        d = dict(d)
        d["colour"] = tuple(d.get("colour", (200, 30, 30)))
        return cls(**d)


@dataclass
class Scene:
    """A frame's world: conditions, objects, and how far the ego vehicle has travelled.

    Attributes:
        width, height: image size in pixels.
        lighting: ``day``, ``dusk`` or ``night``.
        weather: ``clear``, ``rain`` or ``fog``.
        objects: the :class:`SceneObject` list.
        odometer: metres travelled (moves the lane dashes between frames).
        seed: seeds the sensor noise and rain, so rendering is deterministic.
    """

    width: int = 96
    height: int = 64
    lighting: str = "day"
    weather: str = "clear"
    objects: list = field(default_factory=list)
    odometer: float = 0.0
    seed: int = 0

    @property
    def horizon(self) -> float:
        return 0.40 * self.height

    @property
    def focal(self) -> float:
        # the ground 4 m ahead meets the bottom edge
        return (self.height - self.horizon) * 4.0 / CAMERA_HEIGHT

    def project(self, X, Y, Z):
        """Pixel (u, v) of the world point (X lateral, Y height, Z distance)."""
        f = self.focal
        return self.width / 2 + f * X / Z, self.horizon + f * (CAMERA_HEIGHT - Y) / Z

    def without(self, object_id: str) -> "Scene":
        """The same scene with one object removed (for occlusion/counterfactual tests)."""
        return replace(self, objects=[o for o in self.objects if o.id != object_id])

    def moved(self, object_id: str, lateral: float) -> "Scene":
        """The same scene with one object moved sideways to ``lateral`` metres."""
        return replace(self, objects=[replace(o, lateral=lateral) if o.id == object_id else o
                                      for o in self.objects])

    def to_dict(self) -> dict:
        return {"width": self.width, "height": self.height, "lighting": self.lighting,
                "weather": self.weather, "odometer": self.odometer, "seed": self.seed,
                "objects": [o.to_dict() for o in self.objects]}

    @classmethod
    def from_dict(cls, d: dict) -> "Scene":
        d = dict(d)
        d["objects"] = [SceneObject.from_dict(o) for o in d.get("objects", [])]
        return cls(**d)


# --------------------------------------------------------------------------- ground truth
def object_box(scene: Scene, obj: SceneObject):
    """The object's box ``(x0, y0, x1, y1)`` in pixels (float, unclipped)."""
    w, h = SIZES[obj.kind]
    bottom = {"traffic_light": LIGHT_BOTTOM, "sign": SIGN_BOTTOM}.get(obj.kind, 0.0)
    x0, y1 = scene.project(obj.lateral - w / 2, bottom, obj.distance)
    x1, y0 = scene.project(obj.lateral + w / 2, bottom + h, obj.distance)
    return x0, y0, x1, y1


def ground_truth(scene: Scene) -> list[dict]:
    """Per-object ground truth for the frame, nearest first.

    Returns:
        A list of ``{"id", "class", "box": [x0, y0, x1, y1] (ints, inclusive-exclusive,
        clipped to the frame), "distance_m", "lateral_m", "in_ego_lane", "state",
        "visible_fraction"}``; objects entirely outside the frame are left out.
    """
    out = []
    for o in sorted(scene.objects, key=lambda o: o.distance):
        if o.distance <= 1.0:
            continue
        x0, y0, x1, y1 = object_box(scene, o)
        area = max(x1 - x0, 0) * max(y1 - y0, 0)
        cx0, cy0 = max(0.0, x0), max(0.0, y0)
        cx1, cy1 = min(float(scene.width), x1), min(float(scene.height), y1)
        if cx1 - cx0 < 1 or cy1 - cy0 < 1:
            continue
        box = [int(math.floor(cx0)), int(math.floor(cy0)), int(math.ceil(cx1)), int(math.ceil(cy1))]
        out.append({"id": o.id, "class": o.kind, "box": box, "distance_m": round(o.distance, 3),
                    "lateral_m": round(o.lateral, 3), "in_ego_lane": o.in_ego_lane(), "state": o.state,
                    "visible_fraction": round((cx1 - cx0) * (cy1 - cy0) / area, 3) if area else 0.0})
    return out


# --------------------------------------------------------------------------- rendering
_SKY = {"day": ((120, 170, 230), (200, 225, 250)), "dusk": ((70, 60, 110), (235, 150, 90)),
        "night": ((5, 8, 20), (25, 30, 50))}
_BRIGHT = {"day": 1.0, "dusk": 0.62, "night": 0.28}
_FOG_RGB = np.array([175, 178, 182], dtype=np.float64)
_VISIBILITY = {"clear": None, "rain": 120.0, "fog": 38.0}
_SS = 3  # supersampling factor


class _Painter:
    def __init__(self, scene: Scene):
        from PIL import Image, ImageDraw

        self.s = scene
        self.k = _SS
        self.img = Image.new("RGB", (scene.width * _SS, scene.height * _SS))
        self.draw = ImageDraw.Draw(self.img)
        self.bright = _BRIGHT[scene.lighting]
        self.vis = _VISIBILITY[scene.weather]

    def shade(self, rgb, z, emissive=False):
        c = np.asarray(rgb, dtype=np.float64) * (1.0 if emissive else self.bright)
        if self.vis is not None:
            t = math.exp(-z / self.vis)
            fog = _FOG_RGB * (0.55 + 0.45 * self.bright)
            c = c * t + fog * (1 - t)
        return tuple(int(round(x)) for x in np.clip(c, 0, 255))

    def P(self, X, Y, Z):
        u, v = self.s.project(X, Y, Z)
        return (u * self.k, v * self.k)

    def quad(self, X0, X1, Z0, Z1, rgb, Y=0.0):
        z_mid = (Z0 + Z1) / 2
        pts = [self.P(X0, Y, Z0), self.P(X1, Y, Z0), self.P(X1, Y, Z1), self.P(X0, Y, Z1)]
        self.draw.polygon(pts, fill=self.shade(rgb, z_mid))

    def rect(self, X0, X1, Y0, Y1, Z, rgb, emissive=False):
        (u0, v1), (u1, v0) = self.P(X0, Y0, Z), self.P(X1, Y1, Z)
        self.draw.rectangle([u0, v0, max(u1 - 1, u0), max(v1 - 1, v0)], fill=self.shade(rgb, Z, emissive))

    def ellipse(self, X, Y, r, Z, rgb, emissive=False):
        (u0, v1), (u1, v0) = self.P(X - r, Y - r, Z), self.P(X + r, Y + r, Z)
        self.draw.ellipse([u0, v0, max(u1, u0 + 1), max(v1, v0 + 1)], fill=self.shade(rgb, Z, emissive))


def _background(p: _Painter):
    s, k = p.s, p.k
    top, bottom = _SKY[s.lighting]
    hz = int(s.horizon * k)
    for row in range(hz + 1):
        t = row / max(hz, 1)
        col = tuple(int(top[i] * (1 - t) + bottom[i] * t) for i in range(3))
        if p.vis is not None:
            col = p.shade(np.asarray(col) / max(p.bright, 1e-6) * (1.0 if s.lighting == "night" else 1.0), 1e6)
        p.draw.line([(0, row), (s.width * k, row)], fill=col)
    grass = (70, 110, 60)
    p.draw.rectangle([0, hz, s.width * k, s.height * k], fill=p.shade(grass, 60))
    # ground bands far to near, so near bands overwrite far ones
    edges = [400, 120, 60, 30, 15, 7, 1]
    for za, zb in zip(edges[1:], edges[:-1]):
        p.quad(-60, -ROAD_HALF - SIDEWALK, za, zb, grass)
        p.quad(ROAD_HALF + SIDEWALK, 60, za, zb, grass)
        p.quad(-ROAD_HALF - SIDEWALK, -ROAD_HALF, za, zb, (150, 148, 140))
        p.quad(ROAD_HALF, ROAD_HALF + SIDEWALK, za, zb, (150, 148, 140))
        p.quad(-ROAD_HALF, ROAD_HALF, za, zb, (85, 85, 90))
    if s.lighting == "night":  # headlight pool on the ego lane
        for za, zb, g in ((22, 30, 55), (14, 22, 80), (8, 14, 105), (1, 8, 125)):
            p.quad(-2.4, 2.4, za, zb, (g, g, g - 5), Y=0.0)
    white = (235, 235, 230)
    for X in (-ROAD_HALF + 0.15, ROAD_HALF - 0.15):  # solid road edges
        for za, zb in zip(edges[1:], edges[:-1]):
            p.quad(X - 0.08, X + 0.08, za, zb, white)
    dash, gap = 3.0, 6.0
    period = dash + gap
    start = -(s.odometer % period)
    for X in (-EGO_HALF, EGO_HALF):
        z = start
        while z < 120:
            z0, z1 = max(z, 1.5), z + dash
            if z1 > 1.5:
                p.quad(X - 0.07, X + 0.07, z0, z1, white)
            z += period
    # buildings/trees far off to give texture near the horizon
    for i, X in enumerate((-30, -22, 22, 30)):
        h = 8 + (i * 3) % 5
        p.rect(X - 3, X + 3, 0, h, 95, (120, 110, 105))


def _draw_vehicle(p: _Painter, o: SceneObject):
    w, h = SIZES["vehicle"]
    X, Z = o.lateral, o.distance
    p.rect(X - w / 2, X + w / 2, 0.25, h, Z, o.colour)
    p.rect(X - w / 2 + 0.15, X + w / 2 - 0.15, 0.95, h - 0.1, Z, (40, 45, 55))  # rear window
    p.rect(X - w / 2 + 0.05, X - w / 2 + 0.35, 0.0, 0.35, Z, (20, 20, 20))    # wheels
    p.rect(X + w / 2 - 0.35, X + w / 2 - 0.05, 0.0, 0.35, Z, (20, 20, 20))
    lit = p.s.lighting != "day"
    tail = (255, 40, 30) if lit else (190, 20, 20)
    p.rect(X - w / 2 + 0.05, X - w / 2 + 0.35, 0.6, 0.8, Z, tail, emissive=lit)
    p.rect(X + w / 2 - 0.35, X + w / 2 - 0.05, 0.6, 0.8, Z, tail, emissive=lit)


def _draw_pedestrian(p: _Painter, o: SceneObject):
    X, Z = o.lateral, o.distance
    swing = 0.12 * math.sin(2 * math.pi * o.phase)
    legs = (45, 45, 70)
    p.rect(X - 0.2 + swing, X - 0.04 + swing, 0.0, 0.85, Z, legs)
    p.rect(X + 0.04 - swing, X + 0.2 - swing, 0.0, 0.85, Z, legs)
    p.rect(X - 0.27, X + 0.27, 0.8, 1.45, Z, o.colour)
    p.ellipse(X, 1.6, 0.14, Z, (230, 190, 160))


def _draw_cyclist(p: _Painter, o: SceneObject):
    X, Z = o.lateral, o.distance
    p.rect(X - 0.04, X + 0.04, 0.0, 0.7, Z, (25, 25, 25))           # rear wheel edge-on
    p.rect(X - 0.3, X + 0.3, 0.62, 0.7, Z, (60, 60, 60))             # handlebar
    p.rect(X - 0.22, X + 0.22, 0.7, 1.45, Z, o.colour)               # rider torso
    p.ellipse(X, 1.62, 0.15, Z, (240, 220, 40))                      # helmet
    bob = 0.1 * math.sin(2 * math.pi * o.phase)
    p.rect(X - 0.2, X - 0.08, 0.3 + bob, 0.75, Z, (40, 40, 60))
    p.rect(X + 0.08, X + 0.2, 0.3 - bob, 0.75, Z, (40, 40, 60))


def _draw_light(p: _Painter, o: SceneObject):
    X, Z = o.lateral, o.distance
    p.rect(X - 0.06, X + 0.06, 0.0, LIGHT_BOTTOM, Z, (60, 60, 60))
    w, h = SIZES["traffic_light"]
    p.rect(X - w / 2, X + w / 2, LIGHT_BOTTOM, LIGHT_BOTTOM + h, Z, (25, 25, 25))
    on = {"red": (255, 30, 20), "yellow": (255, 200, 0), "green": (30, 230, 80)}
    off = (55, 55, 50)
    for i, colour in enumerate(("red", "yellow", "green")):
        Y = LIGHT_BOTTOM + h - 0.2 - i * 0.35
        lit = o.state == colour
        p.ellipse(X, Y, 0.15, Z, on[colour] if lit else off, emissive=lit)


def _draw_sign(p: _Painter, o: SceneObject):
    X, Z = o.lateral, o.distance
    p.rect(X - 0.04, X + 0.04, 0.0, SIGN_BOTTOM, Z, (120, 120, 120))
    r = SIZES["sign"][0] / 2
    cy = SIGN_BOTTOM + r
    if o.state == "stop":
        cu, cv = p.P(X, cy, Z)
        rr = (p.P(X + r, cy, Z)[0] - cu)
        pts = [(cu + rr * math.cos(math.pi / 8 + i * math.pi / 4), cv + rr * math.sin(math.pi / 8 + i * math.pi / 4))
               for i in range(8)]
        p.draw.polygon(pts, fill=p.shade((200, 20, 25), Z))
        p.rect(X - r * 0.6, X + r * 0.6, cy - 0.05, cy + 0.05, Z, (240, 240, 240))
    else:
        p.ellipse(X, cy, r, Z, (200, 20, 25))
        p.ellipse(X, cy, r * 0.72, Z, (240, 240, 240))
        p.rect(X - r * 0.3, X + r * 0.3, cy - 0.08, cy + 0.08, Z, (20, 20, 20))


_DRAW = {"vehicle": _draw_vehicle, "pedestrian": _draw_pedestrian, "cyclist": _draw_cyclist,
         "traffic_light": _draw_light, "sign": _draw_sign}


def render_scene(scene: Scene) -> np.ndarray:
    """Draw the scene.

    Args:
        scene: the :class:`Scene`.

    Returns:
        ``uint8`` array of shape ``(height, width, 3)``. Deterministic for a given scene
        (the noise and rain are seeded by ``scene.seed``).

    Examples::

        >>> img = render_scene(Scene(objects=[SceneObject("vehicle", 0.0, 20.0, id="car")]))
        >>> img.shape, img.dtype
        ((64, 96, 3), dtype('uint8'))
    """
    from PIL import Image

    p = _Painter(scene)
    _background(p)
    for o in sorted(scene.objects, key=lambda o: -o.distance):  # painter's algorithm
        if o.distance > 1.0:
            _DRAW[o.kind](p, o)
    rng = np.random.default_rng(scene.seed)
    if scene.weather == "rain":
        for _ in range(60):
            x = rng.uniform(0, scene.width * _SS)
            y = rng.uniform(0, scene.height * _SS)
            p.draw.line([(x, y), (x - 2, y + 9)], fill=(190, 195, 205), width=1)
    img = p.img.resize((scene.width, scene.height), Image.Resampling.BOX)
    arr = np.asarray(img, dtype=np.float64)
    arr += rng.normal(0.0, 3.0, size=arr.shape)
    return np.clip(np.round(arr), 0, 255).astype(np.uint8)


__all__ = ["ACTIONS", "CLASSES", "ROAD_USERS", "Scene", "SceneObject", "render_scene", "ground_truth",
           "object_box", "SYNTHETIC_NOTICE"]
