"""Explaining a clip: replay, timeline, key frames, object attribution shares, occlusion tests.

Nothing here draws or renders; :mod:`xai_reports.documents.incident.report` turns the
results into figures and a document. Attribution maps come from
:func:`xai_reports.explain` (``grad_cam``, ``integrated_gradients``,
``occlusion``) and signal attributions from ``tree_shap``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...attribution import explain
from .scenes import ACTIONS, EGO_HALF, NEAR_MARGIN, ROAD_HALF, render_scene

DEFAULT_METHOD_OPTIONS = {
    "grad_cam": {"layer": "features.relu4"},
    "integrated_gradients": {"n_steps": 32},
    "occlusion": {"window": (8, 8), "strides": (4, 4)},
}


def to_tensor(images):
    """``uint8 (n, H, W, 3)`` frames -> float tensor ``(n, 3, H, W)`` in [0, 1]."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div(255.0)


def predict_proba(adapter, images) -> np.ndarray:
    """Decision probabilities ``(n, 3)`` (columns in :data:`ACTIONS` order) for ``uint8`` frames."""
    return np.asarray(adapter.predict(to_tensor(images), output="probability"), dtype=np.float64)


def attribution_maps(adapter, images, method: str, target, options: dict | None = None):
    """One non-negative ``(n, H, W)`` map per frame, plus the :class:`Attribution`.

    ``grad_cam`` maps are already non-negative; for ``integrated_gradients`` the map is
    the absolute attribution summed over colour channels (the magnitude of each pixel's
    influence); for ``occlusion`` it is the positive part of the output drop summed
    over channels (evidence for the decision). Occlusion uses each frame's mean colour
    as the occluding patch.
    """
    opts = dict(DEFAULT_METHOD_OPTIONS.get(method, {}))
    opts.update(options or {})
    x = to_tensor(images)
    target = [int(t) for t in np.atleast_1d(target)]
    if method == "occlusion" and "baselines" not in opts:
        opts["baselines"] = x.mean(dim=(2, 3), keepdim=True).expand_as(x).contiguous()
    attr = explain(adapter, x, method=method, target=target, **opts)
    v = np.asarray(attr.values, dtype=np.float64)
    if v.ndim == 4:
        v = np.abs(v).sum(axis=1) if method == "integrated_gradients" else np.clip(v, 0, None).sum(axis=1)
    return np.clip(v, 0, None), attr


def object_shares(amap: np.ndarray, objects: list[dict]) -> list[dict]:
    """Share of a non-negative attribution map on each ground-truth object's box.

    Each pixel counts once: where boxes overlap it goes to the nearest object
    (the one in front). The rest is ``background``.

    Args:
        amap: ``(H, W)`` non-negative map.
        objects: ground-truth objects (``id``, ``class``, ``box``, ``distance_m``).

    Returns:
        ``[{"id", "class", "share", "distance_m", "box"}, ...]`` sorted by share
        (descending), then ``{"id": "background", ...}`` last. Shares sum to 1 (or all
        0 for an all-zero map).

    Examples::

        >>> m = np.zeros((4, 4)); m[1, 1] = 3; m[3, 3] = 1
        >>> object_shares(m, [{"id": "a", "class": "vehicle", "box": [0, 0, 2, 2], "distance_m": 9}])[0]["share"]
        0.75
    """
    H, W = amap.shape
    owner = np.full((H, W), -1, dtype=int)
    order = sorted(range(len(objects)), key=lambda i: -float(objects[i].get("distance_m", 0)))
    for i in order:  # far first, near last: the nearest object owns shared pixels
        x0, y0, x1, y1 = objects[i]["box"]
        owner[max(0, y0):min(H, y1), max(0, x0):min(W, x1)] = i
    total = float(amap.sum())
    out = []
    for i, o in enumerate(objects):
        s = float(amap[owner == i].sum()) / total if total > 0 else 0.0
        out.append({"id": o["id"], "class": o["class"], "share": s, "distance_m": o.get("distance_m"),
                    "box": list(o["box"])})
    out.sort(key=lambda r: -r["share"])
    bg = float(amap[owner < 0].sum()) / total if total > 0 else 0.0
    out.append({"id": "background", "class": "background", "share": bg, "distance_m": None, "box": None})
    return out


def name_driver(shares: list[dict], *, min_share: float = 0.4, min_ratio: float = 2.0) -> str | None:
    """The object that drove the decision, if one stands out; else ``None``.

    An object is named when its share of the attribution is at least ``min_share``
    and at least ``min_ratio`` times the next object's share.
    """
    objs = [s for s in shares if s["id"] != "background"]
    if not objs:
        return None
    top = objs[0]
    second = objs[1]["share"] if len(objs) > 1 else 0.0
    if top["share"] >= min_share and top["share"] >= min_ratio * second:
        return top["id"]
    return None


def fill_box(image: np.ndarray, box) -> np.ndarray:
    """``image`` with ``box`` painted over by interpolating the pixels around it (no scene needed).

    Each row of the box is filled by linear interpolation between the pixels just
    left and right of it, so the road and lane markings continue through the hole.
    """
    img = image.astype(np.float64).copy()
    H, W, _ = img.shape
    x0, y0, x1, y1 = box
    x0, x1 = max(0, x0 - 1), min(W, x1 + 1)
    y0, y1 = max(0, y0 - 1), min(H, y1 + 1)
    for r in range(y0, y1):
        left = img[r, x0 - 1] if x0 > 0 else img[r, x1] if x1 < W else img[r].mean(0)
        right = img[r, x1] if x1 < W else left
        n = x1 - x0
        t = (np.arange(n) + 1) / (n + 1)
        img[r, x0:x1] = left[None] * (1 - t[:, None]) + right[None] * t[:, None]
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def counterfactual_frames(image, scene, obj: dict) -> dict:
    """Frames with the object removed, and moved sideways out of the ego lane's surroundings.

    With a scene description (synthetic clips) the frame is re-rendered without the
    object, and (road users only) with the object moved sideways, on its own side, as far
    as the sidewalk while staying in view; when it cannot leave the ego lane's
    surroundings in view, no "moved" frame is made. Without a scene description the
    object's box is filled from its surroundings (:func:`fill_box`).

    Returns:
        ``{"removed": uint8 (H, W, 3), "moved": uint8 or None, "how": str}``.
    """
    target = next((o for o in scene.objects if o.id == obj["id"]), None) if scene is not None else None
    if target is not None:
        side = 1.0 if target.lateral >= 0 else -1.0
        # the farthest place on the same side that stays in view, and clear of the ego lane's surroundings
        in_view = (scene.width / 2 - 1) / scene.focal * target.distance - target.half_width()
        need = EGO_HALF + (NEAR_MARGIN if target.kind != "vehicle" else 0.0) + target.half_width() + 0.2
        lateral = side * min(ROAD_HALF + 1.2, in_view)
        movable = target.kind in ("vehicle", "pedestrian", "cyclist") and abs(lateral) >= need
        moved = scene.moved(obj["id"], lateral) if movable else None
        return {"removed": render_scene(scene.without(obj["id"])),
                "moved": render_scene(moved) if moved is not None else None,
                "how": "re-rendered from the clip's scene description",
                "moved_to_lateral_m": round(lateral, 2) if moved is not None else None}
    return {"removed": fill_box(image, obj["box"]), "moved": None,
            "how": "object box filled from the surrounding pixels (no scene description in the clip)",
            "moved_to_lateral_m": None}


def occlusion_test(adapter, image, scene, obj: dict) -> dict:
    """Does removing (or moving) the object change the decision?

    Returns:
        ``{"object", "how", "original": {"decision", "probabilities"}, "removed": {...},
        "moved": {...} or None, "decision_changed": bool, "frames": {...}}``.
    """
    cf = counterfactual_frames(image, scene, obj)
    batch = [image, cf["removed"]] + ([cf["moved"]] if cf["moved"] is not None else [])
    p = predict_proba(adapter, np.stack(batch))

    def res(row):
        return {"decision": ACTIONS[int(np.argmax(row))], "probabilities": dict(zip(ACTIONS, map(float, row)))}

    out = {"object": obj["id"], "class": obj["class"], "how": cf["how"], "original": res(p[0]),
           "removed": res(p[1]), "moved": res(p[2]) if cf["moved"] is not None else None,
           "moved_to_lateral_m": cf["moved_to_lateral_m"]}
    out["decision_changed"] = out["removed"]["decision"] != out["original"]["decision"]
    out["frames"] = {"removed": cf["removed"], "moved": cf["moved"]}
    return out


def debounce(decisions, min_frames: int = 1) -> list:
    """Requested actions with runs shorter than ``min_frames`` merged into the run before them.

    A request has to persist ``min_frames`` frames to count (the first run always counts), as
    an event recorder would not log a single-frame flicker as a new request.

    Examples::

        >>> debounce(["continue", "slow", "continue", "brake", "brake"], 2)
        ['continue', 'continue', 'continue', 'brake', 'brake']
    """
    out = list(decisions)
    if min_frames <= 1 or not out:
        return out
    k = 0
    n = len(out)
    while k < n:
        j = k
        while j < n and decisions[j] == decisions[k]:
            j += 1
        if k > 0 and j - k < min_frames and j < n:
            for i in range(k, j):
                out[i] = out[k - 1]
        k = j
    return out


def decision_events(times, decisions, *, source: str = "decision model replay", min_frames: int = 1) -> list[dict]:
    """DSSAD-style time-stamped events from a sequence of requested actions.

    Args:
        times: frame times (s).
        decisions: the requested action per frame.
        source: recorded with each event.
        min_frames: a change counts only when it persists this many frames (:func:`debounce`).

    Returns:
        ``[{"t_s", "event", "source"}]``: ``"'brake' requested"`` for each change of the
        requested action (the first frame's action included when it is not ``continue``) and
        ``"'brake' request released"`` when it returns to ``continue``.
    """
    decisions = debounce(decisions, min_frames)
    events = []
    prev = "continue"
    for t, d in zip(times, decisions):
        if d != prev:
            what = f"'{d}' requested" if d != "continue" else f"'{prev}' request released"
            events.append({"t_s": float(t), "event": what, "source": source})
        prev = d
    return events


def key_frames(times, probs, *, max_frames: int = 3, decisions=None) -> list[int]:
    """Frames worth a close look: the first ``slow`` and ``brake`` decisions and the peak ``P(brake)``.

    Args:
        times: frame times.
        probs: ``(n, 3)`` probabilities in :data:`ACTIONS` order.
        max_frames: at most this many frames.
        decisions: the (debounced) requested action per frame; default the argmax of ``probs``.

    Falls back to the frame with the highest non-``continue`` probability. Returned in
    time order, without duplicates.
    """
    dec = (np.argmax(probs, axis=1) if decisions is None
           else np.array([ACTIONS.index(d) for d in decisions]))
    picks = []
    for a in (2, 1):
        hit = np.flatnonzero(dec == a)
        if len(hit):
            picks.append(int(hit[0]))
    if (dec == 2).any():
        picks.append(int(np.argmax(np.where(dec == 2, probs[:, 2], -1))))
    if not picks:
        picks.append(int(np.argmax(1 - probs[:, 0])))
    seen = []
    for k in picks:
        if k not in seen:
            seen.append(k)
    return sorted(seen[:max_frames])


@dataclass
class ClipExplanation:
    """Everything computed about a clip (plain data; the report draws it)."""

    times: np.ndarray
    probs: np.ndarray
    decisions: list
    events: list
    key_frames: list = field(default_factory=list)
    planner: dict | None = None


def planner_explanation(planner, signals) -> dict:
    """Planner ``P(brake)`` per frame and its TreeSHAP signal attributions (log-odds).

    Returns:
        ``{"features", "p_brake" (n,), "margin" (n,), "base_value", "values" (n, d),
        "self_check"}``.
    """
    from .models import PLANNER_FEATURES

    X = signals[list(PLANNER_FEATURES)].astype(float)
    attr = explain(planner, X, method="tree_shap")
    margin = np.asarray(attr.predictions, dtype=float)
    return {"features": list(PLANNER_FEATURES), "p_brake": 1 / (1 + np.exp(-margin)), "margin": margin,
            "base_value": float(attr.base_values[0]), "values": np.asarray(attr.values, dtype=float),
            "self_check": {"kind": attr.self_check.get("kind"), "max_abs_error": attr.self_check.get("max_abs_error"),
                           "tolerance": attr.self_check.get("tolerance"), "passed": attr.self_check.get("passed")}}


__all__ = ["to_tensor", "predict_proba", "attribution_maps", "object_shares", "name_driver", "fill_box",
           "counterfactual_frames", "occlusion_test", "decision_events", "debounce", "key_frames", "planner_explanation",
           "ClipExplanation", "DEFAULT_METHOD_OPTIONS", "EGO_HALF", "NEAR_MARGIN"]
