"""Healthcare fixtures: the two shipped models, trained once per session, and demo cases."""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

import pytest

from examples.healthcare.demo import DEMO_TIME

LESION_TRAINING: dict = {}  # the shipped defaults of train_lesion_model


@pytest.fixture(scope="session")
def hc_pack():
    from xai_reports import load_pack

    return load_pack("healthcare")


def trained_once(tmp_path_factory, name, train):
    """``train(folder) -> dict`` (paths and numbers) run once per test run.

    In one pytest process this is ``train(tmp_path_factory.mktemp(name))``. Under pytest-xdist each worker
    has its own session, so the first worker to ask trains into the run's shared temporary folder and the
    others wait for it and read what it returned (paths come back as ``Path``): the same files, not a second
    training of the same seeded model."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return train(tmp_path_factory.mktemp(name))
    root = tmp_path_factory.getbasetemp().parent      # this run's folder, shared by its workers
    folder, done = root / name, root / f"{name}.json"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            info = train(folder)
            done.write_text(json.dumps({k: {"path": str(v)} if isinstance(v, Path) else v for k, v in info.items()}))
    return {k: Path(v["path"]) if isinstance(v, dict) else v for k, v in json.loads(done.read_text()).items()}


@pytest.fixture(scope="session")
def wdbc_model(tmp_path_factory):
    from examples.healthcare.training import train_wdbc_model

    return trained_once(tmp_path_factory, "wdbc_model", train_wdbc_model)


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

    evidence = hc_pack.spec.healthcare.models["lesion_cnn"].evidence
    return trained_once(tmp_path_factory, "lesion_model",
                        lambda folder: train_lesion_model(folder, evidence=evidence, **LESION_TRAINING))


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
