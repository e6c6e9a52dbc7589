"""Training the driving models on SYNTHETIC data (seeded, CPU-friendly).

* :func:`train_decision_model`: the CNN on rendered scenes labelled by the
  documented rule (:func:`examples.driving_synthetic.scenes.correct_action`);
* :func:`train_planner`: an XGBoost classifier of ``P(brake)`` over the
  signals in :data:`~xai_reports.documents.incident.models.PLANNER_FEATURES`, labelled by
  :func:`planner_rule`.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from xai_reports.adapters.architectures import build_driving_cnn_v1
from xai_reports.documents.incident.models import NO_LEAD_DISTANCE, PLANNER_FEATURES, TTC_CAP

from .scenes import make_dataset

COMFORT_DECEL = 5.0   # m/s^2, the planner rule's braking capability
MIN_GAP = 3.0         # m, the standstill gap the planner keeps
TTC_BRAKE = 2.5       # s


def planner_rule(speed, distance, ttc, rel_velocity):
    """The planner's documented labelling rule: brake when the gap is critical.

    ``brake`` iff a lead road user is present (``distance < NO_LEAD_DISTANCE``) and
    either ``ttc <= 2.5 s`` or the gap is shorter than the stopping distance at
    5 m/s^2 plus 3 m, counting the lead's own motion
    (``distance <= max(v^2 - v_lead^2, 0) / (2 * 5) + 3`` with ``v_lead = v + rel_velocity``).

    Args:
        speed, distance, ttc, rel_velocity: arrays of the same shape (m/s, m, s, m/s;
            ``rel_velocity`` < 0 means the gap is closing).

    Returns:
        Boolean array: ``True`` where braking is required.
    """
    speed, distance = np.asarray(speed, float), np.asarray(distance, float)
    ttc, rel = np.asarray(ttc, float), np.asarray(rel_velocity, float)
    lead_speed = np.clip(speed + rel, 0, None)
    stopping = np.clip(speed ** 2 - lead_speed ** 2, 0, None) / (2 * COMFORT_DECEL) + MIN_GAP
    present = distance < NO_LEAD_DISTANCE
    return present & ((ttc <= TTC_BRAKE) | (distance <= stopping))


def signals_from(speed, distance, rel_velocity):
    """``ttc_s`` from speed, gap and relative velocity (capped at :data:`TTC_CAP`)."""
    distance = np.asarray(distance, float)
    closing = -np.asarray(rel_velocity, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ttc = np.where(closing > 1e-6, distance / np.maximum(closing, 1e-6), TTC_CAP)
    return np.minimum(ttc, TTC_CAP)


def planner_dataset(n: int, seed: int = 0):
    """``(X, y)``: ``n`` random signal vectors (DataFrame, :data:`PLANNER_FEATURES`) and rule labels."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    speed = rng.uniform(0, 20, n)
    distance = rng.uniform(1, 80, n)
    lead_speed = np.clip(speed + rng.normal(-3, 5, n), 0, None)
    lead_speed[rng.uniform(size=n) < 0.1] = 0.0  # a stationary or just-appeared road user
    rel = lead_speed - speed
    none = rng.uniform(size=n) < 0.15
    distance[none], rel[none] = NO_LEAD_DISTANCE, 0.0
    ttc = signals_from(speed, distance, rel)
    X = pd.DataFrame({"speed_mps": speed, "distance_to_lead_m": distance, "ttc_s": ttc, "rel_velocity_mps": rel},
                     columns=list(PLANNER_FEATURES))
    y = planner_rule(speed, distance, ttc, rel).astype(int)
    return X, y


def train_planner(n: int = 20000, seed: int = 0):
    """Train the XGBoost planner (``P(brake)``) on :func:`planner_dataset`.

    Returns:
        ``(model, info)``: an ``xgboost.XGBClassifier`` and ``{"accuracy_holdout", "n_train"}``.

    Examples::

        >>> model, info = train_planner(5000)
        >>> info["accuracy_holdout"] > 0.97
        True
    """
    import xgboost as xgb

    X, y = planner_dataset(n, seed)
    Xh, yh = planner_dataset(max(n // 4, 500), seed + 1)
    model = xgb.XGBClassifier(n_estimators=150, max_depth=4, learning_rate=0.15, tree_method="hist",
                              random_state=seed, n_jobs=1, eval_metric="logloss")
    model.fit(X, y)
    acc = float((model.predict(Xh) == yh).mean())
    return model, {"accuracy_holdout": acc, "n_train": n, "rule": "planner_rule (see docstring)"}


def train_decision_model(n_train: int = 2400, *, epochs: int = 12, seed: int = 0, batch_size: int = 64,
                         lr: float = 1e-2, n_val: int = 600, progress: bool = False, threads: int | None = None):
    """Train the decision CNN on rendered SYNTHETIC scenes.

    Args:
        n_train: training images (balanced over the three actions).
        epochs: passes over the training images.
        seed: seeds data, initialisation and batch order (same seed, same weights on CPU).
        n_val: held-out images for the reported accuracy.
        progress: show a rich progress bar.
        threads: torch CPU threads (default: leave torch's setting).

    Returns:
        ``(module, info)``: the trained ``torch.nn.Module`` (eval mode, CPU) and
        ``{"accuracy_val", "confusion_val", "n_train", "epochs", "seconds"}``.

    Examples::

        >>> model, info = train_decision_model(600, epochs=2)
        >>> sorted(info)
        ['accuracy_val', 'confusion_val', 'epochs', 'n_train', 'n_val', 'seconds', 'seed']
    """
    import torch

    t0 = time.time()
    old_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        return _train(n_train, epochs, seed, batch_size, lr, n_val, progress, t0)
    finally:
        torch.set_num_threads(old_threads)


def _train(n_train, epochs, seed, batch_size, lr, n_val, progress, t0):
    import torch

    torch.manual_seed(seed)
    train = make_dataset(n_train, seed=seed)
    val = make_dataset(n_val, seed=seed + 10_000)
    x, y = train.tensors()
    # light photometric augmentation: brightness jitter, so the model does not key on exposure
    model = build_driving_cnn_v1()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * ((len(y) + batch_size - 1) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.2)
    gen = torch.Generator().manual_seed(seed)
    loss_fn = torch.nn.CrossEntropyLoss()
    bar = None
    if progress:
        from rich.progress import Progress

        bar = Progress(transient=True)
        bar.start()
        task = bar.add_task("training decision CNN", total=steps)
    try:
        model.train()
        for _ in range(epochs):
            perm = torch.randperm(len(y), generator=gen)
            for i in range(0, len(y), batch_size):
                idx = perm[i:i + batch_size]
                xb = x[idx]
                gain = 0.8 + 0.4 * torch.rand(len(idx), 1, 1, 1, generator=gen)
                xb = (xb * gain).clamp_(0, 1)
                loss = loss_fn(model(xb), y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                if bar:
                    bar.advance(task)
    finally:
        if bar:
            bar.stop()
    model.eval()
    xv, yv = val.tensors()
    with torch.no_grad():
        pred = model(xv).argmax(1)
    conf = np.zeros((3, 3), dtype=int)
    for t, p in zip(yv.numpy(), pred.numpy()):
        conf[t, p] += 1
    info = {"accuracy_val": float((pred == yv).float().mean()), "confusion_val": conf.tolist(),
            "n_train": n_train, "n_val": n_val, "epochs": epochs, "seed": seed,
            "seconds": round(time.time() - t0, 1)}
    return model, info


def _tensor_sha256(model) -> str:
    """The hash :class:`~xai_reports.adapters.torch.TorchAdapter` reports as ``weights_sha256``."""
    import hashlib

    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return hashlib.sha256(h.digest()).hexdigest()


def save_decision_model(model, path) -> Path:
    """Save the CNN's weights as a plain state dict (loadable with ``weights_only=True``)."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, path)
    return path


def save_planner(model, path) -> Path:
    """Save the planner as XGBoost JSON (no pickle)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    booster = model.get_booster() if hasattr(model, "get_booster") else model
    booster.feature_names = list(PLANNER_FEATURES)
    booster.save_model(str(path))
    return path


__all__ = ["train_decision_model", "train_planner", "planner_dataset", "planner_rule", "signals_from",
           "save_decision_model", "save_planner"]


def train_and_save(out_dir, *, seed: int = 0, progress: bool = False, threads: int | None = 1, **cnn_options) -> dict:
    """Train both models and write ``decision_cnn.pt``, ``planner_xgb.json`` and ``model_card.json``.

    With the default ``threads=1`` the weights are the same bit for bit on every run on the
    same processor (more threads change the order of floating-point sums; another processor may
    get other torch CPU kernels, which round differently); the shipped weights were made
    this way (``python -m examples.driving_synthetic.training OUT_DIR``).

    Returns:
        The model card (training settings, held-out accuracy, SHA-256 of each file and of
        the decision model's tensors, which does not depend on the file name).
    """
    import hashlib
    import json

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cnn, cnn_info = train_decision_model(seed=seed, progress=progress, threads=threads, **cnn_options)
    planner, pl_info = train_planner(seed=seed)
    files = {"decision_cnn.pt": save_decision_model(cnn, out / "decision_cnn.pt"),
             "planner_xgb.json": save_planner(planner, out / "planner_xgb.json")}
    card = {"synthetic": True,
            "decision_model": {"architecture": "driving_cnn_v1", "file": "decision_cnn.pt",
                               "training": {**{k: v for k, v in cnn_info.items() if k != "seconds"},
                                            "threads": threads},
                               "weights_sha256": _tensor_sha256(cnn),
                               "data": "SYNTHETIC scenes from examples.driving_synthetic.scenes.make_dataset, labels from "
                                       "the documented rule correct_action()"},
            "planner": {"file": "planner_xgb.json", "features": list(PLANNER_FEATURES), "training": pl_info,
                        "data": "SYNTHETIC signals from planner_dataset(), labels from planner_rule()"},
            "sha256": {name: hashlib.sha256(p.read_bytes()).hexdigest() for name, p in files.items()}}
    (out / "model_card.json").write_text(json.dumps(card, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    card["seconds"] = cnn_info["seconds"]
    return card


if __name__ == "__main__":  # pragma: no cover - python -m examples.driving_synthetic.training OUT_DIR
    import sys

    print(train_and_save(sys.argv[1] if len(sys.argv) > 1 else "driving-models", progress=True))
