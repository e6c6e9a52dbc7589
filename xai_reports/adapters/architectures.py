"""Registered torch model architectures, by name, one registry per document kind.

A torch state dict holds weights only; the code that receives them is chosen
here, from a fixed registry, by the name the pack gives: case reviews
(``case_review.models.<id>.architecture``, :data:`CASE_REVIEW_ARCHITECTURES`)
and incident reports (``incident.decision_model.architecture``,
:data:`INCIDENT_ARCHITECTURES`). No user code is ever imported, and weights are
read with ``torch.load(weights_only=True)`` (:func:`xai_reports.adapters.load_model`).
Importing this module does not import torch.
"""

from __future__ import annotations

import math
from collections import OrderedDict

from ..errors import ModelLoadError, PackError


def _torch(needed_by: str = "the imaging model"):
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is an optional dependency
        raise ModelLoadError(f"{needed_by} needs PyTorch (pip install 'xai-reports[torch]')") from None
    return torch


def lesion_cnn(in_channels: int = 1, n_classes: int = 2, width: int = 8, mean: float = 0.45, std: float = 0.12):
    """A small CNN for ``64 x 64`` grey-level lesion images.

    The input (grey levels in ``[0, 1]``) is standardised with the fixed
    ``mean``/``std`` of the synthetic tissue; four 3x3 convolution + batch-norm blocks (``width``, ``2 width``, ``4 width``, ``4 width``
    channels; max-pooling after the first three, so the last block is ``8 x 8``),
    global average pooling (the embedding used for similar cases) and a linear
    classifier giving ``n_classes`` logits. The last convolution block,
    ``features.relu4``, is the Grad-CAM layer.

    Args:
        in_channels: image channels (1 for grey levels).
        n_classes: output logits (2: benign, malignant).
        width: channels of the first block.
        mean, std: input standardisation constants.

    Returns:
        A ``torch.nn.Module`` with ``.embed(x) -> (n, 4 width)`` and
        ``forward(x) -> (n, n_classes)`` logits.

    Examples::

        >>> net = lesion_cnn()
        >>> net(torch.zeros(2, 1, 64, 64)).shape
        torch.Size([2, 2])
    """
    torch = _torch()
    nn = torch.nn

    class LesionCNN(nn.Module):
        def __init__(self):
            super().__init__()
            w = width
            self.features = nn.Sequential(OrderedDict([
                ("conv1", nn.Conv2d(in_channels, w, 3, padding=1)), ("bn1", nn.BatchNorm2d(w)),
                ("relu1", nn.ReLU()), ("pool1", nn.MaxPool2d(2)),
                ("conv2", nn.Conv2d(w, 2 * w, 3, padding=1)), ("bn2", nn.BatchNorm2d(2 * w)),
                ("relu2", nn.ReLU()), ("pool2", nn.MaxPool2d(2)),
                ("conv3", nn.Conv2d(2 * w, 4 * w, 3, padding=1)), ("bn3", nn.BatchNorm2d(4 * w)),
                ("relu3", nn.ReLU()), ("pool3", nn.MaxPool2d(2)),
                ("conv4", nn.Conv2d(4 * w, 4 * w, 3, padding=1)), ("bn4", nn.BatchNorm2d(4 * w)),
                ("relu4", nn.ReLU()),
            ]))
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.classifier = nn.Linear(4 * w, n_classes)

        def embed(self, x):
            """The penultimate representation ``(n, 4 width)`` (for similar reference cases)."""
            return self.pool(self.features((x - mean) / std)).flatten(1)

        def forward(self, x):
            return self.classifier(self.embed(x))

    return LesionCNN()


CASE_REVIEW_ARCHITECTURES = {
    "lesion_cnn": lesion_cnn,
}
"""Case-review image models: name -> builder taking the pack's ``architecture_options``."""


def build_architecture(name: str, **options):
    """A fresh module of the registered architecture ``name``.

    Args:
        name: a key of :data:`CASE_REVIEW_ARCHITECTURES` (the pack's ``architecture``).
        **options: keyword arguments of the architecture (from the pack).

    Raises:
        ModelLoadError: an unknown name (never resolved by importing code).

    Examples::

        >>> build_architecture("lesion_cnn").features.conv4
        Conv2d(32, 32, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
    """
    try:
        factory = CASE_REVIEW_ARCHITECTURES[name]
    except KeyError:
        raise ModelLoadError(f"unknown architecture {name!r}; registered: "
                             f"{', '.join(sorted(CASE_REVIEW_ARCHITECTURES))}") from None
    try:
        return factory(**options)
    except TypeError as exc:
        raise ModelLoadError(f"architecture {name!r}: bad options {options} ({exc})") from None


def is_code_reference(name: str) -> bool:
    """``"package.module:factory"``: the team's own code (imported only when passed explicitly)."""
    return ":" in name


def resolve_case_review_architecture(name: str, options: dict | None = None, *, allow_code: str | None = None):
    """A fresh module for a case-review state dict, built from data, or from code the caller named.

    Args:
        name: a registered name (:data:`CASE_REVIEW_ARCHITECTURES`); ``"monai.<Network>"`` (a class of
            ``monai.networks.nets``) or ``"torchvision.<name>"`` (``torchvision.models.get_model``, no
            weights), built with ``options`` as keyword arguments; or ``"module:factory"``, the team's own
            builder, imported only when ``allow_code`` is that same string (``--architecture`` /
            ``architecture=``: code is never imported because a pack or card names it).
        options: keyword arguments of the network.
        allow_code: the ``module:factory`` the caller passed explicitly, or ``None``.

    Raises:
        ModelLoadError: unknown name, a library that is not installed, code not allowed, bad options.

    Examples::

        >>> resolve_case_review_architecture("monai.DenseNet121", {"spatial_dims": 2, "in_channels": 1,
        ...                                                        "out_channels": 3})  # doctest: +SKIP
    """
    import importlib
    import re

    options = dict(options or {})
    if is_code_reference(name):
        if allow_code != name:
            raise ModelLoadError(f"architecture {name!r} is code; it is imported only when passed explicitly "
                                 f"(--architecture {name} on the command line, architecture={name!r} in the API)")
        mod_name, _, attr = name.partition(":")
        if not re.fullmatch(r"[A-Za-z_][\w.]*", mod_name) or not re.fullmatch(r"[A-Za-z_]\w*", attr):
            raise ModelLoadError(f"architecture {name!r}: expected 'package.module:factory'")
        try:
            factory = getattr(importlib.import_module(mod_name), attr)
        except (ImportError, AttributeError) as exc:
            raise ModelLoadError(f"architecture {name!r}: cannot import it ({exc})") from None
    elif name.startswith(("monai.", "torchvision.")):
        lib, _, net = name.partition(".")
        if not re.fullmatch(r"[A-Za-z_]\w*", net):
            raise ModelLoadError(f"architecture {name!r}: expected '{lib}.<NetworkName>'")
        try:
            if lib == "monai":
                factory = getattr(importlib.import_module("monai.networks.nets"), net)
            else:
                models = importlib.import_module("torchvision.models")
                factory = lambda **kw: models.get_model(net, weights=None, **kw)  # noqa: E731
        except (ImportError, RuntimeError, OSError) as exc:   # torchvision built for another torch fails at import
            raise ModelLoadError(f"architecture {name!r} needs {lib} (pip install {lib}): "
                                 f"{str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__}") from None
        except AttributeError:
            raise ModelLoadError(f"architecture {name!r}: {lib} has no network {net!r}") from None
    else:
        return build_architecture(name, **options)
    try:
        module = factory(**options)
    except (TypeError, ValueError) as exc:
        raise ModelLoadError(f"architecture {name!r}: bad options {options} ({exc})") from None
    _torch()
    import torch

    if not isinstance(module, torch.nn.Module):
        raise ModelLoadError(f"architecture {name!r} did not return a torch.nn.Module")
    return module


# --------------------------------------------------------------------------- incident reports
LSE_SHARPNESS = 4.0


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
    torch = _torch("the driving decision model")
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


INCIDENT_ARCHITECTURES = {"driving_cnn_v1": build_driving_cnn_v1}
"""Incident decision-model architectures: name -> zero-argument builder."""

GRAD_CAM_LAYERS = {"driving_cnn_v1": "features.relu4"}
"""The Grad-CAM layer of each incident decision-model architecture."""


def resolve_architecture(name: str):
    """The incident decision-model builder registered under ``name``.

    Raises:
        PackError: an unknown name (the message lists the registered ones).
    """
    try:
        return INCIDENT_ARCHITECTURES[name]
    except KeyError:
        raise PackError(f"unknown decision-model architecture {name!r}; registered: "
                        f"{', '.join(sorted(INCIDENT_ARCHITECTURES))}",
                        key_path="autonomous_driving.decision_model.architecture") from None


__all__ = ["CASE_REVIEW_ARCHITECTURES", "INCIDENT_ARCHITECTURES", "GRAD_CAM_LAYERS", "build_architecture",
           "resolve_case_review_architecture", "is_code_reference",
           "resolve_architecture", "lesion_cnn", "build_driving_cnn_v1"]
