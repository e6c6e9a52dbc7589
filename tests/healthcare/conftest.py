"""Healthcare fixtures: the two shipped models, trained once per session, and demo cases."""

from __future__ import annotations

import pytest

from examples.healthcare.demo import DEMO_TIME

LESION_TRAINING: dict = {}  # the shipped defaults of train_lesion_model


@pytest.fixture(scope="session")
def hc_pack():
    from xai_reports import load_pack

    return load_pack("healthcare")


@pytest.fixture(scope="session")
def wdbc_model(tmp_path_factory):
    from examples.healthcare.training import train_wdbc_model

    return train_wdbc_model(tmp_path_factory.mktemp("wdbc_model"))


@pytest.fixture(scope="session")
def wdbc_cases(tmp_path_factory):
    from examples.healthcare.demo import wdbc_demo_cases

    d = tmp_path_factory.mktemp("wdbc_cases")
    frame = wdbc_demo_cases(6)
    frame.to_csv(d / "cases.csv", index=False)
    return {"path": d / "cases.csv", "frame": frame}


@pytest.fixture(scope="session")
def wdbc_sheets(tmp_path_factory, wdbc_model, wdbc_cases, hc_pack):
    """Sheets of the six demo WDBC cases in both profiles."""
    from xai_reports.documents.case_review import generate_case_reviews

    out = {}
    for prof in ("treatment", "research"):
        d = tmp_path_factory.mktemp(f"wdbc_{prof}")
        out[prof] = {"dir": d, "summary": generate_case_reviews(
            wdbc_model["model"], wdbc_cases["path"], hc_pack, d, profile=prof, timestamp=DEMO_TIME)}
    return out


@pytest.fixture(scope="session")
def lesion_model(tmp_path_factory, hc_pack):
    """The shipped lesion_cnn configuration, trained once (seeded)."""
    from examples.healthcare.training import train_lesion_model

    return train_lesion_model(tmp_path_factory.mktemp("lesion_model"),
                              evidence=hc_pack.spec.healthcare.models["lesion_cnn"].evidence, **LESION_TRAINING)


@pytest.fixture(scope="session")
def lesion_cases(tmp_path_factory):
    from examples.healthcare.demo import lesion_demo_cases

    d = tmp_path_factory.mktemp("lesion_cases")
    frame = lesion_demo_cases(d / "images", 3)
    frame.to_csv(d / "cases.csv", index=False)
    return {"path": d / "cases.csv", "images": d / "images", "frame": frame}


@pytest.fixture(scope="session")
def lesion_sheets(tmp_path_factory, lesion_model, lesion_cases, hc_pack):
    from xai_reports.documents.case_review import generate_case_reviews

    out = {}
    for prof in ("treatment", "research"):
        d = tmp_path_factory.mktemp(f"lesion_{prof}")
        out[prof] = {"dir": d, "summary": generate_case_reviews(
            lesion_model["model"], lesion_cases["path"], hc_pack, d, profile=prof,
            images=lesion_cases["images"], timestamp=DEMO_TIME)}
    return out
