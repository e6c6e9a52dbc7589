"""A hospital team's own image model and data, unlike the demo's (RGB 3 x 96 x 80, coloured blobs).

``build`` is the team's factory, named in the test pack as ``_team_nets:build`` (imported only when the
test passes ``architecture="_team_nets:build"``). Its weights are set by hand so that every logit is an
analytic function of the image: ``logit_k = scale * (mean of colour channel k) + bias_k`` (a 3x3
identity convolution, ReLU, global average pooling, a diagonal linear head).
"""

from __future__ import annotations

import numpy as np

H, W = 96, 80
SCALE = 200.0


def build(n_classes: int = 3, in_channels: int = 3):
    import torch

    class TeamNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.features = torch.nn.Sequential(torch.nn.Conv2d(in_channels, in_channels, 3, padding=1),
                                                torch.nn.ReLU())
            self.head = torch.nn.Linear(in_channels, n_classes)

        def forward(self, x):
            return self.head(self.features(x).mean(dim=(2, 3)))

    return TeamNet()


def set_weights(net, bias: float = 0.0):
    import torch

    with torch.no_grad():
        conv, head = net.features[0], net.head
        conv.weight.zero_()
        conv.bias.zero_()
        for k in range(conv.weight.shape[0]):
            conv.weight[k, k, 1, 1] = 1.0
        head.weight.zero_()
        for k in range(head.weight.shape[0]):
            head.weight[k, k % head.weight.shape[1]] = SCALE
        head.bias.fill_(bias)
    return net.eval()


def make_images(n: int, seed: int, *, multilabel: bool = False, n_classes: int = 3):
    """``(n, 3, 96, 80)`` images in [0, 1] and labels: class index (softmax) or ``(n, 3)`` 0/1 (multi-label)."""
    rng = np.random.default_rng(seed)
    X = np.clip(0.3 + 0.04 * rng.standard_normal((n, 3, H, W)), 0, 1)
    yy, xx = np.mgrid[0:H, 0:W]
    ys = []
    for i in range(n):
        present = (np.flatnonzero(rng.random(3) < 0.5) if multilabel else [int(rng.integers(n_classes))])
        for k in present:
            cy, cx, r = rng.uniform(20, H - 20), rng.uniform(20, W - 20), rng.uniform(9, 16)
            blob = ((yy - cy) ** 2 + (xx - cx) ** 2) <= r * r
            X[i, k][blob] = np.clip(X[i, k][blob] + rng.uniform(0.15, 0.5), 0, 1)
        ys.append([int(k in present) for k in range(3)] if multilabel else int(present[0]))
    return X.astype(np.float32), np.asarray(ys)


def write_pngs(X, folder, prefix):
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i, x in enumerate(X):
        name = f"{prefix}_{i:03d}.png"
        Image.fromarray(np.rint(x.transpose(1, 2, 0) * 255).astype(np.uint8), "RGB").save(folder / name)
        names.append(name)
    return names
