"""The driving models: a small CNN decision model and an XGBoost planner over signals.

Architectures are resolved by name from :data:`ARCHITECTURES`, never imported
from user code: a pack says ``architecture: driving_cnn_v1`` and the weights
file is a plain state dict loaded with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import math
from pathlib import Path

from ..errors import ModelLoadError, PackError

PLANNER_FEATURES = ("speed_mps", "distance_to_lead_m", "ttc_s", "rel_velocity_mps")
"""The planner's input signals, in column order."""

NO_LEAD_DISTANCE = 100.0   # distance_to_lead_m when no road user is ahead in the ego lane
TTC_CAP = 10.0             # ttc_s when the gap is not closing (or no lead)


LSE_SHARPNESS = 4.0


def _torch():
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is an optional extra
        raise ModelLoadError("the driving decision model needs PyTorch (pip install 'xai-reports[torch]')") from None
    return torch


def build_driving_cnn_v1(n_classes: int = 3):
    """The decision CNN: RGB ``(n, 3, 64, 96)`` in [0, 1] -> logits ``(n, 3)``.

    Two coordinate channels are appended inside the model (CoordConv), so the
    convolutional features know where in the image they are (which lane, how far).
    A 1x1 convolution scores, at every place of a 16x24 grid, the evidence for
    ``slow`` and for ``brake``; each class's logit is a smooth maximum (log-sum-exp
    pooling) of its evidence map, and ``continue`` is a learned constant: the model
    slows or brakes only for something it finds somewhere in the image. Grad-CAM on
    ``features.relu4`` is then the evidence map of the explained class.

    Layers (each conv followed by batch norm and ReLU): conv1 5->8 stride 2,
    conv2 8->16, max-pool, conv3 16->32, conv4 32->32 (``features.relu4``, the
    Grad-CAM layer), evidence 1x1 conv 32->2, log-sum-exp pooling.

    Examples::

        >>> model = build_driving_cnn_v1()
        >>> model(torch.zeros(2, 3, 64, 96)).shape
        torch.Size([2, 3])
    """
    torch = _torch()
    nn = torch.nn

    class CoordConcat(nn.Module):
        """Appends x and y coordinate channels in [-1, 1]; centres RGB at 0."""

        def forward(self, x):
            n, _, h, w = x.shape
            ys = torch.linspace(-1, 1, h, device=x.device, dtype=x.dtype).view(1, 1, h, 1).expand(n, 1, h, w)
            xs = torch.linspace(-1, 1, w, device=x.device, dtype=x.dtype).view(1, 1, 1, w).expand(n, 1, h, w)
            return torch.cat([x - 0.5, xs, ys], dim=1)

    class DrivingCNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.coords = CoordConcat()
            self.features = nn.Sequential()
            chans = [(5, 8, 2), (8, 16, 1), (16, 32, 1), (32, 32, 1)]
            for i, (cin, cout, stride) in enumerate(chans, start=1):
                self.features.add_module(f"conv{i}", nn.Conv2d(cin, cout, 3, stride=stride, padding=1))
                self.features.add_module(f"bn{i}", nn.BatchNorm2d(cout))
                self.features.add_module(f"relu{i}", nn.ReLU())
                if i == 2:
                    self.features.add_module("pool2", nn.MaxPool2d(2))
            # local evidence for each action that needs a reason (slow, brake), one score per place
            self.evidence = nn.Conv2d(32, n_classes - 1, 1)
            self.continue_logit = nn.Parameter(torch.zeros(1))

        def evidence_map(self, x):
            """Per-place logits of the non-``continue`` classes, ``(n, n_classes - 1, 16, 24)``."""
            return self.evidence(self.features(self.coords(x)))

        def forward(self, x):
            ev = self.evidence_map(x).flatten(2)
            # log-sum-exp pooling (Pinheiro and Collobert 2015): a smooth maximum over places
            pooled = (torch.logsumexp(ev * LSE_SHARPNESS, dim=2) - math.log(ev.shape[2])) / LSE_SHARPNESS
            return torch.cat([self.continue_logit.expand(x.shape[0], 1), pooled], dim=1)

    return DrivingCNN()


ARCHITECTURES = {"driving_cnn_v1": build_driving_cnn_v1}
"""Registered decision-model architectures: name -> zero-argument builder."""

GRAD_CAM_LAYERS = {"driving_cnn_v1": "features.relu4"}


def resolve_architecture(name: str):
    """The builder registered under ``name``.

    Raises:
        PackError: an unknown name (the message lists the registered ones).
    """
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise PackError(f"unknown decision-model architecture {name!r}; registered: "
                        f"{', '.join(sorted(ARCHITECTURES))}", key_path="autonomous_driving.decision_model.architecture") from None


def load_decision_model(path, architecture: str = "driving_cnn_v1", *, device: str = "auto"):
    """Load decision-model weights (a state dict) into a registered architecture.

    Args:
        path: ``.pt``/``.pth`` state dict file.
        architecture: a name in :data:`ARCHITECTURES`.
        device: ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``.

    Returns:
        A :class:`~xai_reports.adapters.torch.TorchAdapter` with ``output_space == "logit"``.

    Examples::

        >>> adapter = load_decision_model("model/decision_cnn.pt")
        >>> adapter.predict(x, output="probability").shape
        (n, 3)
    """
    from ..adapters import load_model

    builder = resolve_architecture(architecture)
    return load_model(Path(path), architecture=builder, device=device)


def load_planner(path):
    """Load the planner (XGBoost JSON/UBJ) with its :data:`PLANNER_FEATURES` names.

    Returns:
        An :class:`~xai_reports.adapters.xgboost.XGBoostAdapter` (margin = log-odds of ``brake``).
    """
    from ..adapters import load_model

    return load_model(Path(path), feature_names=list(PLANNER_FEATURES))


__all__ = ["ARCHITECTURES", "GRAD_CAM_LAYERS", "PLANNER_FEATURES", "NO_LEAD_DISTANCE", "TTC_CAP",
           "build_driving_cnn_v1", "resolve_architecture", "load_decision_model", "load_planner"]
