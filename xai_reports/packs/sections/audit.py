"""The ``audit:`` section of a pack: the model validation and compliance audit report."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field

from ..fields import Reference, Scalar, Strict


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
    vocabulary: Optional[Literal["lending", "applicants", "neutral"]] = Field(
        default=None, description="Sector words the audit prints: 'lending' (fair-lending metrics, credit factors, "
                                  "Regulation B citations), 'applicants' (decisions on applicants, neutral fairness "
                                  "words) or 'neutral' (rows). Default: 'applicants' for a pack that writes letters, "
                                  "else 'neutral'.")
    guidance: Optional[str] = Field(
        default=None, description="Model-validation guidance whose structure the report follows, e.g. 'SR 26-2 "
                                  "(supersedes SR 11-7)' for a US bank; printed on the title page and in the "
                                  "identification table. Default: none named (EU AI Act Annex IV 'where applicable' "
                                  "is always named).")
    report_date: Optional[str] = Field(default=None, description="ISO date of the report when neither the run nor the data gives one.")
    model: AuditModelInfo = Field(default_factory=AuditModelInfo)
    target_description: Optional[str] = Field(default=None, description="What the labels in the audit data mean.")
    positive_label: Optional[Scalar] = Field(default=None, description="Target value meaning the model's positive class (default: 1/yes/true).")
    threshold: Optional[float] = Field(default=None, gt=0, lt=1, description="Decision threshold on P(positive) for packs without a letter.decision.")
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

    def completeness_gaps(self) -> list[tuple[str, str]]:
        """``[(key path, what it is)]`` the institution must still set before the audit can be written."""
        m = self.model
        return [(f"audit.model.{k}", what) for k, what in (
            ("id", "the model's inventory id"), ("name", "the model's name"), ("version", "the model's version"),
            ("owner", "the accountable model owner"), ("validator", "the independent validator"))
            if not getattr(m, k)]
