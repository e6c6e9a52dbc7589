"""Evidence maps into PACS: DICOM Secondary Capture objects that reference the source image.

With ``evidence.dicom_export: true`` in a pack's image model, every evidence map
of a case read from DICOM is also written as a Secondary Capture Image
(SOP Class 1.2.840.10008.5.1.4.1.1.7; RGB, the overlay printed on the sheet)
in the source study, in a new series, with the source image in its Source Image
Sequence and the source series in its Referenced Series Sequence, so that PACS
shows it beside the images.

Under a de-identifying profile every UID is replaced by the same keyed
HMAC-SHA-256 ``2.25`` UID the sheet prints (:func:`~.dicom.replace_uid`), the
patient is the pseudonymous case id, dates are left empty and the object says
``PatientIdentityRemoved YES`` with the profile as method; under the treatment
profile the source's UIDs, patient module and study date are kept. New UIDs
(series, instances) are derived from the source UIDs, never random; no date or
time comes from the clock, so the bytes depend only on the inputs.
"""

from __future__ import annotations

import base64
import io

import numpy as np

from .dicom import replace_uid

SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
IMPLEMENTATION_UID = "2.25.245110893746813958419342125839574019"   # fixed: xai-reports' implementation class
SERIES_NUMBER = 9901


def _rgb(data_uri: str) -> np.ndarray:
    from PIL import Image

    raw = base64.b64decode(data_uri.split(",", 1)[1])
    with Image.open(io.BytesIO(raw)) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8)


def evidence_secondary_captures(source, panels, *, case_id: str, deidentified: bool, key: bytes,
                                software: str) -> list[tuple[dict, bytes]]:
    """One Secondary Capture object per evidence panel.

    Args:
        source: the pydicom Dataset of the slice the sheet shows.
        panels: the sheet's evidence panels (those with a ``method``; ``png`` a data URI).
        case_id: the pseudonymous case id (the patient id under a de-identifying profile).
        deidentified: apply the PS3.15 replacements (see the module docstring).
        key: the run's UID key (the sheet's).
        software: the software version recorded in the object.

    Returns:
        ``[(facts, bytes)]``: ``facts`` names the SOP Instance UID, method and class of each object.
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian

    def uid(v):
        return replace_uid(str(v), key) if deidentified else str(v)

    study = uid(source.StudyInstanceUID)
    src_series, src_instance = uid(source.SeriesInstanceUID), uid(source.SOPInstanceUID)
    series = replace_uid(f"{source.SeriesInstanceUID}/xai-reports-evidence", key)
    out = []
    for n, p in enumerate([p for p in panels if p.get("method")], start=1):
        rgb = _rgb(p["png"])
        instance = replace_uid(f"{source.SOPInstanceUID}/xai-reports-evidence/{n}/{p['method']}/"
                               f"{p.get('target_class', '')}", key)
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = SECONDARY_CAPTURE
        meta.MediaStorageSOPInstanceUID = instance
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        meta.ImplementationClassUID = IMPLEMENTATION_UID
        meta.ImplementationVersionName = "XAI_REPORTS"
        ds = Dataset()
        ds.file_meta = meta
        ds.SpecificCharacterSet = "ISO_IR 192"
        ds.SOPClassUID, ds.SOPInstanceUID = SECONDARY_CAPTURE, instance
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        if deidentified:
            ds.PatientName, ds.PatientID = "", str(case_id)
            ds.PatientBirthDate, ds.PatientSex = "", ""
            ds.StudyDate, ds.StudyTime, ds.AccessionNumber, ds.StudyID = "", "", "", ""
            ds.PatientIdentityRemoved = "YES"
            ds.DeidentificationMethod = "DICOM PS3.15 Basic Profile (xai-reports)"
        else:
            for kw in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
                       "AccessionNumber", "StudyID", "ReferringPhysicianName"):
                setattr(ds, kw, source.get(kw, ""))
        ds.ReferringPhysicianName = "" if deidentified else ds.ReferringPhysicianName
        ds.Modality, ds.ConversionType = "OT", "WSD"
        ds.SeriesNumber, ds.InstanceNumber = SERIES_NUMBER, n
        ds.SeriesDescription = "xai-reports evidence maps (not a segmentation)"
        ds.Manufacturer, ds.SoftwareVersions = "xai-reports", software
        ds.ImageType = ["DERIVED", "SECONDARY"]
        ds.BurnedInAnnotation = "NO"
        ds.DerivationDescription = (f"{p['title']} evidence map for the class {p.get('target_class', '')} over the "
                                    "source image; shows influence on the model's score, not disease")[:1024]
        ref = Dataset()
        ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID = str(source.SOPClassUID), src_instance
        ds.SourceImageSequence = Sequence([ref])
        rs = Dataset()
        rs.SeriesInstanceUID = src_series
        rs.ReferencedInstanceSequence = Sequence([ref])
        ds.ReferencedSeriesSequence = Sequence([rs])
        ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
        ds.Rows, ds.Columns = rgb.shape[:2]
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
        ds.PixelData = rgb.tobytes()
        buf = io.BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        out.append(({"sop_instance_uid": instance, "series_instance_uid": series, "study_instance_uid": study,
                     "method": p["method"], "class": p.get("target_class")}, buf.getvalue()))
    return out


__all__ = ["evidence_secondary_captures", "SECONDARY_CAPTURE"]
