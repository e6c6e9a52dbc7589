"""The team's own detector in the incident report (TorchScript end to end, ONNX section), redaction, layout."""

import re

import numpy as np
import pytest

pytest.importorskip("torch")

from _tiny_detector import YELLOW_BLUE, save_onnx, save_torchscript  # noqa: E402
from examples.driving_synthetic.clips import write_clip  # noqa: E402
from examples.driving_synthetic.demo import shipped_models  # noqa: E402
from xai_reports.documents.incident import report as report_mod  # noqa: E402
from xai_reports.documents.incident.clips import read_clip  # noqa: E402
from xai_reports.documents.incident.incident_file import EXAMPLE_INCIDENT  # noqa: E402
from xai_reports.documents.incident.redaction import Redactor, boxes_to_redact, pixelate  # noqa: E402
from xai_reports.packs.sections.incident import RedactionSpec  # noqa: E402

PACK = """extends: autonomous_driving
name: team_av
incident:
  image_explanation:
    max_key_frames: 3
    options: {integrated_gradients: {n_steps: 4}, occlusion: {window: [16, 16], strides: [16, 16]}}
  perception_model:
    form: torchscript
    classes: {1: pedestrian, 2: vehicle}
    score_threshold: 0.5
    match_iou: 0.1
    options: {grad_cam: {layer: features}, d_rise: {n_masks: 150}}
"""


def _plates(clip):
    """A logged 'licence plate' detection at the bottom of every vehicle's box (the ADS's own)."""
    return {k: [{"id": f"plate_{o['id']}", "class": "licence_plate", "score": 0.87,
                 "box": [o["box"][0], o["box"][3] - 3, o["box"][2], o["box"][3]]}
                for o in clip.truth[k] if o["class"] == "vehicle"] for k in range(len(clip))}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    d = tmp_path_factory.mktemp("team")
    clip = read_clip(write_clip(d / "clip", "pedestrian_step_in"))
    clip.meta["detections"] = _plates(clip)
    (d / "inc.yaml").write_text(EXAMPLE_INCIDENT)           # privacy.faces_plates_redacted: true
    (d / "pack.yaml").write_text(PACK)
    printed = []
    with pytest.MonkeyPatch.context() as mp:                 # what the key-frame figure is given to print
        real = report_mod.key_frame_rows
        mp.setattr(report_mod, "key_frame_rows",
                   lambda img, *a, **k: printed.append((np.array(img), k.get("detections"))) or real(img, *a, **k))
        rec = report_mod.build_incident(shipped_models(), clip, d / "inc.yaml", d / "pack.yaml",
                                        detector=save_torchscript(d / "det.pt", YELLOW_BLUE, cell=4, gain=5.0))
    pdf = report_mod.render_incident(rec, d / "pack.yaml", formats=("pdf",))["pdf"]
    (d / "r.pdf").write_bytes(pdf)
    from pypdf import PdfReader

    pages = [p.extract_text() for p in PdfReader(str(d / "r.pdf")).pages]
    return {"dir": d, "clip": clip, "record": rec, "pdf": d / "r.pdf", "printed": printed, "pages": pages,
            "text": re.sub(r"\s+", " ", " ".join(pages))}


def test_the_detector_is_explained_on_the_key_frames(built):
    rec = built["record"]
    det = rec["detector"]
    assert len(det) == len(rec["key_frames"]) and rec["models"][-1]["architecture"] == "torchscript"
    hits = [k for k in det if k["matched_object"] == "pedestrian_1"]
    assert hits, "the detector's pedestrian detection should match the named pedestrian"
    k = hits[0]
    assert k["explained"]["class"] == "pedestrian" and k["explained"]["score"] > 0.9
    assert k["box_occlusion"]["detection_lost"] and k["box_occlusion"]["after"] < 0.1
    assert set(k["shares"]) == {"grad_cam", "d_rise", "occlusion"}
    for m, shares in k["shares"].items():          # the detection's evidence is the pedestrian, by every method
        assert next(s for s in shares if s["id"] == "pedestrian_1")["share"] > \
               next(s for s in shares if s["id"] == "vehicle_1")["share"], m
    text = built["text"]
    assert "The team's own detector: det.pt (torchscript)" in text
    assert "Explained detection: 'pedestrian'" in text and "the detection is lost" in text
    assert "D-RISE" in text and "Grad-CAM (detection score)" in text and "Confidence" in text
    assert "D-RISE (Petsiuk et al. 2021)" in text                    # method notes


def test_an_onnx_detector_gets_the_model_agnostic_methods(built):
    from xai_reports.documents.incident.detectors import load_detector
    from xai_reports.documents.incident.team_detector import detector_section
    from xai_reports.packs import load_pack

    spec = load_pack(built["dir"] / "pack.yaml").section("incident").perception_model
    spec = spec.model_copy(update={"options": {"d_rise": {"n_masks": 40}, "occlusion": {"window": 8, "stride": 8}}})
    det = load_detector(save_onnx(built["dir"] / "det.onnx", colours=YELLOW_BLUE, cell=4, gain=5.0), "onnx",
                        classes=spec.classes, score_threshold=spec.score_threshold)
    clip = built["clip"]
    k = next(r["index"] for r in built["record"]["detector"] if r["matched_object"] == "pedestrian_1")
    kf = {"index": k, "t_s": float(clip.times[k]), "objects": clip.truth[k], "named": "pedestrian_1",
          "shares": {"grad_cam": [{"id": "pedestrian_1"}]}}
    content, record = detector_section(det, spec, clip, [kf], printable=lambda i, img: img)
    assert content["methods"] == ["D-RISE", "Occlusion (sliding window)"] and content["form"] == "onnx"
    ts = next(r for r in built["record"]["detector"] if r["index"] == k)
    assert record[0]["explained"]["box"] == ts["explained"]["box"]           # the same network, either form
    assert record[0]["explained"]["score"] == pytest.approx(ts["explained"]["score"], abs=1e-5)
    assert "D-RISE" in content["key_frames"][0]["statement"] and "Grad-CAM" not in content["key_frames"][0]["statement"]


def test_plates_are_pixelated_in_every_printed_key_frame(built):
    rec, clip = built["record"], built["clip"]
    plates = _plates(clip)
    frames = [kf["index"] for kf in rec["key_frames"]]
    with_plate = [k for k in frames if plates[k]]
    assert with_plate and rec["redaction"]["frames"] == with_plate
    assert len(built["printed"]) == len(frames)
    for k, (img, drawn) in zip(frames, built["printed"]):
        assert drawn == plates[k]                                              # the ADS's detections are drawn
        raw = clip.images[k]
        for p in plates[k]:
            x0, y0, x1, y1 = p["box"]
            region = (slice(y0 - 1, y1 + 1), slice(x0 - 1, x1 + 1))
            assert not np.array_equal(img[region], raw[region])              # changed where the plate is
        mask = np.ones(raw.shape[:2], bool)
        for p in plates[k]:
            x0, y0, x1, y1 = p["box"]
            mask[max(0, y0 - 1):y1 + 1, max(0, x0 - 1):x1 + 1] = False
        assert np.array_equal(img[mask], raw[mask])                          # and nowhere else
    text = built["text"]
    assert f"Redaction of printed frames: {len(with_plate)} region(s) (licence plate)" in text
    assert "located from ADS detections; pixelated in 4 x 4 pixel blocks" in text
    assert "the ADS's logged detections with confidence (dashed)" in text and "licence plate (confidence 0.87)" in text


def test_pixelate_and_the_account_without_anything_to_redact():
    img = np.arange(12 * 12 * 3, dtype=np.uint8).reshape(12, 12, 3)
    out = pixelate(img, [{"box": [2, 2, 10, 10]}], block=4, margin=0)
    for y in (2, 6):
        for x in (2, 6):
            cell = out[y:y + 4, x:x + 4].reshape(-1, 3)
            assert (cell == cell[0]).all()
            assert np.array_equal(cell[0], np.round(img[y:y + 4, x:x + 4].reshape(-1, 3).mean(0)).astype(np.uint8))
    assert np.array_equal(out[:2], img[:2]) and np.array_equal(out[:, 10:], img[:, 10:])
    assert boxes_to_redact(["licence_plate", "face"], log=[{"class": "Licence plate", "box": [0, 0, 1, 1]},
                                                           {"class": "pedestrian", "box": [0, 0, 1, 1]}]) == \
        [{"box": [0.0, 0.0, 1.0, 1.0], "class": "Licence plate", "source": "log"}]
    r = Redactor(RedactionSpec(), active=True)
    r.add(3, log=[{"class": "pedestrian", "box": [0, 0, 4, 4]}])
    assert r(3, img) is img and r.account()["regions"] == 0 and "nothing was blurred" in r.account()["text"]
    assert Redactor(RedactionSpec(), active=False).account() is None


def test_no_heading_is_split_from_its_figure_or_table(built):
    """Layout: each key-frame, detector and occlusion-test heading has its figure below it on its page (the
    first row of panels of a key frame or detector frame, the occlusion test's frames), read from where the
    PDF draws its images; no numbered section heading ends a page."""
    from _page_layout import images_below

    seen = 0
    for i, page in enumerate(built["pages"]):
        for head in ("Key frame at", "Detector at", "Occlusion test:"):
            for below in images_below(built["pdf"], i, head):
                seen += 1
                assert below >= 1, (i + 1, head)
        body = [ln.strip() for ln in page.splitlines() if ln.strip() and not ln.strip().startswith("Page ")]
        assert not re.match(r"^\d+\. [A-Z]", body[-1] if body else ""), (i, body[-1])   # no section heading ends a page
    assert seen >= 2 * len(built["record"]["key_frames"])


def test_no_page_but_the_last_ends_more_than_a_quarter_early(built):
    """Layout: with the detector's section too, every page but the last is filled to within a quarter of its
    body (on main, pages before key frames, detector frames and the planner chart were left up to half empty)."""
    from _page_layout import blank_below

    blank = blank_below(built["pdf"])
    early = {i + 1: round(b, 2) for i, b in enumerate(blank[:-1]) if b > 0.25}
    assert len(blank) >= 5 and not early, f"pages (number: blank part) ending more than a quarter early: {early}"
