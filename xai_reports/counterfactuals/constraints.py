"""Actionability constraints: what a counterfactual may change, and how.

Constraints come from a pack's feature declarations (``actionable``,
``direction``, ``bounds``, ``integer``, ``categories``, ``cost``,
``forbidden_transitions``; protected attributes are always immutable and so is
every feature the pack does not declare actionable), from a plain dict, or
both (the dict then tightens the pack)::

    {"immutable": [...], "increase_only": [...], "decrease_only": [...],
     "bounds": {feature: [lo, hi]}, "integer": [...],
     "categories": {feature: [allowed values]},
     "forbidden_transitions": {feature: [[from, to], ...]},
     "max_changes": n, "costs": {feature: weight}, "steps": {feature: step},
     "one_hot": {group: [indicator columns]}}

``one_hot`` (or a pack's ``counterfactuals.one_hot_groups``) declares groups of
0/1 indicator columns that encode ONE categorical feature. The search treats a
group as one categorical: a change sets exactly one other indicator to 1 and the
rest to 0 (never two at once, never none), and counts as one changed feature
(for ``max_changes``, sparsity and distance). The group's name may be used in
``immutable``, ``categories`` (allowed target columns), ``forbidden_transitions``
(``[from_column, to_column]``) and ``costs``. A group is immutable when any of its
columns is. A row whose group is not a valid one-hot (none or several set) keeps
the group as it is.

Semantics (the same ones :meth:`Constraints.violations` checks):

* a feature that is not changed never violates anything (a value that is
  already outside its bounds may stay where it is);
* a changed numeric feature must move in its allowed direction, end inside its
  declared bounds, be a whole number when ``integer``, and be one of the
  allowed values when ``categories`` lists them (ordinal features);
* a changed categorical feature must end on an allowed category, move in its
  allowed direction along the order of its categories, and not make a
  forbidden ``[from, to]`` transition;
* a changed one-hot group must end with exactly one indicator set (kind ``one_hot``);
* at most ``max_changes`` features change (a one-hot group counts as one).

``steps`` (and, for a pack, each feature's display precision) is not a
constraint but a resolution: numeric values are searched on that grid, so a
letter can print the value exactly as the model saw it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import InputError
from .encoding import TOL, Codec, changed_mask
from .rules import FeatureRule, apply_feature_spec, same_value

DICT_KEYS = ("immutable", "increase_only", "decrease_only", "bounds", "integer", "categories",
             "forbidden_transitions", "max_changes", "costs", "steps", "one_hot")
#: keys of a constraints dict that may name a one-hot group instead of a column
GROUP_KEYS = ("immutable", "categories", "forbidden_transitions", "costs")
@dataclass
class Constraints:
    """The resolved constraints for every model feature, in model order.

    Build with :meth:`Constraints.build` (from a pack and/or a dict); check any
    counterfactual with :meth:`violations`.

    Examples::

        >>> c = Constraints.build(X, constraints={"immutable": ["age"], "decrease_only": ["debt_ratio"]})
        >>> c.violations(X.iloc[:1], cf_frame)      # [] when cf_frame breaks nothing
    """

    rules: dict[str, FeatureRule]
    features: list[str]
    max_changes: int | None = None
    source: str = "defaults"
    groups: dict[str, list[str]] = field(default_factory=dict)
    group_rules: dict[str, FeatureRule] = field(default_factory=dict)

    # -- construction --------------------------------------------------------
    @classmethod
    def build(cls, X: pd.DataFrame, *, pack=None, constraints: dict | None = None,
              features: list[str] | None = None) -> "Constraints":
        """Resolve constraints for the columns of ``X``.

        Args:
            X: the rows to explain (a DataFrame; categorical columns as pandas
                categoricals), used for feature kinds and categories.
            pack: a loaded pack (or its name); its feature declarations apply.
            constraints: a dict of the keys in :data:`DICT_KEYS`; with a pack it
                may only tighten (it cannot make a feature the pack keeps fixed
                changeable).
            features: the model's features (default: the columns of ``X``).

        Returns:
            :class:`Constraints`.

        Raises:
            InputError: an unknown key or feature, a contradiction (a feature both
                increase-only and decrease-only, or a protected/non-actionable
                feature given a direction), bounds with lo > hi, unknown categories.

        Examples::

            >>> c = Constraints.build(X, pack="finance", constraints={"max_changes": 1})
            >>> c.mutable, c.rules["afam"].why
            (['pirat', 'hirat', 'lvrat'], 'protected attribute')
        """
        features = list(features if features is not None else X.columns)
        spec = None
        if pack is not None:
            from ..packs import load_pack

            pack = load_pack(pack)
            spec = pack.spec
        rules: dict[str, FeatureRule] = {}
        for f in features:
            col = X[f] if f in X.columns else None
            is_cat = col is not None and isinstance(col.dtype, pd.CategoricalDtype)
            rule = FeatureRule(name=f, kind="categorical" if is_cat else "numeric")
            if is_cat:
                rule.categories = list(col.cat.categories)
            fs = spec.features.get(f) if spec is not None else None
            if spec is not None and fs is None:
                raise InputError(f"feature '{f}' is not declared in pack '{spec.name}'", column=f)
            if fs is not None:
                apply_feature_spec(rule, fs, spec.name)
            rules[f] = rule
        max_changes = None
        source = "defaults"
        if spec is not None:
            source = f"pack {spec.name} {spec.version}"
            cf = getattr(spec, "counterfactuals", None)
            if cf is not None and cf.max_changes is not None:
                max_changes = int(cf.max_changes)
        out = cls(rules=rules, features=features, max_changes=max_changes, source=source)
        if spec is not None:
            cf = getattr(spec, "counterfactuals", None)
            for g, cols in (getattr(cf, "one_hot_groups", None) or {}).items():
                out._add_group(g, cols, f"pack {spec.name}: counterfactuals.one_hot_groups")
        if constraints:
            if isinstance(constraints, dict) and constraints.get("one_hot") is not None:
                oh = constraints["one_hot"]
                if not isinstance(oh, dict):
                    raise InputError("constraints['one_hot']: expected {group: [indicator columns]}")
                for g, cols in oh.items():
                    out._add_group(g, cols, "constraints['one_hot']")
            out._apply_dict(constraints, from_pack=spec is not None)
            out.source = source + " + constraints" if spec is not None else "constraints"
        out._finish_groups(X)
        return out

    # -- one-hot groups ----------------------------------------------------------
    def _add_group(self, name, cols, where: str):
        name = str(name)
        if name in self.groups:
            raise InputError(f"{where}: one-hot group '{name}' is declared twice")
        if name in self.rules:
            raise InputError(f"{where}: group name '{name}' is also a model feature; choose another name",
                             column=name)
        if isinstance(cols, str) or not isinstance(cols, (list, tuple)) or len(cols) < 2:
            raise InputError(f"{where}['{name}']: expected a list of at least 2 indicator columns")
        cols = [str(c) for c in cols]
        taken = {c: g for g, cs in self.groups.items() for c in cs}
        for c in cols:
            if c not in self.rules:
                raise InputError(f"{where}['{name}']: '{c}' is not a model feature", column=c)
            if self.rules[c].kind != "numeric":
                raise InputError(f"{where}['{name}']: '{c}' is categorical; a one-hot group holds 0/1 "
                                 "indicator columns", column=c)
            if c in taken:
                raise InputError(f"{where}['{name}']: '{c}' is already in group '{taken[c]}'", column=c)
        if len(set(cols)) != len(cols):
            raise InputError(f"{where}['{name}']: a column is listed twice")
        self.groups[name] = cols
        self.group_rules[name] = FeatureRule(name=name, kind="categorical", categories=list(cols))

    def _finish_groups(self, X):
        """Group mutability and cost from the member columns; members must hold 0/1 values."""
        for g, cols in self.groups.items():
            r = self.group_rules[g]
            fixed = [c for c in cols if not self.rules[c].mutable]
            if r.mutable and fixed:
                r.mutable, r.why = False, f"{fixed[0]}: {self.rules[fixed[0]].why}"
            if r.cost == 1.0:
                r.cost = float(max(self.rules[c].cost for c in cols))
            present = [c for c in cols if c in X.columns]
            if present and len(X):
                v = X[present].to_numpy(dtype=np.float64, na_value=np.nan)
                bad = ~(np.isnan(v) | (v == 0) | (v == 1))
                if bad.any():
                    i, j = np.argwhere(bad)[0]
                    raise InputError(f"one-hot group '{g}': column '{present[j]}' holds {v[i, j]!r} "
                                     f"(row {X.index[i]!r}); indicator columns hold 0 or 1", column=present[j])

    def _rule(self, name: str) -> FeatureRule:
        return self.rules[name] if name in self.rules else self.group_rules[name]

    @property
    def search_features(self) -> list[str]:
        """The features as the search sees them: each one-hot group in place of its columns (at its first)."""
        if not self.groups:
            return list(self.features)
        first = {min(cols, key=self.features.index): g for g, cols in self.groups.items()}
        member = {c for cols in self.groups.values() for c in cols}
        return [first[f] if f in first else f for f in self.features if f in first or f not in member]

    def search_index(self):
        """``(red_index, groups)``: for each search feature either a model column index (int) or a
        group (name, member column indices)."""
        key = (tuple(self.features), tuple((g, tuple(c)) for g, c in self.groups.items()))
        cached = self.__dict__.get("_sidx")
        if cached is not None and cached[0] == key:
            return cached[1]
        idx = {f: j for j, f in enumerate(self.features)}
        out = []
        for f in self.search_features:
            out.append((f, [idx[c] for c in self.groups[f]]) if f in self.groups else idx[f])
        self.__dict__["_sidx"] = (key, out)
        return out

    def reduce(self, Z: np.ndarray) -> np.ndarray:
        """Encoded model rows -> search rows: each one-hot group as the code of its set column
        (NaN when none or several are set, or a value is not 0/1)."""
        if not self.groups:
            return Z
        Z = np.asarray(Z, dtype=np.float64)
        cols = []
        for item in self.search_index():
            if isinstance(item, tuple):
                v = Z[:, item[1]]
                ok = np.all((v == 0) | (v == 1), axis=1) & (np.nansum(v, axis=1) == 1)
                cols.append(np.where(ok, np.argmax(v, axis=1), np.nan))
            else:
                cols.append(Z[:, item])
        return np.column_stack(cols) if cols else np.empty((len(Z), 0))

    def expand(self, Y: np.ndarray, Zref: np.ndarray) -> np.ndarray:
        """Search rows -> encoded model rows; a group with a NaN code keeps ``Zref``'s columns."""
        if not self.groups:
            return Y
        Z = np.array(Zref, dtype=np.float64, copy=True)
        for t, item in enumerate(self.search_index()):
            if isinstance(item, tuple):
                code = Y[:, t]
                ok = ~np.isnan(code)
                if ok.any():
                    m = np.asarray(item[1])
                    oh = (np.arange(len(m))[None, :] == code[ok][:, None]).astype(np.float64)
                    Z[np.ix_(np.flatnonzero(ok), m)] = oh
            else:
                Z[:, item] = Y[:, t]
        return Z

    def for_search(self) -> "Constraints":
        """The constraints over :attr:`search_features` (each group one categorical feature)."""
        if not self.groups:
            return self
        rules = {f: self._rule(f) for f in self.search_features}
        return Constraints(rules=rules, features=self.search_features, max_changes=self.max_changes,
                           source=self.source)

    def _apply_dict(self, d: dict, *, from_pack: bool):
        if not isinstance(d, dict):
            raise InputError(f"constraints must be a dict, got {type(d).__name__}")
        unknown = [k for k in d if k not in DICT_KEYS]
        if unknown:
            raise InputError(f"constraints: unknown key(s) {unknown}; expected some of {list(DICT_KEYS)}")

        def feats(key):
            v = d.get(key) or []
            if isinstance(v, str):
                v = [v]
            if isinstance(v, dict):
                names = list(v)
            else:
                names = list(v)
            for f in names:
                if f not in self.rules and not (key in GROUP_KEYS and f in self.group_rules):
                    raise InputError(f"constraints['{key}']: '{f}' is not a model feature "
                                     f"(features: {', '.join(self.features)})", column=f)
            return names

        def need_mutable(key, f):
            if f in self.group_rules:
                return
            r = self.rules[f]
            if not r.mutable and from_pack and r.why != "immutable (constraints)":
                raise InputError(f"constraints['{key}']: '{f}' cannot change ({r.why}); "
                                 "a constraints dict can only tighten the pack", column=f)

        for f in feats("immutable"):
            r = self._rule(f)
            if r.mutable:
                r.mutable, r.why = False, "immutable (constraints)"
        inc, dec = feats("increase_only"), feats("decrease_only")
        both = sorted(set(inc) & set(dec))
        if both:
            raise InputError(f"constraints: {both} listed as both increase_only and decrease_only", column=both[0])
        for key, names, direction in (("increase_only", inc, "increase_only"), ("decrease_only", dec, "decrease_only")):
            for f in names:
                need_mutable(key, f)
                r = self.rules[f]
                if r.direction not in ("any", direction):
                    raise InputError(f"constraints['{key}']: '{f}' is {r.direction} in the pack", column=f)
                r.direction = direction
        feats("bounds")
        for f, b in (d.get("bounds") or {}).items():
            r = self.rules[f]
            need_mutable("bounds", f)
            if r.kind == "categorical":
                raise InputError(f"constraints['bounds']: '{f}' is categorical; use 'categories'", column=f)
            try:
                lo, hi = (float(b[0]), float(b[1]))
            except (TypeError, ValueError, IndexError):
                raise InputError(f"constraints['bounds']['{f}']: expected [lo, hi], got {b!r}", column=f) from None
            if lo > hi:
                raise InputError(f"constraints['bounds']['{f}']: lower {lo} > upper {hi}", column=f)
            if r.bounds is not None:  # tighten only
                lo, hi = max(lo, r.bounds[0]), min(hi, r.bounds[1])
                if lo > hi:
                    raise InputError(f"constraints['bounds']['{f}']: [{b[0]}, {b[1]}] does not overlap the "
                                     f"pack's bounds {list(r.bounds)}", column=f)
            r.bounds = (lo, hi)
        for f in feats("integer"):
            need_mutable("integer", f)
            if self.rules[f].kind == "categorical":
                raise InputError(f"constraints['integer']: '{f}' is categorical", column=f)
            self.rules[f].integer = True
        feats("categories")
        for f, values in (d.get("categories") or {}).items():
            need_mutable("categories", f)
            r = self._rule(f)
            if not isinstance(values, (list, tuple)) or not values:
                raise InputError(f"constraints['categories']['{f}']: expected a non-empty list", column=f)
            if r.kind == "categorical":
                bad = [v for v in values if r.code_of(v) is None]
                if bad:
                    raise InputError(f"constraints['categories']['{f}']: {bad} not among the feature's "
                                     f"categories {[str(c) for c in r.categories]}", column=f)
                prev = r.allowed
                r.allowed = [c for c in r.categories if any(same_value(c, v) for v in values)
                             and (prev is None or any(same_value(c, p) for p in prev))]
            else:
                try:
                    lv = np.array(sorted(float(v) for v in values))
                except (TypeError, ValueError):
                    raise InputError(f"constraints['categories']['{f}']: numeric feature needs numeric values",
                                     column=f) from None
                r.levels = lv if r.levels is None else np.array([v for v in lv if np.any(np.isclose(r.levels, v))])
        feats("forbidden_transitions")
        for f, pairs in (d.get("forbidden_transitions") or {}).items():
            r = self._rule(f)
            try:
                for a, b in pairs:
                    if r.kind == "categorical" and (r.code_of(a) is None or r.code_of(b) is None):
                        raise InputError(f"constraints['forbidden_transitions']['{f}']: [{a!r}, {b!r}] names an "
                                         f"unknown category", column=f)
                    r.forbidden.add((a, b))
            except (TypeError, ValueError) as exc:
                if isinstance(exc, InputError):
                    raise
                raise InputError(f"constraints['forbidden_transitions']['{f}']: expected [[from, to], ...]",
                                 column=f) from None
        if d.get("max_changes") is not None:
            m = d["max_changes"]
            if not isinstance(m, (int, np.integer)) or isinstance(m, bool) or m < 1:
                raise InputError(f"constraints['max_changes']: expected a whole number >= 1, got {m!r}")
            self.max_changes = int(m) if self.max_changes is None else min(self.max_changes, int(m))
        feats("costs")
        for f, w in (d.get("costs") or {}).items():
            try:
                w = float(w)
            except (TypeError, ValueError):
                w = -1.0
            if not w > 0:
                raise InputError(f"constraints['costs']['{f}']: expected a positive number", column=f)
            self._rule(f).cost = w
        feats("steps")
        for f, s in (d.get("steps") or {}).items():
            try:
                s = float(s)
            except (TypeError, ValueError):
                s = -1.0
            if not s > 0:
                raise InputError(f"constraints['steps']['{f}']: expected a positive number", column=f)
            self.rules[f].step = s

    # -- views -----------------------------------------------------------------
    @property
    def mutable(self) -> list[str]:
        """Features a counterfactual may change."""
        return [f for f in self.features if self.rules[f].mutable]

    @property
    def immutable(self) -> list[str]:
        return [f for f in self.features if not self.rules[f].mutable]

    def describe(self) -> dict:
        """JSON-friendly summary, for records and reports."""
        out = {"source": self.source, "max_changes": self.max_changes,
               "features": {f: self.rules[f].describe() for f in self.features}}
        if self.groups:
            out["one_hot_groups"] = {g: {"columns": list(c), **self.group_rules[g].describe()}
                                     for g, c in self.groups.items()}
        return out

    # -- checking --------------------------------------------------------------
    def violation_matrix(self, Z0: np.ndarray, Z: np.ndarray) -> dict[str, np.ndarray]:
        """Vectorised check on encoded rows (see :mod:`.encoding`): ``{kind: (n, d) bool}``.

        ``Z0`` are the original rows, ``Z`` the counterfactuals (same shape).
        """
        n, d = Z.shape
        changed = changed_mask(Z0, Z)
        out = {k: np.zeros((n, d), dtype=bool) for k in
               ("immutable", "direction", "bounds", "integer", "categories", "forbidden_transitions")}
        for j, f in enumerate(self.features):
            r = self.rules[f]
            ch = changed[:, j]
            if not ch.any():
                continue
            x, c = Z0[:, j], Z[:, j]
            if not r.mutable:
                out["immutable"][:, j] = ch
                continue
            with np.errstate(invalid="ignore"):
                if r.direction == "increase_only":
                    out["direction"][:, j] = ch & ~(c > x)
                elif r.direction == "decrease_only":
                    out["direction"][:, j] = ch & ~(c < x)
            if r.kind == "numeric":
                if r.bounds is not None:
                    lo, hi = r.bounds
                    with np.errstate(invalid="ignore"):
                        out["bounds"][:, j] = ch & ~((c >= lo - TOL) & (c <= hi + TOL))
                if r.integer:
                    out["integer"][:, j] = ch & ~(np.abs(c - np.round(c)) <= 1e-9)
                if r.levels is not None:
                    near = np.min(np.abs(c[:, None] - r.levels[None, :]), axis=1) if len(r.levels) else np.inf
                    out["categories"][:, j] = ch & ~(near <= 1e-9)
                for a, b in r.forbidden:
                    try:
                        fa, fb = float(a), float(b)
                    except (TypeError, ValueError):
                        continue
                    out["forbidden_transitions"][:, j] |= ch & np.isclose(x, fa) & np.isclose(c, fb)
            else:
                codes = np.where(np.isnan(c), -1, c).astype(int)
                ok_target = r.target_mask()
                valid_code = codes >= 0
                tgt = np.zeros(n, dtype=bool)
                tgt[valid_code] = ok_target[codes[valid_code]]
                out["categories"][:, j] = ch & ~tgt
                fm = r.forbidden_matrix()
                xcodes = np.where(np.isnan(x), -1, x).astype(int)
                both = (xcodes >= 0) & (codes >= 0) & ch
                fb = np.zeros(n, dtype=bool)
                fb[both] = fm[xcodes[both], codes[both]]
                out["forbidden_transitions"][:, j] = fb
        out["one_hot"] = np.zeros((n, d), dtype=bool)
        n_changed = changed.sum(axis=1)
        for g, cols in self.groups.items():
            r = self.group_rules[g]
            m = [self.features.index(c) for c in cols]
            chm = changed[:, m]
            chg = chm.any(axis=1)
            if not chg.any():
                continue
            n_changed = n_changed - chm.sum(axis=1) + chg
            v = Z[:, m]
            ok = np.all((v == 0) | (v == 1), axis=1) & (np.nansum(v, axis=1) == 1)
            out["one_hot"][:, m] = chm & ~ok[:, None]
            if not r.mutable:
                out["immutable"][:, m] |= chm
                continue
            code = np.where(ok, np.argmax(v, axis=1), -1)
            v0 = Z0[:, m]
            ok0 = np.all((v0 == 0) | (v0 == 1), axis=1) & (np.nansum(v0, axis=1) == 1)
            code0 = np.where(ok0, np.argmax(v0, axis=1), -1)
            tmask = r.target_mask()
            bad_t = chg & ok & ~tmask[np.maximum(code, 0)]
            out["categories"][:, m] |= chm & bad_t[:, None]
            fm = r.forbidden_matrix()
            bad_f = chg & ok & ok0 & fm[np.maximum(code0, 0), np.maximum(code, 0)]
            out["forbidden_transitions"][:, m] |= chm & bad_f[:, None]
        out["max_changes"] = (n_changed > self.max_changes) if self.max_changes is not None else np.zeros(n, bool)
        return out

    def violations(self, original: pd.DataFrame, counterfactuals: pd.DataFrame) -> list[list[str]]:
        """Every constraint a set of counterfactuals breaks, one list of messages per row.

        Args:
            original: the original rows, shape ``(n, d)``.
            counterfactuals: the counterfactual rows, aligned by position with ``original``.

        Returns:
            ``n`` lists of messages like ``"pirat: direction"``; empty lists when nothing is broken.

        Examples::

            >>> sum(map(len, c.violations(X.loc[cfs.row], cfs[c.features])))
            0
        """
        codec = Codec(original, self.features)
        Z0 = codec.encode(original)
        Z = codec.encode(counterfactuals)
        m = self.violation_matrix(Z0, Z)
        msgs: list[list[str]] = [[] for _ in range(len(Z))]
        for kind, mat in m.items():
            if kind == "max_changes":
                for i in np.flatnonzero(mat):
                    msgs[i].append(f"more than {self.max_changes} features changed")
                continue
            for i, j in zip(*np.nonzero(mat)):
                msgs[i].append(f"{self.features[j]}: {kind}")
        return msgs
