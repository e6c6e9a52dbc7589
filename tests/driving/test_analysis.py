"""Replay analysis: object shares, naming rule, events, key frames, occlusion tests (known answers)."""

import numpy as np
import pytest
import torch

from xai_reports.adapters import wrap_model
from xai_reports.documents.incident import analysis as an
from xai_reports.documents.incident.scenes import Scene, SceneObject, ground_truth, render_scene


def test_object_shares_known_answer_and_overlap_goes_to_the_nearer_object():
    m = np.zeros((10, 10))
    m[2, 2] = 2.0    # only in far box
    m[4, 4] = 5.0    # in both boxes -> near object
    m[9, 9] = 3.0    # background
    objs = [{"id": "far", "class": "vehicle", "box": [0, 0, 5, 5], "distance_m": 30.0},
            {"id": "near", "class": "pedestrian", "box": [3, 3, 8, 8], "distance_m": 10.0}]
    shares = {s["id"]: s["share"] for s in an.object_shares(m, objs)}
    assert shares == pytest.approx({"near": 0.5, "far": 0.2, "background": 0.3})
    zero = an.object_shares(np.zeros((4, 4)), objs)
    assert all(s["share"] == 0 for s in zero)


@pytest.mark.parametrize("shares, expected", [
    ([0.6, 0.2], "a"), ([0.45, 0.25], None), ([0.3, 0.05], None), ([0.5], "a"), ([], None)])
def test_naming_rule(shares, expected):
    rows = [{"id": "ab"[i], "share": s} for i, s in enumerate(shares)] + [{"id": "background", "share": 0.1}]
    assert an.name_driver(rows, min_share=0.4, min_ratio=2.0) == expected


def test_fill_box_continues_the_surroundings():
    img = np.zeros((6, 8, 3), dtype=np.uint8)
    img[:, :, 0] = np.arange(8)[None, :] * 30      # a horizontal ramp
    img[2:4, 3:5] = 255                             # an "object"
    out = an.fill_box(img, [3, 2, 5, 4])
    assert (out[:, :, 1] == 0).all()                # the object's white is gone
    assert np.allclose(out[:, :, 0], img[:, :, 0] * 0 + np.arange(8)[None, :] * 30, atol=1)


def test_decision_events_and_key_frames():
    t = np.arange(6) / 10
    ev = an.decision_events(t, ["continue", "slow", "slow", "brake", "brake", "continue"])
    assert [(e["t_s"], e["event"]) for e in ev] == [(0.1, "'slow' requested"), (0.3, "'brake' requested"),
                                                   (0.5, "'brake' request released")]
    assert an.debounce(["continue", "slow", "continue", "continue", "brake", "brake"], 2) == \
        ["continue", "continue", "continue", "continue", "brake", "brake"]
    ev2 = an.decision_events(t, ["continue", "slow", "continue", "brake", "brake", "brake"], min_frames=2)
    assert [(e["t_s"], e["event"]) for e in ev2] == [(0.3, "'brake' requested")]
    probs = np.array([[.8, .1, .1], [.2, .7, .1], [.2, .6, .2], [.1, .2, .7], [.0, .1, .9], [.9, .05, .05]])
    assert an.key_frames(t, probs) == [1, 3, 4]
    assert an.key_frames(t, np.tile([[.9, .06, .04]], (6, 1)), max_frames=3) == [0]


class BlueDetector(torch.nn.Module):
    """Brake iff strongly blue pixels exist: a model whose answer is known."""

    def forward(self, x):
        blue = (x[:, 2] - 0.5 * (x[:, 0] + x[:, 1]))
        score = torch.amax(blue.flatten(1), dim=1) * 20 - 12
        return torch.stack([-score, torch.zeros_like(score), score], dim=1)


def _blue_scene():
    return Scene(objects=[SceneObject("vehicle", 0.0, 12.0, colour=(20, 20, 250), id="car"),
                          SceneObject("vehicle", 3.6, 25.0, colour=(230, 230, 230), id="white")], seed=1)


def test_occlusion_test_removes_and_moves_the_object():
    model = wrap_model(BlueDetector())
    scene = _blue_scene()
    img = render_scene(scene)
    car = next(g for g in ground_truth(scene) if g["id"] == "car")
    res = an.occlusion_test(model, img, scene, car)
    assert res["original"]["decision"] == "brake"
    assert res["removed"]["decision"] == "continue" and res["decision_changed"]
    assert res["moved"]["decision"] == "brake"     # still blue, only moved: this model does not care where
    white = next(g for g in ground_truth(scene) if g["id"] == "white")
    assert not an.occlusion_test(model, img, scene, white)["decision_changed"]
    # without a scene description the box is filled from its surroundings
    res2 = an.occlusion_test(model, img, None, car)
    assert res2["decision_changed"] and res2["moved"] is None and "filled" in res2["how"]


def test_attribution_shares_find_the_blue_object():
    """Occlusion maps of the blue detector put (almost) all their mass on the blue car."""
    model = wrap_model(BlueDetector())
    scene = _blue_scene()
    img = render_scene(scene)[None]
    maps, attr = an.attribution_maps(model, img, "occlusion", [2], {"window": (4, 4), "strides": (2, 2)})
    shares = an.object_shares(maps[0], ground_truth(scene))
    assert shares[0]["id"] == "car" and shares[0]["share"] > 0.8
    assert an.name_driver(shares) == "car"
