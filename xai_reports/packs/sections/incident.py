"""The ``incident:`` section of a pack (was ``autonomous_driving:``): incident reports."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, field_validator, model_validator

from ..fields import Strict


class DecisionModelSpec(Strict):
    """The image decision model: a registered architecture receiving a state dict (TorchScript and ONNX carry theirs)."""

    architecture: str = Field(description="A name registered in xai_reports.adapters.architectures.INCIDENT_ARCHITECTURES, "
                                          "or torchvision.<network> (a torchvision classifier with num_classes = len(classes)); "
                                          "used when --model is a state dict (TorchScript and ONNX files carry their own graph).")
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
        from ...adapters.architectures import INCIDENT_ARCHITECTURES  # a plain dict; importing it does not import torch

        if v not in INCIDENT_ARCHITECTURES and not v.startswith("torchvision."):
            raise ValueError(f"unknown architecture {v!r}; registered: {', '.join(sorted(INCIDENT_ARCHITECTURES))}, "
                             "or torchvision.<network> (architectures are never imported from user code)")
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


class SignalTopic(Strict):
    """Where one vehicle signal is in the log: a topic and a dotted field path in its message."""

    topic: str = Field(min_length=1)
    field: str = Field(min_length=1, pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\[\d+\])?(\.[A-Za-z_][A-Za-z0-9_]*(\[\d+\])?)*$",
                       description="Dotted field path in the message, e.g. twist.linear.x or results[0].score.")


class EventTopic(Strict):
    """A topic of logged events (std_msgs/String), and the source printed with them."""

    topic: str = Field(min_length=1)
    source: str = "log"


def _default_signals() -> dict:
    lead = "/ads/lead"
    return {"speed_mps": SignalTopic(topic="/vehicle/twist", field="twist.linear.x"),
            "accel_mps2": SignalTopic(topic="/vehicle/accel", field="accel.linear.x"),
            "recorded_request": SignalTopic(topic="/ads/request", field="data"),
            "distance_to_lead_m": SignalTopic(topic=lead, field="distance_m"),
            "ttc_s": SignalTopic(topic=lead, field="ttc_s"),
            "rel_velocity_mps": SignalTopic(topic=lead, field="rel_velocity_mps"),
            "lead_object_id": SignalTopic(topic=lead, field="id"),
            "lead_class": SignalTopic(topic=lead, field="class_name")}


SIGNAL_NAMES = ("speed_mps", "accel_mps2", "steering_rad", "recorded_request", "distance_to_lead_m", "ttc_s",
                "rel_velocity_mps", "lead_object_id", "lead_class")


class LogTopics(Strict):
    """The topic map of MCAP / ROS 2 logs: which topic is which (data, not code)."""

    camera: str = Field(default="/camera/front/image/compressed",
                        description="sensor_msgs/msg/Image or CompressedImage; one message per frame.")
    signals: dict[str, SignalTopic] = Field(
        default_factory=_default_signals,
        description=f"Signal name -> topic and field. Names: {', '.join(SIGNAL_NAMES)}; speed_mps, "
                    "distance_to_lead_m, ttc_s and rel_velocity_mps are required.")
    objects: Optional[str] = Field(default="/ground_truth/objects",
                                   description="vision_msgs/msg/Detection2DArray: the objects whose attribution "
                                               "shares are measured (ground truth or log annotations).")
    detections: Optional[str] = Field(default="/perception/detections",
                                      description="vision_msgs/msg/Detection2DArray: the ADS's own detections with "
                                                  "confidence (used as objects when there is no objects topic).")
    scene: Optional[str] = Field(default="/ground_truth/scene",
                                 description="std_msgs/String JSON scene descriptions (synthetic clips only).")
    events: list[EventTopic] = Field(default_factory=lambda: [EventTopic(topic="/ads/events", source="log"),
                                                              EventTopic(topic="/ground_truth/events",
                                                                         source="ground truth")])
    sync_tolerance_s: float = Field(default=0.05, gt=0, le=1,
                                    description="Each camera frame takes each signal's nearest preceding sample; "
                                                "one older than this is an error.")

    @field_validator("signals")
    @classmethod
    def _names(cls, v):
        unknown = sorted(set(v) - set(SIGNAL_NAMES))
        if unknown:
            raise ValueError(f"unknown signal name(s) {unknown}; known: {', '.join(SIGNAL_NAMES)}")
        missing = [n for n in ("speed_mps", "distance_to_lead_m", "ttc_s", "rel_velocity_mps") if n not in v]
        if missing:
            raise ValueError(f"the planner's signals {missing} need a topic")
        return v


class CrossCheckSpec(Strict):
    """Tolerances of the cross-check between the incident file and the log."""

    speed_limit_mph: float = Field(default=2.0, ge=0, description="posted speed limit (km/h signs round to mph)")
    speed_mph: float = Field(default=2.0, ge=0, description="pre-crash speed")
    seconds: float = Field(default=0.15, ge=0, description="SPI observations and timings in seconds")
    metres: float = Field(default=1.0, ge=0, description="SPI observations in metres")


class PerceptionModelSpec(Strict):
    """The team's own detector (``xai-reports incident --detector FILE``): form, classes, attribution methods."""

    form: Literal["torchscript", "onnx", "torchvision"] = Field(
        description="torchscript / onnx archive, or a torchvision architecture loaded from a state dict.")
    architecture: Optional[str] = Field(default=None, description="torchvision form: e.g. fasterrcnn_resnet50_fpn, "
                                                                   "retinanet_resnet50_fpn, ssdlite320_mobilenet_v3_large.")
    num_classes: Optional[int] = Field(default=None, ge=2, description="torchvision form: classes incl. background.")
    classes: dict[int, str] = Field(default_factory=dict, description="Label index -> class name.")
    score_threshold: float = Field(default=0.5, gt=0, lt=1)
    methods: list[Literal["grad_cam", "d_rise", "occlusion"]] = Field(
        default_factory=lambda: ["grad_cam", "d_rise", "occlusion"],
        description="Attributions for the detection (grad_cam needs a torch form; ONNX models get the others).")
    options: dict[str, dict] = Field(default_factory=dict, description="Per-method options (grad_cam: layer; "
                                                                         "d_rise: n_masks, grid, seed; occlusion: window, stride).")
    match_iou: float = Field(default=0.3, gt=0, le=1, description="IoU a detection needs with an object's box to be "
                                                                    "that object's detection.")

    @model_validator(mode="after")
    def _tv(self):
        if self.form == "torchvision" and not self.architecture:
            raise ValueError("the torchvision form needs architecture (e.g. fasterrcnn_resnet50_fpn)")
        return self


class RedactionSpec(Strict):
    """Faces and plates blurred in every printed frame when the incident file asks (privacy)."""

    classes: list[str] = Field(default_factory=lambda: ["face", "person_face", "licence_plate", "license_plate"],
                               description="Object / detection classes that are redacted.")
    block_px: int = Field(default=4, ge=2, le=32, description="Pixelation block size, in frame pixels.")
    margin_px: int = Field(default=1, ge=0, le=16, description="Pixels added around each box.")


class IncidentSection(Strict):
    """Settings of an incident report (``incident:``, was ``autonomous_driving:``)."""

    decision_model: DecisionModelSpec
    image_explanation: ImageExplanationSpec = Field(default_factory=ImageExplanationSpec)
    planner: PlannerSpec = Field(default_factory=PlannerSpec)
    odd: ODDSpec
    event_min_duration_s: float = Field(
        default=0.2, ge=0, le=5, description="A replayed request becomes a timeline event once it persists this long.")
    synthetic_data: bool = Field(default=True, description="Label every page and image as SYNTHETIC.")
    log_topics: LogTopics = Field(default_factory=LogTopics, description="Topic map of MCAP / ROS 2 logs.")
    cross_check: CrossCheckSpec = Field(default_factory=CrossCheckSpec)
    perception_model: Optional[PerceptionModelSpec] = Field(
        default=None, description="The team's own detector, explained on the key frames when one is given.")
    redaction: RedactionSpec = Field(default_factory=RedactionSpec)
    max_deceleration_mps2: float = Field(default=7.0, gt=0, le=15,
                                         description="Deceleration assumed for the stopping distance needed.")
    saliency_caveat: str = Field(
        default=("Heatmaps show where the model's output is sensitive to the image; they are not object "
                 "detections, do not prove what the model 'saw', and can look plausible for a wrong decision. "
                 "The occlusion test checks the named object by removing it from the frame."),
        description="The limitation statement printed with every heatmap (REGULATORY.md §5 rule 6).")
