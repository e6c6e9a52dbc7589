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


PERTURBATION_METHODS = ("occlusion",)
"""Evidence methods that need only forward passes (the methods an ONNX image model can use)."""
HOOK_METHODS = ("grad_cam", "grad_cam_pp")
"""Evidence methods that hook a layer (not possible on TorchScript modules)."""


class ImageInput(Strict):
    height: int = Field(gt=0)
    width: int = Field(gt=0)
    channels: Literal[1, 3] = 1
    column: str = Field(default="image", description="Input column naming the image file (inside --images).")
    modality: str = "image"
    window: Optional[tuple[float, float]] = Field(
        default=None, description="DICOM inputs: VOI window (centre, width) after the modality LUT; the model "
                                  "card's input.window wins, then this, then the header's window.")
    normalisation: Optional[dict[Literal["mean", "std"], list[float]]] = Field(
        default=None, description="Per-channel mean and std applied to the [0, 1] image before the model "
                                  "((x - mean) / std), for models trained on standardised inputs; maps stay on the image.")
    slice_policy: Literal["middle", "max_score"] = Field(
        default="middle", description="Volumes (DICOM series, multi-frame files): 'middle' slice, or 'max_score': "
                                      "the slice with the highest calibrated probability of slice_class.")
    slice_class: Optional[str] = Field(default=None, description="max_score: the class whose probability picks the "
                                                                 "slice (default: the positive class).")
    slice_stack: bool = Field(default=False, description="2.5-D (channels: 3): the model reads the slices before, at "
                                                         "and after the chosen one as its three channels.")


class EvidenceSpec(Strict):
    """Evidence maps of an image model."""

    methods: list[str] = Field(default_factory=lambda: ["grad_cam", "integrated_gradients"])
    primary: str = "grad_cam"
    layer: Optional[str] = Field(default=None, description="Module path of the Grad-CAM layer, e.g. features.relu4.")
    target: str = Field(default="predicted", description="'predicted' or a class name.")
    options: dict[str, dict] = Field(default_factory=dict, description="Method -> options (n_steps, baselines, ...).")
    dicom_export: bool = Field(
        default=False, description="DICOM inputs: also write each evidence map as a DICOM Secondary Capture object "
                                   "referencing the source study and image (case_<id>.evidence-<n>.dcm), for PACS.")

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
    classes: list[str] = Field(default_factory=lambda: ["benign", "malignant"], min_length=2,
                               description="Class (or, for sigmoid outputs, label) names, in the order of the model's outputs.")
    output: Literal["softmax", "sigmoid"] = Field(
        default="softmax", description="'softmax': one class per case (2 or more classes); 'sigmoid': multi-label, "
                                       "each label present or absent independently (one output per label).")
    positive_class: Optional[str] = Field(
        default=None, description="Two-class softmax models: the class the threshold is on (default: the last class).")
    operating_threshold: float = Field(default=0.5, gt=0, lt=1, description="On the calibrated probability of the positive "
                                       "class (two classes) or of each label (sigmoid); not used by softmax models "
                                       "with 3 or more classes (the most probable class is the output).")
    above_threshold: str = Field(description="What crossing the threshold means (the recommended action).")
    below_threshold: str
    model_format: Literal["state_dict", "torchscript", "onnx"] = Field(
        default="state_dict", description="How the image model is stored: a torch state dict (needs 'architecture'), a "
                                          "TorchScript file (torch.jit.save) or an ONNX graph (perturbation methods only).")
    architecture: Optional[str] = Field(
        default=None, description="State dicts: a registered name (xai_reports.adapters.architectures."
                                  "CASE_REVIEW_ARCHITECTURES), 'monai.<Network>' or 'torchvision.<name>' (built with "
                                  "architecture_options), or 'module:factory' (the team's own code, imported only when "
                                  "the same value is passed explicitly: --architecture / architecture=).")
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
        if len(set(self.classes)) != len(self.classes):
            raise ValueError(f"classes {list(self.classes)} repeat a name")
        if self.positive_class is None and self.head == "binary":
            self.positive_class = self.classes[-1]
        if self.positive_class is not None and self.positive_class not in self.classes:
            raise ValueError(f"positive_class '{self.positive_class}' is not one of classes {list(self.classes)}")
        if self.kind == "image":
            needed = ("input", "evidence") + (("architecture",) if self.model_format == "state_dict" else ())
            missing = [k for k in needed if getattr(self, k) is None]
            if missing:
                raise ValueError(f"an image model needs {', '.join(missing)}")
            inp = self.input
            if inp.normalisation is not None:
                norm = inp.normalisation
                if set(norm) != {"mean", "std"} or any(len(v) != inp.channels for v in norm.values()) \
                        or min(norm["std"]) <= 0:
                    raise ValueError(f"input.normalisation needs mean and std with {inp.channels} value(s) each, "
                                     "std > 0")
            if inp.slice_stack and inp.channels != 3:
                raise ValueError("input.slice_stack (2.5-D) needs input.channels: 3 (the slices before, at and after)")
            if inp.slice_policy == "max_score":
                cls = inp.slice_class or self.positive_class
                if cls is None or cls not in self.classes:
                    raise ValueError(f"input.slice_policy max_score needs input.slice_class, one of {list(self.classes)}")
            if self.model_format == "torchscript":
                hooked = [m for m in self.evidence.methods if m in HOOK_METHODS]
                if hooked:
                    raise ValueError(f"a TorchScript model takes no layer hooks: evidence methods {hooked} cannot "
                                     "run; use integrated_gradients, saliency, smoothgrad or occlusion")
            if self.model_format == "onnx":
                grad = [m for m in self.evidence.methods if m not in PERTURBATION_METHODS]
                if grad:
                    raise ValueError(f"an ONNX model has no gradients: evidence methods {grad} cannot run; use "
                                     f"perturbation methods ({', '.join(PERTURBATION_METHODS)})")
        else:
            if not self.features:
                raise ValueError("a tabular model lists its input columns under 'features'")
            if self.head != "binary":
                raise ValueError("tabular case-review models have two softmax classes")
        return self

    @property
    def head(self) -> str:
        """``"binary"`` (two softmax classes), ``"multiclass"`` (3+ softmax classes) or ``"multilabel"`` (sigmoid)."""
        if self.output == "sigmoid":
            return "multilabel"
        return "binary" if len(self.classes) == 2 else "multiclass"


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
