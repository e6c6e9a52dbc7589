"""Shared fixtures for the batch tests: a real HMDA model and small inputs with many denials."""

from __future__ import annotations

import pytest
from batch_helpers import DATE, mixed_rows


@pytest.fixture(scope="session")
def batch_case(tmp_path_factory):
    """A seeded XGBoost model on the real HMDA data, and the data with the model's decisions.

    Returns a dict: ``model`` (path), ``pack``, ``frame`` (all 2,380 applications as strings),
    ``p_deny`` (the model's P(deny) per application), ``dir``.
    """
    from examples.finance_hmda import FEATURES, load_hmda, train_model
    from xai_reports.packs import load_pack
    from xai_reports.io.tabular import encode_like_pack

    d = tmp_path_factory.mktemp("hmda")
    pack = load_pack("finance_hmda_example")
    df = load_hmda()
    model = train_model(df, pack)
    path = d / "hmda_xgb.json"
    model.get_booster().save_model(str(path))
    X = encode_like_pack(df[["applicant_id"] + FEATURES], pack, FEATURES)
    p = model.predict_proba(X)[:, 1]
    frame = df.drop(columns=["deny"]).astype(str)  # strings, as a CSV reads back
    return {"model": path, "pack": pack, "frame": frame, "p_deny": p, "dir": d}


@pytest.fixture(scope="session")
def small_csv(batch_case):
    """24 denied + 12 approved applications (CSV)."""
    path = batch_case["dir"] / "small.csv"
    mixed_rows(batch_case, 24, 12).to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def reference_run(batch_case, small_csv, tmp_path_factory):
    """The single-process, unchunked run of ``small_csv`` with PDF, HTML and JSON: the oracle."""
    from xai_reports.documents.letter import generate_letters

    out = tmp_path_factory.mktemp("reference") / "letters"
    summary = generate_letters(batch_case["model"], small_csv, "finance_hmda_example", out, decision_date=DATE,
                               workers=0, chunk_size=10_000)
    assert summary.letters >= 20 and not summary.errors
    return out


@pytest.fixture(scope="session")
def cluster():
    """One real local Dask cluster (2 worker processes on 127.0.0.1) for the batch tests that plan or
    render on a cluster: started once per session, not once per module. Tests that kill a worker wait for
    the nanny's replacement before they end, so every test finds 2 workers."""
    import logging

    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None, silence_logs=logging.ERROR) as c, \
            distributed.Client(c) as client:
        yield client
