"""Tables read in chunks: CSV (pandas ``chunksize``, every value a string) and
Parquet (pyarrow ``iter_batches``), or an in-memory DataFrame sliced.

A :class:`TableSource` checks the file before any chunk is handed out (it
exists, is readable, has a header and rows, no duplicate decision ids) so a
batch fails on a bad file before anything is written, and numbers rows
globally: every chunk keeps the file's 0-based row positions as its index, so
row ``index + 1`` in an error message is the row in the file (header excluded),
whatever the chunk size.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import pandas as pd

from ..errors import InputError, brief
from ..io.outputs import sha256_file
from ..io.storage import basename, is_remote, local_path, open_input, scrub, sha256_url
from ..io.tabular import check_id

PARQUET_SUFFIXES = (".parquet", ".pq")
_SKIP_BLOCK = 20_000  # rows per block when skipping to a worker's range of a CSV
_READ_ERRORS = (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError)


@dataclass
class Scan:
    """What a first pass over the file found.

    Attributes:
        rows: data rows in the file (header excluded).
        columns: column names, stripped.
    """

    rows: int
    columns: list[str]
    duplicate: InputError | None = None

    def raise_duplicate(self):
        """Raise the id error the scan found, if any: a duplicate id, or an id with a control character."""
        if self.duplicate is not None:
            raise self.duplicate


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _as_objects(df: pd.DataFrame) -> pd.DataFrame:
    """Python objects per cell; pandas' NA markers of nullable columns become ``None``."""
    out = df.astype(object)
    for c, dtype in df.dtypes.items():
        if pd.api.types.is_extension_array_dtype(dtype) or pd.api.types.is_datetime64_any_dtype(dtype):
            out[c] = [None if (v is pd.NA or v is pd.NaT) else v for v in out[c]]
    return out


class TableSource:
    """A CSV/Parquet file or a DataFrame, read chunk by chunk with file-global row numbers.

    Args:
        data: a ``.csv`` / ``.parquet`` path, or a ``pandas.DataFrame``.
        label: the name used in error messages (default: the path, or ``"<DataFrame>"``).

    Examples::

        >>> src = TableSource("applications.csv")
        >>> src.scan(id_column="applicant_id").rows
        100000
        >>> for chunk in src.chunks(1000):   # DataFrames indexed 0..999, 1000..1999, ...
        ...     ...
    """

    def __init__(self, data, *, label: str | None = None):
        self.url = None
        if isinstance(data, pd.DataFrame):
            self.path = None
            self.frame = data
            self.label = label or "<DataFrame>"
        elif is_remote(data):  # object storage: read through fsspec, in blocks
            self.path = None
            self.url = data
            self.frame = None
            self.label = label or scrub(data)
        else:
            self.path = local_path(data)
            self.frame = None
            self.label = label or str(data)
        self._scan: Scan | None = None
        self._columns: list[str] | None = None  # the header, read once

    @property
    def name(self) -> str:
        """The file name (the last part of the path or URL)."""
        return self.path.name if self.path is not None else basename(self.url) if self.url else self.label

    @property
    def is_parquet(self) -> bool:
        return self.frame is None and self.name.lower().endswith(PARQUET_SUFFIXES)

    def reference(self):
        """What a worker process needs to read these rows itself: the path or URL (``None`` for a DataFrame)."""
        return str(self.path) if self.path is not None else self.url

    def _open(self):
        """The file to read: a local path, or a file object over the URL (read in blocks)."""
        if self.url is not None:  # Parquet: the reader's own ranged reads (footer, column chunks), no read-ahead
            return open_input(self.url, cache_type="none" if self.is_parquet else None)[0]
        return self.path

    # -- checks ----------------------------------------------------------------
    def _check_file(self):
        if self.url is not None:
            fh, size = open_input(self.url)  # InputError naming the scrubbed URL when missing
            fh.close()
            if size == 0:
                raise InputError("data file is empty", file=self.label)
            return
        if not self.path.is_file():
            raise InputError("data file not found", file=self.label)
        if self.path.stat().st_size == 0:
            raise InputError("data file is empty", file=self.label)

    def _cannot_read(self, exc) -> InputError:
        kind = "Parquet" if self.is_parquet else "CSV"
        return InputError(f"cannot read as {kind} ({scrub(_first_line(exc))})", file=self.label)

    def _clean_columns(self, cols) -> list[str]:
        cols = [str(c).strip() for c in cols]
        dupes = sorted({c for c in cols if cols.count(c) > 1})
        if dupes:
            raise InputError(f"duplicate column(s) {dupes}", file=self.label)
        return cols

    def columns(self) -> list[str]:
        """The header, stripped; reads no data rows.

        Raises:
            InputError: missing, empty or unreadable file; duplicate column names.
        """
        if self.frame is not None:
            return self._clean_columns(self.frame.columns)
        if self._columns is not None:
            return list(self._columns)
        self._check_file()
        try:
            if self.is_parquet:
                import pyarrow.parquet as pq

                names = pq.ParquetFile(self._open()).schema_arrow.names
            else:
                # header=None keeps duplicate names as written (pandas would rename them to "x.1").
                head = pd.read_csv(self._open(), dtype=str, keep_default_na=False, header=None, nrows=1)
                names = list(head.iloc[0]) if len(head) else []
        except _READ_ERRORS as exc:
            raise self._cannot_read(exc) from None
        except Exception as exc:  # noqa: BLE001 - pyarrow's ArrowInvalid and friends
            if type(exc).__module__.startswith("pyarrow"):
                raise self._cannot_read(exc) from None
            raise
        self._columns = self._clean_columns(names)
        return list(self._columns)

    def scan(self, *, id_column: str | None = None, raise_duplicates: bool = True) -> Scan:
        """A first pass over the whole file: row count, and the decision ids checked for duplicates.

        Only the id column (or the first column) is kept in memory, so this is
        cheap even for millions of rows. A CSV with a malformed line fails here,
        before anything is written.

        Args:
            id_column: the column holding decision ids; duplicates are an error.
            raise_duplicates: ``False`` records a duplicate id in ``Scan.duplicate``
                instead (so a caller can check columns first).

        Returns:
            :class:`Scan`.

        Raises:
            InputError: unreadable file, no data rows, a duplicate decision id
                (naming the row of the second occurrence), or an id holding a control character.
        """
        if self._scan is not None:
            if raise_duplicates:
                self._scan.raise_duplicate()
            return self._scan
        columns = self.columns()
        key = id_column if id_column in columns else None
        try:
            if self.frame is not None:
                values = self.frame[key].tolist() if key else None
                rows = len(self.frame)
            elif self.is_parquet:
                import pyarrow.parquet as pq

                pf = pq.ParquetFile(self._open())
                rows = pf.metadata.num_rows
                values = pf.read(columns=[key]).column(0).to_pylist() if key else None
            else:
                # every column is parsed (a malformed line anywhere fails here), one block at a time;
                # only the ids are kept
                rows, values = 0, ([] if key else None)
                pos = columns.index(key) if key else 0
                with pd.read_csv(self._open(), dtype=str, keep_default_na=False, chunksize=50_000) as reader:
                    for block in reader:
                        rows += len(block)
                        if values is not None:
                            values.extend(block.iloc[:, pos].tolist())
        except _READ_ERRORS as exc:
            raise self._cannot_read(exc) from None
        except Exception as exc:  # noqa: BLE001 - pyarrow's ArrowInvalid and friends
            if type(exc).__module__.startswith("pyarrow"):
                raise self._cannot_read(exc) from None
            raise
        if rows == 0:
            raise InputError("data file has a header but no rows", file=self.label)
        duplicate = None
        if values is not None:
            seen: set[str] = set()
            for i, v in enumerate(values):
                s = str(v)
                try:  # an id with a control character is refused like a duplicate, before anything is written
                    check_id(s, file=self.label, row=i + 1, column=key)
                except InputError as exc:
                    duplicate = exc
                    break
                if s in seen:
                    duplicate = InputError(f"duplicate decision id {brief(repr(s), 80)}", file=self.label,
                                           row=i + 1, column=key)
                    break
                seen.add(s)
        self._scan = Scan(rows=int(rows), columns=columns, duplicate=duplicate)
        if raise_duplicates:
            self._scan.raise_duplicate()
        return self._scan

    def ids(self, id_column: str) -> list:
        """The values of one column (the decision ids), read alone: a Parquet column, or a CSV read in
        blocks keeping that column only."""
        if self.frame is not None:
            return self.frame[id_column].tolist()
        if self.is_parquet:
            import pyarrow.parquet as pq

            return pq.ParquetFile(self._open()).read(columns=[id_column]).column(0).to_pylist()
        pos = self.columns().index(id_column)
        out: list = []
        with pd.read_csv(self._open(), dtype=str, keep_default_na=False, usecols=[pos], chunksize=100_000) as r:
            for block in r:
                out.extend(block.iloc[:, 0].tolist())
        return out

    # -- data ------------------------------------------------------------------
    def chunks(self, size: int, *, start: int = 0, stop: int | None = None) -> Iterator[pd.DataFrame]:
        """Yield the rows ``start:stop`` ``size`` at a time (see :meth:`_chunks`); a Parquet file's row
        groups before ``start`` are not read, so a worker given a row range reads only about that range."""
        if stop is None:
            yield from self._chunks(size, start=start)
            return
        for part in self._chunks(size, start=start, stop=stop):
            if part.index[0] >= stop:
                return
            yield part.iloc[:max(0, stop - int(part.index[0]))] if part.index[-1] >= stop else part

    def _chunks(self, size: int, *, start: int = 0, stop: int | None = None) -> Iterator[pd.DataFrame]:
        """Yield the rows ``size`` at a time, each chunk indexed by file-global row position.

        CSV values are strings exactly as written (no NA conversion); Parquet
        and DataFrame values are Python objects (integers with nulls stay
        integers and ``None``), the same whatever the chunk boundaries.

        Args:
            size: rows per chunk (>= 1).
            start: skip the rows before this 0-based position.
            stop: a Parquet file's row groups from this position on are not read (the caller cuts the rows).
        """
        if size < 1:
            raise ValueError("chunk size must be at least 1")
        columns = self.columns()
        if self.frame is not None:
            for lo in range(start, len(self.frame), size):
                part = _as_objects(self.frame.iloc[lo:lo + size])
                part.columns = columns
                part.index = pd.RangeIndex(lo, lo + len(part))
                yield part
            return
        pos = 0
        try:
            if self.is_parquet:
                import pyarrow as pa
                import pyarrow.parquet as pq

                pf = pq.ParquetFile(self._open())
                groups = list(range(pf.metadata.num_row_groups))
                while groups and pos + pf.metadata.row_group(groups[0]).num_rows <= start:
                    pos += pf.metadata.row_group(groups.pop(0)).num_rows  # row groups before start: skipped
                if stop is not None:  # and those after stop (the reader would fetch every group it is given)
                    first, keep = pos, []
                    for g in groups:
                        if first >= stop:
                            break
                        keep.append(g)
                        first += pf.metadata.row_group(g).num_rows
                    groups = keep
                for batch in (pf.iter_batches(batch_size=size, row_groups=groups) if groups else ()):
                    n = batch.num_rows
                    if pos + n > start:
                        part = pa.Table.from_batches([batch]).to_pandas(
                            integer_object_nulls=True, date_as_object=True, ignore_metadata=True).astype(object)
                        part.columns = columns
                        part.index = pd.RangeIndex(pos, pos + n)
                        yield part.iloc[max(0, start - pos):]
                    pos += n
            else:
                reader = pd.read_csv(self._open(), dtype=str, keep_default_na=False, chunksize=size)
                with reader:
                    # the rows before ``start`` (a worker's late range) are parsed in large blocks, not in
                    # chunks of ``size``: pandas' cost per block dominates small chunks. (The parser's own
                    # ``skiprows`` would count blank lines, which are not rows.)
                    while pos < start:
                        try:
                            block = reader.get_chunk(min(_SKIP_BLOCK, start - pos))
                        except StopIteration:
                            return
                        pos += len(block)
                        if len(block) == 0:
                            return
                    for part in reader:
                        n = len(part)
                        if pos + n > start:
                            part.columns = columns
                            part.index = pd.RangeIndex(pos, pos + n)
                            yield part.iloc[max(0, start - pos):]
                        pos += n
        except (pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
            raise InputError(f"cannot read rows after row {pos} ({_first_line(exc)})", file=self.label) from None

    def fingerprint(self) -> dict:
        """Identity of the input for a resumable batch: SHA-256 of the file's bytes (or of the DataFrame)."""
        h = hashlib.sha256()
        if self.frame is not None:
            h.update(",".join(map(str, self.frame.columns)).encode())
            h.update(np.asarray(pd.util.hash_pandas_object(self.frame.astype(str), index=False)).tobytes())
            return {"name": self.label, "sha256": h.hexdigest(), "rows": int(len(self.frame))}
        if self.url is not None:
            digest, size = sha256_url(self.url)
            return {"name": self.name, "sha256": digest, "bytes": size}
        return {"name": self.path.name, "sha256": sha256_file(self.path), "bytes": self.path.stat().st_size}


__all__ = ["TableSource", "Scan", "PARQUET_SUFFIXES"]
