"""A SYNTHETIC DICOM study for the healthcare demo: one synthetic lesion image in a DICOM file.

The patient identity (name, id, birth date, accession number), the institution,
the physicians, the device serial number, the dates and the UIDs are all made
up; the study description and the image comments say SYNTHETIC. The pixels are a
synthetic lesion image (:mod:`examples.healthcare.lesions`) stored as 12-bit
MONOCHROME2 with a rescale slope and intercept and a window in the header, so
that reading it exercises the same decoding path as a real study.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

DEMO_IDENTITY = {
    "PatientName": "Synthetica^Avela",
    "PatientID": "SYN-PID-4417",
    "PatientBirthDate": "19350704",   # over 89 at the demo date: de-identified sheets read "90 or older"
    "PatientAge": "091Y",
    "AccessionNumber": "SYN-ACC-DCM-0001",
    "StudyID": "SYN-STUDY-1",
    "StudyDate": "20261112",
    "InstitutionName": "Synthetic Teaching Hospital (fictional)",
    "ReferringPhysicianName": "Fictorius^Gideon",
    "OperatorsName": "Placeholder^Jory",
    "DeviceSerialNumber": "SYN-SN-000042",
    "StationName": "SYNSTATION1",
    "StudyDescription": "SYNTHETIC demo study (not a patient)",
}
"""The SYNTHETIC identity written into the demo file."""


def write_demo_dicom(png_path, out_path) -> Path:
    """Write ``out_path``: the grey-level image ``png_path`` as a SYNTHETIC secondary-capture DICOM file.

    Stored values are ``round(grey * 4000)`` (12 bits) with RescaleSlope 0.5 and
    RescaleIntercept -1000, and a header window (centre 0, width 2000) that maps
    them back onto the original grey levels.

    Examples::

        >>> write_demo_dicom("images/study_001.png", "dicom/study_0001.dcm").name
        'study_0001.dcm'
    """
    from PIL import Image
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    grey = np.asarray(Image.open(png_path).convert("L"), dtype=np.float64) / 255.0
    stored = np.round(grey * 4000).astype(np.uint16)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=["xai-reports demo", "instance"])
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(out), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid(entropy_srcs=["xai-reports demo", "study"])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=["xai-reports demo", "series"])
    for k, v in DEMO_IDENTITY.items():
        setattr(ds, k, v)
    ds.ImageComments = "SYNTHETIC image and identity, written by examples/healthcare/dicom_demo.py"
    ds.Modality, ds.ConversionType, ds.InstanceNumber = "OT", "SYN", 1
    ds.Rows, ds.Columns = stored.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.RescaleSlope, ds.RescaleIntercept = 0.5, -1000
    ds.WindowCenter, ds.WindowWidth = 0, 2000
    ds.BurnedInAnnotation = "NO"
    ds.PixelData = stored.tobytes()
    ds.save_as(str(out), enforce_file_format=True)
    return out


__all__ = ["write_demo_dicom", "DEMO_IDENTITY"]
