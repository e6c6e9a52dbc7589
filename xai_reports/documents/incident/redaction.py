"""Faces and licence plates redacted in every printed frame, located from detections or log annotations.

When the incident file asks (``privacy.faces_plates_redacted: true`` or ``privacy.public_copy:
true``), every frame the report prints (key frames, heat-map backgrounds, occlusion-test
frames, the team detector's panels) is pixelated inside each box whose class is in the
pack's ``incident.redaction.classes``. The boxes come from the log's object annotations
(ground truth / labels topic), the ADS's logged detections, and the team's detector when
one is given. The models always see the raw frame; only what is printed is redacted.
"""

from __future__ import annotations

import numpy as np


def redaction_requested(incident) -> bool:
    """Does the incident file ask for redacted frames?"""
    pv = incident.privacy
    return bool(pv.faces_plates_redacted) or bool(pv.public_copy)


def boxes_to_redact(classes, **sources) -> list[dict]:
    """``[{"box", "class", "source"}]`` for every item of every source whose class is in ``classes``.

    Args:
        classes: class names to redact (compared case-insensitively, spaces as underscores).
        sources: source name -> list of objects / detections (``box``, ``class``).
    """
    want = {str(c).lower().replace(" ", "_") for c in classes}
    out = []
    for src, items in sources.items():
        for o in items or []:
            if str(o.get("class", "")).lower().replace(" ", "_") in want:
                out.append({"box": [float(v) for v in o["box"]], "class": str(o["class"]),
                            "source": src.replace("_", " ")})
    return out


def pixelate(image: np.ndarray, boxes, *, block: int = 4, margin: int = 1) -> np.ndarray:
    """A copy of ``image`` with each box (grown by ``margin``) replaced by ``block`` x ``block`` means."""
    img = np.asarray(image).copy()
    H, W = img.shape[:2]
    for b in boxes:
        x0, y0, x1, y1 = (int(np.floor(b["box"][0])) - margin, int(np.floor(b["box"][1])) - margin,
                          int(np.ceil(b["box"][2])) + margin, int(np.ceil(b["box"][3])) + margin)
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(W, x1), min(H, y1)
        for y in range(y0, y1, block):
            for x in range(x0, x1, block):
                cell = img[y:min(y + block, y1), x:min(x + block, x1)]
                cell[...] = np.round(cell.reshape(-1, cell.shape[-1]).mean(0)).astype(img.dtype)
    return img


class Redactor:
    """Redacts printed frames of a clip, and keeps the account the report prints."""

    def __init__(self, spec, active: bool):
        self.spec, self.active = spec, active
        self.per_frame: dict[int, list[dict]] = {}

    def add(self, k: int, **sources) -> None:
        """Record the boxes of frame ``k`` found in the given sources (merged with earlier ones)."""
        if self.active:
            self.per_frame.setdefault(k, []).extend(boxes_to_redact(self.spec.classes, **sources))

    def __call__(self, k: int, image):
        """Frame ``k`` (or an edit of it) as printed."""
        if image is None or not self.active or not self.per_frame.get(k):
            return image
        return pixelate(image, self.per_frame[k], block=self.spec.block_px, margin=self.spec.margin_px)

    def account(self) -> dict | None:
        """What was redacted and how (``None`` when redaction was not asked for)."""
        if not self.active:
            return None
        boxes = [b for bs in self.per_frame.values() for b in bs]
        frames = sorted(k for k, bs in self.per_frame.items() if bs)
        how = (f"pixelated in {self.spec.block_px} x {self.spec.block_px} pixel blocks, {self.spec.margin_px} px "
               f"beyond each box, in every printed frame (the models saw the raw frames)")
        classes = ", ".join(c.replace("_", " ") for c in self.spec.classes)
        if not boxes:
            text = (f"Redaction was asked for; no {classes} was located in the printed frames by the log's "
                    f"annotations or detections, so nothing was blurred.")
        else:
            by = sorted({b["source"] for b in boxes})
            kinds = sorted({b["class"].replace("_", " ") for b in boxes})
            text = (f"{len(boxes)} region(s) ({', '.join(kinds)}) in {len(frames)} printed frame(s) "
                    f"(frames {', '.join(map(str, frames))}), located from {', '.join(by)}; {how}.")
        return {"text": text, "regions": len(boxes), "frames": frames, "method": how, "classes": list(self.spec.classes)}


__all__ = ["Redactor", "pixelate", "boxes_to_redact", "redaction_requested"]
