"""Atomic writes: the content appears whole under its name, with a plain file's mode, and a
temporary file left by a killed process with the same pid does not block the next write."""

from __future__ import annotations

import os
import stat

import pytest

from xai_reports.io import outputs
from xai_reports.io.outputs import atomic_write


def test_atomic_write_gives_whole_files_with_the_umask_mode(tmp_path):
    atomic_write(tmp_path / "a.json", "é" * 100_000)
    atomic_write(tmp_path / "b.bin", b"\x00\x01")
    atomic_write(tmp_path / "b.bin", b"new")                       # replaces
    assert (tmp_path / "a.json").read_text(encoding="utf-8") == "é" * 100_000
    assert (tmp_path / "b.bin").read_bytes() == b"new"
    umask = os.umask(0)
    os.umask(umask)
    for name in ("a.json", "b.bin"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~umask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.bin"]   # no temporary left


def test_a_stale_temporary_with_the_same_name_is_stepped_over(tmp_path, monkeypatch):
    import itertools

    monkeypatch.setattr(outputs, "_TMP_SEQ", itertools.count(7))
    stale = tmp_path / f".tmp-{os.getpid()}-7-r.json"
    stale.write_bytes(b"left by a killed run")
    atomic_write(tmp_path / "r.json", b"{}")
    assert (tmp_path / "r.json").read_bytes() == b"{}" and stale.read_bytes() == b"left by a killed run"


def test_a_failed_write_leaves_nothing(tmp_path, monkeypatch):
    def broken(fd, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(outputs.os, "write", broken)
    with pytest.raises(OSError, match="No space"):
        atomic_write(tmp_path / "x.pdf", b"%PDF")
    assert list(tmp_path.iterdir()) == []


def test_a_very_long_name_still_gets_a_temporary_within_name_max(tmp_path):
    name = "letter_" + "a" * 240 + ".json"
    atomic_write(tmp_path / name, b"{}")
    assert (tmp_path / name).read_bytes() == b"{}"
