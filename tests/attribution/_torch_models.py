"""Small torch models shared by the gradient / CAM / LRP / occlusion tests (built in code, seeded)."""

from __future__ import annotations

import torch
from torch import nn


def mlp(d=5, k=3, act=nn.ReLU, seed=0, double=False, hidden=16):
    torch.manual_seed(seed)
    m = nn.Sequential(nn.Linear(d, hidden), act(), nn.Linear(hidden, hidden), act(), nn.Linear(hidden, k))
    m.eval()
    return m.double() if double else m


def linear(d=4, k=1, seed=0, double=True):
    torch.manual_seed(seed)
    m = nn.Linear(d, k)
    m.eval()
    return m.double() if double else m


class SmallCNN(nn.Module):
    """conv-relu-pool-conv-relu, then global average pooling and a linear head (4 classes)."""

    def __init__(self, seed=0, k=4, boom=False):
        super().__init__()
        torch.manual_seed(seed)
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(8, 16, 3, padding=1), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, k)
        self.boom = boom

    def forward(self, x):
        h = self.features(x)
        if self.boom:
            raise RuntimeError("boom")
        return self.fc(self.pool(h).flatten(1))


def cnn(seed=0, double=False, **kw):
    m = SmallCNN(seed=seed, **kw).eval()
    return m.double() if double else m


def images(n=4, size=16, seed=1, double=False):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand((n, 3, size, size), generator=g)
    return x.double() if double else x


def hooks_left(module):
    """Number of forward/backward hooks still registered anywhere in ``module``."""
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
               + len(getattr(m, "_backward_pre_hooks", {})) for m in module.modules())


def seed_batchnorm(model, generator, var=(0.4, 1.6)):
    """Move every ``BatchNorm2d``'s statistics and affine parameters away from the identity (seeded), so
    folding it into a convolution is a real test; returns the model in eval mode."""
    for mod in model.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.running_mean.normal_(0, 0.2, generator=generator)
            mod.running_var.uniform_(*var, generator=generator)
            mod.weight.data.uniform_(0.5, 1.5, generator=generator)
            mod.bias.data.normal_(0, 0.2, generator=generator)
    return model.eval()
