"""Field types shared by the pack schema and the sections of the document kinds.

Every model is :class:`Strict` (unknown keys are errors). :class:`~xai_reports.errors.KeyedError`
(re-exported here) is what a cross-check raises to name the key path it belongs to.
"""

from __future__ import annotations

import string
from typing import Literal, Optional, Union

import numpy as np
from ..errors import KeyedError  # noqa: F401  (re-exported: section schemas raise it)
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Scalar = Union[str, int, float, bool]

# HIPAA Safe Harbor, 45 CFR 164.514(b)(2)(i)(A)-(R): the 18 identifier categories.
SAFE_HARBOR_CATEGORIES: dict[str, str] = {
    "names": "(A) Names",
    "geographic": "(B) Geographic subdivisions smaller than a state (street address, city, county, ZIP code)",
    "dates": "(C) All elements of dates (except year) related to the individual; ages over 89",
    "telephone": "(D) Telephone numbers",
    "fax": "(E) Fax numbers",
    "email": "(F) Email addresses",
    "ssn": "(G) Social Security numbers",
    "medical_record_number": "(H) Medical record numbers",
    "health_plan_number": "(I) Health plan beneficiary numbers",
    "account_number": "(J) Account numbers",
    "certificate_license": "(K) Certificate/license numbers",
    "vehicle_id": "(L) Vehicle identifiers and serial numbers, including license plates",
    "device_id": "(M) Device identifiers and serial numbers",
    "url": "(N) Web URLs",
    "ip_address": "(O) IP addresses",
    "biometric": "(P) Biometric identifiers, including finger and voice prints",
    "face_photo": "(Q) Full-face photographs and comparable images",
    "other_unique_id": "(R) Any other unique identifying number, characteristic or code",
}
SafeHarborCategory = Literal[
    "names", "geographic", "dates", "telephone", "fax", "email", "ssn", "medical_record_number",
    "health_plan_number", "account_number", "certificate_license", "vehicle_id", "device_id", "url",
    "ip_address", "biometric", "face_photo", "other_unique_id"]


class Strict(BaseModel):
    """A pack model: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=False)

class FeatureTranslation(Strict):
    """A feature's printed texts in another language."""

    label: Optional[str] = None
    category_labels: dict[str, str] = Field(default_factory=dict)
    action_text: Optional[str] = Field(default=None, description="The feature's action_text in this language (with {value}).")
    unit: Optional[str] = Field(default=None, description="The feature's unit in this language ('meses').")

    @field_validator("action_text")
    @classmethod
    def _action_text(cls, v):
        if v is not None:
            check_fields(v, {"value"}, "action_text")
        return v

class LawfulUse(Strict):
    """Why a protected attribute may lawfully be a model input (e.g. age in an empirically derived,
    demonstrably and statistically sound credit scoring system, 12 CFR 1002.2(p), 1002.6(b)(2))."""

    basis: str = Field(min_length=1, description="The legal basis, in words (what makes this use lawful).")
    citations: list[str] = Field(min_length=1, description="Where the law says so, e.g. '12 CFR 1002.6(b)(2)'.")
    note: Optional[str] = None


class ReasonRange(Strict):
    """A reason used when the value lies in ``[min, max)`` (either end open when left out)."""

    min: Optional[float] = None
    max: Optional[float] = None
    reason: str

    @model_validator(mode="after")
    def _order(self):
        if self.min is None and self.max is None:
            raise ValueError("a reason range needs 'min', 'max' or both")
        if self.min is not None and self.max is not None and self.min >= self.max:
            raise ValueError(f"reason range has min {self.min:g} >= max {self.max:g}")
        return self


class ReasonByDirection(Strict):
    """Reasons by where the value lies relative to the reference population's mean."""

    above: Optional[str] = Field(default=None, description="Reason when the value is above the reference mean.")
    below: Optional[str] = Field(default=None, description="Reason when the value is below the reference mean.")


class FeatureSpec(Strict):
    """One input column: how to read it, show it, explain it and (maybe) change it."""

    label: str = Field(description="What people read instead of the column name.")
    type: Literal["numeric", "ordinal", "categorical", "binary", "text"]
    description: Optional[str] = None
    format: Literal["number", "integer", "percent", "currency", "text"] = "number"
    unit: Optional[str] = None
    decimals: int = Field(default=2, ge=0, le=6)
    categories: Optional[list[Scalar]] = None
    category_labels: dict[str, str] = Field(default_factory=dict)
    protected: bool = Field(default=False, description="Never a reason, never changed, available to audits.")
    identifier: bool = Field(default=False, description="Identifies a person (printed only where the profile allows).")
    safe_harbor: Optional[SafeHarborCategory] = Field(
        default=None, description="HIPAA Safe Harbor category of an identifier column (implies identifier: true).")
    reference_range: Optional[tuple[float, float]] = Field(
        default=None, description="Reference range printed beside the value (say in 'description' what it is).")
    reason: Optional[str] = Field(default=None, description="Key of the reason this feature maps to.")
    reason_by_value: dict[str, str] = Field(
        default_factory=dict, description="Reason keys for particular values (categories/levels), overriding 'reason'.")
    reason_by_range: list[ReasonRange] = Field(
        default_factory=list, description="Reason keys for value ranges [min, max) (numeric), overriding 'reason'.")
    reason_by_direction: Optional[ReasonByDirection] = Field(
        default=None, description="Reason keys when the value is above / below the reference population's mean.")
    lawful_use: Optional[LawfulUse] = Field(
        default=None, description="A protected attribute the model may lawfully use, with its legal basis.")
    bands: Optional[list[float]] = Field(
        default=None, description="Numeric protected attribute: cut points of the fairness groups (age: [62]).")
    allow_missing: bool = False
    missing_values: Optional[list[str]] = Field(
        default=None, description="Tokens read as missing in this column (default: the pack's missing_values).")
    # actionability, used by counterfactuals
    actionable: bool = False
    direction: Literal["any", "increase_only", "decrease_only"] = "any"
    bounds: Optional[tuple[float, float]] = None
    integer: bool = False
    cost: float = Field(default=1.0, gt=0)
    forbidden_transitions: list[tuple[Scalar, Scalar]] = Field(default_factory=list)
    action_text: Optional[str] = Field(
        default=None, description="Counterfactual wording, e.g. 'your total debt payments were below {value} of your income'.")
    translations: dict[str, FeatureTranslation] = Field(
        default_factory=dict, description="Label and category labels per language code.")

    @field_validator("action_text")
    @classmethod
    def _action_text(cls, v):
        if v is not None:
            check_fields(v, {"value"}, "action_text")
        return v

    def reasons_declared(self) -> bool:
        """Whether any reason key is declared for this feature."""
        return bool(self.reason is not None or self.reason_by_value or self.reason_by_range
                    or self.reason_by_direction is not None)

    def lawful_input(self) -> bool:
        """May the model use this column? (not protected, or protected with a declared lawful use)."""
        return not self.protected or self.lawful_use is not None

    @model_validator(mode="after")
    def _categories(self):
        if self.type in ("categorical", "binary") and not self.categories:
            raise ValueError(f"a {self.type} feature needs 'categories' (the allowed values)")
        if self.type == "binary" and self.categories and len(self.categories) != 2:
            raise ValueError("a binary feature needs exactly two categories")
        if self.bounds is not None and self.bounds[0] > self.bounds[1]:
            raise ValueError(f"bounds {list(self.bounds)} has lower > upper")
        if self.protected and self.actionable:
            raise ValueError("a protected attribute can never be changed by a counterfactual; remove 'actionable: true'")
        if self.lawful_use is not None and not self.protected:
            raise ValueError("'lawful_use' is for protected attributes (protected: true)")
        if self.bands is not None:
            if self.type not in ("numeric", "ordinal"):
                raise ValueError("'bands' are for numeric protected attributes")
            if not self.bands or any(b >= c for b, c in zip(self.bands, self.bands[1:])):
                raise ValueError(f"bands {self.bands} must be increasing cut points")
        if (self.reason_by_range or self.reason_by_direction) and self.type not in ("numeric", "ordinal"):
            raise ValueError("reason_by_range / reason_by_direction need a numeric or ordinal feature")
        rr = sorted(self.reason_by_range, key=lambda r: -np.inf if r.min is None else r.min)
        for a, b in zip(rr, rr[1:]):
            hi = np.inf if a.max is None else a.max
            lo = -np.inf if b.min is None else b.min
            if lo < hi:
                raise ValueError("reason_by_range ranges overlap")
        if self.reference_range is not None and self.reference_range[0] > self.reference_range[1]:
            raise ValueError(f"reference_range {list(self.reference_range)} has lower > upper")
        if self.safe_harbor is not None:
            self.identifier = True
        return self

def check_fields(text: str, allowed: set, what: str):
    """``text`` is a format string whose only fields are ``allowed`` (each at least once)."""
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
    except ValueError as exc:
        raise ValueError(f"{what}: not a valid template ({exc}); write {{value}} for the value") from None
    unknown = fields - allowed
    if unknown:
        raise ValueError(f"{what}: unknown placeholder(s) {sorted('{' + f + '}' for f in unknown)}; "
                         f"only {sorted('{' + f + '}' for f in allowed)} can be used")
    missing = allowed - fields
    if missing:
        raise ValueError(f"{what}: needs {sorted('{' + f + '}' for f in missing)}")


class Reference(Strict):
    citation: str
    title: Optional[str] = None
    url: Optional[str] = None
    note: Optional[str] = None


