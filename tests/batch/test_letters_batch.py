"""Letters on the batch engine: chunking changes nothing, errors keep file rows, workers change nothing."""

from __future__ import annotations

import json
import os
import signal

import pandas as pd
import pytest

from xai_reports.batch import BatchStateError, run_batch
from xai_reports.batch.journal import journal_path
from xai_reports.errors import InputError
from xai_reports.documents.letter import LetterJob, generate_letters

from batch_helpers import DATE, mixed_rows, tree_digest


@pytest.fixture(scope="module")
def json_runs(batch_case, tmp_path_factory):
    """60 denied + 140 approved rows with bad values planted in several chunks; JSON only."""
    rows = mixed_rows(batch_case, 60, 140, seed=1)
    rows.loc[3, "pirat"] = "abc"          # row 4: not a number
    rows.loc[57, "chist"] = "9"           # row 58: unknown level
    rows.loc[58, "phist"] = ""            # row 59: missing
    rows.loc[199, "lvrat"] = "inf"        # row 200: the last row
    d = tmp_path_factory.mktemp("json_runs")
    path = d / "apps.csv"
    rows.to_csv(path, index=False)
    outs = {}
    for size in (7, 64, 100_000):
        out = d / f"out_{size}"
        outs[size] = (out, generate_letters(batch_case["model"], path, "finance_hmda_example", out, formats=["json"],
                                            decision_date=DATE, chunk_size=size, workers=0))
    return path, rows, outs


def test_chunk_size_changes_no_byte(json_runs):
    _, _, outs = json_runs
    digests = {size: tree_digest(out) for size, (out, _) in outs.items()}
    assert len(digests[7]) > 40
    assert digests[7] == digests[64] == digests[100_000]


def test_row_errors_name_the_file_row_and_column(json_runs, batch_case):
    path, rows, outs = json_runs
    summary = outs[7][1]
    got = [(e["row"], e["column"], e["id"]) for e in summary.errors]
    # the truth: the data row in the file (header excluded) where each bad value was planted
    assert got == [(4, "pirat", rows.loc[3, "applicant_id"]), (58, "chist", rows.loc[57, "applicant_id"]),
                   (59, "phist", rows.loc[58, "applicant_id"]), (200, "lvrat", rows.loc[199, "applicant_id"])]
    assert all(e["file"] == str(path) for e in summary.errors)
    assert summary.exit_code == 3
    # every other row was decided; the denied ones got their record
    assert summary.rows == 200 and summary.approved + summary.denied == 196
    p = batch_case["p_deny"]
    ids = set(batch_case["frame"]["applicant_id"][p >= 0.5])
    bad = {e["id"] for e in summary.errors}
    expected = {f"letter_{i}.json" for i in rows["applicant_id"] if i in ids and i not in bad}
    assert set(summary.outputs) == expected
    on_disk = json.loads((outs[7][0] / "summary.json").read_text())
    assert on_disk["row_errors"] == summary.errors and on_disk["letters_written"] == summary.letters


def test_records_match_an_independent_tree_shap(json_runs, batch_case):
    """The batched, chunked explanation of a row equals XGBoost's own pred_contribs on that row alone."""
    import xgboost as xgb

    from examples.finance_hmda import FEATURES
    from xai_reports.io.tabular import encode_like_pack

    out, summary = json_runs[2][7]
    rec = json.loads((out / summary.outputs[-1]).read_text())
    booster = xgb.Booster()
    booster.load_model(str(batch_case["model"]))
    one = pd.DataFrame([rec["inputs"]])
    X = encode_like_pack(one, batch_case["pack"], FEATURES)
    contrib = booster.predict(xgb.DMatrix(X, enable_categorical=True), pred_contribs=True)[0]
    assert rec["explanation"]["attributions"] == pytest.approx(dict(zip(FEATURES, contrib[:-1].tolist())), abs=1e-6)


def test_file_level_errors_write_nothing(batch_case, tmp_path):
    rows = mixed_rows(batch_case, 5, 5)
    rows = pd.concat([rows, rows.iloc[[2]]])  # a duplicate id in the last row
    path = tmp_path / "dup.csv"
    rows.to_csv(path, index=False)
    out = tmp_path / "out"
    with pytest.raises(InputError, match="duplicate decision id") as err:
        generate_letters(batch_case["model"], path, "finance_hmda_example", out, formats=["json"], chunk_size=3, workers=0)
    assert err.value.row == 11
    rows2 = mixed_rows(batch_case, 5, 5).rename(columns={"pirat": "pirat_typo"})
    rows2.to_csv(path, index=False)
    with pytest.raises(InputError, match="pirat"):
        generate_letters(batch_case["model"], path, "finance_hmda_example", out, formats=["json"], workers=0)
    assert not out.exists()


def test_ids_that_collide_as_file_names_are_reported(batch_case, tmp_path):
    from xai_reports.io.outputs import safe_name

    rows = mixed_rows(batch_case, 4, 0)
    rows.loc[0, "applicant_id"] = "X/1"
    rows.loc[1, "applicant_id"] = safe_name("X/1")  # an id spelled like the file name of "X/1"
    path = tmp_path / "c.csv"
    rows.to_csv(path, index=False)
    s = generate_letters(batch_case["model"], path, "finance_hmda_example", tmp_path / "o", formats=["json"], workers=0,
                         decision_date=DATE)
    assert [(e["row"], e["id"], e["column"]) for e in s.errors] == [(2, safe_name("X/1"), "applicant_id")]
    assert "(row 1)" in s.errors[0]["error"]
    assert s.letters + len(s.flagged) == 3


def test_parquet_in_chunks(batch_case, tmp_path):
    rows = mixed_rows(batch_case, 12, 8)
    typed = rows.copy()
    for c in ("pirat", "hirat", "lvrat", "unemp"):
        typed[c] = typed[c].astype(float)
    for c in ("chist", "mhist"):
        typed[c] = typed[c].astype(int)
    path = tmp_path / "apps.parquet"
    typed.to_parquet(path, row_group_size=5)
    a = generate_letters(batch_case["model"], path, "finance_hmda_example", tmp_path / "a", formats=["json"], workers=0,
                         decision_date=DATE, chunk_size=3)
    b = generate_letters(batch_case["model"], path, "finance_hmda_example", tmp_path / "b", formats=["json"], workers=0,
                         decision_date=DATE, chunk_size=1000)
    assert a.letters >= 10 and tree_digest(tmp_path / "a") == tree_digest(tmp_path / "b")
    rec = json.loads((tmp_path / "a" / a.outputs[0]).read_text())
    assert isinstance(rec["inputs"]["chist"], int) and isinstance(rec["inputs"]["pirat"], float)


def test_rerun_skips_what_is_done_and_refuses_other_inputs(batch_case, tmp_path):
    rows = mixed_rows(batch_case, 8, 2)
    path = tmp_path / "apps.csv"
    rows.to_csv(path, index=False)
    out = tmp_path / "out"
    job = LetterJob(batch_case["model"], path, "finance_hmda_example", formats=["json"])  # default date: today
    first = run_batch(job, out, workers=0, keep_journal=True)  # as if stopped before the end
    before = tree_digest(out)
    (out / first.outputs[0]).unlink()  # lost after the run: redone
    again = generate_letters(batch_case["model"], path, "finance_hmda_example", out, formats=["json"], workers=0)
    assert (again.batch.rendered, again.batch.resumed) == (1, len(first.outputs) - 1)
    assert tree_digest(out) == before  # the default date ("today") was pinned by the first run
    assert not journal_path(out).exists()  # complete: the folder holds outputs only

    run_batch(LetterJob(batch_case["model"], path, "finance_hmda_example", formats=["json"]), out, workers=0,
              keep_journal=True)
    with pytest.raises(BatchStateError, match="decision_date"):
        generate_letters(batch_case["model"], path, "finance_hmda_example", out, formats=["json"], workers=0, decision_date="2020-01-01")
    fresh = generate_letters(batch_case["model"], path, "finance_hmda_example", out, formats=["json"], workers=0,
                             decision_date="2020-01-01", resume=False)
    assert fresh.batch.resumed == 0 and fresh.batch.rendered == len(first.outputs)


def test_pool_output_equals_single_process(batch_case, small_csv, reference_run, tmp_path):
    out = tmp_path / "pool"
    s = generate_letters(batch_case["model"], small_csv, "finance_hmda_example", out, decision_date=DATE, workers=2, chunk_size=5)
    assert s.batch.executor == "2 worker processes"
    assert tree_digest(out) == tree_digest(reference_run)


def test_a_killed_pool_worker_loses_no_document(batch_case, small_csv, reference_run, tmp_path):
    job = LetterJob(batch_case["model"], small_csv, "finance_hmda_example", decision_date=DATE)
    killed = []

    def kill_one(n_done, executor):
        if n_done >= 3 and not killed:
            pid = executor.worker_pids()[0]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    res = run_batch(job, tmp_path / "out", workers=2, chunk_size=5, max_in_flight=8, on_commit=kill_one)
    assert killed and res.restarts >= 1 and not res.errors
    assert tree_digest(tmp_path / "out") == tree_digest(reference_run)  # summary and manifest included
