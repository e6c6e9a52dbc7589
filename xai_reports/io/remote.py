"""Inputs on object storage that the code reads as local files: a pack folder, a template folder, a
model file with its card, a small YAML/JSON file.

A folder given as a URL (``s3://bucket/packs/mybank``) is copied, object by object, into a private
temporary folder named like the prefix (``.../mybank/``), once per process; the code then reads the
copy, so every rule that holds for a local folder holds for it: a pack may only name files inside its
own folder (``template_dirs``, ``extends``, includes), and that folder is the copy of the prefix. An
object whose name would leave the folder (``..``, an empty part, a backslash) is refused before
anything is read. Copies are bounded (:data:`MAX_TREE_BYTES`, :data:`MAX_TREE_OBJECTS`) and removed
when the process exits.

Messages about a copied file name the URL (without credentials), not the temporary path.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from ..errors import InputError, XaiReportsError, brief
from .storage import _first_line, basename, fetch_to_local, is_remote, open_input, scrub, url_fs

MAX_TREE_BYTES = 64 << 20   # a pack or template folder is small: a prefix holding more is a wrong URL
MAX_TREE_OBJECTS = 2000


def _bad_name(rel: str) -> bool:
    parts = rel.split("/")
    return (not rel or rel.startswith("/") or "\\" in rel or "\x00" in rel
            or any(p in ("", ".", "..") for p in parts))


def fetch_tree(url: str) -> Path:
    """A local copy of the objects under the prefix ``url`` (cached per process: see :func:`forget_trees`).

    Returns:
        The local folder, named like the prefix's last part.

    Raises:
        InputError: nothing under the prefix, an object name that would leave the folder, a prefix over
            the size limits, or an unreadable store; naming the scrubbed URL.
    """
    return _fetch_tree(url)


def forget_trees() -> None:
    """Drop the cached copies, so the next use copies the prefixes again (a long-lived worker whose copy of a
    pack or template folder no longer matches the driver's, because the bucket's changed since)."""
    _fetch_tree.cache_clear()


@lru_cache(maxsize=32)
def _fetch_tree(url: str) -> Path:
    tmp = tempfile.mkdtemp(prefix="xai-reports-")
    atexit.register(shutil.rmtree, tmp, True)
    return _copy_tree(url, Path(tmp))


def _copy_tree(url: str, tmp: Path, *, limits: bool = True) -> Path:
    """Copy the objects under the prefix ``url`` into ``tmp/<last part of url>``; ``limits``: refuse a prefix
    over :data:`MAX_TREE_OBJECTS` / :data:`MAX_TREE_BYTES` (a pack or template folder; not a run folder)."""
    label = scrub(url)
    fs, root = url_fs(url.rstrip("/"))
    root = root.rstrip("/")
    try:
        fs.invalidate_cache()
        found = fs.find(root, detail=True)
    except FileNotFoundError:
        found = {}
    except Exception as exc:  # noqa: BLE001 - a backend's own errors (permissions, endpoint, DNS)
        raise InputError(f"cannot list this folder ({type(exc).__name__}: {_first_line(exc)})", file=label) from None
    files = []
    for key, info in sorted(found.items()):
        if info.get("type") == "directory" or key.endswith("/"):
            continue  # "folder" marker objects
        if not key.startswith(root + "/"):
            continue
        rel = key[len(root) + 1:]
        if _bad_name(rel):
            raise InputError(f"object {brief(repr(rel), 80)} has a name that would leave the folder; refused",
                             file=label)
        files.append((key, rel, int(info.get("size") or 0)))
    if not files:
        raise InputError("no objects under this prefix (expected a folder)", file=label)
    if limits and (len(files) > MAX_TREE_OBJECTS or sum(f[2] for f in files) > MAX_TREE_BYTES):
        raise InputError(f"more than {MAX_TREE_OBJECTS} objects or {MAX_TREE_BYTES >> 20} MiB under this prefix; "
                         "give the folder of the pack or templates itself", file=label)
    folder = Path(tmp) / (basename(url) or "folder")
    for key, rel, _ in files:
        target = folder.joinpath(*rel.split("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            target.write_bytes(fs.cat_file(key))
        except Exception as exc:  # noqa: BLE001
            raise InputError(f"cannot read ({type(exc).__name__})", file=scrub(f"{url.rstrip('/')}/{rel}")) from None
    return folder


def local_folder(x):
    """``x`` itself, or the local copy of a remote folder URL."""
    return fetch_tree(x) if is_remote(x) else x


def local_file(x, folder: Path | None = None):
    """``x`` itself, or a local copy of a remote file URL (into ``folder`` when given, keeping its name)."""
    if not is_remote(x):
        return x
    if folder is None:
        return fetch_to_local(x)
    fh, _ = open_input(x)
    target = Path(folder) / (basename(x) or "object")
    with fh, open(target, "wb") as out:
        shutil.copyfileobj(fh, out, 1 << 22)
    return target


@contextmanager
def local_copy(url: str):
    """Inside the block, a private local copy of the object ``url``, or of the objects under it when ``url`` is
    a prefix (a DICOM series); removed after the block.

    Raises:
        InputError: nothing at ``url``, or what :func:`fetch_tree` refuses; naming the scrubbed URL.
    """
    fs, path = url_fs(url)
    tmp = tempfile.mkdtemp(prefix="xai-reports-")
    try:
        try:
            info = fs.info(path)
        except FileNotFoundError:
            raise InputError("not found", file=scrub(url)) from None
        if info.get("type") == "directory":
            yield _copy_tree(url, Path(tmp))
        else:
            yield local_file(url, Path(tmp))
    finally:
        shutil.rmtree(tmp, True)


def read_input_text(x, *, limit: int = 16 << 20) -> str:
    """The UTF-8 text of a small input file (a constraints or card file), local or remote.

    Raises:
        InputError: missing, unreadable, too large or not UTF-8; naming the (scrubbed) file.
    """
    label = scrub(x)
    try:
        if is_remote(x):
            fh, size = open_input(x)
            with fh:
                if size > limit:
                    raise InputError(f"larger than {limit >> 20} MiB", file=label)
                data = fh.read()
        else:
            data = Path(x).read_bytes()
        return data.decode("utf-8")
    except OSError as exc:
        raise InputError(f"cannot read ({exc.strerror or type(exc).__name__})", file=label) from None
    except UnicodeDecodeError:
        raise InputError("not UTF-8 text", file=label) from None


def parent_url(url: str) -> str:
    """The prefix holding the object ``url`` (query string dropped)."""
    return url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[0]


@contextmanager
def relabelled(local: Path, url: str):
    """Inside the block, an error whose message names the local copy ``local`` names the scrubbed
    ``url`` instead (same class, same fields)."""
    try:
        yield
    except XaiReportsError as exc:
        here, there = str(local), scrub(url.rstrip("/"))
        text = str(exc)
        if here not in text:
            raise
        for attr in ("file", "reason"):
            value = getattr(exc, attr, None)
            if isinstance(value, str) and here in value:
                setattr(exc, attr, value.replace(here, there))
        exc.args = (text.replace(here, there),) + tuple(exc.args[1:])
        raise


__all__ = ["fetch_tree", "forget_trees", "local_copy", "local_folder", "local_file", "read_input_text", "parent_url",
           "relabelled",
           "MAX_TREE_BYTES", "MAX_TREE_OBJECTS"]
