"""Figures cut into rows of panels: every row as wide as the figure, cut in white space, a lone panel half wide."""

import io

import numpy as np
from PIL import Image

from xai_reports.documents.incident.figures import detection_rows, key_frame_rows, planner_rows, timeline_rows


def _arrays(rows):
    return [np.asarray(Image.open(io.BytesIO(r)).convert("L")) for r in rows]


def _cut_in_white_space(a):
    return (a[0] > 250).all() and (a[-1] > 250).all()


def test_a_key_frame_is_two_rows_of_two_panels_cut_between_them():
    rng = np.random.default_rng(3)
    img = rng.integers(0, 255, (48, 80, 3), dtype=np.uint8)           # not the demo's 96 x 64
    maps = {"A": rng.random((48, 80)), "B": rng.random((48, 80)), "C": np.zeros((48, 80))}
    objects = [{"id": "cyclist_1", "box": [10, 10, 30, 40], "class": "cyclist"}]
    rows = _arrays(key_frame_rows(img, maps, objects, highlight="cyclist_1"))
    assert len(rows) == 2
    assert rows[0].shape[1] == rows[1].shape[1] == round(7.2 * 120)     # the grid's whole width, both rows
    assert all(_cut_in_white_space(a) for a in rows)
    for a in rows:                                                       # two panels a row: ink in both halves
        w = a.shape[1]
        assert (a[:, : w // 2] < 200).any() and (a[:, w // 2:] < 200).any()


def test_a_lone_panel_stays_half_as_wide():
    img = np.full((64, 96, 3), 90, np.uint8)
    (a,) = _arrays(detection_rows(img, [], {}, None))
    w = a.shape[1]
    assert w == round(7.2 * 120)
    assert (a[:, : w // 2] < 200).any() and (a[:, int(0.55 * w):] > 250).all()


def test_timeline_and_planner_charts_are_one_row_a_chart_of_one_width():
    import pandas as pd

    t = np.linspace(0, 3, 31)
    probs = np.stack([np.linspace(1, 0, 31), np.zeros(31), np.linspace(0, 1, 31)], 1)
    sig = pd.DataFrame({"speed_mps": np.linspace(12, 4, 31), "distance_to_lead_m": np.linspace(30, 5, 31),
                        "ttc_s": np.linspace(6, 1, 31)})
    tl = _arrays(timeline_rows(t, probs, events=[{"t_s": 1.2}], signals=sig))
    pl = _arrays(planner_rows(t, probs[:, 2], np.stack([t, -t], 1), ["speed_mps", "ttc_s"], {}))
    for rows in (tl, pl):
        assert len(rows) == 2 and rows[0].shape[1] == rows[1].shape[1]
        assert all(_cut_in_white_space(a) for a in rows)
