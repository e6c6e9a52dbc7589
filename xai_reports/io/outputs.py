"""Writing outputs: safe file names, atomic writes, canonical JSON."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
from pathlib import Path

import numpy as np

def _file_mode() -> int:
    umask = os.umask(0)  # read once at import: os.umask can only be read by setting it
    os.umask(umask)
    return 0o666 & ~umask


_FILE_MODE = _file_mode()
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(text: str, *, max_len: int = 80) -> str:
    """A file-name component derived from data that cannot leave its folder.

    Path separators, ``..``, NUL and other odd characters become ``_``; leading
    dots are stripped; an empty result becomes ``_``. When anything had to
    change (or the name was cut to ``max_len``), a short hash of the original
    is appended, so two different ids never share a file (``a/b`` and ``a_b``).

    Examples::

        >>> safe_name("HMDA-0047")
        'HMDA-0047'
        >>> safe_name("../../etc/passwd")
        'etc_passwd-3754d6cb'
    """
    original = str(text)
    s = _SAFE.sub("_", original.replace("\x00", "_"))
    s = s.lstrip(".")
    s = s.replace("..", "_")
    s = s.strip("_") if s != original else s
    if s == original and len(s) <= max_len and s:
        return s
    digest = hashlib.sha256(original.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{s[:max_len - 9] or '_'}-{digest}"


def inside(out_dir, name: str) -> Path:
    """``out_dir / name``, guaranteed to stay inside ``out_dir``."""
    base = Path(out_dir).resolve()
    p = (base / name).resolve()
    if base != p.parent and base not in p.parents:
        raise ValueError(f"output path {name!r} would leave {base}")
    return p


def check_writable_dir(path, *, what: str = "output folder", name=None) -> None:
    """Refuse, before any work, an output folder that cannot be created or written; create nothing.

    The folder (or, when it does not exist yet, its nearest existing parent) must
    be a folder in which a file can really be created: a probe file is made and
    removed at once (``os.access`` alone is not enough: it says yes to root on a
    read-only mount such as ``/proc`` or ``/sys``). When the folder does not exist
    the probe goes in the parent, so the output folder itself is not created.

    Raises:
        InputError: naming the folder (or ``name``) and why (not a folder, under
            a file, read-only, permission denied).
    """
    import tempfile

    from ..errors import InputError

    target = Path(path)
    label = target if name is None else name
    probe_in = target
    while not probe_in.exists():
        if probe_in.is_symlink():   # a dangling link: mkdir would fail
            raise InputError(f"{what} {probe_in} is a broken symbolic link", file=label)
        if probe_in.parent == probe_in:
            break
        probe_in = probe_in.parent
    if not probe_in.is_dir():
        where = "is" if probe_in == target else f"is inside {probe_in}, which is"
        raise InputError(f"{what} {where} a file, not a folder", file=label)
    try:
        # a batch state-file name (verify ignores it), removed at once
        fd, name = tempfile.mkstemp(prefix=".xai-reports.probe-", dir=probe_in)
    except OSError as exc:
        raise InputError(f"cannot write the {what}: no file can be created in {probe_in} "
                         f"({exc.strerror or type(exc).__name__})", file=label) from None
    os.close(fd)
    os.unlink(name)


def check_writable_file(path, *, what: str = "output file") -> None:
    """Refuse, before any work, an output file that cannot be written (its folder is checked by
    :func:`check_writable_dir`; an existing folder in the file's place is refused); create nothing.

    Raises:
        InputError: naming the file and why.
    """
    from ..errors import InputError

    target = Path(path)
    if target.is_dir():
        raise InputError(f"{what} is a folder", file=target)
    check_writable_dir(target.parent, what=f"folder of the {what}", name=target)


_TMP_SEQ = itertools.count()


def atomic_write(path, data: bytes | str) -> None:
    """Write to a temporary file in the same folder, then rename: no half-written file.

    The temporary file is ``.tmp-<pid>-<n>-<name>`` (created exclusively, with
    the mode a plain ``open()`` would give); a killed run may leave one behind,
    and the batch engine removes those before it resumes.
    """
    path = os.fspath(path)
    if isinstance(data, str):
        data = data.encode("utf-8")
    head, tail = os.path.split(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    while True:
        name = f".tmp-{os.getpid()}-{next(_TMP_SEQ)}-{tail}"
        if len(name) > 240:   # keep within NAME_MAX
            name = f".tmp-{os.getpid()}-{next(_TMP_SEQ)}{os.path.splitext(tail)[1][:16]}"
        tmp = os.path.join(head, name)
        try:
            fd = os.open(tmp, flags, _FILE_MODE)
        except FileExistsError:   # left by an earlier process with the same pid
            continue
        break
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def sha256_file(path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes, read in chunks."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def canonical_json(obj) -> str:
    """Deterministic JSON: sorted keys, compact separators, UTF-8, trailing newline.

    Compact (no indentation) so the C encoder is used: it is the largest per-decision
    cost of JSON-only batches. Read a record with ``python -m json.tool record.json``.
    """
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=_default, allow_nan=False)
    if _RAW_CONTROLS.search(text):  # json escapes C0 itself; DEL, C1 and U+2028/9 it leaves raw
        text = _RAW_CONTROLS.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return text + "\n"


# characters JSON may carry raw (ensure_ascii=False) that a record never holds raw: DEL, C1, U+2028/9;
# outside strings JSON has none of them, so escaping them in the text escapes them in the strings
_RAW_CONTROLS = re.compile("[\x7f-\x9f\u2028\u2029]")
