"""The team's own image models on the team's own data: any number of classes, multi-label outputs,
model forms (own module:factory, TorchScript, ONNX, MONAI by name) and a model card built from their
calibration and test splits. Images are RGB 3 x 96 x 80 (the demo's are 64 x 64 grey)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from _hc import pdf_text

import _team_nets as tn

COMMON = """
      intended_use: Sort coloured blobs (a test of the team's own model).
      intended_user: Test suite
      population: synthetic RGB blob images
      regulatory_status: test model, not for clinical use
      above_threshold: present
      below_threshold: absent
      input: {height: 96, width: 80, channels: 3, column: image, modality: synthetic RGB blob image}
"""


def _pack_yaml():
    models = {
        "blobs3": "architecture: '_team_nets:build'\n      architecture_options: {n_classes: 3}\n"
                  "      evidence: {methods: [grad_cam, integrated_gradients], primary: grad_cam, layer: features.1,"
                  " options: {integrated_gradients: {n_steps: 8}}}",
        "blobs_ml": "output: sigmoid\n      architecture: '_team_nets:build'\n"
                    "      evidence: {methods: [grad_cam], primary: grad_cam, layer: features.1}",
        "blobs_pacs": "architecture: '_team_nets:build'\n"
                      "      evidence: {methods: [grad_cam], primary: grad_cam, layer: features.1, dicom_export: true}",
        "vol2": "classes: [dim, bright]\n      architecture: '_team_nets:build'\n"
                "      architecture_options: {n_classes: 2}\n"
                "      evidence: {methods: [grad_cam], primary: grad_cam, layer: features.1}",
        "blobs_ts": "model_format: torchscript\n      evidence: {methods: [saliency], primary: saliency}",
        "blobs_norm": "architecture: '_team_nets:build'\n"
                      "      evidence: {methods: [grad_cam], primary: grad_cam, layer: features.1}",
        "blobs_monai": "architecture: monai.DenseNet\n      architecture_options: {spatial_dims: 2, in_channels: 3,"
                       " out_channels: 3, init_features: 4, growth_rate: 4, block_config: [1, 1], bn_size: 2}\n"
                       "      evidence: {methods: [integrated_gradients], primary: integrated_gradients,"
                       " options: {integrated_gradients: {n_steps: 4}}}",
        "blobs_onnx": "model_format: onnx\n      evidence: {methods: [occlusion], primary: occlusion,"
                      " options: {occlusion: {window: [16, 16], strides: 16}}}",
    }
    text = "extends: healthcare\nname: team\ncase_review:\n  models:\n"
    for mid, extra in models.items():
        classes = "" if extra.startswith("classes:") else "      classes: [red, green, blue]\n"
        common = COMMON if mid != "vol2" else COMMON.replace(
            "modality: synthetic RGB blob image}", "modality: synthetic CT volume,"
            " slice_policy: max_score, slice_class: bright, slice_stack: true}")
        if mid == "blobs_norm":
            common = COMMON.replace("modality: synthetic RGB blob image}", "modality: synthetic RGB blob image,"
                                    " normalisation: {mean: [0.1, 0.0, 0.1], std: [1.0, 0.5, 1.0]}}")
        text += f"    {mid}:\n      kind: image\n      name: {mid}\n{classes}      {extra}{common}"
    return text


@pytest.fixture(scope="module")
def team(tmp_path_factory):
    """The team's data (calibration, test, cases), models in each form and the pack."""
    import torch

    d = tmp_path_factory.mktemp("team")
    (d / "pack.yaml").write_text(_pack_yaml())
    out = {"dir": d, "pack": d / "pack.yaml", "images": d / "images"}
    for kind, ml in (("mc", False), ("ml", True)):
        for split, n, seed in (("cal", 60, 1), ("test", 40, 2), ("cases", 2, 3)):
            X, y = tn.make_images(n, seed + (10 if ml else 0), multilabel=ml)
            names = tn.write_pngs(X, out["images"], f"{kind}_{split}")
            if ml:
                labels = [";".join(c for c, v in zip(["red", "green", "blue"], row) if v) for row in y]
            else:
                labels = [["red", "green", "blue"][k] for k in y]
            frame = pd.DataFrame({"case_id": [f"{kind}-{split}-{i}" for i in range(n)], "image": names})
            if split != "cases":
                frame["label"] = labels
            frame.to_csv(d / f"{kind}_{split}.csv", index=False)
            out[f"{kind}_{split}"] = {"path": d / f"{kind}_{split}.csv", "X": X, "y": y}
    net = tn.set_weights(tn.build(3))
    torch.save(net.state_dict(), d / "blobs3.pt")
    torch.save(tn.set_weights(tn.build(3), bias=-61.8).state_dict(), d / "blobs_ml.pt")
    torch.jit.save(torch.jit.script(net), str(d / "blobs_ts.pt"))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, torch.zeros(1, 3, 96, 80), str(d / "blobs_onnx.onnx"), dynamo=False,
                          input_names=["x"], output_names=["logits"], dynamic_axes={"x": {0: "n"}, "logits": {0: "n"}})
    return out


def _card(team, mid, model, kind, **kw):
    from xai_reports.documents.case_review.card_builder import build_model_card

    return build_model_card(team["dir"] / model, team["pack"], mid, calibration=team[f"{kind}_cal"]["path"],
                            test=team[f"{kind}_test"]["path"], images=team["images"], **kw)


def _sheets(team, model, kind, tmp_path, formats=("json", "html"), **kw):
    from examples.healthcare.demo import DEMO_TIME
    from xai_reports.documents.case_review import generate_case_reviews

    s = generate_case_reviews(team["dir"] / model, team[f"{kind}_cases"]["path"], team["pack"], tmp_path,
                              profile="research", images=team["images"], timestamp=DEMO_TIME, formats=formats, **kw)
    assert s.exit_code == 0, s.errors
    return [json.loads((tmp_path / f"case_{kind}-cases-{i}.json").read_text()) for i in range(2)]


def test_three_class_softmax_from_the_teams_module_and_data(team, tmp_path):
    card = json.loads(_card(team, "blobs3", "blobs3.pt", "mc", architecture="_team_nets:build",
                            trained_on="2026-03-01").read_text())
    assert card["calibration"]["method"] == "temperature" and card["trained"]["on"] == "2026-03-01"
    recs = _sheets(team, "blobs3.pt", "mc", tmp_path, formats=("pdf", "json", "html"),
                   architecture="_team_nets:build")
    X = team["mc_cases"]["X"]
    t = card["calibration"]["t"]
    for rec, x in zip(recs, X):
        q = np.rint(x * 255) / 255                       # as read back from the PNG
        means = q.mean(axis=(1, 2))
        z = tn.SCALE * means                             # the analytic logits
        p = np.exp(z / t - (z / t).max())
        p /= p.sum()
        pred = rec["prediction"]
        assert pred["class"] == ["red", "green", "blue"][int(np.argmax(means))]
        np.testing.assert_allclose([pred["probabilities"][c] for c in ("red", "green", "blue")], p, atol=1e-4)
        out = rec["document"]["content"]["output"]
        assert [r["class"] for r in out["rows"]] == ["red", "green", "blue"]
        # conformal set: the classes whose probability is at least 1 - qhat (brute force from the card)
        cal_p = np.asarray(card["calibration_set"]["p"])
        cal_y = np.asarray(card["calibration_set"]["y"])
        s = np.sort(1 - cal_p[np.arange(len(cal_y)), cal_y])
        qhat = s[int(np.ceil(61 * 0.9)) - 1]
        assert pred["conformal_set"] == [c for c, pk in zip(("red", "green", "blue"), p) if 1 - pk <= qhat + 1e-9]
        ev = rec["document"]["content"]["evidence"]
        assert ev["targets"] == [pred["class"]] and len(ev["panels"]) == 3
    text = " ".join(pdf_text(tmp_path / "case_mc-cases-0.pdf").split())
    for item in ("Class", "In conformal set", "temperature scaling", "accuracy", "one-vs-rest", "red", "green",
                 "blue", "Grad-CAM", "colour image"):
        assert item in text, item


def test_multilabel_sigmoid_per_label_sets_and_maps(team, tmp_path):
    card = json.loads(_card(team, "blobs_ml", "blobs_ml.pt", "ml", architecture="_team_nets:build").read_text())
    assert card["calibration"]["method"] == "platt_per_label" and len(card["calibration"]["labels"]) == 3
    recs = _sheets(team, "blobs_ml.pt", "ml", tmp_path, architecture="_team_nets:build")
    for rec, x, y in zip(recs, team["ml_cases"]["X"], team["ml_cases"]["y"]):
        pred = rec["prediction"]
        z = tn.SCALE * (np.rint(x * 255) / 255).mean(axis=(1, 2)) - 61.8        # the analytic logits
        p = [1 / (1 + np.exp(-(c["a"] * zk + c["b"]))) for c, zk in zip(card["calibration"]["labels"], z)]
        np.testing.assert_allclose([pred["probabilities"][c] for c in ("red", "green", "blue")], p, atol=1e-4)
        truth = [c for c, pk in zip(("red", "green", "blue"), p) if pk >= 0.5]
        assert pred["predicted"] == truth
        assert set(pred["conformal_per_label"]) == {"red", "green", "blue"}
        for c in ("red", "green", "blue"):
            p = pred["probabilities"][c]
            assert (p >= 0.5) == (c in pred["predicted"])
            assert pred["conformal_per_label"][c] in (["absent"], ["present"], ["absent", "present"], [])
        ev = rec["document"]["content"]["evidence"]
        assert ev["targets"] == (truth or [max(pred["probabilities"], key=pred["probabilities"].get)])
        assert len(ev["panels"]) == 1 + len(ev["targets"])


def test_own_module_is_imported_only_when_named_explicitly(team, tmp_path):
    from xai_reports import PackError

    _card(team, "blobs3", "blobs3.pt", "mc", architecture="_team_nets:build")
    with pytest.raises(PackError, match="pass --architecture _team_nets:build"):
        _sheets(team, "blobs3.pt", "mc", tmp_path)
    with pytest.raises(PackError, match="differs from the pack's architecture"):
        _sheets(team, "blobs3.pt", "mc", tmp_path, architecture="os.path:join")


def test_architecture_names_resolve_or_fail_in_one_line():
    import importlib.util

    from xai_reports import ModelLoadError
    from xai_reports.adapters.architectures import resolve_case_review_architecture as resolve

    assert type(resolve("_team_nets:build", {"n_classes": 4}, allow_code="_team_nets:build")).__name__ == "TeamNet"
    with pytest.raises(ModelLoadError, match="imported only when passed explicitly"):
        resolve("os.path:join")
    with pytest.raises(ModelLoadError, match="cannot import"):
        resolve("_team_nets:nothing", allow_code="_team_nets:nothing")
    with pytest.raises(ModelLoadError, match="expected 'package.module:factory'"):
        resolve("a b:c", allow_code="a b:c")
    with pytest.raises(ModelLoadError, match="bad options"):
        resolve("lesion_cnn", {"bogus": 1})
    if importlib.util.find_spec("torchvision") is None:
        with pytest.raises(ModelLoadError, match="needs torchvision"):
            resolve("torchvision.resnet18", {"num_classes": 3})


def test_card_and_pack_must_agree_on_classes_and_input(team, tmp_path):
    from xai_reports import PackError

    card = json.loads(_card(team, "blobs3", "blobs3.pt", "mc", architecture="_team_nets:build").read_text())
    assert card["input"]["height"] == 96 and card["input"]["width"] == 80 and card["input"]["channels"] == 3
    other = _pack_yaml().replace("classes: [red, green, blue]", "classes: [red, green, blue, grey]", 1)
    (tmp_path / "pack.yaml").write_text(other)
    with pytest.raises(PackError, match="classes"):
        _sheets({**team, "pack": tmp_path / "pack.yaml"}, "blobs3.pt", "mc", tmp_path / "o",
                architecture="_team_nets:build")


def test_torchscript_model_end_to_end(team, tmp_path):
    _card(team, "blobs_ts", "blobs_ts.pt", "mc")
    recs = _sheets(team, "blobs_ts.pt", "mc", tmp_path)
    for rec, x in zip(recs, team["mc_cases"]["X"]):
        assert rec["prediction"]["class"] == ["red", "green", "blue"][int(np.argmax(x.mean(axis=(1, 2))))]
        assert rec["document"]["content"]["evidence"]["panels"][1]["method"] == "saliency"


def test_declared_normalisation_is_applied_before_the_model(team, tmp_path):
    from xai_reports.documents.case_review.card_builder import build_model_card

    __import__("shutil").copy(team["dir"] / "blobs3.pt", tmp_path / "blobs_norm.pt")
    card = json.loads(build_model_card(tmp_path / "blobs_norm.pt", team["pack"], "blobs_norm",
                                       calibration=team["mc_cal"]["path"], test=team["mc_test"]["path"],
                                       images=team["images"], architecture="_team_nets:build").read_text())
    from examples.healthcare.demo import DEMO_TIME
    from xai_reports.documents.case_review import generate_case_reviews

    s = generate_case_reviews(tmp_path / "blobs_norm.pt", team["mc_cases"]["path"], team["pack"], tmp_path / "o",
                              profile="research", images=team["images"], timestamp=DEMO_TIME, formats=("json",),
                              architecture="_team_nets:build")
    assert s.exit_code == 0, s.errors
    for i, x in enumerate(team["mc_cases"]["X"]):
        rec = json.loads((tmp_path / "o" / f"case_mc-cases-{i}.json").read_text())
        m = (np.rint(x * 255) / 255).mean(axis=(1, 2))
        z = tn.SCALE * (m - [0.1, 0.0, 0.1]) / [1.0, 0.5, 1.0] / card["calibration"]["t"]
        p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
        np.testing.assert_allclose([rec["prediction"]["probabilities"][c] for c in ("red", "green", "blue")], p,
                                   atol=1e-4)
        assert rec["document"]["content"]["evidence"]["panels"][1]["layer"] == "features.1"


def test_onnx_model_uses_perturbation_only_and_says_so(team, tmp_path):
    from xai_reports import PackError, load_pack

    _card(team, "blobs_onnx", "blobs_onnx.onnx", "mc")
    recs = _sheets(team, "blobs_onnx.onnx", "mc", tmp_path, formats=("json", "html", "pdf"))
    for rec, x in zip(recs, team["mc_cases"]["X"]):
        assert rec["prediction"]["class"] == ["red", "green", "blue"][int(np.argmax(x.mean(axis=(1, 2))))]
    text = " ".join(pdf_text(tmp_path / "case_mc-cases-0.pdf").split())
    assert "perturbation methods only" in text and "Occlusion" in text
    bad = _pack_yaml().replace("evidence: {methods: [occlusion], primary: occlusion,",
                               "evidence: {methods: [integrated_gradients], primary: integrated_gradients,")
    (tmp_path / "bad.yaml").write_text(bad)
    with pytest.raises(PackError, match="ONNX model has no gradients"):
        load_pack(tmp_path / "bad.yaml")


def test_model_card_cli_and_bad_label(team, tmp_path, capsys):
    import shutil

    from xai_reports.cli import main

    shutil.copy(team["dir"] / "blobs_ts.pt", tmp_path / "m.pt")
    base = ["model-card", "--pack", str(team["pack"]), "--model-id", "blobs_ts", "--model", str(tmp_path / "m.pt"),
            "--images", str(team["images"]), "--test", str(team["mc_test"]["path"])]
    frame = pd.read_csv(team["mc_cal"]["path"])
    frame.loc[4, "label"] = "purple"
    frame.to_csv(tmp_path / "bad.csv", index=False)
    assert main(base + ["--calibration", str(tmp_path / "bad.csv")]) == 2
    err = capsys.readouterr().err
    assert "bad.csv" in err and "row 5" in err and "label" in err and "purple" in err, err
    assert not (tmp_path / "m.card.json").exists()
    assert main(base + ["--calibration", str(team["mc_cal"]["path"]), "--trained-on", "2026-02-02"]) == 0
    card = json.loads((tmp_path / "m.card.json").read_text())
    assert card["trained"]["on"] == "2026-02-02" and (tmp_path / "m.reference.npz").is_file()
    assert card["reference"]["n"] == 60 and len(card["holdout"]["y"]) == 40


def test_monai_network_by_name_and_options(team, tmp_path):
    pytest.importorskip("monai")
    import torch
    from monai.networks.nets import DenseNet

    from xai_reports.documents.case_review.quality import read_image

    opts = dict(spatial_dims=2, in_channels=3, out_channels=3, init_features=4, growth_rate=4, block_config=(1, 1),
                bn_size=2)
    torch.manual_seed(0)
    torch.save(DenseNet(**opts).state_dict(), team["dir"] / "blobs_monai.pt")
    card = json.loads(_card(team, "blobs_monai", "blobs_monai.pt", "mc").read_text())
    assert card["architecture"] == {"name": "monai.DenseNet", "options": {**opts, "block_config": [1, 1]}}
    recs = _sheets(team, "blobs_monai.pt", "mc", tmp_path)
    net = DenseNet(**opts)
    net.load_state_dict(torch.load(team["dir"] / "blobs_monai.pt", weights_only=True))
    net.eval()
    frame = pd.read_csv(team["mc_cases"]["path"])
    for rec, name in zip(recs, frame["image"]):
        x = read_image(team["images"] / name, height=96, width=80, channels=3)[0]
        with torch.no_grad():
            z = net(torch.as_tensor(x[None]))[0].numpy().astype(np.float64) / card["calibration"]["t"]
        p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
        np.testing.assert_allclose([rec["prediction"]["probabilities"][c] for c in ("red", "green", "blue")], p,
                                   atol=1e-4)


def test_evidence_maps_as_dicom_secondary_capture(team, tmp_path):
    import base64
    import io

    pydicom = pytest.importorskip("pydicom")
    from PIL import Image
    from test_dicom import synthetic_dicom

    from examples.healthcare.demo import DEMO_TIME
    from xai_reports.documents.case_review import generate_case_reviews

    from xai_reports.documents.case_review.card_builder import build_model_card

    __import__("shutil").copy(team["dir"] / "blobs3.pt", tmp_path / "blobs_pacs.pt")
    build_model_card(tmp_path / "blobs_pacs.pt", team["pack"], "blobs_pacs", calibration=team["mc_cal"]["path"],
                     test=team["mc_test"]["path"], images=team["images"], architecture="_team_nets:build")
    imgs = tmp_path / "dcm"
    imgs.mkdir()
    src = pydicom.dcmread(synthetic_dicom(imgs / "p1.dcm", window=(100, 500)))
    pd.DataFrame({"case_id": ["P1"], "image": ["p1.dcm"]}).to_csv(tmp_path / "cases.csv", index=False)
    files = {}
    for prof, run in (("treatment", "a"), ("research", "a"), ("research", "b")):
        out = tmp_path / f"{prof}_{run}"
        s = generate_case_reviews(tmp_path / "blobs_pacs.pt", tmp_path / "cases.csv", team["pack"], out,
                                  profile=prof, images=imgs, timestamp=DEMO_TIME, formats=("json",),
                                  architecture="_team_nets:build", workers=1)
        assert s.exit_code == 0, s.errors
        files[(prof, run)] = (out / "case_P1.evidence-1.dcm").read_bytes()
        rec = json.loads((out / "case_P1.json").read_text())
        sc = pydicom.dcmread(io.BytesIO(files[(prof, run)]))
        assert sc.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7"
        assert rec["pacs"]["secondary_captures"][0]["sop_instance_uid"] == sc.SOPInstanceUID
        panel = rec["document"]["content"]["evidence"]["panels"][1]
        png = Image.open(io.BytesIO(base64.b64decode(panel["png"].split(",", 1)[1]))).convert("RGB")
        np.testing.assert_array_equal(sc.pixel_array, np.asarray(png))
        ref = sc.SourceImageSequence[0]
        assert ref.ReferencedSOPClassUID == src.SOPClassUID
        if prof == "treatment":
            assert sc.StudyInstanceUID == src.StudyInstanceUID
            assert ref.ReferencedSOPInstanceUID == src.SOPInstanceUID
            assert sc.ReferencedSeriesSequence[0].SeriesInstanceUID == src.SeriesInstanceUID
            assert str(sc.PatientName) == str(src.PatientName) and sc.StudyDate == src.StudyDate
        else:
            rows = {r["label"]: r["value"] for r in rec["document"]["content"]["inputs"]["dicom"]}
            assert sc.StudyInstanceUID == rows["Study UID (replaced)"] != src.StudyInstanceUID
            assert sc.ReferencedSeriesSequence[0].SeriesInstanceUID == rows["Series UID (replaced)"]
            assert ref.ReferencedSOPInstanceUID == rows["Instance UID (replaced)"]
            assert sc.PatientIdentityRemoved == "YES" and sc.PatientID == "P1" and not sc.StudyDate
            low = files[(prof, run)]
            for v in (src.PatientName, src.PatientID, src.PatientBirthDate, src.AccessionNumber, src.StudyDate,
                      src.StudyInstanceUID, src.SeriesInstanceUID, src.SOPInstanceUID, src.InstitutionName):
                assert str(v).encode() not in low, v
    assert files[("research", "a")] == files[("research", "b")]          # no clock, no randomness


def _vol2(team, tmp_path, **kw):
    """A two-class model (dim, bright): logit(bright) = SCALE * (mean of the middle channel - 0.31); its card
    from the team's PNG splits relabelled (green blob: bright)."""
    import torch

    from xai_reports.documents.case_review.card_builder import build_model_card

    net = tn.build(2)
    with torch.no_grad():
        net.features[0].weight.zero_()
        net.features[0].bias.zero_()
        for c in range(3):
            net.features[0].weight[c, c, 1, 1] = 1.0
        net.head.weight.zero_()
        net.head.weight[1, 1] = tn.SCALE
        net.head.bias[:] = torch.tensor([0.0, -tn.SCALE * 0.31])
    torch.save(net.state_dict(), tmp_path / "vol2.pt")
    for split in ("cal", "test"):
        frame = pd.read_csv(team[f"mc_{split}"]["path"])
        frame["label"] = ["bright" if v == "green" else "dim" for v in frame["label"]]
        frame.to_csv(tmp_path / f"{split}.csv", index=False)
    path = build_model_card(tmp_path / "vol2.pt", team["pack"], "vol2", calibration=tmp_path / "cal.csv",
                            test=tmp_path / "test.csv", images=team["images"], architecture="_team_nets:build", **kw)
    return json.loads(path.read_text())


def test_isotonic_calibration_of_a_two_class_model(team, tmp_path):
    from sklearn.isotonic import IsotonicRegression

    card = _vol2(team, tmp_path, calibration_method="isotonic")
    assert card["calibration"]["method"] == "isotonic"
    score = lambda X: tn.SCALE * ((np.rint(X * 255) / 255)[:, 1].mean(axis=(1, 2)) - 0.31)  # noqa: E731
    y = (team["mc_cal"]["y"] == 1).astype(int)
    iso = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip").fit(score(team["mc_cal"]["X"]), y)
    from examples.healthcare.demo import DEMO_TIME
    from xai_reports.documents.case_review import generate_case_reviews

    s = generate_case_reviews(tmp_path / "vol2.pt", team["mc_cases"]["path"], team["pack"], tmp_path / "o",
                              profile="research", images=team["images"], timestamp=DEMO_TIME, formats=("json", "html"),
                              architecture="_team_nets:build")
    assert s.exit_code == 0, s.errors
    expected = iso.predict(score(team["mc_cases"]["X"]))
    for i, p in enumerate(expected):
        rec = json.loads((tmp_path / "o" / f"case_mc-cases-{i}.json").read_text())
        assert abs(rec["prediction"]["probability"] - p) < 1e-6
        assert "Isotonic regression of the model score" in rec["document"]["content"]["output"]["calibration_text"]


def test_volume_max_score_slice_policy_2_5d(team, tmp_path):
    """A 5-slice DICOM series whose 4th slice (by position) holds the brightest blob: the max_score policy
    shows and explains that slice, the model reading slices 3-5 as its three channels (2.5-D)."""
    from test_dicom import synthetic_dicom

    from examples.healthcare.demo import DEMO_TIME
    from xai_reports.documents.case_review import generate_case_reviews

    _vol2(team, tmp_path)
    imgs = tmp_path / "dcm"
    (imgs / "vol").mkdir(parents=True)
    yy, xx = np.mgrid[:96, :80]
    order = [2, 0, 4, 1, 3]                    # files written out of order; position sorts them
    radius = {0: 6, 1: 10, 2: 8, 3: 22, 4: 12}
    for f, z in enumerate(order):
        pix = (1024 + 40 + 400 * (((yy - 48) ** 2 + (xx - 40) ** 2) <= radius[z] ** 2)).astype(np.uint16)
        synthetic_dicom(imgs / "vol" / f"f{f}.dcm", pixels=pix, study_uid="1.2.826.0.1.3680043.2.1.7",
                        series_uid="1.2.826.0.1.3680043.2.1.8", instance=f + 1, position=z * 2.5, window=(200, 800))
    pd.DataFrame({"case_id": ["V1"], "image": ["vol"]}).to_csv(tmp_path / "cases.csv", index=False)
    s = generate_case_reviews(tmp_path / "vol2.pt", tmp_path / "cases.csv", team["pack"], tmp_path / "out",
                              profile="treatment", images=imgs, timestamp=DEMO_TIME, formats=("json",),
                              architecture="_team_nets:build", workers=1)
    assert s.exit_code == 0, s.errors
    rec = json.loads((tmp_path / "out" / "case_V1.json").read_text())
    rows = {r["label"]: r["value"] for r in rec["document"]["content"]["inputs"]["dicom"]}
    assert rows["Slice"].startswith("series of 5 images: slice 4 of 5 (the slice with the highest calibrated "
                                    "probability of bright"), rows["Slice"]
    assert "2.5-D" in rows["Slice"] and "evidence maps are on this slice" in rows["Slice"]
    assert rec["prediction"]["class"] == "bright"
