"""Synthetic-lesion CNN: training, evidence maps, image sheets as documents."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from _hc import pdf_record, pdf_text


def test_cnn_reaches_stated_accuracy_on_held_out_synthetic_images(lesion_model):
    # stated in the pack / README: >= 0.93 accuracy, AUC >= 0.97 on the held-out synthetic test split
    assert lesion_model["accuracy_test"] >= 0.93, lesion_model
    assert lesion_model["auc_test"] >= 0.97, lesion_model


def test_weights_load_through_the_registry_with_weights_only(lesion_model):
    import torch

    from xai_reports.adapters import load_model
    from xai_reports.adapters.architectures import build_architecture

    state = torch.load(lesion_model["model"], weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    adapter = load_model(lesion_model["model"], architecture=lambda: build_architecture("lesion_cnn"))
    x = np.zeros((2, 1, 64, 64), dtype=np.float32) + 0.45
    assert adapter.predict(x, output="probability").shape == (2, 2)


def test_card_records_localisation_of_the_primary_method(lesion_model, hc_pack):
    card = json.loads(lesion_model["card"].read_text())
    loc = card["localisation"]
    ev = hc_pack.spec.healthcare.models["lesion_cnn"].evidence
    assert loc["available"] and loc["layer"] == ev.layer
    assert set(loc["methods"]) >= {"grad_cam", "integrated_gradients", "saliency"}
    assert loc["methods"][ev.primary]["pointing_game_malignant"] >= 0.9


def test_image_sheet_contains_required_items(lesion_sheets):
    pdf = sorted(lesion_sheets["treatment"]["dir"].glob("case_*.pdf"))[0]
    text = " ".join(pdf_text(pdf).split())
    for item in ("SYNTHETIC DATA", "Evidence map", "Original", "Grad-CAM", "Integrated gradients",
                 "layer features.relu4", "not a segmentation", "Method note", "pointing game",
                 "relevance mass", "Similar reference cases", "similarity", "Counterfactual",
                 "No counterfactual statement", "Performance context", "Subgroup: image contrast",
                 "Clinician review", "Signature", "Audit metadata", "Not a diagnosis",
                 "does not certify compliance", "training range"):
        assert item in text, item


def test_every_page_says_synthetic(lesion_sheets):
    from pypdf import PdfReader

    pdf = sorted(lesion_sheets["research"]["dir"].glob("case_*.pdf"))[0]
    text = "\n".join(p.extract_text() for p in PdfReader(str(pdf)).pages)
    assert "SYNTHETIC" in text
    rec = json.loads(pdf_record(pdf))
    assert rec["document"]["content"]["synthetic"].startswith("SYNTHETIC DATA")


def test_every_image_has_alt_text(lesion_sheets, wdbc_sheets):
    for sheets in (lesion_sheets, wdbc_sheets):
        html = sorted(sheets["treatment"]["dir"].glob("case_*.html"))[0].read_text()
        imgs = re.findall(r"<img\b[^>]*>", html)
        assert imgs
        for tag in imgs:
            m = re.search(r'alt="([^"]*)"', tag)
            assert m and len(m.group(1)) > 20, tag[:120]


def test_degraded_image_is_flagged_out_of_scope(lesion_sheets, lesion_cases):
    last = lesion_cases["frame"]["case_id"].iloc[-1]
    rec = json.loads((lesion_sheets["treatment"]["dir"] / f"case_{last}.json").read_text())
    inp = rec["document"]["content"]["inputs"]
    assert inp["out_of_scope"] and any("below the training range" in f for f in inp["flags"])
    first = lesion_cases["frame"]["case_id"].iloc[0]
    rec0 = json.loads((lesion_sheets["treatment"]["dir"] / f"case_{first}.json").read_text())
    assert not rec0["document"]["content"]["inputs"]["out_of_scope"]


def test_evidence_maps_are_xai_reports_explain_output(lesion_model, lesion_cases):
    """The sheet's Grad-CAM equals xai_reports.explain's, and IG satisfies completeness (captum-free check)."""
    from PIL import Image

    from xai_reports import explain
    from xai_reports.adapters import load_model
    from xai_reports.adapters.architectures import build_architecture

    adapter = load_model(lesion_model["model"], architecture=lambda: build_architecture("lesion_cnn"), device="cpu")
    img = np.asarray(Image.open(lesion_cases["images"] / lesion_cases["frame"]["image"].iloc[0]),
                     dtype=np.float32)[None, None] / 255.0
    ig = explain(adapter, img, method="integrated_gradients", target=1, n_steps=64)
    z = adapter.predict(img, output="logit")[0]
    z0 = adapter.predict(np.zeros_like(img), output="logit")[0]
    assert ig.values.sum() == pytest.approx(z[1] - z0[1], abs=2e-2 * max(1.0, abs(z[1] - z0[1])))
    cam = explain(adapter, img, method="grad_cam", target=1, layer="features.relu4")
    assert cam.values.shape == (1, 64, 64) and cam.values.min() >= 0


def test_similar_cases_are_nearest_in_embedding(lesion_model, lesion_sheets, lesion_cases):
    import torch
    from PIL import Image

    from xai_reports.adapters.architectures import build_architecture

    net = build_architecture("lesion_cnn")
    net.load_state_dict(torch.load(lesion_model["model"], weights_only=True))
    net.eval()
    ref = np.load(lesion_model["model"].with_name("lesion_cnn.reference.npz"), allow_pickle=False)
    row = lesion_cases["frame"].iloc[0]
    img = np.asarray(Image.open(lesion_cases["images"] / row["image"]), dtype=np.float32)[None, None] / 255.0
    with torch.no_grad():
        e = net.embed(torch.as_tensor(img)).numpy()[0]
        r = net.embed(torch.as_tensor(ref["images"][:, None].astype(np.float32) / 255.0)).numpy()
    sims = (r / np.linalg.norm(r, axis=1, keepdims=True)) @ (e / np.linalg.norm(e))
    expected = [str(ref["ids"][i]) for i in np.argsort(-sims, kind="stable")[:4]]
    rec = json.loads((lesion_sheets["treatment"]["dir"] / f"case_{row['case_id']}.json").read_text())
    assert [s["ref_id"] for s in rec["document"]["content"]["similar"]["items"]] == expected
