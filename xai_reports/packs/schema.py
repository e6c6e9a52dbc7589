"""The schema of a domain pack (``domains/<name>/pack.yaml``).

Validation is strict: unknown keys are errors, and so are references to
reasons, features or templates that do not exist. ``domain`` is a free sector
name and ``kinds`` lists the document kinds the pack writes; each kind owns one
optional section, validated by the schema the kind registered
(:mod:`xai_reports.documents.base`): ``letter:``, ``audit:``, ``case_review:``,
``incident:``. The older section names ``finance:``, ``healthcare:`` and
``autonomous_driving:`` still load, with a ``DeprecationWarning``.
"""

from __future__ import annotations

import warnings
from typing import Literal, Optional

from pydantic import Field, create_model, field_validator, model_validator

from ..documents.base import get_kind, kind_for_section, registered_kinds, registry_version
from ..errors import PackError
from .fields import FeatureSpec, KeyedError, Reference, Strict, check_fields

# The document kinds of packs written before ``kinds:`` existed, by their domain.
LEGACY_KINDS: dict[str, tuple[str, ...]] = {"finance": ("letter", "audit"), "healthcare": ("case_review", "audit"),
                                            "autonomous_driving": ("incident",)}


def _section_kinds():
    return [k for k in registered_kinds() if k.section is not None]


def _known() -> list[str]:
    return sorted(k.name for k in registered_kinds())


class PackTranslation(Strict):
    """Pack texts printed on documents, in another language (the base texts are English)."""

    action_taken: Optional[str] = None
    credit_requested: Optional[str] = None
    contact: Optional[str] = Field(default=None, description="letter.institution.contact in this language.")
    disclaimer: Optional[str] = None
    labels: dict[str, str] = Field(default_factory=dict, description="Short document labels (Telephone, Date...).")


DEFAULT_CF_STATEMENT = {
    "en": "Based on the information in your application, our decision could have been different if {conditions}, "
          "with everything else unchanged.",
    "es": "Según la información de su solicitud, nuestra decisión podría haber sido diferente si {conditions}, "
          "sin ningún otro cambio.",
}
DEFAULT_CF_CAVEAT = {
    "en": "This does not guarantee approval; a new application would be evaluated on all information at that time.",
    "es": "Esto no garantiza la aprobación; una nueva solicitud se evaluaría con toda la información disponible "
          "en ese momento.",
}
DEFAULT_CF_CONJUNCTIONS = {"en": ("and", "or"), "es": ("y", "o")}


class CounterfactualSettings(Strict):
    """Pack-level counterfactual settings (``counterfactuals:``); per-feature ones live in ``features``."""

    enabled: bool = Field(default=True, description="Letters state what could have changed the decision.")
    max_changes: Optional[int] = Field(default=None, ge=1, description="At most this many features change in one counterfactual.")
    k: int = Field(default=3, ge=1, le=10, description="Counterfactuals searched and recorded per decision.")
    in_letter: int = Field(default=2, ge=1, le=3, description="Alternatives a letter states (each checked by the model).")
    statement: dict[str, str] = Field(default_factory=dict, description="Sentence per language with {conditions}; built-in for en, es.")
    caveat: dict[str, str] = Field(default_factory=dict, description="Caveat per language; built-in for en, es.")
    conjunctions: dict[str, tuple[str, str]] = Field(default_factory=dict, description="Language -> [and, or]; built-in for en, es.")
    one_hot_groups: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Group name -> the 0/1 indicator columns that encode one categorical feature; searched as one "
                    "categorical (a change sets exactly one indicator) and counted as one changed feature.")

    @field_validator("statement")
    @classmethod
    def _statement(cls, v):
        for lang, text in v.items():
            check_fields(text, {"conditions"}, f"statement.{lang}")
        return {**DEFAULT_CF_STATEMENT, **v}

    @field_validator("caveat")
    @classmethod
    def _caveat(cls, v):
        return {**DEFAULT_CF_CAVEAT, **v}

    @field_validator("conjunctions")
    @classmethod
    def _conjunctions(cls, v):
        return {**DEFAULT_CF_CONJUNCTIONS, **v}

    def wording(self, lang: str) -> tuple[str, str, tuple[str, str]] | None:
        """``(statement, caveat, (and, or))`` for ``lang``, or ``None`` when the pack has none."""
        st = {**DEFAULT_CF_STATEMENT, **self.statement}.get(lang)
        cv = {**DEFAULT_CF_CAVEAT, **self.caveat}.get(lang)
        cj = {**DEFAULT_CF_CONJUNCTIONS, **self.conjunctions}.get(lang)
        return None if st is None or cv is None or cj is None else (st, cv, tuple(cj))


class ReasonSpec(Strict):
    """A reason statement (Regulation B wording) and its translations."""

    text: str
    code: Optional[str] = Field(default=None, description="e.g. 'C1-09' for Form C-1 item 9, or 'OTHER'.")
    translations: dict[str, str] = Field(default_factory=dict)

class Currency(Strict):
    """The currency amounts (``format: currency``) are printed in."""

    code: str = Field(default="USD", pattern=r"^[A-Z]{3}$", description="ISO 4217 code.")
    symbol: str = Field(default="$", description="Printed symbol ('$', '€', 'CHF').")
    position: Optional[Literal["before", "after"]] = Field(
        default=None, description="Symbol before or after the amount (default: before in en, after in es).")


DEFAULT_MISSING_VALUES = ["", "na", "nan", "null", "none", "n/a"]


class Columns(Strict):
    """Input columns that are not model features."""

    id: Optional[str] = None
    name: Optional[str] = None
    address: Optional[str] = None
    decision_date: Optional[str] = None
    language: Optional[str] = None
    extra: list[str] = Field(default_factory=list, description="Other columns allowed in the input and carried to the record.")


class Explanation(Strict):
    method: str = "tree_shap"
    additivity_tolerance: float = Field(default=1e-3, gt=0)
    options: dict = Field(default_factory=dict)


class Pack(Strict):
    """A validated domain pack.

    This class holds the fields every pack has; the model packs validate with
    (:func:`pack_model`) adds one optional field per registered document kind's
    section (``letter``, ``audit``, ``case_review``, ``incident``, ...).
    ``Pack.model_validate(data)`` validates with it.
    """

    name: str
    version: str
    domain: str = Field(pattern=r"^[a-z][a-z0-9_]*$",
                        description="The sector, a free lowercase name (finance, tenant_screening, ...).")
    kinds: list[str] = Field(default_factory=list, description="The document kinds the pack writes "
                             "(letter, audit, case_review, incident, or a registered third-party kind).")
    description: str = ""
    extends: Optional[str] = None
    replace: list[str] = Field(default_factory=list, description="Keys replaced, not merged, when extending.")
    language: str = "en"
    languages: list[str] = Field(default_factory=lambda: ["en"])
    jurisdiction: str = ""
    disclaimer: str = ("Generated to support regulatory documentation; it does not certify compliance. "
                       "Review by compliance or legal staff is required.")
    regulatory_references: list[Reference] = Field(default_factory=list)
    features: dict[str, FeatureSpec]
    reasons: dict[str, ReasonSpec] = Field(default_factory=dict)
    columns: Columns = Field(default_factory=Columns)
    explanation: Explanation = Field(default_factory=Explanation)
    templates: dict[str, str] = Field(default_factory=dict, description="Document kind -> template file.")
    template_dirs: list[str] = Field(default_factory=list, description="Folders (relative to the pack) searched before the shipped templates.")
    currency: Currency = Field(default_factory=Currency)
    missing_values: list[str] = Field(
        default_factory=lambda: list(DEFAULT_MISSING_VALUES),
        description="Tokens read as missing (case-insensitive); a declared category is never read as missing.")
    counterfactuals: CounterfactualSettings = Field(default_factory=CounterfactualSettings)
    translations: dict[str, PackTranslation] = Field(
        default_factory=dict, description="Printed pack texts per language code (for languages other than en).")

    @classmethod
    def model_validate(cls, obj, **kwargs):
        """Validate ``obj``: :class:`Pack` itself validates with :func:`pack_model` (the kinds' sections
        included; old section names renamed, with a ``DeprecationWarning``)."""
        if cls is Pack:
            if isinstance(obj, dict):
                obj = rename_legacy_sections(obj, stacklevel=3)
            return pack_model().model_validate(obj, **kwargs)
        return super().model_validate(obj, **kwargs)

    @field_validator("features")
    @classmethod
    def _non_empty(cls, v):
        if not v:
            raise ValueError("a pack declares at least one feature")
        return v

    @model_validator(mode="after")
    def _cross_refs(self):
        for fname, feat in self.features.items():
            if feat.reason is not None and feat.reason not in self.reasons:
                raise KeyedError(("features", fname, "reason"),
                                 f"reason '{feat.reason}' is not declared under 'reasons' "
                                 f"(declared: {', '.join(sorted(self.reasons)) or 'none'})")
            for value, key in feat.reason_by_value.items():
                if key not in self.reasons:
                    raise KeyedError(("features", fname, "reason_by_value", value),
                                     f"reason '{key}' is not declared under 'reasons'")
                if feat.categories and value not in {str(c) for c in feat.categories}:
                    raise KeyedError(("features", fname, "reason_by_value", value),
                                     f"'{value}' is not one of the feature's categories {[str(c) for c in feat.categories]}")
            for i, rr in enumerate(feat.reason_by_range):
                if rr.reason not in self.reasons:
                    raise KeyedError(("features", fname, "reason_by_range", i, "reason"),
                                     f"reason '{rr.reason}' is not declared under 'reasons'")
            if feat.reason_by_direction is not None:
                for side in ("above", "below"):
                    key = getattr(feat.reason_by_direction, side)
                    if key is not None and key not in self.reasons:
                        raise KeyedError(("features", fname, "reason_by_direction", side),
                                         f"reason '{key}' is not declared under 'reasons'")
            if feat.protected and feat.lawful_use is None and feat.reasons_declared():
                raise KeyedError(("features", fname, "reason"),
                                 "a protected attribute can never be a reason unless the pack declares its "
                                 "lawful use (features.<name>.lawful_use: basis, citations); remove 'reason'")
        if self.language not in self.languages:
            raise KeyedError(("language",), f"'{self.language}' is not in languages {self.languages}")
        seen: dict = {}
        for g, cols in self.counterfactuals.one_hot_groups.items():
            if g in self.features:
                raise KeyedError(("counterfactuals", "one_hot_groups", g),
                                 f"group name '{g}' is also a feature; choose another name")
            if len(cols) < 2:
                raise KeyedError(("counterfactuals", "one_hot_groups", g), "a group needs at least 2 columns")
            for c in cols:
                if c not in self.features:
                    raise KeyedError(("counterfactuals", "one_hot_groups", g),
                                     f"'{c}' is not declared under 'features'")
                if c in seen:
                    raise KeyedError(("counterfactuals", "one_hot_groups", g),
                                     f"'{c}' is already in group '{seen[c]}'")
                seen[c] = g
        return self

    @model_validator(mode="after")
    def _kinds(self):
        legacy = LEGACY_KINDS.get(self.domain)
        if not self.kinds:
            if legacy is None:
                raise KeyedError(("kinds",), f"a '{self.domain}' pack lists the document kinds it writes "
                                             f"(kinds: [letter, audit, ...]; registered: {', '.join(_known())})")
            self.kinds = list(legacy)
        for i, name in enumerate(self.kinds):
            try:
                get_kind(name)
            except PackError:
                raise KeyedError(("kinds", i), f"unknown document kind '{name}' "
                                               f"(registered: {', '.join(_known())})") from None
        if len(set(self.kinds)) != len(self.kinds):
            raise KeyedError(("kinds",), "a kind is listed twice")
        for kind in _section_kinds():
            section = getattr(self, kind.section, None)
            if section is not None and kind.name not in self.kinds:
                raise KeyedError((kind.section,), f"a '{kind.section}' section, but '{kind.name}' is not in "
                                                  f"kinds {self.kinds}; add it there or remove the section")
        for name in self.kinds:
            hook = getattr(self.section(name), "check_pack", None)
            if hook is not None:
                hook(self)
        return self

    # kinds and their sections ---------------------------------------------------
    def has_kind(self, kind: str) -> bool:
        """Whether the pack writes documents of ``kind`` (it is listed under ``kinds``)."""
        return kind in self.kinds

    def section(self, kind: str):
        """The pack section of document kind ``kind`` (``None`` when the pack has none)."""
        key = get_kind(kind).section
        return None if key is None else getattr(self, key, None)

    @property
    def finance(self):
        """The ``letter`` section (read-only alias of its old name)."""
        return self.section("letter")

    @property
    def healthcare(self):
        """The ``case_review`` section (read-only alias of its old name)."""
        return self.section("case_review")

    @property
    def autonomous_driving(self):
        """The ``incident`` section (read-only alias of its old name)."""
        return self.section("incident")

    def identifier_features(self) -> dict[str, "FeatureSpec"]:
        """Identifier columns (``identifier: true``), name -> spec."""
        return {k: f for k, f in self.features.items() if f.identifier}

    def missing_translations(self, lang: str) -> list[str]:
        """Key paths of the printed texts that have no ``lang`` version (empty: the language is complete).

        Base texts are English. A letter in another language is written only when
        this list is empty, so no English sentence ends up inside, say, a Spanish letter.

        Examples::

            >>> from xai_reports.packs import load_pack
            >>> load_pack("finance").spec.missing_translations("es")
            []
        """
        if lang == "en":
            return []
        missing = [f"reasons.{k}.translations.{lang}" for k, r in self.reasons.items() if lang not in r.translations]
        for fname, f in self.features.items():
            if not f.lawful_input() or not f.reasons_declared():
                continue  # never printed
            tr = f.translations.get(lang)
            if tr is None or not tr.label:
                missing.append(f"features.{fname}.translations.{lang}.label")
            if f.unit and any(ch.isalpha() for ch in f.unit) and (tr is None or not tr.unit):
                missing.append(f"features.{fname}.translations.{lang}.unit")
            shown = set(f.category_labels) or ({str(c) for c in f.categories} if f.type in ("binary", "categorical")
                                               and f.categories else set())
            have = set(tr.category_labels) if tr is not None else set()
            missing += [f"features.{fname}.translations.{lang}.category_labels.{v}" for v in sorted(shown - have)]
        if self.has_kind("letter"):
            tr = self.translations.get(lang)
            missing += [f"translations.{lang}.{k}" for k in ("action_taken", "credit_requested", "contact", "disclaimer")
                        if tr is None or not getattr(tr, k)]
        return missing

    # conveniences ------------------------------------------------------------
    def protected_features(self) -> list[str]:
        return [k for k, f in self.features.items() if f.protected]

    def reason_for(self, feature: str, value=None, reference=None) -> Optional[str]:
        """The reason key for ``feature`` given the applicant's ``value``.

        Precedence: ``reason_by_value`` (exact value), then ``reason_by_range``
        (``min <= value < max``), then ``reason_by_direction`` (``value`` above or
        below ``reference``, the reference population's mean), then ``reason``.
        Never a reason for a protected attribute without a declared ``lawful_use``.
        """
        f = self.features.get(feature)
        if f is None or not f.lawful_input():
            return None
        if value is not None and f.reason_by_value:
            key = str(value)
            if isinstance(value, float) and value.is_integer():
                key = str(int(value))
            if key in f.reason_by_value:
                return f.reason_by_value[key]
        x = None
        if value is not None and (f.reason_by_range or f.reason_by_direction is not None):
            try:
                x = float(value)
            except (TypeError, ValueError):
                x = None
            if x is not None and x != x:
                x = None
        if x is not None:
            for rr in f.reason_by_range:
                if (rr.min is None or x >= rr.min) and (rr.max is None or x < rr.max):
                    return rr.reason
            rd = f.reason_by_direction
            if rd is not None and reference is not None and x != reference:
                key = rd.above if x > reference else rd.below
                if key is not None:
                    return key
        return f.reason

    def completeness_gaps(self, document: str) -> list[tuple[str, str]]:
        """``[(key path, what it is)]`` a lender must still set before ``document`` can be written.

        ``document`` is a kind the pack lists (``"letter"``, ``"audit"``, ...) whose section says
        what must be set (its ``completeness_gaps()``). The shipped base pack leaves the institution
        and the model inventory facts to the lender's own pack; a letter section with
        ``ecoa_notice: false`` needs no ECOA agency.
        """
        section = self.section(document) if document in self.kinds else None
        gaps = getattr(section, "completeness_gaps", None)
        return list(gaps()) if gaps is not None else []


def rename_legacy_sections(data: dict, *, where: str = "pack", stacklevel: int = 2) -> dict:
    """``data`` with its old section keys (``finance:``, ...) renamed to the kinds' keys (``letter:``).

    Each old key warns (``DeprecationWarning``, naming the new key).

    Raises:
        KeyedError: the old and the new key are both given.
    """
    out = None
    for key in list(data):
        found = kind_for_section(key) if isinstance(key, str) else None
        if found is None or not found[1]:
            continue
        kind = found[0]
        if kind.section in data:
            raise KeyedError((key,), f"both '{key}' and '{kind.section}' are given; '{key}' is the old name of "
                                     f"'{kind.section}': keep only '{kind.section}'")
        warnings.warn(f"{where}: the '{key}:' section is now '{kind.section}:' (the {kind.name} kind's "
                      f"section); rename it, '{key}:' will stop loading in a later version",
                      DeprecationWarning, stacklevel=stacklevel + 1)
        out = {(kind.section if k == key else k): v for k, v in (data if out is None else out).items()}
    return data if out is None else out


_MODELS: dict[int, type] = {}


def pack_model() -> type[Pack]:
    """The pydantic model packs validate with: :class:`Pack` plus one optional field per registered
    kind's section, typed by the kind's schema (rebuilt when a kind is registered)."""
    version = registry_version()
    model = _MODELS.get(version)
    if model is None:
        fields = {k.section: (Optional[k.section_schema()], None) for k in _section_kinds()}
        model = create_model("Pack", __base__=Pack, __module__=__name__, **fields)
        _MODELS.clear()
        _MODELS[version] = model
    return model
