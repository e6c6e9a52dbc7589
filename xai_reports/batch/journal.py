"""The batch journal: an append-only record of every finished document.

``<out>/.xai-reports.journal.jsonl`` holds one JSON object per line:

* line 1, the header: the job's name, its *fingerprint* (everything that
  determines the output bytes: model hash, pack hash, template hash, data
  hash, options, software versions) and the values *pinned* at the first run
  (e.g. the default notice date, "today"), which a resumed run reuses;
* then one line per finished document: its key, its file names with their
  SHA-256 and size.

A document is committed in this order: every file is written to a temporary
name and renamed into place (:func:`~xai_reports.io.outputs.atomic_write`), then
its line is appended with a single ``write`` and the journal is ``fsync``-ed.
So at any instant a journal line implies the files are complete. A crash
between the rename and the append only costs redoing that document (same
bytes, same names: nothing is duplicated); a torn last line (a crash during
the append) is ignored and cut off on the next run.

On resume, a document counts as done only if its line is present *and* its
files are on disk with the recorded SHA-256; anything else is redone.

Only one process may write a folder's journal at a time (an exclusive
``flock`` on ``<out>/.xai-reports.lock``, released by the OS when the
process dies, even by SIGKILL).

Both files start with :data:`STATE_PREFIX`; they are the engine's state, not
outputs (``xai-reports verify`` ignores them), and they are removed when the
batch completes (:meth:`Journal.complete`), so a finished folder holds outputs
only; they stay when a run stops early, which is what a rerun resumes from.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from ..errors import BatchStateError
from ..io.outputs import atomic_write

JOURNAL_SCHEMA = "xai-reports/batch-journal/1"
STATE_PREFIX = ".xai-reports."
JOURNAL_NAME = STATE_PREFIX + "journal.jsonl"
LOCK_NAME = STATE_PREFIX + "lock"


def journal_path(out_dir) -> Path:
    """Where the journal of the batch written to ``out_dir`` lives."""
    return Path(out_dir) / JOURNAL_NAME


def is_state_file(name: str) -> bool:
    """Whether a file name (relative to an output folder) is batch state, not an output."""
    return Path(name).name.startswith(STATE_PREFIX) and "/" not in str(name).strip("/")


def fingerprint_sha256(fp: dict) -> str:
    """SHA-256 of a fingerprint's canonical JSON."""
    return hashlib.sha256(json.dumps(fp, sort_keys=True, default=str).encode()).hexdigest()


def check_header(header: dict, job: str, fingerprint_sha256: str, fingerprint: dict, where) -> dict:
    """The ``pinned`` values of a journal whose ``header`` belongs to this ``job`` and these inputs;
    a :class:`BatchStateError` naming ``where`` (the output folder) otherwise."""
    if header.get("journal") != JOURNAL_SCHEMA or header.get("job") != job:
        raise BatchStateError(f"{where}: holds a {header.get('job')!r} batch, not {job!r}; "
                              "choose another output folder or rerun with --no-resume")
    if header.get("fingerprint_sha256") != fingerprint_sha256:
        changed = _diff_keys(header.get("fingerprint") or {}, fingerprint)
        raise BatchStateError(
            f"{where}: holds a batch started with other inputs or options "
            f"(changed: {', '.join(changed[:6]) or 'fingerprint'}); rerun with --no-resume to start over, "
            "or write to another folder")
    return dict(header.get("pinned") or {})


def _diff_keys(a, b, prefix="") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            out += _diff_keys(a.get(k), b.get(k), f"{prefix}{k}.")
        return out
    return [] if a == b else [prefix.rstrip(".")]


class Journal:
    """Open (or start) the journal of the batch written to ``out_dir``.

    Args:
        out_dir: the batch's output folder (created if needed).
        job: the job's name (``"letters"``).
        fingerprint: JSON-able identity of the run's inputs and options.
        pinned: values resolved at the first run (defaults such as "today");
            on resume, :attr:`pinned` holds the first run's values instead.
        resume: ``True`` keeps the documents a previous run of the *same*
            batch finished; ``False`` starts over (the old journal is replaced).

    Raises:
        BatchStateError: another process is writing this folder, or
            ``resume=True`` and the folder holds a batch with other inputs.

    Examples::

        >>> j = Journal("letters", "letters", {"data": "..."}, {"date": "2026-11-20"})
        >>> j.is_done("letter_A1")
        False
        >>> j.commit("letter_A1", {"letter_A1.json": b"{}"}); j.flush()
    """

    def __init__(self, out_dir, job: str, fingerprint: dict, pinned: dict | None = None, *, resume: bool = True):
        self.out = Path(out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.path = self.out / JOURNAL_NAME
        self._lock_fd = self._lock()
        self.fingerprint = fingerprint
        self.fingerprint_sha256 = fingerprint_sha256(fingerprint)
        self.entries: dict[str, dict] = {}
        self.resumed = False
        self.pinned = dict(pinned or {})
        self._pending: list[bytes] = []
        self._fd = None
        self._base: Path | None = None
        try:
            if resume and self.path.is_file() and self.path.stat().st_size > 0:
                self._load(job)
            else:
                header = {"journal": JOURNAL_SCHEMA, "job": job, "fingerprint": fingerprint,
                          "fingerprint_sha256": self.fingerprint_sha256, "pinned": self.pinned}
                atomic_write(self.path, json.dumps(header, sort_keys=True, default=str) + "\n")
                _fsync_dir(self.out)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        except BaseException:
            self.close()  # release the folder lock
            raise

    # -- opening -----------------------------------------------------------------
    def _lock(self) -> int:
        import fcntl

        fd = os.open(self.out / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise BatchStateError(f"{self.out}: another xai-reports batch is writing to this folder") from None
        return fd

    def _load(self, job: str):
        data = self.path.read_bytes()
        good = data.rfind(b"\n") + 1  # a torn last line (crash mid-append) is dropped
        lines = data[:good].splitlines()
        try:
            header = json.loads(lines[0])
        except (IndexError, ValueError):
            raise BatchStateError(f"{self.path}: unreadable batch journal; rerun with --no-resume "
                                  "to start the batch over") from None
        self.pinned = check_header(header, job, self.fingerprint_sha256, self.fingerprint, self.out)
        for raw in lines[1:]:
            try:
                e = json.loads(raw)
            except ValueError:
                continue
            if isinstance(e, dict) and "key" in e:
                self.entries[e["key"]] = e
        if good != len(data):
            with open(self.path, "r+b") as fh:
                fh.truncate(good)
                fh.flush()
                os.fsync(fh.fileno())
        self.resumed = True

    # -- queries -----------------------------------------------------------------
    def is_done(self, key: str, *, verify: bool = True) -> bool:
        """Whether document ``key`` is finished: journaled and (``verify``) its files intact on disk."""
        e = self.entries.get(key)
        if e is None:
            return False
        if not verify:
            return True
        for name, meta in e.get("files", {}).items():
            p = self.out / name
            try:
                if p.stat().st_size != meta["bytes"]:
                    return False
                if hashlib.sha256(p.read_bytes()).hexdigest() != meta["sha256"]:
                    return False
            except OSError:
                return False
        return True

    def files_of(self, key: str) -> list[str]:
        """File names recorded for a finished document."""
        return list(self.entries.get(key, {}).get("files", {}))

    # -- writing -----------------------------------------------------------------
    def commit(self, key: str, files: dict[str, bytes], meta: dict | None = None) -> list[str]:
        """Write a document's files into place, then queue its journal line.

        Args:
            key: the document's unique key.
            files: file name (inside ``out_dir``) -> content.
            meta: extra JSON-able fields for the line (row, kind).

        Returns:
            The file names written. The line is durable after :meth:`flush`.
        """
        recorded = {}
        for name, data in files.items():
            target = self._target(name)
            atomic_write(target, data)
            recorded[target.name] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
        return self.record(key, recorded, meta)

    def record(self, key: str, recorded: dict, meta: dict | None = None) -> list[str]:
        """Queue the line of a document whose files are already in place (written by a worker):
        ``recorded`` is ``{file name: {"sha256", "bytes"}}``."""
        entry = {"key": key, "files": recorded, **(meta or {})}
        self.entries[key] = entry
        self._pending.append((json.dumps(entry, sort_keys=True, default=str) + "\n").encode("utf-8"))
        return list(recorded)

    def _target(self, name: str) -> Path:
        """``out / name``, inside ``out``: a plain file name is checked without touching the disk;
        anything else goes through :func:`~xai_reports.io.outputs.inside`."""
        from ..io.outputs import inside

        if name and name not in (".", "..") and not any(c in name for c in "/\\\x00"):
            if self._base is None:
                self._base = self.out.resolve()
            return self._base / name
        return inside(self.out, name)

    def flush(self):
        """Append the queued lines in one write and ``fsync`` the journal (group commit)."""
        if not self._pending:
            return
        buf = b"".join(self._pending)
        self._pending.clear()
        view = memoryview(buf)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
        os.fsync(self._fd)

    def complete(self):
        """The batch is finished: remove the journal and the lock file, then release the lock."""
        try:
            self.flush()
            for name in (self.path, self.out / LOCK_NAME):
                try:
                    os.unlink(name)
                except FileNotFoundError:
                    pass
            _fsync_dir(self.out)
        finally:
            self.close()

    def close(self):
        """Flush, then release the file and the folder lock."""
        try:
            self.flush()
        finally:
            for fd in (getattr(self, "_fd", None), getattr(self, "_lock_fd", None)):
                if fd is not None:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            self._fd = self._lock_fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _fsync_dir(path: Path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_stale_temporaries(out_dir) -> int:
    """Delete ``.tmp-*`` files that :func:`~xai_reports.io.outputs.atomic_write` left behind when a
    previous run was killed mid-write. Returns how many were removed."""
    n = 0
    for p in Path(out_dir).glob(".tmp-*"):
        if p.is_file():
            try:
                p.unlink()
                n += 1
            except OSError:
                pass
    return n


__all__ = ["Journal", "BatchStateError", "JOURNAL_SCHEMA", "STATE_PREFIX", "journal_path", "is_state_file",
           "fingerprint_sha256", "remove_stale_temporaries"]
