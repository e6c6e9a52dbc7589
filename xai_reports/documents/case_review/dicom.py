"""DICOM inputs of case-review sheets: reading, pixel decoding, and what a sheet may say about the header.

An image case may name a DICOM file (single- or multi-frame) or a folder
holding one series. :func:`read_dicom` decodes the pixels as a radiologist's
viewer does, in the order of DICOM PS3.3 C.11 / C.7.6.3.1.2:

1. the modality LUT: ``value * RescaleSlope + RescaleIntercept`` (e.g. CT
   Hounsfield units);
2. the VOI window (linear function of PS3.3 C.11.2.1.2.1), from the model
   card (what the model was trained with) if it declares one, else the pack,
   else the header's first ``WindowCenter``/``WindowWidth``, else the
   image's own minimum and maximum;
3. the photometric interpretation: ``MONOCHROME1`` (bright = low values) is
   inverted so that the model always sees ``MONOCHROME2``; colour images are
   converted to grey levels for a grey-level model (flagged).

A multi-frame file or a series folder is a volume (a series is ordered by
``ImagePositionPatient`` along the slice normal, else ``InstanceNumber``). The
pack's ``input.slice_policy`` picks the slice the model reads and the evidence
maps are drawn on: ``middle`` (the middle slice) or ``max_score`` (every slice
is scored by the model and the one with the highest calibrated probability of
``input.slice_class`` is taken: the slice that matters for that class);
``input.slice_stack`` (2.5-D, three channels) gives the model the slices before,
at and after it. The sheet says which slice it took and why. The slice is resized to the model
card's input size (bilinear; flagged when the size changed).

:func:`header_facts` says what the sheet may print about the header. Under a
treatment profile it prints the study, series and instance UIDs, the
accession number and the patient's name, id and birth date. Under a
de-identifying profile the DICOM PS3.15 Annex E Basic Application Level
Confidentiality Profile applies to everything printed or recorded: the
attributes of :data:`BASIC_PROFILE_REMOVED` never appear, dates are reduced to
the year, UIDs are replaced by ``2.25.<n>`` UIDs derived with HMAC-SHA-256
under a key of the pack and run (consistent within a run, never the original),
ages over 89 read "90 or older" (the profile's Retain Patient Characteristics
Option, with the HIPAA Safe Harbor aggregation of ages over 89), and an image whose header declares burned-in
annotation is refused (the profile's Clean Pixel Data Option is not
implemented). :func:`identifying_values` lists every original value for the
last-line leak check.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...errors import InputError

# PS3.15 Table E.1-1, Basic Profile: attributes removed or replaced with dummies (names, ids, dates, times,
# institution, physicians, operators, device identity, free text that may carry identity).
BASIC_PROFILE_REMOVED = (
    "PatientName", "PatientID", "PatientBirthDate", "PatientBirthTime", "PatientBirthName", "OtherPatientIDs",
    "OtherPatientNames", "OtherPatientIDsSequence", "PatientAddress", "PatientTelephoneNumbers",
    "PatientMotherBirthName", "MedicalRecordLocator", "PatientInsurancePlanCodeSequence", "MilitaryRank",
    "BranchOfService", "EthnicGroup", "Occupation", "AdditionalPatientHistory", "PatientComments",
    "PatientReligiousPreference", "CountryOfResidence", "RegionOfResidence", "IssuerOfPatientID",
    "PatientSize", "PatientWeight", "AccessionNumber", "StudyID", "StudyDate", "SeriesDate", "AcquisitionDate",
    "ContentDate", "InstanceCreationDate", "StudyTime", "SeriesTime", "AcquisitionTime", "ContentTime",
    "InstanceCreationTime", "AcquisitionDateTime", "InstitutionName", "InstitutionAddress",
    "InstitutionalDepartmentName", "InstitutionCodeSequence", "ReferringPhysicianName",
    "ReferringPhysicianAddress", "ReferringPhysicianTelephoneNumbers", "PerformingPhysicianName",
    "NameOfPhysiciansReadingStudy", "PhysiciansOfRecord", "RequestingPhysician", "OperatorsName",
    "ScheduledPerformingPhysicianName", "DeviceSerialNumber", "StationName", "DetectorID", "PlateID",
    "StudyDescription", "SeriesDescription", "ProtocolName", "ImageComments", "RequestedProcedureID",
    "PerformedProcedureStepID", "PerformedProcedureStepStartDate", "PerformedProcedureStepStartTime",
    "PerformedProcedureStepDescription", "ScheduledProcedureStepID", "RequestAttributesSequence",
    "DerivationDescription", "FillerOrderNumberImagingServiceRequest", "PlacerOrderNumberImagingServiceRequest",
    "ResponsibleOrganization", "ResponsiblePerson",
    "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID",
    "SynchronizationFrameOfReferenceUID", "StorageMediaFileSetUID", "IrradiationEventUID",
    "MediaStorageSOPInstanceUID", "ReferencedSOPInstanceUID", "InstanceCreatorUID",
)
"""DICOM keywords whose values a de-identified sheet never prints or records as read (PS3.15 Table E.1-1)."""

_UID_KEYWORDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")
_KEEP_UI = ("SOPClassUID", "MediaStorageSOPClassUID", "TransferSyntaxUID", "ImplementationClassUID",
            "ReferencedSOPClassUID")


def _pydicom():
    try:
        import pydicom
    except ImportError:  # pragma: no cover - optional dependency
        raise InputError("DICOM inputs need pydicom (pip install 'xai-reports[dicom]')") from None
    return pydicom


@dataclass
class DicomImage:
    """A decoded DICOM slice and the header facts around it."""

    image: np.ndarray                 # (channels, height, width) floats in [0, 1]
    flags: list[str]
    digest_bytes: bytes               # what the input hash is taken of (file bytes, or per-file hashes of a series)
    header: object                    # the pydicom Dataset of the slice shown
    slice_text: str
    window_text: str
    files: int = 1
    extra_headers: list = field(default_factory=list)


def is_dicom(path) -> bool:
    """A folder (a series), a ``.dcm`` file, or a file with the ``DICM`` preamble."""
    p = Path(path)
    if p.is_dir():
        return True
    if p.suffix.lower() in (".dcm", ".dicom"):
        return True
    try:
        with open(p, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def _read(path):
    pydicom = _pydicom()
    try:
        return pydicom.dcmread(str(path))
    except Exception as exc:  # noqa: BLE001 - pydicom raises many kinds for a broken file
        raise InputError(f"not a readable DICOM file ({type(exc).__name__}: {str(exc)[:120]})", file=path) from None


def _pixels(ds, path) -> np.ndarray:
    if "PixelData" not in ds:
        raise InputError("DICOM file holds no pixel data", file=path)
    try:
        return np.asarray(ds.pixel_array)
    except Exception as exc:  # noqa: BLE001 - missing decoder, corrupt stream
        ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
        raise InputError(f"cannot decode the pixel data (transfer syntax {getattr(ts, 'name', ts)}): "
                         f"{str(exc)[:160]}", file=path) from None


def _first(v):
    if v is None:
        return None
    try:
        return float(v[0]) if hasattr(v, "__len__") and not isinstance(v, str) else float(v)
    except (TypeError, ValueError, IndexError):
        return None


def modality_lut(arr: np.ndarray, ds) -> np.ndarray:
    """``arr * RescaleSlope + RescaleIntercept`` (1 and 0 when absent), as float64."""
    slope = _first(ds.get("RescaleSlope"))
    icept = _first(ds.get("RescaleIntercept"))
    return arr.astype(np.float64) * (1.0 if slope is None else slope) + (0.0 if icept is None else icept)


def linear_window(x: np.ndarray, center: float, width: float) -> np.ndarray:
    """The DICOM linear VOI function (PS3.3 C.11.2.1.2.1) onto ``[0, 1]``.

    Examples::

        >>> linear_window(np.array([-1000.0, 40.0, 1000.0]), 40, 400).round(3).tolist()
        [0.0, 0.501, 1.0]
    """
    if width < 1:
        raise ValueError("window width must be at least 1")
    if width == 1:
        return (x >= center - 0.5).astype(np.float64)
    y = (x - (center - 0.5)) / (width - 1) + 0.5
    return np.clip(y, 0.0, 1.0)


def _window(vals: np.ndarray, ds, window) -> tuple[np.ndarray, str]:
    if window is not None:
        c, w = float(window[0]), float(window[1])
        return linear_window(vals, c, w), f"window centre {c:g}, width {w:g} (model card or pack)"
    c, w = _first(ds.get("WindowCenter")), _first(ds.get("WindowWidth"))
    if c is not None and w is not None and w >= 1:
        return linear_window(vals, c, w), f"window centre {c:g}, width {w:g} (from the DICOM header)"
    lo, hi = float(vals.min()), float(vals.max())
    span = hi - lo if hi > lo else 1.0
    return (vals - lo) / span, f"no window given: the slice's own range {lo:g} to {hi:g}"


def _resize(arr: np.ndarray, height: int, width: int) -> np.ndarray:
    from PIL import Image

    if arr.shape == (height, width):
        return arr
    im = Image.fromarray(arr.astype(np.float32), mode="F").resize((width, height), Image.Resampling.BILINEAR)
    return np.clip(np.asarray(im, dtype=np.float64), 0.0, 1.0)


def _series(folder: Path):
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    if not files:
        raise InputError("DICOM series folder is empty", file=folder)
    dss = [(_read(p), p) for p in files]
    series = {str(ds.get("SeriesInstanceUID", "")) for ds, _ in dss}
    if len(series) > 1:
        raise InputError(f"DICOM folder holds {len(series)} series; name one series per case", file=folder)

    def key(item):
        ds = item[0]
        ipp, iop = ds.get("ImagePositionPatient"), ds.get("ImageOrientationPatient")
        if ipp is not None and iop is not None and len(iop) == 6:
            n = np.cross(np.asarray(iop[:3], float), np.asarray(iop[3:], float))
            return (0, float(np.dot(n, np.asarray(ipp, float))))
        return (1, float(ds.get("InstanceNumber", 0) or 0))

    return sorted(dss, key=key)


def read_dicom(path, *, height: int, width: int, channels: int = 1, window=None, slice_policy: str = "middle",
               slice_scorer=None, slice_stack: bool = False) -> DicomImage:
    """Decode a DICOM file or series folder to the model's input (see the module docstring).

    Args:
        slice_policy: for a volume (series folder, multi-frame file): ``"middle"`` (the middle slice) or
            ``"max_score"`` (every slice is decoded and scored by ``slice_scorer``, and the one with the highest
            score is shown and explained).
        slice_scorer: ``(n, C, H, W) -> ((n,) scores, "what the score is")`` for ``max_score``.
        slice_stack: 2.5-D (``channels == 3``): the model's channels are the slices before, at and after the
            chosen one (the ends repeat the edge slice).

    Raises:
        InputError: unreadable file, no pixel data, no decoder for the transfer syntax, mixed series.
    """
    p = Path(path)
    flags: list[str] = []
    if p.is_dir():
        dss = _series(p)
        slices = [(d, _pixels(d, src)) for d, src in dss]
        digest = b"".join(hashlib.sha256(f.read_bytes()).digest() for _, f in dss)
        n_files, extra, what, unit = len(dss), [d for d, _ in dss], f"series of {len(dss)} images: slice", "slice"
    else:
        if not p.is_file():
            raise InputError("DICOM file not found", file=p)
        ds = _read(p)
        arr = _pixels(ds, p)
        digest = p.read_bytes()
        n_files, extra = 1, [ds]
        nf = int(_first(ds.get("NumberOfFrames")) or 1)
        slices = [(ds, arr[i]) for i in range(nf)] if nf > 1 else [(ds, arr)]
        what, unit = f"multi-frame image of {nf} frames: frame", "frame"
    n = len(slices)
    decoded = {}

    def model_input(i):
        if i not in decoded:
            decoded[i] = _decode(slices[i][0], slices[i][1], height, width, channels, window)
        return decoded[i]

    k = n // 2
    policy = f"middle {unit}, 2-D slice policy"
    if n > 1 and slice_policy == "max_score":
        stack = np.stack([_stacked(model_input, i, n, channels) if slice_stack else model_input(i)[0]
                          for i in range(n)])
        scores, meaning = slice_scorer(stack)
        scores = np.asarray(scores, dtype=np.float64)
        k = int(np.argmax(scores))
        policy = (f"the slice with the highest {meaning} ({scores[k]:.3g}; slice median {np.median(scores):.3g}), "
                  "max_score slice policy; the evidence maps are on this slice")
    image, more_flags, window_text = model_input(k)
    if slice_stack and channels == 3:
        image = _stacked(model_input, k, n, channels)
        policy += "; 2.5-D: the model's three channels are the slices before, at and after it"
    flags += more_flags
    slice_text = f"{what} {k + 1} of {n} ({policy})" if n > 1 or p.is_dir() else "single image"
    return DicomImage(image=image.astype(np.float32), flags=flags, digest_bytes=digest, header=slices[k][0],
                      slice_text=slice_text, window_text=window_text, files=n_files, extra_headers=extra)


def _stacked(model_input, i, n, channels):
    """2.5-D input of slice ``i``: the grey levels of slices ``i - 1``, ``i``, ``i + 1`` as three channels."""
    return np.stack([model_input(min(max(j, 0), n - 1))[0][0] for j in (i - 1, i, i + 1)])


def _decode(ds, arr, height, width, channels, window):
    """One slice's pixels -> ``((channels, height, width)`` in [0, 1], flags, window text)."""
    flags = []
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2"))
    if arr.ndim == 3:  # colour (rows, cols, samples): pydicom returns RGB for YBR too
        if channels == 1:
            flags.append(f"colour ({photometric}) DICOM image converted to grey levels")
            arr = arr[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
        vals = arr.astype(np.float64)
        top = float(2 ** int(ds.get("BitsStored", 8)) - 1)
        grey, window_text = vals / top, f"colour image scaled by its bit depth ({int(ds.get('BitsStored', 8))} bits)"
    else:
        vals = modality_lut(arr, ds)
        grey, window_text = _window(vals, ds, window)
        if photometric == "MONOCHROME1":
            grey = 1.0 - grey
            window_text += "; MONOCHROME1 inverted to MONOCHROME2"
    rows, cols = grey.shape[:2]
    if (rows, cols) != (height, width):
        flags.append(f"image resized from {cols} x {rows} px to the model's {width} x {height} px")
    if grey.ndim == 3:
        out = np.stack([_resize(grey[..., i], height, width) for i in range(grey.shape[2])])
    else:
        g = _resize(grey, height, width)
        out = g[None] if channels == 1 else np.repeat(g[None], channels, axis=0)
    return out, flags, window_text


# --- what the sheet says about the header -----------------------------------------------------

def replace_uid(uid: str, key: bytes) -> str:
    """A ``2.25.<n>`` UID derived from ``uid`` with HMAC-SHA-256 under ``key`` (same input, same output).

    Examples::

        >>> replace_uid("1.2.3", b"k") == replace_uid("1.2.3", b"k") != replace_uid("1.2.3", b"j")
        True
    """
    n = int.from_bytes(hmac.new(key, str(uid).encode("ascii", "replace"), hashlib.sha256).digest()[:15], "big")
    return f"2.25.{n}"


def _year(da) -> str | None:
    s = str(da or "").strip()
    return s[:4] if len(s) >= 4 and s[:4].isdigit() else None


def _age_text(ds, deid: bool) -> str | None:
    a = str(ds.get("PatientAge", "") or "").strip()
    if not a:
        return None
    try:
        n, unit = int(a[:-1]), a[-1].upper()
    except ValueError:
        return None
    years = n if unit == "Y" else 0
    if deid and years > 89:
        return "90 or older"
    return {"Y": f"{n} years", "M": f"{n} months", "W": f"{n} weeks", "D": f"{n} days"}.get(unit)


def burned_in(ds) -> str | None:
    v = ds.get("BurnedInAnnotation")
    return None if v is None else str(v).strip().upper()


def header_facts(dimg: DicomImage, *, deidentified: bool, key: bytes) -> dict:
    """What the sheet prints about a DICOM input under a profile.

    Returns:
        ``{"rows": [{"label", "value"}], "identity": [{"label", "value"}], "removed": [...], "profile_note"}``;
        ``identity`` is empty under a de-identifying profile.

    Raises:
        InputError: a de-identifying profile and a header declaring burned-in annotation.
    """
    ds = dimg.header
    rows = [{"label": "Modality", "value": str(ds.get("Modality", "") or "not given")},
            {"label": "Slice", "value": dimg.slice_text},
            {"label": "Display", "value": dimg.window_text}]
    bia = burned_in(ds)
    if deidentified and bia == "YES":
        raise InputError("the DICOM header declares burned-in annotation (0028,0301) YES: the pixels may show "
                         "identifiers and the Clean Pixel Data Option is not implemented; use the treatment "
                         "profile or a cleaned image")
    rows.append({"label": "Burned-in annotation (0028,0301)",
                 "value": {"YES": "yes", "NO": "no (declared by the header)"}.get(bia or "", "not declared in the "
                           "header; the pixels were not checked for burned-in text")})
    identity = []
    study_date = str(ds.get("StudyDate", "") or "")
    age = _age_text(ds, deidentified)
    if deidentified:
        for kw, label in zip(_UID_KEYWORDS, ("Study UID (replaced)", "Series UID (replaced)", "Instance UID (replaced)")):
            if ds.get(kw):
                rows.append({"label": label, "value": replace_uid(str(ds.get(kw)), key)})
        if _year(study_date):
            rows.append({"label": "Study year", "value": _year(study_date)})
        if age:
            rows.append({"label": "Patient age", "value": age})
        removed = [kw for kw in BASIC_PROFILE_REMOVED if ds.get(kw) not in (None, "")]
        note = ("DICOM PS3.15 Basic Application Level Confidentiality Profile: names, ids, accession number, "
                "dates (year kept), times, institution, physicians, operators, device serial numbers and "
                "descriptions are not printed; UIDs are replaced consistently by keyed HMAC-SHA-256 "
                "(2.25 UIDs, never the originals); ages over 89 read '90 or older'.")
        return {"rows": rows, "identity": identity, "removed": removed, "profile_note": note}
    for kw, label in (("PatientName", "Patient name (DICOM header)"), ("PatientID", "Patient id (DICOM header)"),
                      ("PatientBirthDate", "Birth date (DICOM header)"), ("AccessionNumber", "Accession number")):
        v = ds.get(kw)
        if v not in (None, ""):
            identity.append({"label": label, "value": _date_text(v) if kw.endswith("Date") else str(v)})
    if age:
        identity.append({"label": "Patient age", "value": age})
    for kw, label in zip(_UID_KEYWORDS, ("Study Instance UID", "Series Instance UID", "SOP Instance UID")):
        if ds.get(kw):
            rows.append({"label": label, "value": str(ds.get(kw))})
    if study_date:
        rows.append({"label": "Study date", "value": _date_text(study_date)})
    return {"rows": rows, "identity": identity, "removed": [], "profile_note": None}


def _date_text(da) -> str:
    s = str(da).strip()
    return f"{s[:4]}-{s[4:6]}-{s[6:8]}" if len(s) == 8 and s.isdigit() else s


def identifying_values(headers) -> list[tuple[str, str, str | None]]:
    """``(keyword, value, category)`` of every value a de-identified sheet must not contain.

    Every attribute of :data:`BASIC_PROFILE_REMOVED` and every person name, date, time and
    (non-class) UID of the headers, at any depth (numbers such as the patient's weight are not
    searched for: the sheet never prints them and short numbers match unrelated text); dates carry the category ``"dates"`` so the
    leak check also searches their other spellings.
    """
    out = []
    seen = set()
    for ds in headers:
        for elem in ds.iterall():
            kw = elem.keyword
            if elem.VR in ("SQ", "DS", "IS", "FL", "FD", "US", "SS", "UL", "SL", "OB", "OW") or kw in _KEEP_UI:
                continue
            if kw not in BASIC_PROFILE_REMOVED and elem.VR not in ("PN", "DA", "DT", "TM", "UI"):
                continue
            vals = elem.value if isinstance(elem.value, (list, tuple)) or type(elem.value).__name__ == "MultiValue" \
                else [elem.value]
            for v in vals:
                s = "" if v is None else str(v).strip()
                if len(s) < 4 or not any(ch.isalnum() for ch in s) or (kw, s) in seen:
                    continue
                seen.add((kw, s))
                cat = "dates" if elem.VR in ("DA", "DT") else None
                out.append((kw, _date_text(s) if cat else s, cat))
                if elem.VR == "PN" and "^" in s:  # the name as printed by pydicom: "Family^Given" -> parts
                    for part in s.split("^"):
                        if len(part.strip()) >= 4:
                            out.append((kw, part.strip(), None))
    return out


__all__ = ["read_dicom", "is_dicom", "DicomImage", "header_facts", "identifying_values", "replace_uid",
           "linear_window", "modality_lut", "BASIC_PROFILE_REMOVED", "burned_in"]
