"""The schema of a domain pack (``domains/<name>/pack.yaml``).

Validation is strict: unknown keys are errors, and so are references to
reasons, features or templates that do not exist. Domain-specific sections
(``finance``, ...) are required by the pack's ``domain``.
"""

from __future__ import annotations

import string
from typing import Literal, Optional, Union

import numpy as np
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
            _check_fields(v, {"value"}, "action_text")
        return v


class PackTranslation(Strict):
    """Pack texts printed on documents, in another language (the base texts are English)."""

    action_taken: Optional[str] = None
    credit_requested: Optional[str] = None
    contact: Optional[str] = Field(default=None, description="finance.institution.contact in this language.")
    disclaimer: Optional[str] = None
    labels: dict[str, str] = Field(default_factory=dict, description="Short document labels (Telephone, Date...).")


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
            _check_fields(v, {"value"}, "action_text")
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


def _check_fields(text: str, allowed: set, what: str):
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
            _check_fields(text, {"conditions"}, f"statement.{lang}")
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


class Reference(Strict):
    citation: str
    title: Optional[str] = None
    url: Optional[str] = None
    note: Optional[str] = None


class ReferencePopulation(Strict):
    """Reg B comment 9(b)(2)-5: the population reasons are measured against."""

    kind: Literal["all_applicants", "near_cutoff"] = "all_applicants"
    band: float = Field(default=0.05, gt=0, le=1, description="near_cutoff: approved rows with score within this of the threshold.")
    min_rows: int = Field(default=20, ge=1)
    description: Optional[str] = None


class Decision(Strict):
    positive_class: Literal["deny", "approve"] = Field(
        default="deny", description="What the model's positive output means: 'deny' (the model outputs "
                                    "P(deny)) or 'approve' (it outputs P(approve)); no other value.")
    threshold: float = Field(default=0.5, gt=0, lt=1, description="On the probability of the positive class.")
    action_taken: str = "We are unable to approve your application."
    credit_requested: str = "credit"


class Address(Strict):
    name: str
    address: list[str]
    phone: Optional[str] = None
    website: Optional[str] = None


class Institution(Strict):
    """The creditor. The shipped base pack leaves it to the lender: letters are refused until the
    lender's own pack sets the required fields (:data:`REQUIRED_FIELDS`)."""

    name: Optional[str] = None
    address: Optional[list[str]] = None
    phone: Optional[str] = None
    email: Optional[str] = None
    website: Optional[str] = None
    contact: Optional[str] = Field(default=None, description="Office or person to contact with questions.")
    agency: Optional[Address] = Field(default=None, description="The federal agency that administers ECOA compliance for this creditor (Reg B Appendix A).")


class CreditScore(Strict):
    used: bool = False
    column: Optional[str] = None
    date_column: Optional[str] = None
    key_factors_column: Optional[str] = Field(default=None, description="Column of key factors, separated by ';'.")
    range: Optional[tuple[int, int]] = None
    provider: Optional[Address] = None

    @model_validator(mode="after")
    def _complete(self):
        if self.used:
            missing = [k for k in ("column", "range", "provider") if getattr(self, k) is None]
            if missing:
                raise ValueError(f"credit_score.used is true, so {', '.join(missing)} must be given")
        return self


class ConsumerReport(Strict):
    used: Optional[bool] = Field(default=None, description="Whether a consumer report was used (FCRA 615(a)); the lender says so.")
    agency: Optional[Address] = None

    @model_validator(mode="after")
    def _agency(self):
        if self.used and self.agency is None:
            raise ValueError("consumer_report.used is true, so 'agency' (name, address, phone) must be given")
        return self


class FinanceSection(Strict):
    decision: Decision = Field(default_factory=Decision)
    max_reasons: int = Field(default=4, ge=1, le=4, description="Reg B comment 9(b)(2)-1: at most four.")
    min_contribution: float = Field(default=1e-6, ge=0, description="Smallest push toward denial that counts as a reason (margin units).")
    reference_population: ReferencePopulation = Field(default_factory=ReferencePopulation)
    institution: Institution = Field(default_factory=Institution)
    credit_score: CreditScore = Field(default_factory=CreditScore)
    consumer_report: ConsumerReport = Field(default_factory=ConsumerReport)


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


# --- healthcare: clinician case-review sheets (REGULATORY.md section 3) ------------------------

class PrintProfile(Strict):
    """What a case-review sheet may print (HIPAA: treatment vs. de-identified copies)."""

    purpose: Literal["treatment", "operations", "research", "audit", "teaching"] = Field(
        description="Purpose of the disclosure, printed on the sheet.")
    description: str = ""
    show_identifiers: list[str] = Field(
        default_factory=list, description="Identifier columns printed on the sheet (treatment profiles only).")
    deidentification: Optional[Literal["safe_harbor"]] = Field(
        default=None, description="'safe_harbor': remove all 18 identifiers of 45 CFR 164.514(b)(2).")
    dates: Literal["full", "year"] = Field(default="full", description="'year': print dates as the year only.")

    @model_validator(mode="after")
    def _deid(self):
        if self.deidentification == "safe_harbor":
            if self.show_identifiers:
                raise ValueError("a safe_harbor profile cannot show identifiers "
                                 f"(remove {self.show_identifiers} from show_identifiers)")
            if self.dates != "year":
                raise ValueError("a safe_harbor profile prints dates as the year only (set dates: year)")
        return self


class ImageInput(Strict):
    height: int = Field(gt=0)
    width: int = Field(gt=0)
    channels: Literal[1, 3] = 1
    column: str = Field(default="image", description="Input column naming the image file (inside --images).")
    modality: str = "image"


class EvidenceSpec(Strict):
    """Evidence maps of an image model."""

    methods: list[str] = Field(default_factory=lambda: ["grad_cam", "integrated_gradients"])
    primary: str = "grad_cam"
    layer: Optional[str] = Field(default=None, description="Module path of the Grad-CAM layer, e.g. features.relu4.")
    target: str = Field(default="predicted", description="'predicted' or a class name.")
    options: dict[str, dict] = Field(default_factory=dict, description="Method -> options (n_steps, baselines, ...).")

    @model_validator(mode="after")
    def _primary(self):
        if self.primary not in self.methods:
            raise ValueError(f"primary method '{self.primary}' is not in methods {self.methods}")
        return self


class HealthcareModelSpec(Strict):
    """One model a healthcare pack produces sheets for (REGULATORY.md 3.2 rows 2-3, 5, 8)."""

    kind: Literal["tabular", "image"]
    name: str
    intended_use: str
    intended_user: str
    population: str
    regulatory_status: str
    manufacturer: str = ""
    classes: tuple[str, str] = ("benign", "malignant")
    positive_class: str = "malignant"
    operating_threshold: float = Field(default=0.5, gt=0, lt=1, description="On the calibrated probability of the positive class.")
    above_threshold: str = Field(description="What crossing the threshold means (the recommended action).")
    below_threshold: str
    architecture: Optional[str] = Field(default=None, description="Registered architecture (xai_reports.adapters.architectures.CASE_REVIEW_ARCHITECTURES).")
    architecture_options: dict = Field(default_factory=dict)
    input: Optional[ImageInput] = None
    features: list[str] = Field(default_factory=list, description="Tabular: the model's input columns (declared under features).")
    evidence: Optional[EvidenceSpec] = None
    subgroup_feature: Optional[str] = Field(default=None, description="Tabular: performance is also shown for this feature's tertile.")
    max_findings: int = Field(default=5, ge=1, le=5)
    similar_cases: int = Field(default=3, ge=0, le=10)
    uncertainty_level: float = Field(default=0.9, gt=0.5, lt=1, description="Coverage of the conformal set and the interval.")
    synthetic_data: bool = False
    data_notice: str = ""
    limitations: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _kind(self):
        if self.positive_class not in self.classes:
            raise ValueError(f"positive_class '{self.positive_class}' is not one of classes {list(self.classes)}")
        if self.kind == "image":
            missing = [k for k in ("architecture", "input", "evidence") if getattr(self, k) is None]
            if missing:
                raise ValueError(f"an image model needs {', '.join(missing)}")
        elif not self.features:
            raise ValueError("a tabular model lists its input columns under 'features'")
        return self


class HealthcareSection(Strict):
    profiles: dict[str, PrintProfile]
    default_profile: str = "treatment"
    models: dict[str, HealthcareModelSpec]
    site: str = Field(default="", description="Institution or service named on the sheet.")
    cds_caveat: str
    saliency_caveat: str
    not_a_diagnosis: str

    @model_validator(mode="after")
    def _default(self):
        if self.default_profile not in self.profiles:
            raise ValueError(f"default_profile '{self.default_profile}' is not one of profiles {sorted(self.profiles)}")
        return self

class AuditModelInfo(Strict):
    """Model inventory fields printed in the audit report's identification section."""

    id: Optional[str] = Field(default=None, description="Model id in the institution's inventory naming.")
    name: Optional[str] = None
    version: Optional[str] = None
    inventory_id: Optional[str] = None
    owner: Optional[str] = Field(default=None, description="Accountable model owner (person or unit).")
    developer: Optional[str] = None
    validator: Optional[str] = Field(default=None, description="Independent validator (person or unit).")
    independence: Optional[str] = Field(default=None, description="Independence statement of the validator.")
    risk_tier: Optional[str] = None
    materiality: Optional[str] = Field(default=None, description="Materiality (exposure x purpose), SR 26-2.")
    regulatory_classification: list[str] = Field(default_factory=list)
    purpose: Optional[str] = None
    intended_use: Optional[str] = None
    intended_users: Optional[str] = None
    use_restrictions: list[str] = Field(default_factory=list)
    components: list[str] = Field(default_factory=list, description="Vendor or pre-trained components.")


class FairnessSettings(Strict):
    """Fair-lending / bias metrics of the audit. Their legal basis depends on jurisdiction."""

    enabled: bool = True
    metrics: list[Literal["adverse_impact_ratio", "standardized_mean_difference", "marginal_effect", "proxy_screen"]] = Field(
        default_factory=lambda: ["adverse_impact_ratio", "standardized_mean_difference", "marginal_effect", "proxy_screen"])
    favorable: Optional[Literal["positive", "negative"]] = Field(
        default=None, description="Which model decision is favourable to the person (default: approval for finance packs, else 'negative').")
    air_threshold: float = Field(default=0.8, gt=0, le=1, description="Flag an adverse impact ratio below this (four-fifths rule).")
    smd_threshold: float = Field(default=0.3, gt=0, description="Flag |standardized mean difference| at or above this (practitioner convention).")
    proxy_threshold: float = Field(default=0.3, gt=0, le=1, description="Flag |correlation| of an input with a group at or above this.")
    alpha: float = Field(default=0.05, gt=0, lt=1, description="Significance level of the tests.")
    min_group_size: int = Field(default=30, ge=1, description="Groups with fewer rows are reported but not assessed.")
    reference_groups: dict[str, Scalar] = Field(
        default_factory=dict, description="Attribute -> reference value; default: the group with the highest favourable rate.")
    control_for_model_inputs: bool = Field(default=True, description="Adjusted marginal effect controls for the model's inputs.")
    jurisdiction: Optional[str] = None
    legal_basis: str = Field(
        default=("The legal basis for these metrics depends on jurisdiction and on the product. They are "
                 "screening statistics for a reviewer, not a determination of discrimination or of compliance."))


class MonitoringMetric(Strict):
    metric: str
    threshold: str
    frequency: str
    action: Optional[str] = None


class MonitoringPlan(Strict):
    owner: Optional[str] = None
    frequency: Optional[str] = None
    metrics: list[MonitoringMetric] = Field(default_factory=list)
    revalidation_triggers: list[str] = Field(default_factory=list)
    next_review_due: Optional[str] = None


class SignOff(Strict):
    role: str
    name: Optional[str] = None
    organisation: Optional[str] = None


class AuditSettings(Strict):
    """Computation settings of the audit (sample sizes, seeds)."""

    seed: int = 0
    subgroup_min_rows: int = Field(default=30, ge=1, description="Performance by subgroup needs at least this many rows.")
    calibration_bins: int = Field(default=10, ge=2, le=50)
    permutation_repeats: int = Field(default=5, ge=1, le=100)
    dependence_top_k: int = Field(default=4, ge=0, le=12)
    dependence_max_points: int = Field(default=2000, ge=100)
    surrogate_max_depth: int = Field(default=3, ge=1, le=8)
    faithfulness_rows: int = Field(default=200, ge=10)
    stability_rows: int = Field(default=100, ge=10)
    stability_radius: float = Field(default=0.05, gt=0, description="Perturbation radius as a share of each feature's SD.")
    counterfactual_rows: int = Field(default=200, ge=1, description="Denied applicants searched for recourse (seeded sample).")


class AuditSection(Strict):
    """What the compliance / validation audit report needs that the rest of the pack does not say."""

    title: str = "Model validation and compliance audit report"
    report_date: Optional[str] = Field(default=None, description="ISO date of the report when neither the run nor the data gives one.")
    model: AuditModelInfo = Field(default_factory=AuditModelInfo)
    target_description: Optional[str] = Field(default=None, description="What the labels in the audit data mean.")
    positive_label: Optional[Scalar] = Field(default=None, description="Target value meaning the model's positive class (default: 1/yes/true).")
    threshold: Optional[float] = Field(default=None, gt=0, lt=1, description="Decision threshold on P(positive) for packs without a finance.decision.")
    data_description: Optional[str] = None
    fairness: FairnessSettings = Field(default_factory=FairnessSettings)
    settings: AuditSettings = Field(default_factory=AuditSettings)
    not_reviewed: list[str] = Field(default_factory=list, description="Aspects outside this review, added to the built-in list.")
    limitations: list[str] = Field(default_factory=list)
    compensating_controls: list[str] = Field(default_factory=list)
    monitoring: MonitoringPlan = Field(default_factory=MonitoringPlan)
    sign_off: list[SignOff] = Field(default_factory=list)
    retention: Optional[str] = None
    references: list[Reference] = Field(default_factory=list)
class DecisionModelSpec(Strict):
    """The image decision model: a registered architecture receiving a state dict."""

    architecture: str = Field(description="A name registered in xai_reports.adapters.architectures.INCIDENT_ARCHITECTURES.")
    classes: list[str] = Field(default_factory=lambda: ["continue", "slow", "brake"],
                               description="Output classes, in the model's output order.")
    input_height: int = Field(default=64, ge=8)
    input_width: int = Field(default=96, ge=8)

    @field_validator("classes")
    @classmethod
    def _classes(cls, v):
        if len(v) != len(set(v)) or len(v) < 2:
            raise ValueError("classes must be at least two distinct names")
        return v

    @field_validator("architecture")
    @classmethod
    def _registered(cls, v):
        from ..adapters.architectures import INCIDENT_ARCHITECTURES  # a plain dict; importing it does not import torch

        if v not in INCIDENT_ARCHITECTURES:
            raise ValueError(f"unknown architecture {v!r}; registered: {', '.join(sorted(INCIDENT_ARCHITECTURES))} "
                             "(architectures are never imported from user code)")
        return v


class ImageExplanationSpec(Strict):
    """Which image attribution methods the report shows, and which one names the driving object."""

    methods: list[Literal["grad_cam", "integrated_gradients", "occlusion", "saliency", "grad_cam_pp",
                          "smoothgrad", "gradient_x_input"]] = Field(
        default_factory=lambda: ["grad_cam", "integrated_gradients"])
    primary: str = Field(default="grad_cam", description="The method whose object shares name the driving object.")
    options: dict[str, dict] = Field(default_factory=dict, description="Per-method options passed to explain().")
    name_min_share: float = Field(default=0.4, gt=0, le=1,
                                  description="Share of the attribution an object needs to be named.")
    name_min_ratio: float = Field(default=2.0, ge=1,
                                  description="...and how many times the next object's share it must be.")
    max_key_frames: int = Field(default=3, ge=1, le=8)

    @model_validator(mode="after")
    def _primary(self):
        if self.primary not in self.methods:
            raise ValueError(f"primary method {self.primary!r} is not in methods {self.methods}")
        unknown = [k for k in self.options if k not in self.methods]
        if unknown:
            raise ValueError(f"options given for method(s) {unknown} that are not in methods")
        return self


class PlannerSpec(Strict):
    """The tabular planner over signals (its features are the pack's ``features``)."""

    output: str = Field(default="brake", description="What the planner's positive class means.")
    threshold: float = Field(default=0.5, gt=0, lt=1)
    method: Literal["tree_shap"] = "tree_shap"


class ODDSpec(Strict):
    """The operating design domain the report states (ISO 34503-style, summarised)."""

    description: str
    road_types: list[str] = Field(default_factory=list)
    lighting: list[str] = Field(default_factory=list)
    weather: list[str] = Field(default_factory=list)
    max_speed_kph: Optional[float] = Field(default=None, gt=0)


class DrivingSection(Strict):
    """Settings of the autonomous-driving pack (incident reports)."""

    decision_model: DecisionModelSpec
    image_explanation: ImageExplanationSpec = Field(default_factory=ImageExplanationSpec)
    planner: PlannerSpec = Field(default_factory=PlannerSpec)
    odd: ODDSpec
    event_min_duration_s: float = Field(
        default=0.2, ge=0, le=5, description="A replayed request becomes a timeline event once it persists this long.")
    synthetic_data: bool = Field(default=True, description="Label every page and image as SYNTHETIC.")
    saliency_caveat: str = Field(
        default=("Heatmaps show where the model's output is sensitive to the image; they are not object "
                 "detections, do not prove what the model 'saw', and can look plausible for a wrong decision. "
                 "The occlusion test checks the named object by removing it from the frame."),
        description="The limitation statement printed with every heatmap (REGULATORY.md §5 rule 6).")


class Pack(Strict):
    """A validated domain pack."""

    name: str
    version: str
    domain: Literal["finance", "healthcare", "autonomous_driving"]
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
    finance: Optional[FinanceSection] = None
    currency: Currency = Field(default_factory=Currency)
    missing_values: list[str] = Field(
        default_factory=lambda: list(DEFAULT_MISSING_VALUES),
        description="Tokens read as missing (case-insensitive); a declared category is never read as missing.")
    counterfactuals: CounterfactualSettings = Field(default_factory=CounterfactualSettings)
    healthcare: Optional[HealthcareSection] = None
    translations: dict[str, PackTranslation] = Field(
        default_factory=dict, description="Printed pack texts per language code (for languages other than en).")
    audit: Optional[AuditSection] = None
    autonomous_driving: Optional[DrivingSection] = None

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
                raise _KeyedError(("features", fname, "reason"),
                                  f"reason '{feat.reason}' is not declared under 'reasons' "
                                  f"(declared: {', '.join(sorted(self.reasons)) or 'none'})")
            for value, key in feat.reason_by_value.items():
                if key not in self.reasons:
                    raise _KeyedError(("features", fname, "reason_by_value", value),
                                      f"reason '{key}' is not declared under 'reasons'")
                if feat.categories and value not in {str(c) for c in feat.categories}:
                    raise _KeyedError(("features", fname, "reason_by_value", value),
                                      f"'{value}' is not one of the feature's categories {[str(c) for c in feat.categories]}")
            for i, rr in enumerate(feat.reason_by_range):
                if rr.reason not in self.reasons:
                    raise _KeyedError(("features", fname, "reason_by_range", i, "reason"),
                                      f"reason '{rr.reason}' is not declared under 'reasons'")
            if feat.reason_by_direction is not None:
                for side in ("above", "below"):
                    key = getattr(feat.reason_by_direction, side)
                    if key is not None and key not in self.reasons:
                        raise _KeyedError(("features", fname, "reason_by_direction", side),
                                          f"reason '{key}' is not declared under 'reasons'")
            if feat.protected and feat.lawful_use is None and feat.reasons_declared():
                raise _KeyedError(("features", fname, "reason"),
                                  "a protected attribute can never be a reason unless the pack declares its "
                                  "lawful use (features.<name>.lawful_use: basis, citations); remove 'reason'")
        if self.language not in self.languages:
            raise _KeyedError(("language",), f"'{self.language}' is not in languages {self.languages}")
        self._check_counterfactual_wording()
        seen: dict = {}
        for g, cols in self.counterfactuals.one_hot_groups.items():
            if g in self.features:
                raise _KeyedError(("counterfactuals", "one_hot_groups", g),
                                  f"group name '{g}' is also a feature; choose another name")
            if len(cols) < 2:
                raise _KeyedError(("counterfactuals", "one_hot_groups", g), "a group needs at least 2 columns")
            for c in cols:
                if c not in self.features:
                    raise _KeyedError(("counterfactuals", "one_hot_groups", g),
                                      f"'{c}' is not declared under 'features'")
                if c in seen:
                    raise _KeyedError(("counterfactuals", "one_hot_groups", g),
                                      f"'{c}' is already in group '{seen[c]}'")
                seen[c] = g
        return self

    def _check_counterfactual_wording(self):
        """Finance letters state counterfactuals: every actionable feature needs its (English) action_text.

        Other languages take ``features.<f>.translations.<lang>.action_text`` and the
        built-in (en, es) or pack ``counterfactuals.statement``; where one is missing,
        that language's letters make no statement and the record says why.
        """
        cf = self.counterfactuals
        if self.domain != "finance" or not cf.enabled:
            return
        for fname, feat in self.features.items():
            if feat.actionable and feat.action_text is None:
                raise _KeyedError(("features", fname, "action_text"),
                                  "an actionable feature needs 'action_text' (what a letter says could change, "
                                  "with {value}), or set counterfactuals.enabled: false")

    @model_validator(mode="after")
    def _healthcare_refs(self):
        if self.domain != "healthcare":
            return self
        hc = self.healthcare
        if hc is None:  # an audit-only pack; case-review asks for the section itself
            return self
        for pname, prof in hc.profiles.items():
            for col in prof.show_identifiers:
                f = self.features.get(col)
                if f is None or not f.identifier:
                    raise _KeyedError(("healthcare", "profiles", pname, "show_identifiers"),
                                      f"'{col}' is not a declared identifier feature")
        for mid, m in hc.models.items():
            for col in m.features + ([m.subgroup_feature] if m.subgroup_feature else []):
                f = self.features.get(col)
                if f is None:
                    raise _KeyedError(("healthcare", "models", mid, "features"), f"feature '{col}' is not declared under 'features'")
                if f.identifier:
                    raise _KeyedError(("healthcare", "models", mid, "features"),
                                      f"'{col}' is an identifier; identifiers are never model inputs")
        return self

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
        if self.domain == "finance":
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

        ``document`` is ``"letter"`` or ``"audit"``. The shipped base pack leaves the
        institution and the model inventory facts to the lender's own pack.
        """
        gaps: list[tuple[str, str]] = []
        if document == "letter" and self.finance is not None:
            inst = self.finance.institution
            for k, what in (("name", "the creditor's name"), ("address", "the creditor's address"),
                            ("phone", "the creditor's telephone number"),
                            ("contact", "the office to contact with questions")):
                if not getattr(inst, k):
                    gaps.append((f"finance.institution.{k}", what))
            if inst.agency is None:
                gaps.append(("finance.institution.agency",
                             "the federal agency that administers ECOA compliance for this creditor (name, address)"))
            cr = self.finance.consumer_report
            if cr.used is None:
                gaps.append(("finance.consumer_report.used", "whether a consumer report was used (true/false)"))
            elif cr.used and cr.agency is None:
                gaps.append(("finance.consumer_report.agency", "the consumer reporting agency (name, address, phone)"))
        if document == "audit" and self.audit is not None:
            m = self.audit.model
            for k, what in (("id", "the model's inventory id"), ("name", "the model's name"),
                            ("version", "the model's version"), ("owner", "the accountable model owner"),
                            ("validator", "the independent validator")):
                if not getattr(m, k):
                    gaps.append((f"audit.model.{k}", what))
        return gaps


class _KeyedError(ValueError):
    """A cross-reference error that knows the key path it belongs to."""

    def __init__(self, loc: tuple, message: str):
        self.loc = loc
        super().__init__(message)
