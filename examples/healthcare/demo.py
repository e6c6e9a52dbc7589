"""The healthcare demo: both shipped models, synthetic patients, sheets in both print profiles.

* ``wdbc_xgb``: XGBoost on the real WDBC measurements; demo cases are held-out
  WDBC cases given SYNTHETIC patient identifiers.
* ``lesion_cnn``: the CNN on SYNTHETIC lesion images (trained here, seeded);
  demo cases are held-out synthetic images, one of them deliberately degraded
  (blur and low contrast) to show the image-quality flags.

Every identifier (name, record number, birth date, address, telephone, email,
study date) is generated and clearly synthetic.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

DEMO_TIME = datetime(2026, 11, 20, 14, 30, tzinfo=timezone.utc)
_FIRST = ["Avela", "Brontë", "Corvin", "Dilys", "Eamon", "Fenna", "Gideon", "Halcyon", "Isaura", "Jory",
          "Kestrel", "Linnea", "Mireille", "Norwood", "Ottilie", "Peregrine"]
_LAST = ["Quillfeather", "Marrowby", "Synthetica", "Testwood", "Fictorius", "Placeholder", "Mockingham",
         "Dummond", "Sampleton", "Exemplar", "Proxyfield", "Fauxley"]


def synthetic_identifiers(n: int, *, seed: int = 0, prefix: str = "SYN") -> pd.DataFrame:
    """``n`` rows of clearly synthetic patient identifiers.

    Columns: ``case_id`` (``CASE-0001``..., a re-identification code not derived
    from the identifiers), ``patient_name``, ``mrn`` (``SYN-MRN-...``),
    ``birth_date``, ``address`` (on "Synthetic Lane", ZIP 00000), ``phone``
    (555-01xx, reserved for fiction), ``email`` (example.org), ``study_date``, ``accession``
    (``SYN-ACC-...``, the accession or specimen id).

    Examples::

        >>> synthetic_identifiers(2)["mrn"].str.startswith("SYN-MRN-").all()
        True
    """
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        first, last = _FIRST[rng.integers(len(_FIRST))], _LAST[rng.integers(len(_LAST))]
        born = date(1940, 1, 1).toordinal() + int(rng.integers(0, 365 * 55))
        bd = date.fromordinal(born)
        study = date(2026, 11, 1).toordinal() + int(rng.integers(0, 19))
        rows.append({
            "case_id": f"CASE-{i + 1:04d}",
            "patient_name": f"{first} {last}",
            "mrn": f"{prefix}-MRN-{int(rng.integers(10**6, 10**7))}",
            "birth_date": bd.isoformat(),
            "address": f"{int(rng.integers(1, 999))} Synthetic Lane, Testville, ZZ 00000",
            "phone": f"555-01{int(rng.integers(0, 100)):02d}",
            "email": f"{first.lower()}.{last.lower()}@example.org",
            "study_date": date.fromordinal(study).isoformat(),
            "accession": f"{prefix}-ACC-{i + 1:06d}",
        })
    return pd.DataFrame(rows)


def wdbc_demo_cases(n: int = 6, *, seed: int = 0) -> pd.DataFrame:
    """Held-out WDBC cases with synthetic identifiers (one with a missing standard-error value)."""
    from .wdbc import FEATURES, load_wdbc, split_wdbc

    _, _, test = split_wdbc(load_wdbc(), seed)
    mal = test[test["diagnosis"] == 1].head((n + 1) // 2)
    ben = test[test["diagnosis"] == 0].head(n // 2)
    chosen = pd.concat([mal, ben]).sort_index().head(n)
    ids = synthetic_identifiers(len(chosen), seed=seed)
    feats = chosen[FEATURES].reset_index(drop=True).astype(object)
    if len(feats) > 2:
        feats.loc[2, "symmetry_se"] = ""   # a missing optional value, to show the flag
    return pd.concat([ids, feats], axis=1)


def lesion_demo_cases(image_dir, n: int = 4, *, seed: int = 0) -> pd.DataFrame:
    """Write ``n`` held-out synthetic lesion PNGs to ``image_dir`` and return their case table.

    The last image is blurred and loses contrast, so its sheet shows quality flags.
    """
    from PIL import Image
    from scipy.ndimage import gaussian_filter

    from .lesions import make_lesion_set, to_uint8

    d = Path(image_dir)
    d.mkdir(parents=True, exist_ok=True)
    ds = make_lesion_set(n, seed=seed, start=300_000)
    ids = synthetic_identifiers(n, seed=seed + 1)
    files = []
    for i in range(n):
        img = ds.images[i, 0].astype(np.float64)
        if i == n - 1 and n > 1:
            img = 0.42 + 0.35 * (gaussian_filter(img, 2.0) - 0.42)
        name = f"study_{i + 1:03d}.png"
        Image.fromarray(to_uint8(img), mode="L").save(d / name, format="PNG")
        files.append(name)
    ids["image"] = files
    return ids


def run_healthcare_demo(out_dir, *, progress: bool = False, epochs: int = 8) -> dict:
    """Train both healthcare models and write case-review sheets in both print profiles.

    Writes under ``out_dir``: ``models/`` (``wdbc_xgb.json``, ``lesion_cnn.pt`` and
    their cards), ``data/`` (``wdbc_cases.csv``, ``lesion_cases.csv``, ``images/``,
    ``dicom_cases.csv``, ``dicom/study_0001.dcm``: a SYNTHETIC DICOM study) and
    ``sheets/{wdbc,lesion,dicom}/{treatment,research}/``.

    Returns:
        ``{"wdbc": {...}, "lesion": {...}, "summaries": {...}}`` with held-out metrics.

    Examples::

        >>> res = run_healthcare_demo("demo/healthcare")
        >>> res["lesion"]["accuracy_test"] > 0.9
        True
    """
    from xai_reports.packs import load_pack
    from xai_reports.documents.case_review import generate_case_reviews
    from .training import train_lesion_model, train_wdbc_model

    out = Path(out_dir)
    pack = load_pack("healthcare")
    models, data = out / "models", out / "data"
    data.mkdir(parents=True, exist_ok=True)
    wdbc = train_wdbc_model(models)
    lesion = train_lesion_model(models, epochs=epochs, progress=progress,
                                evidence=pack.spec.healthcare.models["lesion_cnn"].evidence)
    wdbc_demo_cases(5).to_csv(data / "wdbc_cases.csv", index=False)
    lesion_demo_cases(data / "images", 3).to_csv(data / "lesion_cases.csv", index=False)
    summaries = {}
    for prof in ("treatment", "research"):
        summaries[f"wdbc/{prof}"] = generate_case_reviews(
            wdbc["model"], data / "wdbc_cases.csv", pack, out / "sheets" / "wdbc" / prof, profile=prof,
            timestamp=DEMO_TIME, progress=progress)
        summaries[f"lesion/{prof}"] = generate_case_reviews(
            lesion["model"], data / "lesion_cases.csv", pack, out / "sheets" / "lesion" / prof, profile=prof,
            images=data / "images", timestamp=DEMO_TIME, progress=progress)
    # one DICOM study: a held-out synthetic lesion image in a DICOM file with a SYNTHETIC identity
    from .dicom_demo import write_demo_dicom

    dicom_dir = data / "dicom"
    write_demo_dicom(data / "images" / "study_001.png", dicom_dir / "study_0001.dcm")
    pd.DataFrame({"case_id": ["DCM-0001"], "image": ["study_0001.dcm"]}).to_csv(data / "dicom_cases.csv", index=False)
    for prof in ("treatment", "research"):
        summaries[f"dicom/{prof}"] = generate_case_reviews(
            lesion["model"], data / "dicom_cases.csv", pack, out / "sheets" / "dicom" / prof, profile=prof,
            images=dicom_dir, timestamp=DEMO_TIME, progress=progress)
    return {"wdbc": wdbc, "lesion": lesion, "summaries": summaries}


__all__ = ["run_healthcare_demo", "synthetic_identifiers", "wdbc_demo_cases", "lesion_demo_cases", "DEMO_TIME"]
