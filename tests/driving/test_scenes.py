"""The synthetic scene generator: exact ground truth, the documented rule, determinism."""

import numpy as np
import pytest

from examples.driving_synthetic.scenes import correct_action, make_dataset, sample_scene
from xai_reports.documents.incident.scenes import (ACTIONS, CAMERA_HEIGHT, SIZES, Scene, SceneObject, ground_truth,
                                                   object_box, render_scene)


def _scene(*objs, **kw):
    return Scene(objects=list(objs), **kw)


@pytest.mark.parametrize("obj, expected", [
    (SceneObject("pedestrian", 0.0, 12.0, id="o"), "brake"),
    (SceneObject("vehicle", 0.3, 14.9, id="o"), "brake"),
    (SceneObject("vehicle", 0.0, 22.0, id="o"), "slow"),
    (SceneObject("cyclist", -1.0, 29.0, id="o"), "slow"),
    (SceneObject("vehicle", 0.0, 35.0, id="o"), "continue"),
    (SceneObject("vehicle", 3.5, 10.0, id="o"), "continue"),          # adjacent lane
    (SceneObject("pedestrian", 2.6, 15.0, id="o"), "slow"),           # at the lane edge
    (SceneObject("pedestrian", 6.5, 8.0, id="o"), "continue"),        # on the sidewalk
    (SceneObject("traffic_light", 6.0, 15.0, state="red", id="o"), "brake"),
    (SceneObject("traffic_light", 6.0, 30.0, state="red", id="o"), "slow"),
    (SceneObject("traffic_light", 6.0, 30.0, state="yellow", id="o"), "slow"),
    (SceneObject("traffic_light", 6.0, 15.0, state="green", id="o"), "continue"),
    (SceneObject("sign", 6.0, 20.0, state="stop", id="o"), "slow"),
    (SceneObject("sign", 6.0, 20.0, state="speed_limit", id="o"), "continue"),
])
def test_rule_known_answers(obj, expected):
    action, ids = correct_action(_scene(obj))
    assert action == expected
    assert ids == ([] if expected == "continue" else ["o"])


def test_rule_takes_the_most_severe_object():
    s = _scene(SceneObject("vehicle", 0.0, 25.0, id="far"), SceneObject("pedestrian", 0.5, 10.0, id="near"))
    assert correct_action(s) == ("brake", ["near"])


def test_boxes_follow_the_pinhole_model():
    s = Scene()
    o = SceneObject("pedestrian", 1.0, 20.0, id="p")
    x0, y0, x1, y1 = object_box(s, o)
    f = s.focal
    w, h = SIZES["pedestrian"]
    assert y1 - y0 == pytest.approx(f * h / 20.0)
    assert x1 - x0 == pytest.approx(f * w / 20.0)
    assert y1 == pytest.approx(s.horizon + f * CAMERA_HEIGHT / 20.0)     # feet on the ground
    assert (x0 + x1) / 2 == pytest.approx(s.width / 2 + f * 1.0 / 20.0)


@pytest.mark.parametrize("kind", ["vehicle", "pedestrian", "cyclist"])
@pytest.mark.parametrize("lighting, weather", [("day", "clear"), ("night", "fog"), ("dusk", "rain")])
def test_rendered_object_lies_inside_its_box(kind, lighting, weather):
    """Independent check: the pixels an object changes are inside its ground-truth box."""
    obj = SceneObject(kind, 0.8, 14.0, colour=(230, 230, 230), id="x", phase=0.3)
    with_obj = render_scene(_scene(obj, lighting=lighting, weather=weather, seed=5)).astype(int)
    without = render_scene(_scene(lighting=lighting, weather=weather, seed=5)).astype(int)
    changed = np.abs(with_obj - without).sum(axis=2) > 0
    assert changed.sum() > 20
    (box,) = [g["box"] for g in ground_truth(_scene(obj))]
    x0, y0, x1, y1 = box
    inside = np.zeros_like(changed)
    inside[y0:y1, x0:x1] = True
    assert (changed & ~inside).sum() == 0
    # and the object fills its box reasonably (not a box far too large)
    assert changed[y0:y1, x0:x1].mean() > 0.35


def test_sampled_boxes_are_inside_the_frame_and_labels_reproduce():
    ds = make_dataset(90, seed=7)
    assert np.bincount(ds.labels, minlength=3).tolist() == [30, 30, 30]
    for scene, truth, label, decisive in zip(ds.scenes, ds.truth, ds.labels, ds.decisive):
        for g in truth:
            x0, y0, x1, y1 = g["box"]
            assert 0 <= x0 < x1 <= scene.width and 0 <= y0 < y1 <= scene.height
        action, ids = correct_action(scene)
        assert ACTIONS.index(action) == label and ids == decisive
        if action != "continue":
            assert len(decisive) == 1                              # one decisive object by construction
            assert decisive[0] in {g["id"] for g in truth}


def test_dataset_is_deterministic():
    a, b = make_dataset(12, seed=3), make_dataset(12, seed=3)
    assert np.array_equal(a.images, b.images) and np.array_equal(a.labels, b.labels)
    c = make_dataset(12, seed=4)
    assert not np.array_equal(a.images, c.images)


def test_sample_scene_returns_requested_action():
    rng = np.random.default_rng(0)
    for action in ACTIONS * 5:
        assert correct_action(sample_scene(rng, action))[0] == action


def test_removing_the_decisive_object_changes_the_rule():
    rng = np.random.default_rng(1)
    for _ in range(20):
        s = sample_scene(rng, "brake")
        _, (oid,) = correct_action(s)
        assert correct_action(s.without(oid))[0] != "brake"


def test_scene_round_trips_through_dict():
    s = sample_scene(np.random.default_rng(2), "slow")
    s2 = Scene.from_dict(s.to_dict())
    assert np.array_equal(render_scene(s), render_scene(s2))
