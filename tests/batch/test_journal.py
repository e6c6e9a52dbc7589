"""The journal: what it records is on disk, torn lines are ignored, other batches are refused."""

from __future__ import annotations

import json

import pytest

from xai_reports.batch import BatchStateError, Journal
from xai_reports.batch.journal import journal_path

FP = {"data": {"sha256": "abc"}, "options": {"formats": ["json"]}}


def test_commit_then_reload(tmp_path):
    with Journal(tmp_path, "letters", FP, {"decision_date": "2026-11-20"}) as j:
        names = j.commit("letter_A", {"letter_A.json": b"{}\n", "letter_A.pdf": b"%PDF"}, {"row": 1})
        j.flush()
    assert sorted(names) == ["letter_A.json", "letter_A.pdf"]
    assert (tmp_path / "letter_A.pdf").read_bytes() == b"%PDF"
    with Journal(tmp_path, "letters", FP, {"decision_date": "2030-01-01"}) as j:
        assert j.resumed and j.is_done("letter_A") and not j.is_done("letter_B")
        assert j.pinned == {"decision_date": "2026-11-20"}  # the first run's default survives


def test_torn_last_line_is_dropped_and_cut(tmp_path):
    with Journal(tmp_path, "letters", FP) as j:
        j.commit("a", {"a.json": b"1"})
        j.flush()
    path = journal_path(tmp_path)
    with open(path, "ab") as fh:
        fh.write(b'{"key": "b", "files": {"b.js')  # a crash mid-append
    with Journal(tmp_path, "letters", FP) as j:
        assert j.is_done("a") and not j.is_done("b")
        j.commit("c", {"c.json": b"3"})
    lines = path.read_text().splitlines()
    assert [json.loads(x).get("key") for x in lines[1:]] == ["a", "c"]  # the torn piece is gone


def test_missing_or_altered_file_is_not_done(tmp_path):
    with Journal(tmp_path, "letters", FP) as j:
        j.commit("a", {"a.json": b"aaaa"})
        j.commit("b", {"b.json": b"bbbb"})
    (tmp_path / "a.json").unlink()
    (tmp_path / "b.json").write_bytes(b"bbbc")  # same size, other bytes
    with Journal(tmp_path, "letters", FP) as j:
        assert not j.is_done("a") and not j.is_done("b")
        assert j.is_done("b", verify=False)


def test_other_inputs_are_refused_and_named(tmp_path):
    Journal(tmp_path, "letters", FP).close()
    other = {"data": {"sha256": "abd"}, "options": {"formats": ["json"]}}
    with pytest.raises(BatchStateError, match=r"changed: data\.sha256.*--no-resume"):
        Journal(tmp_path, "letters", other)
    with pytest.raises(BatchStateError, match="'letters' batch"):
        Journal(tmp_path, "case-review", FP)
    with Journal(tmp_path, "letters", other, resume=False) as j:  # start over
        assert not j.resumed and not j.entries


def test_one_writer_per_folder(tmp_path):
    with Journal(tmp_path, "letters", FP):
        with pytest.raises(BatchStateError, match="another xai-reports batch"):
            Journal(tmp_path, "letters", FP)
    Journal(tmp_path, "letters", FP).close()  # released


def test_file_names_cannot_leave_the_folder(tmp_path):
    with Journal(tmp_path, "letters", FP) as j, pytest.raises(ValueError):
        j.commit("x", {"../x.json": b"{}"})
