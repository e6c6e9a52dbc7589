"""The incident report's models: a registered decision CNN and an XGBoost planner over signals.

The decision model's architecture is resolved by name from
:data:`~xai_reports.adapters.architectures.INCIDENT_ARCHITECTURES`, never imported
from user code: a pack says ``architecture: driving_cnn_v1`` and the weights
file is a plain state dict loaded with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

from pathlib import Path

from ...adapters import load_model
from ...adapters.architectures import resolve_architecture

PLANNER_FEATURES = ("speed_mps", "distance_to_lead_m", "ttc_s", "rel_velocity_mps")
"""The planner's input signals, in column order."""

NO_LEAD_DISTANCE = 100.0   # distance_to_lead_m when no road user is ahead in the ego lane
TTC_CAP = 10.0             # ttc_s when the gap is not closing (or no lead)


def load_decision_model(path, architecture: str = "driving_cnn_v1", *, device: str = "auto"):
    """Load decision-model weights (a state dict) into a registered architecture.

    Args:
        path: ``.pt``/``.pth`` state dict file.
        architecture: a name in :data:`~xai_reports.adapters.architectures.INCIDENT_ARCHITECTURES`.
        device: ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``.

    Returns:
        A :class:`~xai_reports.adapters.torch.TorchAdapter` with ``output_space == "logit"``.

    Examples::

        >>> adapter = load_decision_model("model/decision_cnn.pt")
        >>> adapter.predict(x, output="probability").shape
        (n, 3)
    """
    builder = resolve_architecture(architecture)
    return load_model(Path(path), architecture=builder, device=device)


def load_planner(path):
    """Load the planner (XGBoost JSON/UBJ) with its :data:`PLANNER_FEATURES` names.

    Returns:
        An :class:`~xai_reports.adapters.xgboost.XGBoostAdapter` (margin = log-odds of ``brake``).
    """
    return load_model(Path(path), feature_names=list(PLANNER_FEATURES))


__all__ = ["PLANNER_FEATURES", "NO_LEAD_DISTANCE", "TTC_CAP", "load_decision_model", "load_planner"]
