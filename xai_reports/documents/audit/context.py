"""What every audit section reads: parsed labels, the report date, software versions, the shared context."""

from __future__ import annotations

import hashlib
import os
import platform
from datetime import date, datetime, timezone

import numpy as np
import pandas as pd

from ..._version import __version__
from ...errors import InputError
from ...format import format_value

# ----------------------------------------------------------------------------- inputs
_POS = {"1", "1.0", "yes", "y", "true", "t"}
_NEG = {"0", "0.0", "no", "n", "false", "f"}


def parse_target(series: pd.Series, column: str, source, positive_label) -> tuple[np.ndarray, dict]:
    """0/1 labels; returns ``(y, bad_rows)`` where bad_rows maps row position -> InputError."""
    from ...io.tabular import _is_missing

    y = np.zeros(len(series), dtype=np.int64)
    bad: dict[int, InputError] = {}
    pos = None if positive_label is None else str(positive_label).strip().lower()
    distinct = {str(v).strip().lower() for v in series.tolist() if not _is_missing(v)}
    for i, v in enumerate(series.tolist()):
        if _is_missing(v):
            bad[i] = InputError("missing label", file=source, row=i + 1, column=column)
            continue
        s = str(v).strip().lower()
        if isinstance(v, (bool, np.bool_)):
            s = "true" if v else "false"
        if pos is not None:
            try:
                same = s == pos or float(s) == float(pos)
            except ValueError:
                same = s == pos
            if same:
                y[i] = 1
            elif s in _NEG or len(distinct) <= 2:
                y[i] = 0
            else:
                bad[i] = InputError(f"label {v!r} is neither the positive label {positive_label!r} nor a negative "
                                    "value (0/no/false), and the column has more than two values",
                                    file=source, row=i + 1, column=column)
            continue
        if s in _POS:
            y[i] = 1
        elif s in _NEG:
            y[i] = 0
        else:
            bad[i] = InputError(f"label {v!r} is not 0/1, yes/no or true/false (set audit.positive_label in the pack)",
                                file=source, row=i + 1, column=column)
    return y, bad


def resolve_date(report_date, raw: pd.DataFrame, pack) -> tuple[str, str]:
    """The report date and where it came from: ``report_date``, else the data's latest decision date, else the
    pack's ``audit.report_date``, else ``SOURCE_DATE_EPOCH``.

    Raises:
        InputError: none of these gives a date, or ``report_date`` is not an ISO date."""
    if report_date:
        try:
            return date.fromisoformat(str(report_date)[:10]).isoformat(), "given for this run"
        except ValueError:
            raise InputError(f"report date {report_date!r} is not an ISO date (YYYY-MM-DD)") from None
    col = pack.spec.columns.decision_date
    if col and col in raw.columns:
        ds = []
        for v in raw[col].tolist():
            try:
                ds.append(date.fromisoformat(str(v).strip()[:10]))
            except ValueError:
                continue
        if ds:
            return max(ds).isoformat(), f"latest decision date in the data (column '{col}')"
    a = pack.spec.audit
    if a is not None and a.report_date:
        return date.fromisoformat(a.report_date[:10]).isoformat(), "the pack's audit.report_date"
    sde = os.environ.get("SOURCE_DATE_EPOCH")
    if sde and sde.strip().isdigit():
        return datetime.fromtimestamp(int(sde), tz=timezone.utc).date().isoformat(), "SOURCE_DATE_EPOCH"
    raise InputError("no report date: the data has no decision-date column; pass --date YYYY-MM-DD "
                     "(report_date=) or set audit.report_date in the pack")


def sha256_frame(df: pd.DataFrame) -> str:
    """SHA-256 of a DataFrame written as CSV (the data's hash when it was given in memory)."""
    return hashlib.sha256(df.to_csv(index=False).encode("utf-8")).hexdigest()


def software_versions() -> dict:
    """Versions of the packages that shaped the numbers (read from metadata; nothing imported)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"xai_reports": __version__, "python": platform.python_version()}
    for dist in ("numpy", "pandas", "scipy", "scikit-learn", "xgboost", "matplotlib", "jinja2", "weasyprint",
                 "pydantic", "torch"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            pass
    from ...render import renderer_software

    out.update(renderer_software())
    return out


class AuditContext:
    """What every section builder needs (inputs, predictions, attributions, settings)."""

    def __init__(self, **kw):
        self.__dict__.update(kw)
        self.findings: list[dict] = []
        self.results: dict = {}
        self.figures: dict = {}
        self.reviewed: list[str] = []
        self.not_reviewed: list[str] = []

    def finding(self, severity, title, evidence, section):
        self.findings.append({"severity": severity, "title": title, "evidence": evidence, "section": section})

    def feature_label(self, f: str) -> str:
        spec = self.pack.spec.features.get(f)
        return spec.label if spec else f

    def group_label(self, attr: str, key: str) -> str:
        spec = self.pack.spec.features.get(attr)
        if spec is None or key == "(missing)" or attr in getattr(self, "bands", {}):
            return key
        return format_value(key, spec, currency=self.pack.spec.currency)
