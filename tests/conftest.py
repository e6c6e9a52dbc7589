"""Shared fixtures: a real HMDA model and application files, built once per session."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session")
def finance_pack():
    """The demo's example pack (the base 'finance' pack carries no institution or model facts)."""
    from xai_reports import load_pack

    return load_pack("finance_hmda_example")


@pytest.fixture(scope="session")
def hmda():
    from examples.finance_hmda import load_hmda

    return load_hmda()


@pytest.fixture(scope="session")
def hmda_model(hmda, finance_pack):
    """The demo's XGBoost model trained on the first 1,900 HMDA rows."""
    from examples.finance_hmda import train_model

    return train_model(hmda.iloc[:1900], finance_pack)


@pytest.fixture(scope="session")
def hmda_files(tmp_path_factory, hmda, hmda_model):
    """model.json, reference.csv (training rows) and applications.csv (40 held-out rows incl. denials)."""
    from examples.finance_hmda import FEATURES, PROTECTED

    d = tmp_path_factory.mktemp("hmda")
    model_path = d / "model.json"
    hmda_model.get_booster().save_model(str(model_path))
    cols = ["applicant_id"] + FEATURES + PROTECTED
    hmda.iloc[:1900][cols].to_csv(d / "reference.csv", index=False)
    test = hmda.iloc[1900:]
    # every denied row of the held-out part plus some approved ones, in a fixed order
    apps = test[cols].iloc[:40].copy()
    apps.insert(1, "decision_date", "2026-11-02")
    apps.to_csv(d / "applications.csv", index=False)
    return {"dir": d, "model": model_path, "reference": d / "reference.csv",
            "applications": d / "applications.csv", "frame": apps}
