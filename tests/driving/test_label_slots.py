"""Confidence labels of overlapping detections on a key frame are staggered, never printed over one another."""

import numpy as np
import pytest

from xai_reports.documents.incident.figures import label_slots


def _overlap(a, b):
    (ax, ay, aw, ah), (bx, by, bw, bh) = a, b
    return ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah


@pytest.mark.parametrize("n", [2, 6, 12])
def test_labels_of_stacked_boxes_do_not_overlap_and_stay_in_the_image(n):
    rng = np.random.default_rng(n)
    W, H = 96, 64
    boxes = [[40 + int(rng.integers(0, 3)), 20, 56, 36 + int(rng.integers(0, 3))] for _ in range(n)]
    sizes = [(float(rng.uniform(10, 30)), 4.0) for _ in range(n)]
    slots = label_slots(boxes, sizes, W, H)
    rects = [(x, y, w, h) for (x, y), (w, h) in zip(slots, sizes)]
    for i in range(n):
        x, y, w, h = rects[i]
        assert -0.5 <= x and x + w <= W - 0.5 + 1e-9 and -0.5 <= y and y + h <= H - 0.5 + 1e-9
        for j in range(i):
            assert not _overlap(rects[i], rects[j]), (i, j, rects[i], rects[j])


def test_a_lone_label_sits_under_its_box_and_one_at_the_edge_is_clamped():
    assert label_slots([[10, 5, 30, 20]], [(12, 4)], 96, 64) == [(9.5, 20.5)]
    (x, y), = label_slots([[90, 58, 96, 64]], [(20, 4)], 96, 64)      # bottom-right corner: above, inside
    assert x == 96 - 0.5 - 20 and y == 58 - 0.5 - 4


def test_a_key_frame_with_many_overlapping_detections_renders():
    from xai_reports.documents.incident.figures import key_frame_rows

    img = np.zeros((64, 96, 3), np.uint8)
    dets = [{"class": "pedestrian", "score": 0.9 - 0.05 * i, "box": [40, 20, 56, 40]} for i in range(8)]
    rows = key_frame_rows(img, {"Occlusion": np.ones((64, 96))}, [], detections=dets)
    assert len(rows) == 1 and rows[0][:8] == b"\x89PNG\r\n\x1a\n"
