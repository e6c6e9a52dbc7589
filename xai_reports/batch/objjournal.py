"""The batch journal on object storage (``s3://``, ``gs://``, ``memory://``...).

Objects cannot be appended to, so the journal is a set of immutable segment
objects under ``<out>/.xai-reports.journal/``: ``00000000.jsonl`` holds the
header (job, fingerprint, pinned values), and each group commit writes the next
segment, whole, in one PUT. A segment is either absent or complete, so no line
is ever torn. A document's files are written (each in one PUT) *before* its line
is in a segment, so a journaled line implies complete objects. Segments are
written at most every :data:`FLUSH_S` seconds (or every :data:`FLUSH_LINES`
lines): a crash costs at most that much redone work, never a wrong document.

On resume a document counts as done if its line is present and every file it
names is listed with the recorded size (one listing of the prefix; objects are
never partial, so a right size means the object this batch wrote).

One writer at a time: ``<out>/.xai-reports.lock`` is created with an exclusive
(conditional) create (``If-None-Match: *`` on S3, where the store decides which
of two racing writers wins). The lock holds a heartbeat the writer refreshes;
a lock whose heartbeat is older than the lease (``XAI_REPORTS_LOCK_LEASE_S``,
default 120 s) is taken to belong to a killed run and is taken over (delete,
then exclusive create again: of two runs taking over the same stale lock at the
same instant only one create succeeds, but the loser may have deleted the
winner's fresh lock first; a run then re-reads the lock after each segment and
stops if the token is no longer its own). Removed with the journal when the
batch completes.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time

from ..errors import BatchStateError
from .journal import JOURNAL_SCHEMA, LOCK_NAME, STATE_PREFIX, check_header, fingerprint_sha256

SEGMENTS = STATE_PREFIX + "journal"
FLUSH_S = 2.0
FLUSH_LINES = 2000


def lease_s() -> float:
    try:
        return float(os.environ.get("XAI_REPORTS_LOCK_LEASE_S", "120"))
    except ValueError:
        return 120.0


class ObjectJournal:
    """The journal of a batch written to a :class:`~xai_reports.io.storage.RemoteDir` (same interface as
    :class:`~xai_reports.batch.journal.Journal`).

    Raises:
        BatchStateError: another live run holds the folder, or ``resume=True`` and the folder holds a
            batch with other inputs.
    """

    def __init__(self, out, job: str, fingerprint: dict, pinned: dict | None = None, *, resume: bool = True):
        self.out = out
        self.fingerprint = fingerprint
        self.fingerprint_sha256 = fingerprint_sha256(fingerprint)
        self.entries: dict[str, dict] = {}
        self.resumed = False
        self.pinned = dict(pinned or {})
        self._pending: list[bytes] = []
        self._last = time.monotonic()
        self._token = os.urandom(16).hex()
        self._beat = 0.0
        self._locked = False
        self._sizes: dict[str, int] | None = None
        self._lock()
        try:
            segs = self._segments()
            if resume and segs:
                self._load(job, segs)
                self._next = int(segs[-1].split(".")[0]) + 1
            else:
                for name in segs:
                    self.out.delete(f"{SEGMENTS}/{name}")
                header = {"journal": JOURNAL_SCHEMA, "job": job, "fingerprint": fingerprint,
                          "fingerprint_sha256": self.fingerprint_sha256, "pinned": self.pinned}
                self.out.write(f"{SEGMENTS}/00000000.jsonl", json.dumps(header, sort_keys=True, default=str) + "\n")
                self._next = 1
        except BaseException:
            self.close()
            raise

    # -- the lock --------------------------------------------------------------
    def _lock_body(self) -> bytes:
        return json.dumps({"token": self._token, "host": socket.gethostname(), "pid": os.getpid(),
                           "heartbeat": time.time()}).encode()

    def _lock(self):
        for _ in range(2):
            if self.out.create_exclusive(LOCK_NAME, self._lock_body()):
                self._locked, self._beat = True, time.monotonic()
                return
            try:
                held = json.loads(self.out.read(LOCK_NAME))
                age = time.time() - float(held.get("heartbeat", 0))
            except (FileNotFoundError, ValueError, TypeError):
                continue  # released meanwhile, or unreadable: try again
            if age <= lease_s():
                raise BatchStateError(f"{self.out.label}: another xai-reports batch is writing to this folder "
                                      f"(lock {LOCK_NAME} refreshed {age:.0f} s ago; a lock left by a killed run "
                                      f"is taken over after {lease_s():.0f} s)")
            self.out.delete(LOCK_NAME)  # a killed run's lock: take it over
        raise BatchStateError(f"{self.out.label}: another xai-reports batch is writing to this folder")

    def _heartbeat(self):
        if not self._locked or time.monotonic() - self._beat < lease_s() / 4:
            return
        try:
            held = json.loads(self.out.read(LOCK_NAME))
        except (FileNotFoundError, ValueError):
            held = {}
        if held.get("token") != self._token:
            self._locked = False
            raise BatchStateError(f"{self.out.label}: another run took over this folder's lock; stopping")
        self.out.write(LOCK_NAME, self._lock_body())
        self._beat = time.monotonic()

    # -- reading ---------------------------------------------------------------
    def _segments(self) -> list[str]:
        names = [n.split("/", 1)[1] for n in self.out.sizes(SEGMENTS) if n.startswith(SEGMENTS + "/")]
        return sorted(n for n in names if n.endswith(".jsonl") and "/" not in n)

    def _load(self, job: str, segs: list[str]):
        try:
            header = json.loads(self.out.read(f"{SEGMENTS}/{segs[0]}").splitlines()[0])
        except (IndexError, ValueError, FileNotFoundError):
            raise BatchStateError(f"{self.out.label}: unreadable batch journal; rerun with --no-resume "
                                  "to start the batch over") from None
        self.pinned = check_header(header, job, self.fingerprint_sha256, self.fingerprint, self.out.label)
        for name in segs[1:]:
            for raw in self.out.read(f"{SEGMENTS}/{name}").splitlines():
                try:
                    e = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(e, dict) and "key" in e:
                    self.entries[e["key"]] = e
        self.resumed = True

    def is_done(self, key: str, *, verify: bool = True) -> bool:
        """Whether document ``key`` is journaled and (``verify``) its objects are listed with their sizes."""
        e = self.entries.get(key)
        if e is None:
            return False
        if not verify:
            return True
        if self._sizes is None:
            self._sizes = self.out.sizes()
        return all(self._sizes.get(name) == meta["bytes"] for name, meta in e.get("files", {}).items())

    def files_of(self, key: str) -> list[str]:
        return list(self.entries.get(key, {}).get("files", {}))

    # -- writing ---------------------------------------------------------------
    def commit(self, key: str, files: dict[str, bytes], meta: dict | None = None) -> list[str]:
        """Write a document's objects (each in one PUT), then queue its journal line."""
        recorded = {}
        for name, data in files.items():
            self.out.write(name, data)
            recorded[name] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
        return self.record(key, recorded, meta)

    def record(self, key: str, recorded: dict, meta: dict | None = None) -> list[str]:
        """Queue the line of a document whose files a worker already wrote (``{name: {sha256, bytes}}``)."""
        entry = {"key": key, "files": recorded, **(meta or {})}
        self.entries[key] = entry
        self._pending.append((json.dumps(entry, sort_keys=True, default=str) + "\n").encode("utf-8"))
        return list(recorded)

    def flush(self, *, force: bool = False):
        """Write the queued lines as the next segment (at most every ``FLUSH_S`` s unless ``force``)."""
        self._heartbeat()
        if not self._pending:
            return
        if not force and len(self._pending) < FLUSH_LINES and time.monotonic() - self._last < FLUSH_S:
            return
        buf = b"".join(self._pending)
        self.out.write(f"{SEGMENTS}/{self._next:08d}.jsonl", buf)
        self._pending.clear()
        self._next += 1
        self._last = time.monotonic()

    def complete(self):
        """The batch is finished: remove the segments and the lock."""
        try:
            self._pending.clear()
            for name in self._segments():
                self.out.delete(f"{SEGMENTS}/{name}")
        finally:
            self.close()

    def close(self):
        """Write what is queued, then release the lock (if still ours)."""
        try:
            if self._locked and self._pending:
                self.flush(force=True)
        finally:
            if self._locked:
                self._locked = False
                try:
                    held = json.loads(self.out.read(LOCK_NAME))
                    if held.get("token") == self._token:
                        self.out.delete(LOCK_NAME)
                except (FileNotFoundError, ValueError):
                    pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


__all__ = ["ObjectJournal", "SEGMENTS", "lease_s"]
