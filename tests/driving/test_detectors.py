"""The team's own detector (TorchScript, ONNX, torch module): detections and attributions for one of them."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from _tiny_detector import CELL, TinyDetector, save_onnx, save_torchscript  # noqa: E402
from xai_reports.documents.incident.detectors import (Detector, d_rise, explain_detection, grad_cam,  # noqa: E402
                                                      iou, load_detector, occlude_box, occlusion_map)
from xai_reports.errors import ExplanationError, ModelLoadError  # noqa: E402

CLASSES = {1: "red", 2: "blue"}
RED = [16, 24, 24, 32]      # x0, y0, x1, y1: one grid cell
BLUE = [64, 40, 72, 48]


def _frame(h=64, w=96):
    img = np.full((h, w, 3), 110, np.uint8)
    img[RED[1]:RED[3], RED[0]:RED[2]] = (220, 30, 30)
    img[BLUE[1]:BLUE[3], BLUE[0]:BLUE[2]] = (30, 40, 230)
    return img


def _in(box, pad, shape):
    m = np.zeros(shape, bool)
    m[max(0, box[1] - pad):box[3] + pad, max(0, box[0] - pad):box[2] + pad] = True
    return m


@pytest.fixture(scope="module")
def dets(tmp_path_factory):
    d = tmp_path_factory.mktemp("det")
    pytest.importorskip("onnxruntime")
    return {"torchscript": load_detector(save_torchscript(d / "det.pt"), "torchscript", classes=CLASSES),
            "onnx": load_detector(save_onnx(d / "det.onnx"), "onnx", classes=CLASSES),
            "torch": Detector(TinyDetector().eval(), "torch", classes=CLASSES), "dir": d}


def test_every_form_finds_the_two_squares(dets):
    img = _frame()
    found = {}
    for form in ("torchscript", "onnx", "torch"):
        out = dets[form].detect(img[None])[0]
        assert [(o["class"], o["box"]) for o in sorted(out, key=lambda o: o["label"])] == \
               [("red", [float(v) for v in RED]), ("blue", [float(v) for v in BLUE])]
        found[form] = [o["score"] for o in out]
    want = 1 / (1 + np.exp(-(12 * (220 - 30) / 255 - 4)))        # the red cell's score, by hand
    assert found["torchscript"][0] == pytest.approx(want, abs=1e-5)
    assert found["onnx"] == pytest.approx(found["torchscript"], abs=1e-5)
    assert iou(RED, BLUE) == 0 and iou(RED, [20, 24, 28, 32]) == pytest.approx(1 / 3)


def test_grad_cam_on_the_detection_score_sits_on_its_cell(dets):
    img = _frame()
    target = {"box": RED, "label": 1}
    ts = grad_cam(dets["torchscript"], img, target, "features")
    mod = grad_cam(dets["torch"], img, target, "features")      # forward hooks on the same network
    assert np.allclose(ts, mod, atol=1e-7)                        # the TorchScript graph copy agrees with hooks
    assert ts.sum() > 0 and ts[_in(RED, CELL, ts.shape)].sum() / ts.sum() > 0.999
    assert ts[BLUE[1]:BLUE[3], BLUE[0]:BLUE[2]].max() < 1e-6 * ts.max()     # float dust only
    with pytest.raises(ExplanationError, match="features"):
        grad_cam(dets["torchscript"], img, target, "backbone.layer4")
    with pytest.raises(ExplanationError, match="needs a torch detector"):
        grad_cam(dets["onnx"], img, target, "features")


def test_d_rise_and_occlusion_localise_the_detection_for_any_form(dets):
    img = _frame(56, 80)                 # another size than the key frames': the grid model takes any
    target = {"box": RED, "label": 1}
    maps = {f: explain_detection(dets[f], img, target, ["grad_cam", "d_rise", "occlusion"],
                                 {"grad_cam": {"layer": "features"}, "d_rise": {"n_masks": 120},
                                  "occlusion": {"window": 8, "stride": 4}}) for f in ("onnx", "torchscript")}
    assert set(maps["onnx"]) == {"d_rise", "occlusion"} and set(maps["torchscript"]) == {"grad_cam", "d_rise",
                                                                                          "occlusion"}
    for m in ("d_rise", "occlusion"):
        assert np.allclose(maps["onnx"][m], maps["torchscript"][m], atol=1e-4), m   # same network, same seed
    occ = maps["onnx"]["occlusion"]
    # only windows overlapping the cell change its score: nothing beyond the window's reach
    assert occ[~_in(RED, 8 - 1, occ.shape)].max() == 0 and occ[RED[1]:RED[3], RED[0]:RED[2]].min() > 0
    dr = maps["onnx"]["d_rise"]
    cell = np.zeros(dr.shape, bool)
    cell[RED[1]:RED[3], RED[0]:RED[2]] = True
    assert cell[np.unravel_index(np.argmax(dr), dr.shape)]
    assert dr[cell].mean() > 5 * dr[~_in(RED, 2 * CELL, dr.shape)].mean()
    assert np.array_equal(d_rise(dets["onnx"], img, target, n_masks=50), d_rise(dets["onnx"], img, target, n_masks=50))


def test_occluding_the_box_removes_the_detection(dets):
    box = occlude_box(dets["onnx"], _frame(), {"box": RED, "label": 1})
    assert box["before"] > 0.9 and box["after"] < 0.05 and box["removed"]
    other = occlude_box(dets["onnx"], _frame(), {"box": BLUE, "label": 1})     # no red there: nothing to lose
    assert other["before"] < 0.05 and other["after"] < 0.05


def test_bad_detector_files_are_one_line(dets, tmp_path):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a graph")
    for form in ("onnx", "torchscript"):
        with pytest.raises(ModelLoadError, match=r"junk\.onnx: not a") as e:
            load_detector(junk, form)
        assert "\n" not in str(e.value)
    with pytest.raises(ModelLoadError, match="unknown torchvision detector"):
        load_detector(junk, "torchvision", architecture="yolo")
    try:
        import torchvision  # noqa: F401
    except Exception:  # noqa: BLE001 - not installed, or built for another torch
        with pytest.raises(ModelLoadError, match="needs torchvision .*TorchScript or ONNX"):
            load_detector(junk, "torchvision", architecture="fasterrcnn_resnet50_fpn")


def test_torchvision_form_builds_the_named_architecture_and_loads_a_state_dict(tmp_path, monkeypatch):
    """The torchvision code path without torchvision: a stand-in ``torchvision.models.detection`` module
    records how the builder is called; the state dict is loaded with weights_only and explained with hooks."""
    import sys
    import types

    calls = []

    def builder(**kw):
        calls.append(kw)
        return TinyDetector(((0.0, 0.0, 0.0), (0.0, 0.0, 0.0)))       # zero weights until the state dict loads

    fake = types.ModuleType("torchvision.models.detection")
    fake.retinanet_resnet50_fpn = builder
    models = types.ModuleType("torchvision.models")
    models.detection = fake
    tv = types.ModuleType("torchvision")
    tv.models = models
    for name, mod in (("torchvision", tv), ("torchvision.models", models), ("torchvision.models.detection", fake)):
        monkeypatch.setitem(sys.modules, name, mod)
    sd = tmp_path / "retina.pt"
    torch.save(TinyDetector().state_dict(), sd)
    det = load_detector(sd, "torchvision", architecture="retinanet_resnet50_fpn", classes=CLASSES, num_classes=3)
    assert calls == [{"weights": None, "weights_backbone": None, "num_classes": 3}]
    found = det.detect(_frame()[None])[0]
    assert sorted(o["class"] for o in found) == ["blue", "red"]
    cam = grad_cam(det, _frame(), {"box": RED, "label": 1}, "features")
    assert cam[_in(RED, CELL, cam.shape)].sum() / cam.sum() > 0.999
    torch.save({"features.weight": torch.zeros(1)}, tmp_path / "bad.pt")
    with pytest.raises(ModelLoadError, match=r"bad\.pt: not a state dict for retinanet_resnet50_fpn"):
        load_detector(tmp_path / "bad.pt", "torchvision", architecture="retinanet_resnet50_fpn", num_classes=3)
