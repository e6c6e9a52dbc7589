"""Issue 16's bad inputs through ``xai-reports case-review``: one line, exit 2, no traceback, nothing in the
output folder; and kill -9 of a case-review run with workers leaves no orphan process."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest
from bad_input_helpers import CLI, ROOT, assert_refused, kill_and_check_descendants, make_pack

from xai_reports.cli import main


def review(model, data, out, pack="healthcare", *extra):
    return ["case-review", "--pack", str(pack), "--model", str(model), "--data", str(data), "--out", str(out),
            "--format", "json", "--workers", "0", "--quiet", *extra]


def test_pack_naming_etc(tmp_path, wdbc_model, wdbc_cases, capsys):
    pack = make_pack(tmp_path / "evil", "template_dirs: [/etc]\n", base="healthcare")
    out = tmp_path / "out"
    rc = main(review(wdbc_model["model"], wdbc_cases["path"], out, pack))
    assert_refused(rc, out, "template_dirs: '/etc' is an absolute path", err=capsys.readouterr().err)


def test_model_types_unlike_the_pack(tmp_path, wdbc_model, wdbc_cases, capsys):
    """The WDBC model takes 'radius_mean' as a number; a pack declaring it categorical would feed categories."""
    pack = make_pack(tmp_path / "p", "features:\n  radius_mean:\n    type: categorical\n"
                                     "    categories: [small, large]\n", base="healthcare")
    out = tmp_path / "out"
    rc = main(review(wdbc_model["model"], wdbc_cases["path"], out, pack))
    assert_refused(rc, out, f"{wdbc_model['model']}: column 'radius_mean': the model takes this feature as numeric",
                   err=capsys.readouterr().err)


def test_missing_column(tmp_path, wdbc_model, wdbc_cases, capsys):
    wdbc_cases["frame"].drop(columns=["texture_mean"]).to_csv(tmp_path / "c.csv", index=False)
    out = tmp_path / "out"
    rc = main(review(wdbc_model["model"], tmp_path / "c.csv", out))
    assert_refused(rc, out, "c.csv: column 'texture_mean'", err=capsys.readouterr().err)


@pytest.mark.parametrize("where", ["under a file", "/proc"])
def test_unwritable_output(tmp_path, wdbc_model, wdbc_cases, capsys, where):
    (tmp_path / "f").write_text("x")
    out = tmp_path / "f" / "sub" if where == "under a file" else Path("/proc/xai-reports-test")
    rc = main(review(wdbc_model["model"], wdbc_cases["path"], out))
    assert_refused(rc, out, "is inside" if where == "under a file" else "no file can be created in /proc",
                   err=capsys.readouterr().err)


@pytest.mark.parametrize("bad", ["C\x00X", "C\nX", "C\x9bX"])
def test_case_ids_with_control_characters(tmp_path, wdbc_model, wdbc_cases, capsys, bad):
    df = wdbc_cases["frame"].copy()
    df.loc[2, "case_id"] = bad
    df.to_csv(tmp_path / "c.csv", index=False, quoting=csv.QUOTE_ALL)
    out = tmp_path / "out"
    rc = main(review(wdbc_model["model"], tmp_path / "c.csv", out))
    assert_refused(rc, out, "c.csv: row 3, column 'case_id': decision id", "control character",
                   err=capsys.readouterr().err)


def test_kill_9_of_case_review_leaves_no_orphans(tmp_path, wdbc_model):
    from examples.healthcare.demo import wdbc_demo_cases

    wdbc_demo_cases(80).to_csv(tmp_path / "many.csv", index=False)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    alive, recorded = kill_and_check_descendants(
        CLI + ["case-review", "--pack", "healthcare", "--model", wdbc_model["model"], "--data", tmp_path / "many.csv",
               "--out", out, "--workers", "2", "--chunk-size", "10", "--format", "pdf", "--quiet"], out, env=env)
    assert not alive, f"orphans after kill -9: {alive} (recorded {len(recorded)} descendants)"
