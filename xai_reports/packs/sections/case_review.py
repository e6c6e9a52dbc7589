"""The ``case_review:`` section of a pack (was ``healthcare:``): clinician case-review sheets
(REGULATORY.md section 3)."""

from __future__ import annotations

from datetime import date
from typing import Literal, Optional

from pydantic import Field, model_validator

from ..fields import KeyedError, Strict


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
    window: Optional[tuple[float, float]] = Field(
        default=None, description="DICOM inputs: VOI window (centre, width) after the modality LUT; the model "
                                  "card's input.window wins, then this, then the header's window.")


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
    last_monitoring_review: Optional[date] = Field(
        default=None, description="Date of the model's last post-deployment monitoring review (printed on sheets).")
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


class CaseReviewSection(Strict):
    """What a case-review sheet needs: print profiles, models, caveats (``case_review:``)."""

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

    def check_pack(self, pack) -> None:
        """Profiles show declared identifier features only; models read declared, non-identifier features."""
        for pname, prof in self.profiles.items():
            for col in prof.show_identifiers:
                f = pack.features.get(col)
                if f is None or not f.identifier:
                    raise KeyedError(("case_review", "profiles", pname, "show_identifiers"),
                                     f"'{col}' is not a declared identifier feature")
        for mid, m in self.models.items():
            for col in m.features + ([m.subgroup_feature] if m.subgroup_feature else []):
                f = pack.features.get(col)
                if f is None:
                    raise KeyedError(("case_review", "models", mid, "features"),
                                     f"feature '{col}' is not declared under 'features'")
                if f.identifier:
                    raise KeyedError(("case_review", "models", mid, "features"),
                                     f"'{col}' is an identifier; identifiers are never model inputs")
