"""The incident report's section on the team's own detector: its detections and their attributions.

On each key frame the detector runs on the raw frame; the explained detection is the one
that best matches (IoU) the object the decision model's attribution named (or, when none
is named, the object with the largest share), else the highest-scoring detection. Each of
the pack's methods (Grad-CAM on the detection score, D-RISE, occlusion) gives a map whose
shares on the objects are measured as for the decision model, and the detection's box is
filled with the frame's mean colour to see whether the detection survives.
"""

from __future__ import annotations

import base64
from pathlib import Path

from .analysis import object_shares
from .detectors import Detector, explain_detection, iou, load_detector, occlude_box
from .content import panel_rows_figure
from .figures import detection_rows

LABELS = {"grad_cam": "Grad-CAM (detection score)", "d_rise": "D-RISE", "occlusion": "Occlusion (sliding window)"}
NOTES = {
    "grad_cam": "Grad-CAM on the detection score: gradient-weighted activations of the named layer for the "
                "score of the explained detection, upsampled to the frame; non-negative.",
    "d_rise": "D-RISE (Petsiuk et al. 2021): the frame is multiplied by random smooth masks; each mask is weighted "
              "by the similarity (IoU x score, same class) of the best-matching detection in the masked frame; "
              "weights are centred on their mean, so the map is where keeping the pixels raises the detection.",
    "occlusion": "Occlusion of the detection: a window filled with the frame's mean colour is slid over the frame; "
                 "the map is the drop of the detection's similarity, averaged over the windows covering each pixel.",
}


def resolve_detector(detector, spec) -> Detector:
    """A :class:`Detector` from a file (form from the pack, else from the suffix) or a ready one."""
    if isinstance(detector, Detector):
        return detector
    p = Path(detector)
    form = spec.form if spec is not None else ("onnx" if p.suffix.lower() == ".onnx" else "torchscript")
    kw = {} if spec is None else {"architecture": spec.architecture, "classes": spec.classes,
                                  "num_classes": spec.num_classes, "score_threshold": spec.score_threshold}
    return load_detector(p, form, **kw)


def _target(found, objects, want, match_iou):
    obj = next((o for o in objects if o["id"] == want), None)
    if obj is not None:
        scored = [(iou(d["box"], obj["box"]), j) for j, d in enumerate(found)]
        best = max(scored, default=(0.0, -1))
        if best[0] >= match_iou:
            return found[best[1]], obj, best[0]
    return (found[0], None, 0.0) if found else (None, None, 0.0)


def detector_section(det: Detector, spec, clip, key_frames, *, printable) -> tuple[dict, list]:
    """``(content, record)``: per key frame the detections, the explained one, maps, shares, box test."""
    methods = list(spec.methods) if spec is not None else ["grad_cam", "d_rise", "occlusion"]
    options = dict(spec.options) if spec is not None else {}
    match_iou = spec.match_iou if spec is not None else 0.3
    if not det.differentiable:
        methods = [m for m in methods if m != "grad_cam"]
    content, record = [], []
    for kf in key_frames:
        k = kf["index"]
        img = clip.images[k]
        found = det.detect(img[None])[0]
        objs = kf["objects"]
        shares0 = kf["shares"]
        want = kf["named"] or next((s["id"] for s in next(iter(shares0.values())) if s["id"] != "background"), None)
        target, obj, ov = _target(found, objs, want, match_iou)
        maps = explain_detection(det, img, target, methods, options) if target else {}
        shares = {m: object_shares(maps[m], objs) for m in maps}
        box = occlude_box(det, img, target) if target else None
        rows = detection_rows(printable(k, img), found, {LABELS[m]: maps[m] for m in maps}, target)
        if target is None:
            statement = f"The detector finds nothing above its threshold ({det.score_threshold:.2f}) in this frame."
        else:
            what = f"'{target['class']}' ({target['score']:.2f})"
            match = (f", the detection of object '{obj['id']}' (IoU {ov:.2f})" if obj is not None else
                     " (its highest-scoring detection; none matches the object the decision model's attribution "
                     "points at)")
            parts = []
            for m in maps:
                on = next((s for s in shares[m] if obj is not None and s["id"] == obj["id"]), None)
                top = shares[m][0]
                parts.append(f"{LABELS[m]}: {100 * on['share']:.0f}% on '{obj['id']}'" if on else
                             f"{LABELS[m]}: largest share {100 * top['share']:.0f}% on '{top['id']}'")
            gone = "the detection is lost" if box["removed"] else "the detection survives"
            statement = (f"Explained detection: {what}{match}. " + ("; ".join(parts) + ". " if parts else "")
                         + f"Filling its box with the frame's mean colour takes its score from {box['before']:.2f} "
                           f"to {box['after']:.2f}: {gone}.")
        content.append({
            "t": f"{kf['t_s']:.1f}", "index": k, "statement": statement,
            "detections": [{"class": d["class"].replace("_", " "), "score": f"{d['score']:.2f}",
                            "box": ", ".join(f"{v:.0f}" for v in d["box"]),
                            "explained": target is not None and d is target} for d in found],
            "figure": panel_rows_figure(
                ["data:image/png;base64," + base64.b64encode(r).decode("ascii") for r in rows],
                f"Frame at t = {kf['t_s']:.1f} s",
                [f"the frame with the team detector's {len(found)} detection(s) and their confidence"]
                + [f"the {LABELS[m]} map of the explained detection" for m in maps], statement)})
        record.append({"index": k, "t_s": kf["t_s"], "detections": found, "explained": target,
                       "matched_object": obj["id"] if obj else None, "match_iou": ov,
                       "shares": {m: [{x: v for x, v in s.items() if x != "box"} for s in shares[m]] for m in shares},
                       "box_occlusion": None if box is None else {"before": box["before"], "after": box["after"],
                                                                  "detection_lost": bool(box["removed"])}})
    desc = {"name": det.name, "form": det.form, "sha256": det.sha256, "score_threshold": det.score_threshold,
            "methods": [LABELS[m] for m in methods], "method_notes": [NOTES[m] for m in methods],
            "key_frames": content}
    return desc, record


__all__ = ["detector_section", "resolve_detector", "LABELS"]
