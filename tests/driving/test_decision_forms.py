"""The incident report's decision model as TorchScript or ONNX (issue 21): Grad-CAM through the
archive's graph, perturbation methods only for ONNX, the form told in words, bad files in one line."""

import html as html_mod
import re
import warnings
from collections import OrderedDict

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from examples.driving_synthetic.clips import write_clip  # noqa: E402
from xai_reports.adapters import wrap_model  # noqa: E402
from xai_reports.documents.incident import report as report_mod  # noqa: E402
from xai_reports.documents.incident.analysis import attribution_maps  # noqa: E402
from xai_reports.documents.incident.clips import read_clip  # noqa: E402
from xai_reports.documents.incident.decision_forms import (decision_maps, load_decision_file,  # noqa: E402
                                                           resolve_models, sniff_decision_form)
from xai_reports.documents.incident.incident_file import EXAMPLE_INCIDENT  # noqa: E402
from xai_reports.errors import ModelLoadError, XaiReportsError  # noqa: E402
from xai_reports.packs import load_pack  # noqa: E402

PACK = """extends: autonomous_driving
name: team_cls
incident:
  image_explanation:
    max_key_frames: 2
    options: {grad_cam: {layer: features.conv4}, integrated_gradients: {n_steps: 4},
              occlusion: {window: [16, 16], strides: [16, 16]}}
"""


class TinyDecision(torch.nn.Module):
    """Same contract as the shipped decision CNN: (n, 3, 64, 96) in [0, 1] -> 3 logits (continue, slow, brake)."""

    def __init__(self):
        super().__init__()
        nn = torch.nn
        self.features = nn.Sequential(OrderedDict([
            ("conv1", nn.Conv2d(3, 6, 3, stride=2, padding=1)), ("relu1", nn.ReLU()),
            ("conv4", nn.Conv2d(6, 6, 3, padding=1)), ("relu4", nn.ReLU())]))
        self.head = nn.Conv2d(6, 3, 1)

    def forward(self, x):
        return self.head(self.features(x - 0.5)).amax(dim=(2, 3))


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    d = tmp_path_factory.mktemp("cls")
    torch.manual_seed(3)
    net = TinyDecision().eval()
    x = torch.rand(2, 3, 64, 96)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.script(net), str(d / "cls_script.pt"))
        torch.jit.save(torch.jit.trace(net, x), str(d / "cls_traced.pt"))
        torch.onnx.export(net, (x,), str(d / "cls.onnx"), input_names=["x"], output_names=["logits"], dynamo=False,
                          dynamic_axes={"x": {0: "n"}, "logits": {0: "n"}}, opset_version=17)
    torch.save(net.state_dict(), str(d / "cls_state.pt"))
    clip = read_clip(write_clip(d / "clip", "pedestrian_step_in"))
    (d / "inc.yaml").write_text(EXAMPLE_INCIDENT)
    (d / "pack.yaml").write_text(PACK)
    return {"dir": d, "net": net, "clip": clip}


def _text(pdf_path):
    from pypdf import PdfReader

    return re.sub(r"\s+", " ", " ".join(p.extract_text() for p in PdfReader(str(pdf_path)).pages))


@pytest.fixture(scope="module")
def reports(made):
    d, out = made["dir"], {}
    for name in ("cls_script.pt", "cls.onnx"):
        res = report_mod.generate_incident_report(d / name, made["clip"], d / "inc.yaml", d / f"r_{name}.pdf",
                                                  d / "pack.yaml", formats=("pdf", "html", "json"), key=b"")
        html = html_mod.unescape(re.sub(r"<[^>]+>", " ", res["files"][1].read_text()))
        out[name] = {"record": res["record"], "pdf": _text(res["files"][0]), "html": re.sub(r"\s+", " ", html)}
    return out


def test_form_is_read_from_the_content_not_the_suffix(made, tmp_path):
    d = made["dir"]
    assert sniff_decision_form(d / "cls_script.pt") == "torchscript"
    assert sniff_decision_form(d / "cls_traced.pt") == "torchscript"
    assert sniff_decision_form(d / "cls.onnx") == "onnx"
    assert sniff_decision_form(d / "cls_state.pt") == "state_dict"
    swapped = tmp_path / "model.pt"                    # an ONNX graph under a torch suffix
    swapped.write_bytes((d / "cls.onnx").read_bytes())
    assert sniff_decision_form(swapped) == "onnx"
    ts_as_onnx = tmp_path / "model.onnx"
    ts_as_onnx.write_bytes((d / "cls_script.pt").read_bytes())
    assert sniff_decision_form(ts_as_onnx) == "torchscript"


@pytest.mark.parametrize("archive", ["cls_script.pt", "cls_traced.pt"])
def test_torchscript_grad_cam_equals_hook_grad_cam_on_the_eager_network(made, archive):
    imgs = made["clip"].images[[0, 20, 40]]
    adapter, form = load_decision_file(made["dir"] / archive, "driving_cnn_v1", ["continue", "slow", "brake"])
    assert form == "torchscript"
    eager = wrap_model(made["net"], device="cpu")
    x = torch.from_numpy(np.ascontiguousarray(imgs)).permute(0, 3, 1, 2).float() / 255
    target = [0, 1, 2]                                 # each class once, not only the predicted one
    ts = decision_maps(adapter, imgs, "grad_cam", target, {"layer": "features.conv4"})
    ref, attr = attribution_maps(eager, imgs, "grad_cam", target, {"layer": "features.conv4"})
    assert attr.params["layer"] == "features.conv4" and ts.shape == ref.shape == (3, 64, 96)
    assert ref.max() > 0
    np.testing.assert_allclose(ts, ref, atol=1e-6, rtol=0)
    with torch.no_grad():
        np.testing.assert_allclose(adapter.predict(x), made["net"](x).numpy(), atol=1e-5)


def test_a_parameterless_grad_cam_layer_in_torchscript_is_one_line_listing_the_layers(made):
    adapter, _ = load_decision_file(made["dir"] / "cls_script.pt", "driving_cnn_v1", ["continue", "slow", "brake"])
    with pytest.raises(XaiReportsError, match=r"'features\.relu4'.*TorchScript decision model.*features\.conv4") as e:
        decision_maps(adapter, made["clip"].images[:1], "grad_cam", [0], {"layer": "features.relu4"})
    assert "\n" not in str(e.value)


def test_onnx_and_torchscript_occlusion_maps_agree(made):
    imgs = made["clip"].images[[10, 30]]
    ts, _ = load_decision_file(made["dir"] / "cls_script.pt", "driving_cnn_v1", ["continue", "slow", "brake"])
    ox, form = load_decision_file(made["dir"] / "cls.onnx", "driving_cnn_v1", ["continue", "slow", "brake"])
    assert form == "onnx"
    opts = {"window": (16, 16), "strides": (8, 8)}
    a = decision_maps(ts, imgs, "occlusion", [1, 2], opts)
    b = decision_maps(ox, imgs, "occlusion", [1, 2], opts)
    assert a.max() > 0
    np.testing.assert_allclose(a, b, atol=1e-4 * a.max())
    with pytest.raises(XaiReportsError, match="ONNX"):
        decision_maps(ox, imgs, "grad_cam", [1, 2])


def test_torchscript_report_runs_every_method(reports):
    r = reports["cls_script.pt"]
    rec = r["record"]
    assert rec["explanation"]["model_form"] == "torchscript" and rec["explanation"]["not_run"] == []
    assert rec["explanation"]["image_methods"] == ["grad_cam", "integrated_gradients", "occlusion"]
    assert rec["models"][0]["architecture"] == "TorchScript archive" and rec["models"][0]["name"] == "cls_script.pt"
    for kf in rec["key_frames"]:
        assert set(kf["shares"]) == {"grad_cam", "integrated_gradients", "occlusion"}
    for text in (r["pdf"], r["html"]):
        assert "The decision model is a TorchScript archive: Grad-CAM takes the layer's activation" in text
        assert "Not run:" not in text
        assert "activations of layer features.conv4" in text and "when a 16x16 patch" in text


def test_onnx_report_runs_perturbation_methods_and_says_why_not_gradients(reports):
    r = reports["cls.onnx"]
    rec = r["record"]
    assert rec["explanation"]["model_form"] == "onnx"
    assert rec["explanation"]["image_methods"] == ["occlusion"] and rec["explanation"]["primary"] == "occlusion"
    assert [d["method"] for d in rec["explanation"]["not_run"]] == ["grad_cam", "integrated_gradients"]
    for kf in rec["key_frames"]:
        assert set(kf["shares"]) == {"occlusion"}
    for text in (r["pdf"], r["html"]):
        assert ("Not run: Grad-CAM, Integrated gradients, because the decision model is ONNX (run in onnxruntime), "
                "which gives no gradients") in text
        assert "Only perturbation methods (Occlusion) were run" in text and "when a 16x16 patch" in text
        assert "Grad-CAM (Selvaraju" not in text
    # the same network, so the same decisions and the same occlusion shares as the TorchScript report
    ts = reports["cls_script.pt"]["record"]
    assert rec["replay"]["decisions"] == ts["replay"]["decisions"]
    np.testing.assert_allclose(rec["replay"]["probabilities"], ts["replay"]["probabilities"], atol=1e-5)
    for a, b in zip(rec["key_frames"], ts["key_frames"]):
        sa = {s["id"]: s["share"] for s in a["shares"]["occlusion"]}
        sb = {s["id"]: s["share"] for s in b["shares"]["occlusion"]}
        assert sa.keys() == sb.keys() and all(abs(sa[k] - sb[k]) < 1e-3 for k in sa)


@pytest.mark.parametrize("content", [b"\x08\x07garbage that is no protobuf", b"not a model at all", b"PK\x03\x04junk"])
def test_a_bad_model_file_is_one_line_naming_it(tmp_path, content):
    bad = tmp_path / "broken_model.onnx"
    bad.write_bytes(content)
    with pytest.raises(ModelLoadError) as e:
        resolve_models(bad, None, load_pack("autonomous_driving"))
    msg = str(e.value)
    assert "broken_model.onnx" in msg and "\n" not in msg


def test_a_torchvision_classifier_needs_torchvision(made, tmp_path):
    (tmp_path / "pack.yaml").write_text("extends: autonomous_driving\nname: tv\nincident:\n  decision_model:\n"
                                        "    architecture: torchvision.resnet18\n")
    try:
        import torchvision  # noqa: F401
        pytest.skip("torchvision imports here; the error path is for when it does not")
    except Exception:  # noqa: BLE001 - ImportError, or a torchvision built for another torch
        pass
    with pytest.raises(ModelLoadError, match=r"cls_state\.pt: .*torchvision") as e:
        resolve_models(made["dir"] / "cls_state.pt", None, load_pack(tmp_path / "pack.yaml"))
    assert "\n" not in str(e.value)


def test_the_cli_refuses_a_bad_model_in_one_line_and_writes_nothing(made, tmp_path, capsys):
    from bad_input_helpers import assert_refused

    from xai_reports.cli import main

    bad = tmp_path / "decision.pt"                      # a torch suffix, but text inside
    bad.write_text("weights: none\n")
    out = tmp_path / "out" / "r.pdf"
    rc = main(["incident", "--model", str(bad), "--clip", str(made["dir"] / "clip"), "--incident",
               str(made["dir"] / "inc.yaml"), "--out", str(out), "--quiet"])
    assert_refused(rc, out.parent, str(bad), "not a decision model", err=capsys.readouterr().err)
