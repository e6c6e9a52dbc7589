"""Points-table scorecards from YAML or CSV: a :class:`Scorecard` and its :class:`ScorecardAdapter`.

A scorecard is a table of rows ``(feature, bin, points)``: the shape of
optbinning's ``Scorecard.table()`` (columns ``Variable``, ``Bin``, ``Points``)
and of a lender's scorecard document. An applicant's score is the sum, over
the characteristics, of the points of the bin their value falls in.

Bins:

* numeric intervals ``[a, b)``, ``(a, b]``, ``[a, b]``, ``(a, b)`` with ``-inf``/``inf``;
  the intervals of one feature must not overlap;
* a category (``own``), or a list of categories ``[rent, free]``
  (a feature whose every bin reads as an interval is numeric, otherwise categorical);
* ``Missing`` (the value is missing); ``Special`` rows are ignored (optbinning's
  special codes have no value here).

YAML::

    name: Retail card scorecard (synthetic)
    scaling: {base_score: 600, base_odds: 50, pdo: 20}   # score -> log-odds of good
    points:
      - {feature: months_employed, bin: "[-inf, 12)", points: 10}
      - {feature: housing, bin: own, points: 35}

CSV: a header with ``feature``, ``bin`` and ``points`` columns (optbinning's
``Variable``, ``Bin``, ``Points`` are read too), optionally preceded by
``# key: value`` lines (``# scaling: {base_score: 600, base_odds: 50, pdo: 20}``).

With ``scaling`` the adapter is a classifier: its margin is the log-odds of
a *good* outcome, ``(score - offset) / factor`` with ``factor = pdo / ln 2`` and
``offset = base_score - factor ln(base_odds)`` (so the pack says
``positive_class: approve``). Without it the adapter outputs the score (``value``).

Reasons (``method: scorecard``, :mod:`xai_reports.attribution.scorecard`): the
points-below-reference method of Reg B comment 9(b)(2)-5: a characteristic's
strength is the points it could have earned at most minus the points earned,
or, with a reference population, the points the reference averaged minus the
points earned.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError, ModelLoadError
from .base import ModelAdapter

_NUM = r"\s*([+-]?(?:inf(?:inity)?|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?))\s*"
_INTERVAL = re.compile(r"^\s*([\[\(])" + _NUM + "," + _NUM + r"([\]\)])\s*$", re.IGNORECASE)
_ALIASES = {"feature": ("feature", "variable", "characteristic", "attribute_name"),
            "bin": ("bin", "category", "attribute", "range"),
            "points": ("points", "score", "point")}


@dataclass
class Bin:
    """One row of the table: an interval, a set of categories, or the missing-value bin."""

    points: float
    lo: float = -math.inf
    hi: float = math.inf
    lo_closed: bool = True
    hi_closed: bool = False
    categories: tuple = ()
    missing: bool = False
    label: str = ""
    row: int = 0

    def contains(self, v) -> bool:
        if self.missing:
            return v is None or (isinstance(v, float) and math.isnan(v))
        if self.categories:
            return str(v) in self.categories
        x = float(v)
        above = x >= self.lo if self.lo_closed else x > self.lo
        below = x <= self.hi if self.hi_closed else x < self.hi
        return above and below


@dataclass
class Scorecard:
    """A parsed points table (see the module docstring).

    Attributes:
        features: characteristic names, in table order.
        bins: per feature, its bins.
        kinds: per feature, ``"numeric"`` or ``"categorical"``.
        scaling: ``{"base_score", "base_odds", "pdo"}`` or ``None``.
        intercept: points every applicant gets (optional ``intercept`` key).
        source: the file it came from.
    """

    features: list
    bins: dict
    kinds: dict
    scaling: dict | None = None
    intercept: float = 0.0
    name: str = ""
    source: str = ""
    raw: bytes = field(default=b"", repr=False)

    def max_points(self) -> np.ndarray:
        """The most points each characteristic can earn, in feature order."""
        return np.array([max(b.points for b in self.bins[f]) for f in self.features], dtype=np.float64)

    def points(self, X) -> np.ndarray:
        """``(n, d)`` points earned per characteristic.

        Raises:
            InputError: a value that falls in no bin (naming the feature and row).
        """
        if not isinstance(X, pd.DataFrame):
            arr = np.asarray(X, dtype=object)
            X = pd.DataFrame(arr[None, :] if arr.ndim == 1 else arr, columns=self.features)
        missing = [f for f in self.features if f not in X.columns]
        if missing:
            raise InputError(f"the scorecard reads column(s) {missing} that the data lacks")
        out = np.empty((len(X), len(self.features)), dtype=np.float64)
        for j, f in enumerate(self.features):
            bins = self.bins[f]
            col = X[f]
            vals = col.astype(object).to_numpy() if isinstance(col.dtype, pd.CategoricalDtype) else col.to_numpy()
            if self.kinds[f] == "numeric":
                x = pd.to_numeric(pd.Series(vals), errors="coerce").to_numpy(dtype=np.float64)
                res = np.full(len(x), np.nan)
                nan = np.isnan(x)
                for b in bins:
                    if b.missing:
                        res[nan] = b.points
                        continue
                    lo = x >= b.lo if b.lo_closed else x > b.lo
                    hi = x <= b.hi if b.hi_closed else x < b.hi
                    res[np.isnan(res) & lo & hi & ~nan] = b.points
            else:
                res = np.full(len(vals), np.nan)
                for i, v in enumerate(vals):
                    is_nan = v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))
                    key = None if is_nan else _text(v)
                    for b in bins:
                        if (b.missing and is_nan) or (not b.missing and key in b.categories):
                            res[i] = b.points
                            break
            bad = np.flatnonzero(np.isnan(res))
            if bad.size:
                v = vals[bad[0]]
                raise InputError(f"value {v!r} falls in no bin of the scorecard's characteristic {f!r}",
                                 row=int(bad[0]) + 1, column=f, file=self.source or None)
            out[:, j] = res
        return out

    def score(self, X) -> np.ndarray:
        return self.points(X).sum(axis=1) + self.intercept

    @property
    def factor(self) -> float | None:
        return None if not self.scaling else float(self.scaling["pdo"]) / math.log(2.0)

    @property
    def offset(self) -> float | None:
        if not self.scaling:
            return None
        return float(self.scaling["base_score"]) - self.factor * math.log(float(self.scaling["base_odds"]))


def _text(v) -> str:
    """A category value as the table writes it (``1.0`` -> ``"1"``)."""
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v).strip()


def looks_like_scorecard(head: bytes) -> bool:
    """A text head that reads as a points table (a CSV header or a YAML ``points:`` key)."""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    lines = [ln.strip().lower() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        return False
    cols = [c.strip().strip('"') for c in lines[0].split(",")]
    if any(c in _ALIASES["feature"] for c in cols) and any(c in _ALIASES["points"] for c in cols):
        return True
    return any(ln.startswith("points:") for ln in lines)


def read_scorecard(path) -> Scorecard:
    """Read a scorecard YAML or CSV file.

    Raises:
        ModelLoadError: one line naming the file, the row and the field of the first bad row.
    """
    path = Path(path)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ModelLoadError(f"{path}: a scorecard must be UTF-8 text") from None
    meta: dict = {}
    if path.suffix.lower() == ".csv" or (not text.lstrip().startswith(("points:", "name:", "scaling:", "{"))
                                          and looks_like_scorecard(data[:4096]) and "," in text.split("\n")[0]):
        rows, meta = _csv_rows(path, text)
    else:
        rows, meta = _yaml_rows(path, text)
    return _build(path, rows, meta, data)


def _yaml_rows(path, text):
    import yaml

    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise ModelLoadError(f"{path}: {where}not valid YAML ({getattr(exc, 'problem', None) or 'syntax error'})") from None
    if isinstance(doc, list):
        doc = {"points": doc}
    if not isinstance(doc, dict) or not isinstance(doc.get("points"), list):
        raise ModelLoadError(f"{path}: a scorecard YAML needs a 'points' list of rows (feature, bin, points)")
    unknown = sorted(set(doc) - {"points", "name", "scaling", "intercept", "description"})
    if unknown:
        raise ModelLoadError(f"{path}: unknown key(s) {unknown}; expected points, name, scaling, intercept, description")
    rows = []
    for i, r in enumerate(doc["points"], start=1):
        if not isinstance(r, dict):
            raise ModelLoadError(f"{path}: row {i}: expected a mapping with feature, bin and points")
        rows.append((i, {str(k).lower(): v for k, v in r.items()}))
    return rows, {k: v for k, v in doc.items() if k != "points"}


def _csv_rows(path, text):
    import yaml

    lines = text.splitlines()
    meta_lines = []
    while lines and (lines[0].lstrip().startswith("#") or not lines[0].strip()):
        meta_lines.append(lines.pop(0).lstrip().lstrip("#"))
    meta = {}
    if any(m.strip() for m in meta_lines):
        try:
            meta = yaml.safe_load("\n".join(m[1:] if m.startswith(" ") else m for m in meta_lines)) or {}
        except yaml.YAMLError:
            raise ModelLoadError(f"{path}: the '# key: value' lines before the header are not valid YAML") from None
        if not isinstance(meta, dict):
            raise ModelLoadError(f"{path}: the '# key: value' lines before the header must be key: value pairs")
    reader = csv.DictReader(io.StringIO("\n".join(lines)))
    rows = [(i, {str(k).strip().lower(): v for k, v in r.items() if k is not None})
            for i, r in enumerate(reader, start=1)]
    return rows, meta


def _field(row: dict, name: str):
    for k in _ALIASES[name]:
        if k in row and row[k] not in (None, ""):
            return row[k]
    return None


def _parse_bin(path, i, text):
    """``(kind, Bin kwargs)``: ``"interval"``, ``"missing"``, ``"special"``, ``"category"``."""
    if isinstance(text, dict):      # YAML mapping form: {min: a, max: b} / {categories: [...]} / {missing: true}
        if text.get("missing"):
            return "missing", {}
        if "categories" in text:
            return "category", {"categories": tuple(str(c) for c in text["categories"])}
        try:
            lo = float(text.get("min", -math.inf))
            hi = float(text.get("max", math.inf))
        except (TypeError, ValueError):
            raise ModelLoadError(f"{path}: row {i}, field 'bin': min/max must be numbers") from None
        return "interval", {"lo": lo, "hi": hi, "lo_closed": True, "hi_closed": False}
    if isinstance(text, (list, tuple)):
        return "category", {"categories": tuple(str(c) for c in text)}
    s = str(text).strip()
    if s.lower() == "missing":
        return "missing", {}
    if s.lower() == "special":
        return "special", {}
    m = _INTERVAL.match(s)
    if m:
        lo, hi = float(m.group(2)), float(m.group(3))
        if lo > hi or (lo == hi and not (m.group(1) == "[" and m.group(4) == "]")):
            raise ModelLoadError(f"{path}: row {i}, field 'bin': empty interval {s!r}")
        return "interval", {"lo": lo, "hi": hi, "lo_closed": m.group(1) == "[", "hi_closed": m.group(4) == "]"}
    if s.startswith("[") and s.endswith("]"):
        inner = [c.strip().strip("'\"") for c in s[1:-1].split(",")]
        inner = [c for c in inner if c]
        if not inner:
            raise ModelLoadError(f"{path}: row {i}, field 'bin': an empty list of categories")
        if any(re.fullmatch(_NUM, c) for c in inner) and len(inner) == 2 and all(re.fullmatch(_NUM, c) for c in inner):
            raise ModelLoadError(f"{path}: row {i}, field 'bin': {s!r} reads as an interval; write it as [a, b) or (a, b]")
        return "category", {"categories": tuple(inner)}
    if s[:1] in "[(" or s[-1:] in "])":
        raise ModelLoadError(f"{path}: row {i}, field 'bin': cannot read {s!r} as an interval such as [0, 1000)")
    if not s:
        raise ModelLoadError(f"{path}: row {i}, field 'bin': empty")
    return "category", {"categories": (s,)}


def _build(path, rows, meta, raw) -> Scorecard:
    if not rows:
        raise ModelLoadError(f"{path}: the scorecard has no rows")
    feats: list = []
    parsed: dict = {}
    for i, r in rows:
        f = _field(r, "feature")
        if f is None:
            raise ModelLoadError(f"{path}: row {i}, field 'feature': missing")
        f = str(f).strip()
        b = _field(r, "bin")
        if b is None:
            raise ModelLoadError(f"{path}: row {i}, field 'bin': missing")
        p = _field(r, "points")
        try:
            pts = float(p)
            if not math.isfinite(pts):
                raise ValueError
        except (TypeError, ValueError):
            raise ModelLoadError(f"{path}: row {i}, field 'points': expected a number, got {p!r}") from None
        kind, kw = _parse_bin(path, i, b)
        if kind == "special":
            continue
        if f not in parsed:
            feats.append(f)
            parsed[f] = []
        parsed[f].append((i, kind, kw, pts, str(b)))
    bins, kinds = {}, {}
    for f in feats:
        entries = parsed[f]
        numeric = all(k in ("interval", "missing") for _, k, _, _, _ in entries) and \
            any(k == "interval" for _, k, _, _, _ in entries)
        out = []
        for i, kind, kw, pts, label in entries:
            if kind == "interval" and not numeric:
                kw = {"categories": (label.strip(),)}
            if kind == "missing":
                if any(b.missing for b in out):
                    raise ModelLoadError(f"{path}: row {i}, field 'bin': a second Missing bin for {f!r}")
                out.append(Bin(points=pts, missing=True, label=label, row=i))
            else:
                out.append(Bin(points=pts, label=label, row=i, **{k: v for k, v in kw.items()}))
        if numeric:
            ivs = sorted((b for b in out if not b.missing), key=lambda b: (b.lo, not b.lo_closed))
            for a, b in zip(ivs, ivs[1:]):
                if a.hi > b.lo or (a.hi == b.lo and a.hi_closed and b.lo_closed):
                    raise ModelLoadError(f"{path}: row {b.row}, field 'bin': {b.label!r} overlaps {a.label!r} "
                                         f"(row {a.row}) for {f!r}")
        else:
            seen = {}
            for b in out:
                for c in b.categories:
                    if c in seen:
                        raise ModelLoadError(f"{path}: row {b.row}, field 'bin': category {c!r} of {f!r} is also "
                                             f"in row {seen[c]}")
                    seen[c] = b.row
        bins[f] = out
        kinds[f] = "numeric" if numeric else "categorical"
    scaling = meta.get("scaling")
    if scaling is not None:
        if not isinstance(scaling, dict) or set(scaling) != {"base_score", "base_odds", "pdo"}:
            raise ModelLoadError(f"{path}: 'scaling' needs exactly base_score, base_odds and pdo")
        try:
            scaling = {k: float(v) for k, v in scaling.items()}
        except (TypeError, ValueError):
            raise ModelLoadError(f"{path}: 'scaling' values must be numbers") from None
        if scaling["pdo"] == 0 or scaling["base_odds"] <= 0:
            raise ModelLoadError(f"{path}: 'scaling' needs pdo != 0 and base_odds > 0")
    try:
        intercept = float(meta.get("intercept", 0.0) or 0.0)
    except (TypeError, ValueError):
        raise ModelLoadError(f"{path}: 'intercept' must be a number") from None
    return Scorecard(features=feats, bins=bins, kinds=kinds, scaling=scaling, intercept=intercept,
                     name=str(meta.get("name", "") or path.stem), source=str(path), raw=raw)


class ScorecardAdapter(ModelAdapter):
    """Adapter for a :class:`Scorecard`.

    ``output_space`` is ``"margin"`` (log-odds of a good outcome; a classifier)
    when the scorecard has ``scaling``, else ``"value"`` (the score).
    """

    family = "scorecard"

    def __init__(self, card: Scorecard, *, feature_names=None):
        super().__init__(card, feature_names=feature_names if feature_names is not None else card.features)
        if sorted(self.feature_names) != sorted(card.features):
            raise ModelLoadError(f"feature names {self.feature_names} do not match the scorecard's {card.features}")
        self.card = card
        self.is_classifier = card.scaling is not None
        self.output_space = "margin" if self.is_classifier else "value"

    def _frame(self, X):
        if isinstance(X, pd.DataFrame):
            return X
        arr = np.asarray(X, dtype=object)
        return pd.DataFrame(arr[None, :] if arr.ndim == 1 else arr, columns=self.feature_names)

    def points(self, X) -> np.ndarray:
        """``(n, d)`` points per characteristic, in ``feature_names`` order."""
        pts = self.card.points(self._frame(X))
        order = [self.card.features.index(f) for f in self.feature_names]
        return pts[:, order]

    def _raw_predict(self, X):
        score = self.points(X).sum(axis=1) + self.card.intercept
        if self.is_classifier:
            return (score - self.card.offset) / self.card.factor
        return score

    def model_bytes(self) -> bytes:
        return self.card.raw

    def describe(self) -> dict:
        d = super().describe()
        d["class"] = "Scorecard"
        d["scorecard"] = {"name": self.card.name, "characteristics": len(self.card.features),
                          "scaling": self.card.scaling,
                          "max_points": dict(zip(self.card.features, map(float, self.card.max_points())))}
        return d


__all__ = ["Scorecard", "ScorecardAdapter", "read_scorecard", "looks_like_scorecard", "Bin"]
