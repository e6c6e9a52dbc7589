"""DICOM inputs: decoding against pydicom's own LUT functions, slice policies, and the PS3.15 Basic
Profile on de-identified sheets (every original identifying header value is searched for in the PDF
text and the JSON record).

Real-format files are pydicom's bundled test files (read from the package folder: no download);
the files with a patient identity are written here and are SYNTHETIC."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pydicom = pytest.importorskip("pydicom")

from examples.healthcare.demo import DEMO_TIME  # noqa: E402
from xai_reports.documents.case_review.dicom import (  # noqa: E402
    identifying_values, linear_window, modality_lut, read_dicom, replace_uid)

from _hc import pdf_record, pdf_text  # noqa: E402

TEST_FILES = Path(pydicom.data.__file__).parent / "test_files"


def bundled(name):
    p = TEST_FILES / name
    if not p.is_file():
        pytest.skip(f"pydicom test file {name} not bundled")
    return p


def synthetic_dicom(path, *, pixels=None, photometric="MONOCHROME2", name="Synthoval^Quinbert",
                    pid="SYN-7781234", birth="19310412", accession="ACC-SYN-55231", study_uid=None,
                    series_uid=None, instance=1, position=None, window=None, burned_in=None, age="094Y"):
    """Write a SYNTHETIC CT-like DICOM file (16-bit, rescale slope 1, intercept -1024) with a made-up identity.

    Every name, id, date and UID is invented (SYNTHETIC); the study description says so."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    rng = np.random.default_rng(instance)
    if pixels is None:
        yy, xx = np.mgrid[:80, :96]
        pixels = (1024 + 300 * np.exp(-((yy - 40) ** 2 + (xx - 48) ** 2) / 200) + rng.normal(0, 10, (80, 96)))
        pixels = pixels.astype(np.uint16)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=[str(path), "sop"])
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = study_uid or generate_uid(entropy_srcs=[str(path), "study"])
    ds.SeriesInstanceUID = series_uid or generate_uid(entropy_srcs=[str(path), "series"])
    ds.FrameOfReferenceUID = generate_uid(entropy_srcs=[str(path), "for"])
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientAge = name, pid, birth, age
    ds.AccessionNumber, ds.StudyID = accession, "SYNSTUDY42"
    ds.StudyDate, ds.SeriesDate, ds.StudyTime = "20250917", "20250917", "101530"
    ds.InstitutionName = "Synthetic General Hospital"
    ds.ReferringPhysicianName = "Refsyn^Ottoline"
    ds.PerformingPhysicianName = "Perfsyn^Wendeline"
    ds.OperatorsName = "Opsyn^Baltasar"
    ds.DeviceSerialNumber = "SN-SYN-90210"
    ds.StationName = "SYNSTATION7"
    ds.StudyDescription = "SYNTHETIC chest study"
    ds.Modality, ds.InstanceNumber = "CT", instance
    if position is not None:
        ds.ImagePositionPatient = [0.0, 0.0, float(position)]
        ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    if window:
        ds.WindowCenter, ds.WindowWidth = window
    if burned_in:
        ds.BurnedInAnnotation = burned_in
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    ds.save_as(str(path), enforce_file_format=True)
    return path


# --- decoding ---------------------------------------------------------------------------------

def test_ct_small_modality_lut_and_window_match_pydicom():
    from pydicom.pixels import apply_modality_lut

    p = bundled("CT_small.dcm")
    ds = pydicom.dcmread(p)
    hu = apply_modality_lut(ds.pixel_array, ds)
    assert np.allclose(modality_lut(ds.pixel_array, ds), hu)
    d = read_dicom(p, height=128, width=128, window=(40, 400))
    # the linear VOI function written out independently (PS3.3 C.11.2.1.2.1)
    c, w = 40.0, 400.0
    expect = np.where(hu <= c - 0.5 - (w - 1) / 2, 0.0,
                      np.where(hu > c - 0.5 + (w - 1) / 2, 1.0, ((hu - (c - 0.5)) / (w - 1) + 0.5)))
    assert np.allclose(d.image[0], expect, atol=1e-6)
    assert d.flags == [] and "40" in d.window_text


def test_mr_small_header_window_matches_pydicom_voi():
    from pydicom.pixels import apply_voi_lut

    p = bundled("MR_small.dcm")
    ds = pydicom.dcmread(p)
    d = read_dicom(p, height=64, width=64)
    assert "from the DICOM header" in d.window_text
    ref = apply_voi_lut(ds.pixel_array.astype(float), ds).astype(float)
    # pydicom maps the window onto the stored range (signed 16 bits here: -32768 .. 32767)
    bits = int(ds.BitsStored)
    lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if ds.PixelRepresentation else (0, 2 ** bits - 1)
    assert np.allclose(d.image[0], (ref - lo) / (hi - lo), atol=1e-4)


def test_resize_to_card_size_is_flagged():
    d = read_dicom(bundled("CT_small.dcm"), height=64, width=64, window=(40, 400))
    assert d.image.shape == (1, 64, 64)
    assert any("resized from 128 x 128" in f for f in d.flags)


def test_monochrome1_is_inverted(tmp_path):
    a = synthetic_dicom(tmp_path / "m2.dcm", window=(100, 400))
    b = synthetic_dicom(tmp_path / "m1.dcm", photometric="MONOCHROME1", window=(100, 400))
    da, db = read_dicom(a, height=80, width=96), read_dicom(b, height=80, width=96)
    assert np.allclose(da.image, 1.0 - db.image)
    assert "MONOCHROME1 inverted" in db.window_text


def test_multiframe_middle_frame():
    p = bundled("rtdose.dcm")
    ds = pydicom.dcmread(p)
    d = read_dicom(p, height=10, width=10)
    frame = ds.pixel_array[7] * float(ds.get("RescaleSlope", 1) or 1)
    f = (frame - frame.min()) / (frame.max() - frame.min())
    assert np.allclose(d.image[0], f, atol=1e-6)
    assert "frame 8 of 15" in d.slice_text


def test_rle_compressed_colour_multiframe():
    d = read_dicom(bundled("SC_rgb_rle_2frame.dcm"), height=100, width=100)
    assert d.image.shape == (1, 100, 100) and 0 <= d.image.min() and d.image.max() <= 1
    assert any("colour" in f for f in d.flags)


def test_series_folder_ordered_by_position(tmp_path):
    from pydicom.uid import generate_uid

    study, series = generate_uid(entropy_srcs=["s1"]), generate_uid(entropy_srcs=["s2"])
    positions = [40.0, 0.0, 20.0, 10.0, 30.0]   # instance numbers deliberately out of spatial order
    for i, z in enumerate(positions):
        px = np.full((80, 96), 1024 + int(z) * 10, dtype=np.uint16)
        synthetic_dicom(tmp_path / f"s{i}.dcm", pixels=px, study_uid=study, series_uid=series, instance=i + 1,
                        position=z)
    d = read_dicom(tmp_path, height=80, width=96, window=(200, 400))
    assert "slice 3 of 5" in d.slice_text and d.files == 5
    # the middle slice along the normal is z = 20: HU 200 -> centre of the window
    assert np.allclose(d.image, linear_window(np.array(200.0), 200, 400))


def test_mixed_series_refused(tmp_path):
    from xai_reports.errors import InputError

    synthetic_dicom(tmp_path / "a.dcm", instance=1)
    synthetic_dicom(tmp_path / "b.dcm", instance=2)
    with pytest.raises(InputError, match="2 series"):
        read_dicom(tmp_path, height=80, width=96)


def test_replaced_uids_are_keyed_and_consistent():
    u = "1.2.840.113619.2.55.3.604688119.969.1268071029.320"
    assert replace_uid(u, b"a") == replace_uid(u, b"a") != replace_uid(u, b"b")
    assert replace_uid(u, b"a").startswith("2.25.") and u not in replace_uid(u, b"a")
    assert len(replace_uid(u, b"a")) <= 64


# --- sheets -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def dicom_cases(tmp_path_factory):
    d = tmp_path_factory.mktemp("dicom_cases")
    img = d / "images"
    img.mkdir()
    synthetic_dicom(img / "synthetic_ct.dcm", window=(100, 500))
    (img / "series").mkdir()
    from pydicom.uid import generate_uid

    st, se = generate_uid(entropy_srcs=["st"]), generate_uid(entropy_srcs=["se"])
    for i in range(3):
        synthetic_dicom(img / "series" / f"{i}.dcm", study_uid=st, series_uid=se, instance=i + 1, position=i * 5.0)
    import shutil

    shutil.copy(bundled("CT_small.dcm"), img / "ct_small.dcm")
    shutil.copy(bundled("MR_small.dcm"), img / "mr_small.dcm")
    # an in-scope case: a held-out synthetic lesion image in a SYNTHETIC DICOM file (the demo's writer)
    from examples.healthcare.demo import lesion_demo_cases
    from examples.healthcare.dicom_demo import write_demo_dicom

    lesion_demo_cases(d / "png", 1)
    write_demo_dicom(d / "png" / "study_001.png", img / "lesion.dcm")
    frame = pd.DataFrame({"case_id": ["D1", "D2", "D3", "D4", "D5"],
                          "image": ["synthetic_ct.dcm", "series", "ct_small.dcm", "mr_small.dcm", "lesion.dcm"],
                          "accession": [None, None, None, None, "SYN-ACC-D5-0042"]})
    frame.to_csv(d / "cases.csv", index=False)
    headers = [pydicom.dcmread(p) for p in sorted(img.rglob("*.dcm"))]
    return {"path": d / "cases.csv", "images": img, "headers": headers}


@pytest.fixture(scope="module")
def dicom_sheets(tmp_path_factory, lesion_model, dicom_cases, hc_pack):
    from xai_reports.documents.case_review import generate_case_reviews

    out = {}
    for prof in ("treatment", "research"):
        d = tmp_path_factory.mktemp(f"dicom_{prof}")
        out[prof] = {"dir": d, "summary": generate_case_reviews(
            lesion_model["model"], dicom_cases["path"], hc_pack, d, profile=prof, images=dicom_cases["images"],
            timestamp=DEMO_TIME, formats=("pdf", "json"), workers=1)}
    return out


def test_dicom_sheets_written(dicom_sheets):
    for prof in ("treatment", "research"):
        s = dicom_sheets[prof]["summary"]
        assert s.sheets == 5 and not s.errors, [(e.get("id"), e.get("message")) for e in s.errors]


def test_treatment_sheet_carries_study_series_instance(dicom_sheets, dicom_cases):
    d = dicom_sheets["treatment"]["dir"]
    ds = pydicom.dcmread(dicom_cases["images"] / "ct_small.dcm")
    text = " ".join(pdf_text(d / "case_D3.pdf").split())
    for kw in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
        assert str(ds.get(kw)) in text.replace(" ", "") or str(ds.get(kw)) in json.dumps(
            json.loads(pdf_record(d / "case_D3.pdf")))
    syn = " ".join(pdf_text(d / "case_D1.pdf").split())
    assert "Synthoval^Quinbert" in syn and "ACC-SYN-55231" in syn and "1931-04-12" in syn


def test_deidentified_sheets_hold_no_identifying_header_value(dicom_sheets, dicom_cases):
    d = dicom_sheets["research"]["dir"]
    values = identifying_values(dicom_cases["headers"])
    kws = {kw for kw, _, _ in values}
    assert {"PatientName", "PatientID", "PatientBirthDate", "AccessionNumber", "StudyInstanceUID",
            "InstitutionName", "DeviceSerialNumber", "ReferringPhysicianName", "StudyDate"} <= kws
    for case in ("D1", "D2", "D3", "D4", "D5"):
        pdf = d / f"case_{case}.pdf"
        texts = {"pdf": " ".join(pdf_text(pdf).split()).lower(), "pdf_nospace": pdf_text(pdf).replace(" ", "")
                 .replace("\n", "").lower(), "record": pdf_record(pdf).decode().lower(),
                 "json": (d / f"case_{case}.json").read_text().lower()}
        # embedded figures are base64 pixels: a short value can occur in them by chance, so they are left out
        texts = {k: re.sub(r"data:[a-z0-9.+/-]+;base64,[a-z0-9+/=]+", "data:", t) for k, t in texts.items()}
        for kw, v, cat in values:
            spellings = {v.lower()}
            if cat == "dates":
                spellings |= {v.replace("-", "").lower()}
            for s in spellings:
                pat = re.compile(r"(?<![0-9a-z])" + re.escape(s) + r"(?![0-9a-z])")
                for part, t in texts.items():
                    assert not pat.search(t), f"{kw} leaked into {part} of {case}"
                    if len(s) >= 8:   # long values: not even inside a longer word or number
                        assert s not in t, f"{kw} leaked into {part} of {case}"
        rec = json.loads((d / f"case_{case}.json").read_text())
        text = texts["pdf"]
        assert "uid (replaced)" in text and "2.25." in text
        if case == "D1":
            assert "90 or older" in text and "2025" in text
    # replaced UIDs are consistent: the series case shows one study UID on its rows; a rerun gives the same
    assert rec["profile"]["deidentification"] == "safe_harbor"


def test_burned_in_annotation_refused_when_deidentifying(tmp_path, lesion_model, hc_pack):
    from xai_reports.documents.case_review import generate_case_reviews

    img = tmp_path / "img"
    img.mkdir()
    synthetic_dicom(img / "b.dcm", burned_in="YES")
    pd.DataFrame({"case_id": ["B1"], "image": ["b.dcm"]}).to_csv(tmp_path / "c.csv", index=False)
    s = generate_case_reviews(lesion_model["model"], tmp_path / "c.csv", hc_pack, tmp_path / "out",
                              profile="research", images=img, timestamp=DEMO_TIME, formats=("json",), workers=1)
    assert s.sheets == 0 and "burned-in annotation" in s.errors[0]["message"]
    assert not list((tmp_path / "out").glob("case_*"))
    s = generate_case_reviews(lesion_model["model"], tmp_path / "c.csv", hc_pack, tmp_path / "out_t",
                              profile="treatment", images=img, timestamp=DEMO_TIME, formats=("json",), workers=1)
    assert s.sheets == 1


def _text(path):
    return " ".join(pdf_text(path).split())


def test_out_of_scope_headline_and_no_reassurance(dicom_sheets):
    for prof in ("treatment", "research"):
        t = _text(dicom_sheets[prof]["dir"] / "case_D3.pdf")   # a real CT slice: unlike the synthetic lesions
        assert "Output: out of scope: not for clinical use" in t
        assert "Not shown as reassurance" in t and "most similar reference images are" not in t
        t5 = _text(dicom_sheets[prof]["dir"] / "case_D5.pdf")
        rec = json.loads((dicom_sheets[prof]["dir"] / "case_D5.json").read_text())
        assert not rec["prediction"]["out_of_scope"], rec["document"]["content"]["inputs"]["flags"]
        assert f"Output: {rec['prediction']['class']}" in t5 and "most similar reference images are" in t5


def test_treatment_shows_monitoring_review_and_accession_research_does_not(dicom_sheets):
    t = _text(dicom_sheets["treatment"]["dir"] / "case_D5.pdf")
    assert "Last monitoring review October 15, 2026" in t
    assert "Accession or specimen id SYN-ACC-D5-0042" in t and "SYN-ACC-DCM-0001" in t
    r = _text(dicom_sheets["research"]["dir"] / "case_D5.pdf")
    assert "Last monitoring review 2026" in r and "SYN-ACC-D5-0042" not in r and "SYN-ACC-DCM-0001" not in r


def test_reference_case_ids_withheld_when_deidentified(dicom_sheets, lesion_model):
    from xai_reports.documents.case_review.card import load_card

    ids = [str(i) for i in load_card(lesion_model["model"]).reference["ids"]]
    shown = json.loads((dicom_sheets["treatment"]["dir"] / "case_D5.json").read_text())
    shown_ids = [it["ref_id"] for it in shown["document"]["content"]["similar"]["items"]]
    assert shown_ids and set(shown_ids) <= set(ids)
    d = dicom_sheets["research"]["dir"]
    text = _text(d / "case_D5.pdf") + (d / "case_D5.json").read_text()
    assert "reference case 1" in text
    for ref in ids:
        assert ref not in text


def test_localisation_note_names_the_class_of_the_maps(dicom_sheets):
    for prof in ("treatment", "research"):
        for p in sorted(dicom_sheets[prof]["dir"].glob("case_*.json")):
            ev = json.loads(p.read_text())["document"]["content"]["evidence"]
            note = ev["method_note"]
            if note and ev["target_class"] != "malignant":
                assert f"The maps above are for the class {ev['target_class']}" in note
            elif note:
                assert "maps above are for the class" not in note
