"""The constraints on one feature (:class:`FeatureRule`) and how a pack's feature declaration sets them.

:class:`~.constraints.Constraints` holds one rule per model feature (and one per
one-hot group); see :mod:`.constraints` for the semantics.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class FeatureRule:
    """The constraints on one feature.

    Attributes:
        name: the column.
        kind: ``"numeric"`` (floats; ordinal levels included) or ``"categorical"``
            (a pandas categorical column; values handled as codes into ``categories``).
        mutable: whether a counterfactual may change it at all.
        why: why it is immutable (``"protected"``, ``"not actionable in pack 'x'"``,
            ``"immutable (constraints)"``), for the status and the record.
        direction: ``"any"``, ``"increase_only"`` or ``"decrease_only"`` (categorical:
            along the order of ``categories``).
        bounds: declared ``(lo, hi)`` for numeric features, or ``None``.
        integer: changed values must be whole numbers.
        levels: the allowed numeric values (ordinal features), sorted, or ``None``.
        step: search resolution for numeric values (a grid), or ``None``.
        categories: every category of a categorical feature (the model's order).
        allowed: the categories a change may end on (default: all).
        forbidden: ``(from, to)`` transitions that may not happen.
        cost: weight of a change of this feature in the distance the search minimises.
    """

    name: str
    kind: str = "numeric"
    mutable: bool = True
    why: str | None = None
    direction: str = "any"
    bounds: tuple[float, float] | None = None
    integer: bool = False
    levels: np.ndarray | None = None
    step: float | None = None
    categories: list | None = None
    allowed: list | None = None
    forbidden: set = field(default_factory=set)
    cost: float = 1.0

    def describe(self) -> dict:
        """A JSON-friendly summary (for records and reports)."""
        d: dict = {"mutable": self.mutable}
        if not self.mutable:
            d["why"] = self.why
            return d
        if self.direction != "any":
            d["direction"] = self.direction
        if self.bounds is not None:
            d["bounds"] = [float(self.bounds[0]), float(self.bounds[1])]
        if self.integer:
            d["integer"] = True
        if self.levels is not None:
            d["levels"] = [float(v) for v in self.levels]
        if self.kind == "categorical" and self.allowed is not None and list(self.allowed) != list(self.categories):
            d["allowed"] = [plain_value(v) for v in self.allowed]
        if self.forbidden:
            d["forbidden_transitions"] = sorted([[plain_value(a), plain_value(b)] for a, b in self.forbidden], key=str)
        if self.cost != 1.0:
            d["cost"] = float(self.cost)
        return d

    # -- categorical helpers ----------------------------------------------------
    def code_of(self, value) -> int | None:
        """The code of a category value (``"1"`` matches ``1``), or ``None``."""
        for i, c in enumerate(self.categories or []):
            if same_value(c, value):
                return i
        return None

    def target_mask(self) -> np.ndarray:
        """``(C,)`` bool: categories a change may end on."""
        cats = self.categories or []
        if self.allowed is None:
            return np.ones(len(cats), dtype=bool)
        return np.array([any(same_value(c, a) for a in self.allowed) for c in cats], dtype=bool)

    def forbidden_matrix(self) -> np.ndarray:
        """``(C, C)`` bool: ``[from_code, to_code]`` is a forbidden transition."""
        cats = self.categories or []
        m = np.zeros((len(cats), len(cats)), dtype=bool)
        for a, b in self.forbidden:
            ia, ib = self.code_of(a), self.code_of(b)
            if ia is not None and ib is not None:
                m[ia, ib] = True
        return m


def same_value(a, b) -> bool:
    """Whether two category values are the same (``"1"`` matches ``1``; ``None`` only matches ``None``)."""
    if a is None or b is None:
        return a is b
    if str(a) == str(b):
        return True
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return False


def plain_value(v):
    """A numpy scalar as the plain Python value (for JSON)."""
    if isinstance(v, np.generic):
        return v.item()
    return v


def apply_feature_spec(rule: FeatureRule, fs, pack_name: str):
    """Copy a pack ``FeatureSpec`` into ``rule``."""
    if fs.protected:
        rule.mutable, rule.why = False, "protected attribute"
    elif not fs.actionable:
        rule.mutable, rule.why = False, f"not actionable in pack '{pack_name}'"
    rule.direction = fs.direction
    rule.cost = float(fs.cost)
    rule.forbidden = {(a, b) for a, b in fs.forbidden_transitions}
    if rule.kind == "numeric":
        if fs.bounds is not None:
            rule.bounds = (float(fs.bounds[0]), float(fs.bounds[1]))
        rule.integer = bool(fs.integer)
        if fs.type == "ordinal" and fs.categories:
            try:
                rule.levels = np.array(sorted(float(c) for c in fs.categories))
            except (TypeError, ValueError):
                pass
        # search on the precision the documents print values with
        if fs.type == "numeric" and rule.levels is None:
            if fs.format == "percent":
                rule.step = 10.0 ** -(fs.decimals + 2)
            elif fs.format in ("number", "currency"):
                rule.step = 10.0 ** -fs.decimals
            elif fs.format == "integer":
                rule.step = 1.0
    else:
        if rule.categories is None and fs.categories:
            rule.categories = list(fs.categories)
