"""Outputs and inputs of the single-run commands (audit, counterfactuals, explore, incident, model-card,
regenerate, verify) given as object-storage URLs.

A command that writes files into a folder (or one file and its manifest) does so, for an output URL,
into a private local staging folder; when the command has succeeded, :meth:`Staging.commit` writes each
file as one object under the URL's prefix (one PUT, where an object is either absent or complete),
manifests last, so a prefix whose manifest is there holds the whole run. A command that fails commits
nothing. The prefix is probed for writing before any work (:meth:`~.storage.RemoteDir.check_writable`).

Inputs the document code reads as local files (a clip folder or log, an incident file, a record, a
run folder to verify) are copied into the staging area with :func:`~.remote.local_copy`'s rules (object
names that would leave the folder are refused). Messages name the URLs (without credentials), never the
temporary paths. Local paths are returned unchanged: the local code paths are exactly the ones without
staging.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from ..errors import InputError, XaiReportsError
from .remote import parent_url
from .storage import RemoteDir, _first_line, basename, is_remote, is_url, local_path, scrub, url_fs


def shown(x) -> str:
    """How to name an argument to the user: a local path as given, a URL without credentials."""
    return scrub(x) if is_remote(x) else str(x)


class Staging:
    """Private local stand-ins for the remote outputs and inputs of one command run.

    Use as a context manager: the staging folder is removed on the way out, and an error raised inside
    names URLs instead of the staging paths. Nothing is written to a bucket until :meth:`commit`.

    Examples::

        >>> with Staging() as st:                      # doctest: +SKIP
        ...     out = st.output_file("s3://reports/2026/audit.pdf")   # a local path to write
        ...     ...                                    # write out and its manifest
        ...     st.commit()                            # then the objects, the manifest last
    """

    def __init__(self):
        self._tmp: Path | None = None
        self._outputs: dict[str, Path] = {}   # output prefix URL -> its local staging folder
        self._inputs: dict[Path, str] = {}    # local copy -> URL (for messages)
        self._preexisting: set[Path] = set()  # inputs placed in an output folder (a model beside its card)
        self._n = 0

    # -- context -------------------------------------------------------------------------------------
    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            if isinstance(exc, (XaiReportsError, OSError)):
                self._relabel(exc)
        finally:
            if self._tmp is not None:
                shutil.rmtree(self._tmp, True)
        return False

    def _folder(self) -> Path:
        if self._tmp is None:
            self._tmp = Path(tempfile.mkdtemp(prefix="xai-reports-stage-"))
        self._n += 1
        d = self._tmp / str(self._n)
        d.mkdir()
        return d

    # -- outputs -------------------------------------------------------------------------------------
    def output_folder(self, out) -> Path:
        """``out`` as a local path: itself when local, else a staging folder for the prefix ``out``
        (probed for writing first).

        Raises:
            InputError: a prefix that cannot be written, naming the scrubbed URL.
        """
        if not is_remote(out):
            return local_path(out)
        url = str(out).rstrip("/")
        if url not in self._outputs:
            RemoteDir(url).check_writable()
            self._outputs[url] = self._folder() / (basename(url) or "out")
            self._outputs[url].mkdir()
        return self._outputs[url]

    def output_file(self, out) -> Path:
        """``out`` as a local path: itself when local, else ``<staging folder of its prefix>/<name>``
        (files given in one prefix share a folder, as they would locally)."""
        if not is_remote(out):
            return local_path(out)
        name = basename(out)
        if not name or name in (".", ".."):
            raise InputError("not a file name", file=scrub(out))
        return self.output_folder(parent_url(out)) / name

    def keep_out(self, path) -> None:
        """Do not commit ``path`` (an input copied into an output folder, such as a model beside its card)."""
        self._preexisting.add(Path(path).resolve())

    def show(self, text) -> str:
        """``text`` (a path, a message) with every staged path replaced by its scrubbed URL; unchanged when
        nothing is staged."""
        text = str(text)
        for local, url in self._labels():
            text = text.replace(local, scrub(url))
        return text

    def commit(self) -> list[str]:
        """Write every staged output file as one object under its prefix, manifests last; returns the
        scrubbed URLs written. Local outputs were written in place already.

        Raises:
            InputError: an object that could not be written, naming its scrubbed URL.
        """
        jobs = []
        for url, folder in self._outputs.items():
            target = RemoteDir(url)
            for p in sorted(folder.rglob("*")):
                if p.is_file() and p.resolve() not in self._preexisting:
                    rel = p.relative_to(folder).as_posix()
                    jobs.append((rel.endswith("manifest.json"), url, target, rel, p))
        written = []
        for _, url, target, rel, p in sorted(jobs, key=lambda j: (j[0], j[1], j[3])):
            try:
                target.write(rel, p.read_bytes())
            except InputError:
                raise
            except Exception as exc:  # noqa: BLE001 - AccessDenied, connection refused...
                raise InputError(f"cannot write ({type(exc).__name__}: {_first_line(exc)})",
                                 file=scrub(f"{url}/{rel}")) from None
            written.append(scrub(f"{url}/{rel}"))
        return written

    # -- inputs --------------------------------------------------------------------------------------
    def input(self, x, *, into=None):
        """``x`` itself when a plain path (or ``None``), the path of a ``file://`` URL, else a private local copy of the object or of the objects
        under the prefix ``x`` (a clip folder, a run folder), named like it.

        Args:
            into: a local folder to copy into (default: a new staging folder).

        Raises:
            InputError: nothing at ``x``, an object name that would leave the folder, an unreadable store;
                naming the scrubbed URL.
        """
        if x is None or not is_url(x):
            return x
        if not is_remote(x):   # file://...: the local path
            return local_path(x)
        from .remote import _copy_tree, local_file

        url = str(x)
        folder = Path(into) if into is not None else self._folder()
        fs, path = url_fs(url)
        try:
            info = fs.info(path)
        except FileNotFoundError:
            raise InputError("not found", file=scrub(url)) from None
        except Exception as exc:  # noqa: BLE001
            raise InputError(f"cannot read ({type(exc).__name__}: {_first_line(exc)})", file=scrub(url)) from None
        if info.get("type") == "directory":
            local = _copy_tree(url, folder, limits=False)
        else:
            local = Path(local_file(url, folder))
        self._inputs[local] = url.rstrip("/")
        return local

    def optional_input(self, x, *, into=None):
        """:meth:`input` of ``x`` when there is an object or prefix at it, else ``None`` (a sibling file that
        may be absent, such as a PDF's manifest)."""
        try:
            return self.input(x, into=into)
        except InputError:
            return None

    # -- messages ------------------------------------------------------------------------------------
    def _labels(self):
        pairs = [(str(folder), url) for url, folder in self._outputs.items()]
        pairs += [(str(local), url) for local, url in self._inputs.items()]
        if self._tmp is not None:
            pairs.append((str(self._tmp), "<staging>"))
        return sorted(pairs, key=lambda p: -len(p[0]))

    def _relabel(self, exc) -> None:
        labels = self._labels()
        if not labels:
            return
        fix = self.show

        if isinstance(exc, OSError) and isinstance(exc.filename, str):
            exc.filename = fix(exc.filename)
        for attr in ("file", "reason"):
            value = getattr(exc, attr, None)
            if isinstance(value, (str, Path)) and any(local in str(value) for local, _ in labels):
                setattr(exc, attr, fix(str(value)))
        if exc.args and isinstance(exc.args[0], str):
            exc.args = (fix(exc.args[0]),) + tuple(exc.args[1:])


__all__ = ["Staging", "shown"]
