"""The incident report as a document: PDF text, embedded record, images with alt text, CLI errors."""

import json
import re
import shutil

import numpy as np
import pytest

from examples.driving_synthetic.clips import write_clip
from examples.driving_synthetic.demo import shipped_models
from xai_reports.cli import main as cli_main
from xai_reports.documents.incident.incident_file import EXAMPLE_INCIDENT
from xai_reports.documents.incident.report import generate_incident_report
from xai_reports.errors import InputError, PackError

SECTIONS = ["1. Report identification", "2. Vehicle and software configuration",
            "3. Time, place, scenario and operating design domain", "4. Automation state", "5. Crash facts",
            "6. Narrative", "7. Timeline", "8. Perception explanation", "9. Planning explanation",
            "10. Safety analysis", "11. Safety-case impact (UL 4600)", "12. Corrective action",
            "13. Regulatory reporting log", "14. Review, independence and sign-off",
            "15. Privacy and confidentiality", "Methods and limitations"]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    d = tmp_path_factory.mktemp("incident")
    clip = write_clip(d / "clip", "pedestrian_step_in")
    inc = d / "incident.yaml"
    inc.write_text(EXAMPLE_INCIDENT)
    res = generate_incident_report(shipped_models(), clip, inc, d / "out" / "report.pdf",
                                   formats=("pdf", "html", "json"))
    return {"dir": d, "clip": clip, "incident": inc, **res}


def _pdf_text(path):
    from pypdf import PdfReader

    reader = PdfReader(str(path))
    return reader, "\n".join(p.extract_text() for p in reader.pages)


def test_pdf_has_the_required_sections_and_statements(built):
    reader, text = _pdf_text(built["files"][0])
    flat = re.sub(r"\s+", " ", text)
    for s in SECTIONS:
        assert s in flat, s
    rec = built["record"]
    assert "SYNTHETIC" in flat
    assert "does not certify compliance" in flat
    assert "INC-SYN-0001" in flat
    assert rec["models"][0]["weights_sha256"][:40] in flat.replace(" ", "")
    assert re.search(r"'brake' requested at t = \d+\.\d s", flat)
    assert "Grad-CAM" in flat and "Integrated gradients" in flat
    assert "Heatmaps show where the model's output is sensitive" in flat
    assert "Triggering condition" in flat and "pedestrian entering the lane" in flat
    assert "SPI-07" in flat and "C-3.2" in flat
    assert "Investigator signature" in flat
    assert "***********" in flat and "1EXAMPLE0VIN04352" not in flat      # VIN masked


def test_record_is_embedded_and_matches(built):
    reader, _ = _pdf_text(built["files"][0])
    att = reader.attachments
    assert "record.json" in att
    embedded = json.loads(att["record.json"][0])
    on_disk = json.loads(built["files"][2].read_text())
    assert embedded == on_disk
    assert embedded["schema"] == "xai-reports/incident-record/1" and embedded["synthetic"] is True
    assert len(embedded["replay"]["probabilities"]) == 51


def test_every_image_has_alt_text_and_is_inline(built):
    html = built["files"][1].read_text()
    imgs = re.findall(r"<img [^>]*>", html)
    assert len(imgs) >= 4
    for tag in imgs:
        assert re.search(r'alt="[^"]{20,}"', tag), tag[:120]
        assert 'src="data:image/png;base64,' in tag


def test_named_object_claims_are_checked_by_occlusion(built):
    rec = built["record"]
    named = [kf for kf in rec["key_frames"] if kf["named_object"]]
    assert named, "the demo clip should name the pedestrian in at least one key frame"
    for kf in named:
        assert kf["named_object"] == "pedestrian_1"
        occ = kf["occlusion_test"]
        assert occ["object"] == kf["named_object"]
        assert occ["decision_changed"] is True


def test_events_follow_the_replayed_decisions(built):
    rec = built["record"]
    from xai_reports.documents.incident.analysis import debounce

    dec = debounce(rec["replay"]["decisions"], 2)            # the pack logs requests that last 0.2 s
    t = rec["replay"]["times"]
    first_brake = next(t[k] for k, d in enumerate(dec) if d == "brake")
    assert {"t_s": first_brake, "event": "'brake' requested", "source": "decision model replay"} in rec["events"]
    probs = np.array(rec["replay"]["probabilities"])
    assert np.allclose(probs.sum(1), 1, atol=1e-5)


def test_page_renders(built, tmp_path):
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(built["files"][0]))
    assert len(pdf) >= 5
    img = pdf[0].render(scale=1).to_pil()
    arr = np.asarray(img.convert("L"))
    assert arr.min() < 100 and arr.mean() > 150      # text on a white page


def test_cli_writes_the_report(built, tmp_path, capsys):
    out = tmp_path / "cli" / "inc.pdf"
    rc = cli_main(["incident", "--pack", "autonomous_driving", "--model", str(shipped_models() / "decision_cnn.pt"),
                   "--planner", str(shipped_models() / "planner_xgb.json"), "--clip", str(built["clip"]),
                   "--incident", str(built["incident"]), "--out", str(out), "--format", "json", "--quiet"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "wrote" in printed and "decision" in printed
    # same models, clip and incident: the same record, byte for byte (figures included)
    assert out.with_suffix(".json").read_bytes() == built["files"][2].read_bytes()


def test_cli_errors_are_one_line_and_write_nothing(built, tmp_path, capsys):
    clip = tmp_path / "clip"
    shutil.copytree(built["clip"], clip)
    (clip / "frames" / "frame_010.png").unlink()
    out = tmp_path / "o" / "r.pdf"
    args = ["incident", "--model", str(shipped_models()), "--clip", str(clip), "--incident", str(built["incident"]),
            "--out", str(out), "--quiet"]
    assert cli_main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "frame_010.png" in err and "missing" in err
    assert not out.parent.exists() or not any(out.parent.iterdir())
    bad = tmp_path / "bad.yaml"
    bad.write_text(EXAMPLE_INCIDENT.replace("status: challenged", "status: shaky"))
    args2 = ["incident", "--model", str(shipped_models()), "--clip", str(built["clip"]), "--incident", str(bad),
             "--out", str(out), "--quiet"]
    assert cli_main(args2) == 2
    err = capsys.readouterr().err
    assert "bad.yaml: safety_case.claims[0].status: expected" in err


def test_wrong_pack_domain_is_refused(built):
    with pytest.raises(PackError, match="pack .finance. writes letter, audit; incident reports need a pack whose kinds include incident"):
        generate_incident_report(shipped_models(), built["clip"], built["incident"], built["dir"] / "x.pdf",
                                 pack="finance")


def test_out_must_be_a_file(built):
    with pytest.raises(InputError, match="names a folder"):
        generate_incident_report(shipped_models(), built["clip"], built["incident"], built["dir"])


def test_verify_rerenders_the_report_from_its_record(built, tmp_path):
    from xai_reports import verify

    rep = verify(built["files"][0])
    assert rep.ok, str(rep)
    assert "exactly what its embedded record renders to" in str(rep)
    bad = tmp_path / "report.pdf"
    data = bytearray(built["files"][0].read_bytes())
    data[data.index(b"INC-SYN-0001") + 4] ^= 0x01      # one byte of the visible text
    bad.write_bytes(bytes(data))
    assert not verify(bad).ok


def test_incident_report_writes_a_manifest_and_verifies(built, tmp_path):
    from xai_reports.integrity import verify

    out = built["dir"] / "out"
    assert built["manifest"] == out / "report.manifest.json"
    m = json.loads(built["manifest"].read_text())
    assert m["kind"] == "incident_report" and set(m["outputs"]) == {"report.pdf", "report.html", "report.json"}
    assert m["inputs"]["clip"]["sha256"] == built["record"]["clip"]["sha256"]
    report = verify(out)
    assert report.ok and not report.not_compared, str(report)
    assert "report.pdf: document is exactly what its embedded record renders to" in str(report)
    lone = tmp_path / "lone"
    lone.mkdir()
    shutil.copy(out / "report.pdf", lone / "incident.pdf")
    single = verify(lone / "incident.pdf")
    assert single.ok and not single.not_compared, str(single)
