"""Object storage through fsspec: inputs read from, and batch outputs written to, ``s3://``,
``gs://``, ``abfs://``, ``memory://``... URLs.

* A URL is anything ``scheme://...`` with a scheme fsspec knows; ``file://`` URLs
  and plain paths stay local paths (the local code paths, ``flock`` included).
* Credentials come from each backend's usual environment and configuration
  (``AWS_*`` variables, ``~/.aws``, ``GOOGLE_APPLICATION_CREDENTIALS``, ...);
  options can be given to fsspec as ``FSSPEC_S3_*`` variables (e.g.
  ``FSSPEC_S3_ENDPOINT_URL``). They are never printed: every URL that goes into a
  message or a record passes through :func:`scrub` (user/password and query
  string removed).
* :class:`RemoteDir` writes each object in one request (``pipe_file``: one PUT on
  S3, where an object is either absent or complete; a multipart upload of a very
  large object only becomes visible when it completes). On stores without that
  guarantee (``memory://``, ...) it writes a temporary key then moves it.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

from ..errors import InputError

_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*://)[^/@]*@")
READ_BLOCK = 8 << 20  # bytes fetched per request when streaming an object (CSV blocks, Parquet row groups)
ATOMIC_PUT = {"s3", "s3a", "gs", "gcs", "abfs", "abfss", "az"}  # one request writes a whole object


def is_url(x) -> bool:
    """Whether ``x`` is a ``scheme://`` URL string (``file://`` included)."""
    return isinstance(x, str) and bool(_URL.match(x))


def is_remote(x) -> bool:
    """Whether ``x`` is a URL that is not a local ``file://`` path."""
    return is_url(x) and _URL.match(x).group(1).lower() not in ("file", "local")


def local_path(x) -> Path:
    """A plain path or a ``file://`` URL as a local :class:`~pathlib.Path`."""
    if is_url(x):
        from urllib.parse import unquote, urlparse

        return Path(unquote(urlparse(x).path))
    return Path(x)


_ANY_URL = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*://)([^\s/'\"<>@]*@)?([^\s?#'\"<>]*)([?#][^\s'\"<>]*)?")
_SECRET_PAIR = re.compile(r"(?i)\b((?:aws_)?(?:secret[_-]?access[_-]?key|session[_-]?token|access[_-]?token|"
                          r"sas[_-]?token|account[_-]?key|password|signature|sig)\s*[=:]\s*)(['\"]?)[^\s'\",;&)]+")


def scrub(text) -> str:
    """``text`` (a URL or a message) without credentials: every URL in it loses its ``user:password@``
    and its query string and fragment (signed URLs and endpoints carry keys and tokens there), and
    ``secret_access_key=...``-like pairs lose their value."""
    s = _ANY_URL.sub(lambda m: m.group(1) + m.group(3), str(text))
    return _SECRET_PAIR.sub(lambda m: m.group(1) + m.group(2) + "***", s)


def _first_line(exc) -> str:
    text = str(exc).strip()
    return scrub(text.splitlines()[0]) if text else type(exc).__name__


def url_fs(url: str):
    """``(filesystem, path)`` for a URL (fsspec); options from the backend's usual configuration.

    Raises:
        InputError: unknown scheme or backend not installed, naming the (scrubbed) URL.
    """
    import fsspec

    try:
        return fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as exc:
        raise InputError(f"cannot use this URL ({_first_line(exc)})", file=scrub(url)) from None


def open_input(url: str, *, cache_type: str | None = None):
    """``(file object, size)`` of an object to read (in blocks, not whole). ``cache_type="none"``: each read
    is one ranged request (Parquet, whose reader asks for exactly the column chunks it needs).

    Raises:
        InputError: missing or unreadable object, naming the scrubbed URL.
    """
    fs, path = url_fs(url)
    try:
        info = fs.info(path)
    except FileNotFoundError:
        raise InputError("not found", file=scrub(url)) from None
    except Exception as exc:  # noqa: BLE001 - a backend's own errors (permissions, endpoint, DNS)
        raise InputError(f"cannot read ({type(exc).__name__}: {_first_line(exc)})", file=scrub(url)) from None
    if info.get("type") == "directory":
        raise InputError("is a folder, expected a file", file=scrub(url))
    opts = {} if cache_type is None else {"cache_type": cache_type}
    return fs.open(path, "rb", block_size=READ_BLOCK, **opts), int(info.get("size") or 0)


def basename(x) -> str:
    """The last part of a path or URL."""
    return str(x).split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]


def sha256_url(url: str, chunk: int = 1 << 22) -> tuple[str, int]:
    """SHA-256 and size of an object, read in blocks."""
    fh, _ = open_input(url)
    h, n = hashlib.sha256(), 0
    with fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
            n += len(block)
    return h.hexdigest(), n


def fetch_to_local(url: str) -> Path:
    """Copy an object (a model file) into a private temporary folder, keeping its file name; returns the
    local path. The folder is removed when the process exits."""
    import atexit
    import shutil

    fh, _ = open_input(url)
    folder = tempfile.mkdtemp(prefix="xai-reports-")
    atexit.register(shutil.rmtree, folder, True)
    target = Path(folder) / (basename(url) or "object")
    with fh, open(target, "wb") as out:
        for block in iter(lambda: fh.read(1 << 22), b""):
            out.write(block)
    return target


class RemoteDir:
    """An output folder on object storage: objects under the prefix ``url``.

    Args:
        url: ``s3://bucket/prefix`` (or any fsspec URL that is not local).

    Attributes:
        label: the scrubbed URL, for messages and records.
    """

    is_remote = True

    def __init__(self, url: str):
        self.url = url.rstrip("/")
        self.label = scrub(self.url)
        self.fs, self.root = url_fs(self.url)
        self.root = self.root.rstrip("/")
        self.protocol = (self.fs.protocol if isinstance(self.fs.protocol, str) else self.fs.protocol[0])
        self._seq = 0

    def __reduce__(self):  # travels to workers as its URL: each process opens its own client
        return (RemoteDir, (self.url,))

    def __str__(self):
        return self.label

    def key(self, name: str) -> str:
        """The object path of ``name`` (a plain file name, or ``folder/name`` for state files)."""
        if not name or name.startswith("/") or any(p in ("", ".", "..") for p in name.split("/")) or "\\" in name \
                or "\x00" in name:
            raise InputError(f"not a file name inside the output folder: {name!r}", file=self.label)
        return f"{self.root}/{name}"

    def check_writable(self) -> None:
        """Refuse, before any work, a bucket/prefix that cannot be written: a probe object is written and
        removed.

        Raises:
            InputError: naming the scrubbed URL and the backend's reason.
        """
        probe = f".xai-reports.probe-{os.getpid()}-{os.urandom(4).hex()}"
        try:
            self.fs.pipe_file(self.key(probe), b"")
            self.fs.rm_file(self.key(probe))
        except InputError:
            raise
        except Exception as exc:  # noqa: BLE001 - NoSuchBucket, AccessDenied, connection refused...
            raise InputError(f"output folder cannot be written ({type(exc).__name__}: {_first_line(exc)})",
                             file=self.label) from None

    def write(self, name: str, data: bytes | str) -> None:
        """Write object ``name`` whole: one PUT where the store makes that atomic, else a temporary key
        then a move."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        target = self.key(name)
        if self.protocol in ATOMIC_PUT:
            self.fs.pipe_file(target, data)
            return
        self._seq += 1
        head, _, tail = target.rpartition("/")
        tmp = f"{head}/.tmp-{os.getpid()}-{self._seq}-{tail}"
        self.fs.pipe_file(tmp, data)
        self.fs.mv(tmp, target)

    def create_exclusive(self, name: str, data: bytes) -> bool:
        """Create object ``name`` only if it does not exist (a conditional PUT, ``If-None-Match: *``, on
        S3); ``False`` if it exists. Stores without conditional writes fall back to check-then-write."""
        target = self.key(name)
        try:
            with self.fs.open(target, "xb") as fh:
                fh.write(data)
            return True
        except FileExistsError:
            return False
        except (ValueError, NotImplementedError, TypeError):  # no exclusive mode: best effort
            if self.fs.exists(target):
                return False
            self.fs.pipe_file(target, data)
            return True
        except OSError as exc:  # s3fs: 412 Precondition Failed
            if "412" in str(exc) or "Precondition" in str(exc) or "exist" in str(exc).lower():
                return False
            raise

    def read(self, name: str) -> bytes:
        return self.fs.cat_file(self.key(name))

    def exists(self, name: str) -> bool:
        return self.fs.exists(self.key(name))

    def delete(self, name: str) -> None:
        try:
            self.fs.rm_file(self.key(name))
        except FileNotFoundError:
            pass

    def sizes(self, prefix: str = "") -> dict[str, int]:
        """``{name: size}`` of the objects under the folder (names relative to it), in one listing."""
        base = self.root + "/"
        self.fs.invalidate_cache()  # objects written by other processes (workers, an earlier run)
        try:
            found = self.fs.find(self.root + ("/" + prefix if prefix else ""), detail=True)
        except FileNotFoundError:
            return {}
        return {k[len(base):] if k.startswith(base) else k: int(v.get("size") or 0) for k, v in found.items()}

    def remove_stale_temporaries(self) -> int:
        """Delete ``.tmp-*`` keys a killed run left (stores without atomic PUT)."""
        n = 0
        for name in self.sizes():
            if "/" not in name and name.startswith(".tmp-"):
                self.delete(name)
                n += 1
        return n


def output_dir(out_dir):
    """A :class:`RemoteDir` for a remote URL, else a local :class:`~pathlib.Path` (``file://`` included)."""
    if isinstance(out_dir, RemoteDir):
        return out_dir
    if is_remote(out_dir):
        return RemoteDir(out_dir)
    return local_path(out_dir)


def write_output(out, name: str, data: bytes | str) -> None:
    """Write ``name`` into an output folder, local (temporary file, then rename) or remote (one PUT)."""
    if isinstance(out, RemoteDir):
        out.write(name, data)
        return
    from .outputs import atomic_write, inside

    atomic_write(inside(out, name), data)


__all__ = ["is_url", "is_remote", "local_path", "scrub", "url_fs", "open_input", "sha256_url", "fetch_to_local",
           "basename", "RemoteDir", "output_dir", "write_output", "ATOMIC_PUT", "READ_BLOCK"]
