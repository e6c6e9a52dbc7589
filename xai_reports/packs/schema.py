"""The schema of a domain pack (``domains/<name>/pack.yaml``).

Validation is strict: unknown keys are errors, and so are references to
reasons, features or templates that do not exist. Domain-specific sections
(``finance``, ...) are required by the pack's ``domain``.
"""

from __future__ import annotations

from typing import Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Scalar = Union[str, int, float, bool]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class FeatureSpec(Strict):
    """One input column: how to read it, show it, explain it and (maybe) change it."""

    label: str = Field(description="What people read instead of the column name.")
    type: Literal["numeric", "ordinal", "categorical", "binary"]
    description: Optional[str] = None
    format: Literal["number", "integer", "percent", "currency", "text"] = "number"
    unit: Optional[str] = None
    decimals: int = Field(default=2, ge=0, le=6)
    categories: Optional[list[Scalar]] = None
    category_labels: dict[str, str] = Field(default_factory=dict)
    protected: bool = Field(default=False, description="Never a reason, never changed, available to audits.")
    identifier: bool = Field(default=False, description="Identifies a person (printed only where the profile allows).")
    reason: Optional[str] = Field(default=None, description="Key of the reason this feature maps to.")
    reason_by_value: dict[str, str] = Field(
        default_factory=dict, description="Reason keys for particular values (categories/levels), overriding 'reason'.")
    allow_missing: bool = False
    # actionability, used by counterfactuals
    actionable: bool = False
    direction: Literal["any", "increase_only", "decrease_only"] = "any"
    bounds: Optional[tuple[float, float]] = None
    integer: bool = False
    cost: float = Field(default=1.0, gt=0)
    forbidden_transitions: list[tuple[Scalar, Scalar]] = Field(default_factory=list)
    action_text: Optional[str] = Field(
        default=None, description="Counterfactual wording, e.g. 'your total debt payments were below {value} of your income'.")

    @model_validator(mode="after")
    def _categories(self):
        if self.type in ("categorical", "binary") and not self.categories:
            raise ValueError(f"a {self.type} feature needs 'categories' (the allowed values)")
        if self.type == "binary" and self.categories and len(self.categories) != 2:
            raise ValueError("a binary feature needs exactly two categories")
        if self.bounds is not None and self.bounds[0] > self.bounds[1]:
            raise ValueError(f"bounds {list(self.bounds)} has lower > upper")
        return self


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
        default="deny", description="What the model's positive output means.")
    threshold: float = Field(default=0.5, gt=0, lt=1, description="On the probability of the positive class.")
    action_taken: str = "We are unable to approve your application."
    credit_requested: str = "credit"


class Address(Strict):
    name: str
    address: list[str]
    phone: Optional[str] = None
    website: Optional[str] = None


class Institution(Strict):
    name: str
    address: list[str]
    phone: str
    email: Optional[str] = None
    website: Optional[str] = None
    contact: str = Field(description="Office or person to contact with questions.")
    agency: Address = Field(description="The federal agency that administers ECOA compliance for this creditor (Reg B Appendix A).")


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
    used: bool = False
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
    institution: Institution
    credit_score: CreditScore = Field(default_factory=CreditScore)
    consumer_report: ConsumerReport = Field(default_factory=ConsumerReport)


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


class DecisionModelSpec(Strict):
    """The image decision model: a registered architecture receiving a state dict."""

    architecture: str = Field(description="A name registered in xai_reports.driving.models.ARCHITECTURES.")
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
                 "The occlusion test below checks the named object by removing it."),
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
            if feat.protected and (feat.reason is not None or feat.reason_by_value):
                raise _KeyedError(("features", fname, "reason"),
                                  "a protected attribute can never be a reason; remove 'reason'")
        if self.domain == "finance" and self.finance is None:
            raise _KeyedError(("finance",), "a finance pack needs a 'finance' section (decision, institution, ...)")
        if self.domain == "autonomous_driving" and self.autonomous_driving is None:
            raise _KeyedError(("autonomous_driving",),
                              "an autonomous_driving pack needs an 'autonomous_driving' section "
                              "(decision_model, odd, ...)")
        if self.language not in self.languages:
            raise _KeyedError(("language",), f"'{self.language}' is not in languages {self.languages}")
        return self

    # conveniences ------------------------------------------------------------
    def protected_features(self) -> list[str]:
        return [k for k, f in self.features.items() if f.protected]

    def reason_for(self, feature: str, value=None) -> Optional[str]:
        """The reason key for ``feature`` (taking its ``value`` into account); never for protected ones."""
        f = self.features.get(feature)
        if f is None or f.protected:
            return None
        if value is not None and f.reason_by_value:
            key = str(value)
            if isinstance(value, float) and value.is_integer():
                key = str(int(value))
            if key in f.reason_by_value:
                return f.reason_by_value[key]
        return f.reason


class _KeyedError(ValueError):
    """A cross-reference error that knows the key path it belongs to."""

    def __init__(self, loc: tuple, message: str):
        self.loc = loc
        super().__init__(message)
