"""A tiny torchvision-style detector built in the tests: red and blue squares on an 8 px grid.

Each grid cell is one candidate box; its score is sigmoid(12 x (mean red - mean green) - 4)
(label 1, 'red') or the same with blue (label 2), so a detection's score depends on the
pixels of its own cell and nothing else: the independent truth the attribution tests use.
"""

from typing import Dict, List

import torch
import torch.nn as nn

CELL = 8


RED_BLUE = ((12.0, -12.0, 0.0), (0.0, -12.0, 12.0))     # per class: weights on mean R, G, B
YELLOW_BLUE = ((6.0, 6.0, -12.0), (0.0, -12.0, 12.0))   # the synthetic clips' pedestrian (yellow) and car (blue)


class TinyDetector(nn.Module):
    def __init__(self, colours=RED_BLUE, cell: int = CELL, gain: float = 1.0):
        super().__init__()
        self.cell = cell
        self.features = nn.Conv2d(3, 2, cell, stride=cell)
        with torch.no_grad():
            w = torch.zeros(2, 3, cell, cell)
            for c, ws in enumerate(colours):
                for ch, v in enumerate(ws):
                    w[c, ch] = gain * v / cell ** 2
            self.features.weight.copy_(w)
            self.features.bias.fill_(0.0)

    def forward(self, images: List[torch.Tensor]) -> List[Dict[str, torch.Tensor]]:
        f = torch.relu(self.features(torch.stack(images)))
        out: List[Dict[str, torch.Tensor]] = []
        for k in range(f.shape[0]):
            s, lab = torch.sigmoid(f[k] - 4.0).max(0)
            h, w = s.shape[0], s.shape[1]
            ys = torch.arange(h).reshape(h, 1).expand(h, w).reshape(-1).float() * self.cell
            xs = torch.arange(w).reshape(1, w).expand(h, w).reshape(-1).float() * self.cell
            out.append({"boxes": torch.stack([xs, ys, xs + self.cell, ys + self.cell], 1), "scores": s.reshape(-1),
                        "labels": lab.reshape(-1) + 1})
        return out


class OneImage(nn.Module):
    """The ONNX form: one (3, H, W) image in, (boxes, scores, labels) out."""

    def __init__(self, det):
        super().__init__()
        self.det = det

    def forward(self, image):
        d = self.det([image])[0]
        return d["boxes"], d["scores"], d["labels"]


def save_torchscript(path, colours=RED_BLUE, **kw):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.script(TinyDetector(colours, **kw).eval()), str(path))
    return path


def save_onnx(path, height=64, width=96, colours=RED_BLUE, **kw):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(OneImage(TinyDetector(colours, **kw).eval()), (torch.rand(3, height, width),), str(path),
                          input_names=["image"], output_names=["boxes", "scores", "labels"], dynamo=False,
                          dynamic_axes={"image": {1: "height", 2: "width"}},
                          opset_version=17)
    return path
