"""The Wisconsin Diagnostic Breast Cancer data (WDBC), as the healthcare pack names it.

``sklearn.datasets.load_breast_cancer`` ships the 569 real cases of Street,
Wolberg and Mangasarian (1993): 30 measurements of cell nuclei in a digitised
image of a fine-needle aspirate (FNA) of a breast mass (mean, standard error and
"worst" = mean of the three largest values, for ten characteristics), and the
confirmed diagnosis. scikit-learn codes malignant as 0; here ``diagnosis`` is 1
for malignant, the class the model scores.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from xai_reports.documents.case_review.tabular import CHARACTERISTICS  # the sheet's measurement table rows
STATS = {"mean": "mean", "se": "error", "worst": "worst"}
FEATURES = [f"{c}_{s}" for s in STATS for c in CHARACTERISTICS]
SEED = 0


def _sk_name(col: str) -> str:
    c, s = col.rsplit("_", 1)
    c = c.replace("_", " ")
    return f"mean {c}" if s == "mean" else f"{c} error" if s == "se" else f"worst {c}"


def load_wdbc() -> pd.DataFrame:
    """The 569 WDBC cases: ``case_ref`` (``WDBC-0001`` ...), the 30 features and ``diagnosis`` (1 = malignant).

    Examples::

        >>> df = load_wdbc()
        >>> df.shape, int(df["diagnosis"].sum())
        ((569, 32), 212)
    """
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer(as_frame=True)
    raw = bunch.frame
    out = pd.DataFrame({"case_ref": [f"WDBC-{i + 1:04d}" for i in range(len(raw))]})
    for col in FEATURES:
        out[col] = raw[_sk_name(col)].astype(float).to_numpy()
    out["diagnosis"] = (raw["target"].to_numpy() == 0).astype(int)
    return out


def split_wdbc(df: pd.DataFrame, seed: int = SEED):
    """Stratified 60/20/20 split into training, calibration and held-out test rows.

    Returns:
        ``(train, calibration, test)`` DataFrames.
    """
    from sklearn.model_selection import train_test_split

    train, rest = train_test_split(df, test_size=0.4, random_state=seed, stratify=df["diagnosis"])
    cal, test = train_test_split(rest, test_size=0.5, random_state=seed, stratify=rest["diagnosis"])
    return train.sort_index(), cal.sort_index(), test.sort_index()


def benign_reference_ranges(train: pd.DataFrame, q=(0.05, 0.95)) -> dict[str, tuple[float, float]]:
    """Central 90 % of the benign training cases, per feature (the pack's ``reference_range``)."""
    benign = train[train["diagnosis"] == 0]
    return {c: (float(np.quantile(benign[c], q[0])), float(np.quantile(benign[c], q[1]))) for c in FEATURES}


__all__ = ["load_wdbc", "split_wdbc", "benign_reference_ranges", "FEATURES", "CHARACTERISTICS"]
