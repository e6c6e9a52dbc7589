"""Reading decision data and checking it against a pack, row by row.

File-level problems (missing file, empty file, a missing or undeclared column)
raise :class:`~xai_reports.errors.InputError` before anything is written.
Row-level problems (NaN where not allowed, wrong type, unknown category) are
returned as a list of errors, one per bad row, so a batch can go on with the
good rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import CONTROL_CHARS, InputError, brief

MISSING_TOKENS = {"", "na", "nan", "null", "none", "n/a"}   # the default of a pack's ``missing_values``


def read_table(path, *, columns=None) -> pd.DataFrame:
    """Read a CSV or Parquet file, keeping every value as received (CSV: strings).

    Raises:
        InputError: the file is missing, empty, or not readable as a table.
    """
    from .storage import basename, is_remote, local_path, open_input, scrub

    source = None
    if is_remote(path):  # object storage (s3://...): read through fsspec
        source, size = open_input(path)
        path = scrub(path)
        suffix = "." + basename(path).rsplit(".", 1)[-1].lower() if "." in basename(path) else ""
        if size == 0:
            raise InputError("data file is empty", file=path)
    else:
        path = local_path(path)
        if not path.is_file():
            raise InputError("data file not found", file=path)
        if path.stat().st_size == 0:
            raise InputError("data file is empty", file=path)
        suffix = path.suffix.lower()
        source = path
    try:
        if suffix in (".parquet", ".pq"):
            df = pd.read_parquet(source, columns=columns)
        else:
            df = pd.read_csv(source, dtype=str, keep_default_na=False, usecols=columns)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"cannot read as {'Parquet' if suffix in ('.parquet', '.pq') else 'CSV'} ({first})", file=path) from None
    if df.shape[0] == 0:
        raise InputError("data file has a header but no rows", file=path)
    df.columns = [str(c).strip() for c in df.columns]
    dupes = sorted({c for c in df.columns if list(df.columns).count(c) > 1})
    if dupes:
        raise InputError(f"duplicate column(s) {dupes}", file=path)
    return df


@dataclass
class CheckedFrame:
    """The result of :func:`check_frame`.

    Attributes:
        X: typed model inputs of the valid rows (numeric as float, categorical as
            ``pd.Categorical`` with the pack's categories), indexed like the input.
        raw: the valid rows exactly as received.
        errors: one :class:`InputError` per bad row.
        ids: decision ids of the valid rows.
    """

    X: pd.DataFrame
    raw: pd.DataFrame
    errors: list[InputError] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)


def _q(v) -> str:
    """A received value quoted for an error message: repr, control characters escaped, bounded."""
    return brief(repr(v), 80)


def check_id(value, *, file=None, row=None, column=None) -> None:
    """Refuse a decision id holding control characters (NUL, line breaks, C0/C1, DEL, U+2028/9).

    Ids name files, appear in documents, records and logs; one with a line break
    or a NUL is a damaged input, not something to print. (Free text, such as a
    name or an address, is cleaned where it is rendered instead: see
    :mod:`xai_reports.render.env`.)

    Raises:
        InputError: naming file, row and id column.
    """
    s = str(value)
    m = CONTROL_CHARS.search(s)
    if m:
        raise InputError(f"decision id {_q(s)} contains a control character ({brief(m.group())}); ids must be "
                         f"printable text", file=file, row=row, column=column)


def check_model_types(adapter, pack, features, *, model_file=None) -> None:
    """Refuse a model that takes a feature as categorical where the pack declares it numeric, or the reverse.

    The data are typed by the pack (categorical and binary features as
    categories, numeric and ordinal ones as numbers); a model trained on the
    other encoding would fail inside the library (XGBoost: "The data type
    doesn't match the one used in the training dataset") or, worse, score
    category codes as numbers. Models that do not record their feature types
    are not checked.

    Raises:
        InputError: naming the model file and the column.
    """
    kinds = adapter.feature_kinds() if hasattr(adapter, "feature_kinds") else None
    if not kinds:
        return
    spec = pack.spec if hasattr(pack, "spec") else pack
    for f in features:
        model_kind = kinds.get(f)
        if model_kind is None or f not in spec.features:
            continue
        declared = spec.features[f].type
        data_kind = "categorical" if declared in ("categorical", "binary") else "numeric"
        if model_kind != data_kind:
            got = "categories" if data_kind == "categorical" else "numbers"
            raise InputError(
                f"the model takes this feature as {model_kind}, but pack '{spec.name}' declares it {declared}, so the "
                f"data give it {got}; retrain the model on the pack's encoding or fix the feature's type in the pack",
                file=model_file, column=f)


def _is_missing(v, tokens=MISSING_TOKENS) -> bool:
    if v is None:
        return True
    if isinstance(v, float) and np.isnan(v):
        return True
    return isinstance(v, str) and v.strip().lower() in tokens


def missing_tokens(spec, feature: str | None = None) -> frozenset:
    """Tokens read as missing in ``feature`` (its ``missing_values``, else the pack's), lower-case.

    A token that is also one of the feature's declared categories is never read
    as missing: the declared category wins (``none`` may be a savings level).
    """
    spec = spec.spec if hasattr(spec, "spec") else spec
    fs = spec.features.get(feature) if feature is not None else None
    tokens = fs.missing_values if fs is not None and fs.missing_values is not None else spec.missing_values
    out = {str(t).strip().lower() for t in tokens}
    if fs is not None and fs.categories:
        out -= {str(c).strip().lower() for c in fs.categories}
    return frozenset(out)


def _norm_category(v, categories):
    """Match a received value to a declared category (``"1"`` matches ``1``)."""
    s = str(v).strip()
    for c in categories:
        if s == str(c):
            return c
        if isinstance(c, (int, float)) and not isinstance(c, bool):
            try:
                if float(s) == float(c):
                    return c
            except ValueError:
                pass
    return None


def check_frame(df: pd.DataFrame, pack, features: list[str], *, source=None,
                id_column: str | None = None, allowed_extra=(), row_offset: int = 0) -> CheckedFrame:
    """Check ``df`` against ``pack`` for the model ``features``.

    Args:
        df: the table as read by :func:`read_table` (or any DataFrame).
        pack: a loaded pack.
        features: the columns the model uses, in model order.
        source: file name used in error messages.
        id_column: the column holding decision ids (default: the pack's ``columns.id``).
        allowed_extra: other column names allowed in the input.
        row_offset: rows of the file before ``df`` (when ``df`` is one chunk of a
            larger file), so error row numbers and default ids stay file-global.

    Raises:
        InputError: a model feature is missing, or a column is neither a pack
            feature nor a declared extra column.
    """
    spec = pack.spec if hasattr(pack, "spec") else pack
    cols = spec.columns
    id_column = id_column or cols.id
    known = set(spec.features) | {c for c in (cols.id, cols.name, cols.address, cols.decision_date, cols.language) if c}
    known |= set(cols.extra) | set(allowed_extra) | ({id_column} if id_column else set())
    letter = spec.section("letter")
    if letter is not None and letter.credit_score.used:
        cs = letter.credit_score
        known |= {c for c in (cs.column, cs.date_column, cs.key_factors_column) if c}

    missing = [f for f in features if f not in df.columns]
    if missing:
        raise InputError(f"missing column(s) {', '.join(repr(m) for m in missing)} that the model uses",
                         file=source, column=missing[0])
    extra = [c for c in df.columns if c not in known]
    if extra:
        raise InputError(
            f"column(s) {', '.join(repr(e) for e in extra)} not declared in pack '{spec.name}' "
            "(declare them under 'features' or 'columns.extra', or drop them)",
            file=source, column=extra[0])
    if id_column and id_column in df.columns:
        ids = [str(v) for v in df[id_column]]
        seen, dup = set(), None
        for i, v in enumerate(ids):
            check_id(v, file=source, row=row_offset + i + 1, column=id_column)
            if v in seen:
                dup = (i, v)
                break
            seen.add(v)
        if dup:
            raise InputError(f"duplicate decision id {_q(dup[1])}", file=source, row=row_offset + dup[0] + 1,
                             column=id_column)
    else:
        ids = [f"row-{row_offset + i + 1}" for i in range(len(df))]

    n = len(df)
    bad: dict[int, InputError] = {}
    typed: dict[str, object] = {}
    for f in features:
        fs = spec.features[f]
        col = df[f].tolist()
        tokens = missing_tokens(spec, f)
        if fs.type in ("categorical", "binary"):
            vals = []
            for i, v in enumerate(col):
                c = _norm_category(v, fs.categories) if v is not None and not (isinstance(v, float) and np.isnan(v)) else None
                if c is not None:       # a declared category is never read as missing
                    vals.append(c)
                    continue
                if _is_missing(v, tokens):
                    if not fs.allow_missing and i not in bad:
                        bad[i] = InputError("missing value (the pack does not allow it)", file=source, row=row_offset + i + 1, column=f, record_id=ids[i])
                    vals.append(np.nan)
                    continue
                if i not in bad:
                    bad[i] = InputError(
                        f"unknown category {_q(v)}; expected one of {[str(c) for c in fs.categories]}",
                        file=source, row=row_offset + i + 1, column=f, record_id=ids[i])
                vals.append(np.nan)
            typed[f] = pd.Categorical(vals, categories=list(fs.categories))
        else:
            vals = np.empty(n, dtype=np.float64)
            for i, v in enumerate(col):
                if _is_missing(v, tokens):
                    vals[i] = np.nan
                    if not fs.allow_missing and i not in bad:
                        bad[i] = InputError("missing value (the pack does not allow it)", file=source, row=row_offset + i + 1, column=f, record_id=ids[i])
                    continue
                try:
                    x = float(v) if not isinstance(v, (bool, np.bool_)) else None
                    if x is None:
                        raise ValueError
                except (TypeError, ValueError):
                    vals[i] = np.nan
                    if i not in bad:
                        bad[i] = InputError(f"expected a number, got {_q(v)}", file=source, row=row_offset + i + 1, column=f, record_id=ids[i])
                    continue
                if not np.isfinite(x) and i not in bad:
                    bad[i] = InputError(f"expected a finite number, got {_q(v)}", file=source, row=row_offset + i + 1, column=f, record_id=ids[i])
                elif fs.type == "ordinal" and fs.categories and _norm_category(v, fs.categories) is None and i not in bad:
                    bad[i] = InputError(
                        f"unknown level {_q(v)}; expected one of {[str(c) for c in fs.categories]}",
                        file=source, row=row_offset + i + 1, column=f, record_id=ids[i])
                vals[i] = x
            typed[f] = vals
    X = pd.DataFrame(typed, index=df.index)[features]
    ok = np.array([i not in bad for i in range(n)], dtype=bool)
    errors = [bad[i] for i in sorted(bad)]
    return CheckedFrame(X=X[ok], raw=df[ok], errors=errors, ids=[ids[i] for i in range(n) if ok[i]])


def encode_like_pack(df: pd.DataFrame, pack, features: list[str]) -> pd.DataFrame:
    """Typed model inputs from an in-memory DataFrame; raises on the first bad row."""
    checked = check_frame(df.astype(object), pack, features, allowed_extra=[c for c in df.columns if c not in features])
    if checked.errors:
        raise checked.errors[0]
    return checked.X
