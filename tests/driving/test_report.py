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


# ----------------------------------------------------------------- issue 21: logs, facts, cross-check, layout
def test_report_states_facts_computed_from_the_log(built):
    _, text = _pdf_text(built["files"][0])
    flat = re.sub(r"\s+", " ", text)
    rec = built["record"]
    assert "7a. Facts computed from the log" in flat
    assert all(f["agrees"] for f in rec["cross_check"]), [f for f in rec["cross_check"] if not f["agrees"]]
    assert "facts of the incident file that the log also measures agree with it" in flat
    mfr = rec["facts"]["model_first_response"]
    assert (mfr["decision"], mfr["t_s"], round(mfr["distance_m"], 1), mfr["in_ego_lane"]) == ("slow", 2.1, 28.8, False)
    assert "first requests 'slow' at t = 2.1 s, with 'pedestrian_1' at 28.8 m, not yet in the ego lane" in flat
    assert "Relative to the crash (t = 4.2 s)" in flat                      # DSSAD window anchored on the event
    assert "100.00 m" not in flat and "10.00 s" not in flat               # no-lead placeholders never printed
    rows = rec["document"]["content"]["planning"]["rows"]
    assert any(c["value"] == "none" for r in rows for c in r["contributions"])
    assert "18,250" in flat and "18250.0" not in flat                       # numbers for people
    assert "ZIP code" in flat and "94000" in flat
    named = [k for k in rec["document"]["content"]["perception"]["key_frames"] if k["named"]]
    assert named and all("Integrated gradients" in k["statement"] and "Occlusion" in k["statement"] for k in named)
    whys = " ".join(k["why"] for k in rec["document"]["content"]["perception"]["key_frames"])
    assert "crash" in whys and "first appearance of 'pedestrian_1'" in whys
    # a replayed 'continue' with the pedestrian in the lane is shown although it lasts one frame
    assert any(e["event"].startswith("'continue' for 1 frame(s) with pedestrian_1 in the ego lane")
               for e in rec["events"])


def test_mcap_report_states_the_same_facts_as_the_folder_report(built, tmp_path):
    pytest.importorskip("mcap_ros2")
    from xai_reports.documents.incident.clips import read_clip
    from xai_reports.documents.incident.logs import write_mcap_clip
    from xai_reports.documents.incident.report import build_incident
    from xai_reports.packs import load_pack

    topics = load_pack("autonomous_driving").section("incident").log_topics
    mcap = write_mcap_clip(read_clip(built["clip"]), tmp_path / "clip.mcap", topics)
    rec = build_incident(shipped_models(), mcap, built["incident"])
    folder = built["record"]
    for key in ("replay", "events", "key_frames", "facts", "cross_check", "planner", "incident", "models"):
        assert rec[key] == folder[key], key
    assert rec["clip"]["id"] == folder["clip"]["id"] and rec["clip"]["frames"] == folder["clip"]["frames"]
    a, b = rec["document"]["content"], folder["document"]["content"]
    for key in ("timeline", "facts", "planning", "safety_case", "time_place"):
        assert a[key] == b[key], key
    assert [k["statement"] for k in a["perception"]["key_frames"]] == [k["statement"] for k in b["perception"]["key_frames"]]
    assert a["scenario"]["conditions"] == b["scenario"]["conditions"]
    assert a["scenario"]["source"]["format"] == "MCAP (ROS 2 CDR)"


def _with_wrong_incident(built, tmp_path, monkeypatch):
    """The real cross-check of an incident file holding the demo's old contradictions, on the built replay."""
    import copy

    import yaml

    from xai_reports.documents.incident import report as report_mod
    from xai_reports.documents.incident.analysis import debounce
    from xai_reports.documents.incident.clips import read_clip
    from xai_reports.documents.incident.facts import compute_facts, cross_check
    from xai_reports.documents.incident.incident_file import validate_incident
    from xai_reports.packs.sections.incident import CrossCheckSpec

    data = yaml.safe_load(EXAMPLE_INCIDENT)
    data["time_place"]["roadway_surface"] = "wet"
    data["safety_case"]["spis"][0]["observed"] = "0.8 s in this event"
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(yaml.safe_dump(data))
    clip = read_clip(built["clip"])
    facts = compute_facts(clip, debounce(built["record"]["replay"]["decisions"], 2))
    record = copy.deepcopy(built["record"])
    inc = validate_incident(data)
    record["incident"] = inc.model_dump(mode="json")
    record["cross_check"] = cross_check(inc, clip, facts, CrossCheckSpec())
    monkeypatch.setattr(report_mod, "build_incident", lambda *a, **k: record)
    return wrong


def test_strict_fails_on_a_contradiction_and_writes_nothing(built, tmp_path, monkeypatch, capsys):
    wrong = _with_wrong_incident(built, tmp_path, monkeypatch)
    out = tmp_path / "strict" / "r.pdf"
    base = ["incident", "--model", str(shipped_models()), "--clip", str(built["clip"]), "--incident", str(wrong),
            "--out", str(out), "--format", "json", "--quiet", "--sgo-out", str(tmp_path / "strict" / "sgo.csv")]
    assert cli_main(base + ["--strict"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "wrong.yaml" in err and "roadway surface: wet" in err and "SPI-07 observed" in err
    assert not out.parent.exists() or not any(out.parent.iterdir())
    assert cli_main(base) == 0                       # without --strict: written, contradictions printed as findings
    printed = capsys.readouterr().out
    assert "finding: roadway surface: the incident file says wet" in printed
    import csv

    sgo = {r["element"]: r for r in csv.DictReader(open(tmp_path / "strict" / "sgo.csv"))}
    surface = sgo["Roadway Surface"]
    assert surface["value"] == "wet" and surface["source"].startswith("incident file; log: dry")
    assert surface["source"].endswith("(CONTRADICTS)")


def test_sgo_export_csv_and_json(built, tmp_path):
    import csv

    from xai_reports.documents.incident.sgo import write_sgo

    rows = list(csv.DictReader(open(write_sgo(built["record"], tmp_path / "sgo.csv"))))
    got = {r["element"]: r["value"] for r in rows}
    assert got["City"] == "Example City" and got["State"] == "CA" and got["Zip Code"] == "94000"
    assert got["Latitude"] == "37.7" and got["Longitude"] == "-122.4" and got["Mileage"] == "18250"
    assert got["VIN"].endswith("N04352") and "1EXAMPLE" not in got["VIN"]
    js = json.loads(write_sgo(built["record"], tmp_path / "sgo.json").read_text())
    assert [r["element"] for r in js] == [r["element"] for r in rows]
    with pytest.raises(InputError, match="csv or .json"):
        write_sgo(built["record"], tmp_path / "sgo.txt")



def test_page_fill_measure_reads_a_known_layout(tmp_path):
    """The measure itself, against a page whose blank part is known: a block 40% of the body tall."""
    from weasyprint import HTML

    from _page_layout import blank_below

    html = ("<style>@page { size: A4; margin: 16mm 15mm 18mm 15mm } body { margin: 0 }</style>"
            "<div style='height: %.2fmm; background: #ddd'></div><p style='page-break-before: always'>x</p>"
            % (0.4 * (297 - 34)))
    HTML(string=html).write_pdf(tmp_path / "p.pdf")
    first, last = blank_below(tmp_path / "p.pdf")
    assert abs(first - 0.6) < 0.01 and last > 0.9


def test_no_page_but_the_last_ends_more_than_a_quarter_early(built):
    """Layout: every page but the last is filled to within a quarter of its body (on main, the key frames
    left pages half empty: the key-frame block was kept whole, so it jumped to the next page)."""
    from _page_layout import blank_below

    blank = blank_below(built["files"][0])
    early = {i + 1: round(b, 2) for i, b in enumerate(blank[:-1]) if b > 0.25}
    assert len(blank) >= 5 and not early, f"pages (number: blank part) ending more than a quarter early: {early}"
