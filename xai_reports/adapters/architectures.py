"""Model architectures of the healthcare pack, by name.

A torch state dict holds weights only; the code that receives them is chosen
here, from a fixed registry, by the name the pack gives
(``healthcare.models.<id>.architecture``). No user code is ever imported, and
weights are read with ``torch.load(weights_only=True)``
(:func:`xai_reports.adapters.load_model`).
"""

from __future__ import annotations

from collections import OrderedDict

from ..errors import ModelLoadError


def _torch():
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is an optional dependency
        raise ModelLoadError("the imaging model needs PyTorch (pip install 'xai-reports[torch]')") from None
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


ARCHITECTURES = {
    "lesion_cnn": lesion_cnn,
}


def build_architecture(name: str, **options):
    """A fresh module of the registered architecture ``name``.

    Args:
        name: a key of :data:`ARCHITECTURES` (the pack's ``architecture``).
        **options: keyword arguments of the architecture (from the pack).

    Raises:
        ModelLoadError: an unknown name (never resolved by importing code).

    Examples::

        >>> build_architecture("lesion_cnn").features.conv4
        Conv2d(32, 32, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
    """
    try:
        factory = ARCHITECTURES[name]
    except KeyError:
        raise ModelLoadError(f"unknown architecture {name!r}; registered: {', '.join(sorted(ARCHITECTURES))}") from None
    try:
        return factory(**options)
    except TypeError as exc:
        raise ModelLoadError(f"architecture {name!r}: bad options {options} ({exc})") from None


__all__ = ["ARCHITECTURES", "build_architecture", "lesion_cnn"]
