"""Training the two shipped healthcare models, with their model cards.

* :func:`train_wdbc_model`: XGBoost on the real WDBC measurements, saved as
  XGBoost JSON.
* :func:`train_lesion_model`: the ``lesion_cnn`` on SYNTHETIC lesion images,
  saved as a torch state dict (weights only).

Both split the data into training, calibration and held-out test parts; the
calibration part fits Platt scaling and the split-conformal sets, the test part
gives the performance printed on every sheet. Everything is seeded.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from xai_reports.documents.case_review.card import write_card
from xai_reports.documents.case_review.uncertainty import PlattCalibrator

SEED = 0
TRAINED_ON = "2026-01-15"  # recorded in the card (fixed so the demo is reproducible)


def _auc(y, p) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p))


def train_wdbc_model(out_dir, *, seed: int = SEED, n_estimators: int = 300) -> dict:
    """Train the WDBC malignancy classifier and write ``wdbc_xgb.json`` with its card.

    Args:
        out_dir: folder for ``wdbc_xgb.json``, ``wdbc_xgb.card.json`` and ``wdbc_xgb.reference.npz``.
        seed: split and model seed.
        n_estimators: boosting rounds.

    Returns:
        ``{"model": path, "card": path, "auc_test": float, "accuracy_test": float}``.

    Examples::

        >>> info = train_wdbc_model("models")
        >>> info["auc_test"] > 0.97
        True
    """
    import xgboost as xgb

    from .wdbc import FEATURES, load_wdbc, split_wdbc

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    df = load_wdbc()
    train, cal, test = split_wdbc(df, seed)
    model = xgb.XGBClassifier(n_estimators=n_estimators, max_depth=3, learning_rate=0.05, subsample=0.8,
                              colsample_bytree=0.8, min_child_weight=1.0, random_state=seed, n_jobs=1,
                              tree_method="exact", eval_metric="logloss")
    model.fit(train[FEATURES], train["diagnosis"].to_numpy())
    booster = model.get_booster()
    path = out / "wdbc_xgb.json"
    booster.save_model(str(path))

    def margin(frame):
        return booster.predict(xgb.DMatrix(frame[FEATURES]), output_margin=True).astype(np.float64)

    calib = PlattCalibrator(random_state=seed).fit(margin(cal), cal["diagnosis"].to_numpy())
    p_cal = calib.predict(margin(cal))
    p_test = calib.predict(margin(test))
    y_test = test["diagnosis"].to_numpy()
    ref = df.loc[train.index.union(cal.index)]
    benign = train[train["diagnosis"] == 0]
    malignant = train[train["diagnosis"] == 1]
    card = {
        "pack_model": "wdbc_xgb",
        "kind": "tabular",
        "classes": ["benign", "malignant"],
        "trained": {"on": TRAINED_ON, "seed": seed,
                    "data": "Wisconsin Diagnostic Breast Cancer (scikit-learn load_breast_cancer), 569 real cases",
                    "split": "stratified 60/20/20: training / calibration / held-out test",
                    "n_train": len(train), "n_calibration": len(cal), "n_test": len(test),
                    "algorithm": f"XGBoost {xgb.__version__} binary:logistic, {n_estimators} trees of depth 3"},
        "score": "XGBoost margin (log-odds of malignancy)",
        "calibration": calib.to_dict(),
        "calibration_set": {"p": np.round(p_cal, 10).tolist(), "y": cal["diagnosis"].astype(int).tolist()},
        "holdout": {"p": np.round(p_test, 10).tolist(), "y": y_test.astype(int).tolist(),
                    "ids": test["case_ref"].tolist(),
                    "subgroup": {"name": "mean nucleus radius", "feature": "radius_mean",
                                 "values": test["radius_mean"].round(6).tolist()},
                    "description": "held-out WDBC test split (not used for training or calibration)"},
        "training_ranges": {f: [float(train[f].min()), float(train[f].max())] for f in FEATURES},
        "feature_scale": {f: [float(train[f].mean()), float(train[f].std(ddof=0))] for f in FEATURES},
        "class_medians": {"benign": {f: float(benign[f].median()) for f in FEATURES},
                          "malignant": {f: float(malignant[f].median()) for f in FEATURES}},
    }
    reference = {"X": ref[FEATURES].to_numpy(np.float64), "y": ref["diagnosis"].to_numpy(np.int64),
                 "ids": np.asarray(ref["case_ref"].tolist(), dtype="U16"), "features": np.asarray(FEATURES, dtype="U32")}
    card_path = write_card(path, card, reference)
    return {"model": path, "card": card_path, "auc_test": _auc(y_test, p_test),
            "accuracy_test": float(((p_test >= 0.5) == y_test).mean())}


def fit_lesion_cnn(images, labels, *, epochs: int = 8, lr: float = 3e-3, batch_size: int = 64, seed: int = SEED,
                   width: int = 8, progress: bool = False, threads: int | None = None):
    """Train a fresh ``lesion_cnn`` on ``images`` ``(n, 1, 64, 64)`` and ``labels`` ``(n,)`` (seeded, CPU).

    Flips are the only augmentation (the labelling rule does not depend on orientation).

    Returns:
        The trained module in ``eval()`` mode.
    """
    import torch

    from xai_reports.adapters.architectures import build_architecture

    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    net = build_architecture("lesion_cnn", width=width)
    X = torch.as_tensor(np.asarray(images, dtype=np.float32))
    y = torch.as_tensor(np.asarray(labels, dtype=np.int64))
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * ((len(X) + batch_size - 1) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.25)
    g = torch.Generator().manual_seed(seed)
    bar = None
    if progress:
        from rich.progress import Progress

        bar = Progress(transient=True)
        bar.start()
        task = bar.add_task("training lesion_cnn", total=epochs)
    try:
        for _ in range(epochs):
            net.train()
            perm = torch.randperm(len(X), generator=g)
            for i in range(0, len(X), batch_size):
                idx = perm[i:i + batch_size]
                xb = X[idx]
                flips = torch.rand(2, generator=g)
                if flips[0] < 0.5:
                    xb = xb.flip(3)
                if flips[1] < 0.5:
                    xb = xb.flip(2)
                loss = torch.nn.functional.cross_entropy(net(xb), y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
            if bar:
                bar.advance(task)
    finally:
        if bar:
            bar.stop()
    net.eval()
    return net


def lesion_scores(net, images, batch_size: int = 256) -> np.ndarray:
    """The model's score: logit(malignant) - logit(benign), shape ``(n,)``."""
    import torch

    out = []
    with torch.no_grad():
        for i in range(0, len(images), batch_size):
            z = net(torch.as_tensor(np.asarray(images[i:i + batch_size], dtype=np.float32)))
            out.append((z[:, 1] - z[:, 0]).numpy().astype(np.float64))
    return np.concatenate(out) if out else np.empty(0)


def train_lesion_model(out_dir, *, seed: int = SEED, n_train: int = 1200, n_calibration: int = 400,
                       n_test: int = 400, n_reference: int = 300, epochs: int = 8, progress: bool = False,
                       localisation: bool = True, n_localisation: int = 120, evidence=None) -> dict:
    """Train the synthetic-lesion CNN and write ``lesion_cnn.pt`` (state dict) with its card.

    Args:
        out_dir: folder for ``lesion_cnn.pt``, ``lesion_cnn.card.json``, ``lesion_cnn.reference.npz``.
        seed: data and training seed (images: ``make_lesion_set(seed=seed)`` index ranges
            ``[0, n_train)``, ``[200000, ...)`` calibration, ``[100000, ...)`` test).
        n_train, n_calibration, n_test: split sizes.
        n_reference: training images kept as the similar-case reference set.
        epochs: training epochs.
        localisation: measure the evidence maps' localisation on the test images
            (pointing game, relevance mass) and record it in the card.
        n_localisation: test images used for that measurement.
        evidence: the pack's ``EvidenceSpec`` (methods, layer) used for that measurement.

    Returns:
        ``{"model", "card", "accuracy_test", "auc_test", "train_seconds"}``.

    Examples::

        >>> info = train_lesion_model("models")
        >>> info["accuracy_test"] > 0.9
        True
    """
    import torch

    from .lesions import LABELLING_RULE, SYNTHETIC_NOTICE, make_lesion_set, to_uint8
    from xai_reports.documents.case_review.quality import image_quality, quality_ranges

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tr = make_lesion_set(n_train, seed=seed, start=0)
    ca = make_lesion_set(n_calibration, seed=seed, start=200_000)
    te = make_lesion_set(n_test, seed=seed, start=100_000)
    # The model sees 8-bit images, as they would come from PNG files.
    q = lambda a: to_uint8(a).astype(np.float32) / 255.0  # noqa: E731
    Xtr, Xca, Xte = q(tr.images), q(ca.images), q(te.images)
    t0 = time.perf_counter()
    net = fit_lesion_cnn(Xtr, tr.labels, epochs=epochs, seed=seed, progress=progress)
    seconds = time.perf_counter() - t0
    path = out / "lesion_cnn.pt"
    import io

    from xai_reports.io.outputs import atomic_write

    buf = io.BytesIO()
    torch.save(net.state_dict(), buf)
    atomic_write(path, buf.getvalue())

    calib = PlattCalibrator(random_state=seed).fit(lesion_scores(net, Xca), ca.labels)
    p_cal = calib.predict(lesion_scores(net, Xca))
    p_test = calib.predict(lesion_scores(net, Xte))
    test_quality = image_quality(Xte)
    card = {
        "pack_model": "lesion_cnn",
        "kind": "image",
        "classes": ["benign", "malignant"],
        "synthetic": SYNTHETIC_NOTICE,
        "labelling_rule": LABELLING_RULE,
        "architecture": {"name": "lesion_cnn", "options": {"width": 8}},
        "trained": {"on": TRAINED_ON, "seed": seed, "epochs": epochs,
                    "data": "SYNTHETIC lesion images, examples.healthcare.lesions.make_lesion_set",
                    "split": "disjoint generator index ranges: training / calibration / held-out test",
                    "n_train": n_train, "n_calibration": n_calibration, "n_test": n_test,
                    "algorithm": f"torch {torch.__version__}, AdamW + one-cycle, flips"},
        "score": "logit(malignant) - logit(benign)",
        "calibration": calib.to_dict(),
        "calibration_set": {"p": np.round(p_cal, 10).tolist(), "y": ca.labels.astype(int).tolist()},
        "holdout": {"p": np.round(p_test, 10).tolist(), "y": te.labels.astype(int).tolist(),
                    "ids": [f"SYN-TEST-{int(i):06d}" for i in te.params["index"]],
                    "subgroup": {"name": "image contrast (grey-level SD)", "metric": "contrast",
                                 "values": np.round(test_quality["contrast"], 6).tolist()},
                    "description": "held-out synthetic test images (generator indices disjoint from training)"},
        "quality_ranges": quality_ranges(Xtr),
    }
    if localisation:
        card["localisation"] = measure_localisation(net, Xte[:n_localisation], te.masks[:n_localisation],
                                                    te.labels[:n_localisation],
                                                    evidence=evidence)
    ref_idx = np.arange(min(n_reference, n_train))
    reference = {"images": to_uint8(tr.images[ref_idx, 0]), "y": tr.labels[ref_idx].astype(np.int64),
                 "ids": np.asarray([f"SYN-REF-{i:04d}" for i in ref_idx], dtype="U16"),
                 "irregularity": tr.params["irregularity"].to_numpy()[ref_idx]}
    card_path = write_card(path, card, reference)
    pred = (p_test >= 0.5).astype(int)
    return {"model": path, "card": card_path, "accuracy_test": float((pred == te.labels).mean()),
            "auc_test": _auc(te.labels, p_test), "train_seconds": seconds}


POINTING_TOLERANCE_PX = 4  # Zhang et al. (2016) use 15 px at ~224 px; 15 * 64 / 224 = 4.3 px at 64 px


def measure_localisation(net, images, masks, labels, *, evidence=None, methods=None, layer=None,
                         n_steps: int = 32, tolerance: float = POINTING_TOLERANCE_PX) -> dict:
    """Pointing game and relevance mass of evidence maps against ground-truth lesion masks.

    Maps explain the malignant class on the malignant images (is the evidence
    for malignancy on the lesion?) and the predicted class on all images.

    Args:
        net: the trained module.
        images, masks, labels: test images ``(n, 1, H, W)``, lesion masks ``(n, H, W)``, labels ``(n,)``.
        evidence: the pack's ``EvidenceSpec`` (methods and Grad-CAM layer); saliency is always added.
        tolerance: pointing-game tolerance in pixels (strict results are reported too).

    Returns:
        ``{"n", "n_malignant", "layer", "tolerance_px", "methods": {method: {"pointing_game_malignant",
        "pointing_game_strict_malignant", "relevance_mass_malignant", ..._all_predicted}}, "definition"}``;
        ``{"available": False, ...}`` when the attribution methods are not installed.
    """
    from xai_reports.documents.case_review.evidence import attribution_maps

    methods = list(methods or (evidence.methods if evidence else ["grad_cam", "integrated_gradients", "saliency"]))
    for extra in ("saliency",):
        if extra not in methods:
            methods.append(extra)
    layer = layer or (evidence.layer if evidence else "features.relu4")
    try:
        from xai_reports.metrics import pointing_game, relevance_mass
    except ImportError:
        return {"available": False, "reason": "xai_reports.metrics is not installed"}
    from xai_reports.adapters import wrap_model

    adapter = wrap_model(net, device="cpu")
    mal = labels == 1
    pred = lesion_scores(net, images) > 0
    res = {}
    for m in methods:
        opts = {"n_steps": n_steps} if m == "integrated_gradients" else {}
        try:
            maps_mal = attribution_maps(adapter, images[mal], m, target=1, layer=layer, **opts)
            maps_pred = attribution_maps(adapter, images, m, target=pred.astype(int), layer=layer, **opts)
        except Exception as exc:  # noqa: BLE001 - a missing method is reported, not fatal
            res[m] = {"available": False, "reason": str(exc).splitlines()[0]}
            continue
        res[m] = {"pointing_game_malignant": float(pointing_game(maps_mal, masks[mal], tolerance=tolerance).mean()),
                  "pointing_game_strict_malignant": float(pointing_game(maps_mal, masks[mal]).mean()),
                  "relevance_mass_malignant": float(relevance_mass(maps_mal, masks[mal]).mean()),
                  "pointing_game_all_predicted": float(pointing_game(maps_pred, masks, tolerance=tolerance).mean()),
                  "pointing_game_strict_all_predicted": float(pointing_game(maps_pred, masks).mean()),
                  "relevance_mass_all_predicted": float(relevance_mass(maps_pred, masks).mean())}
    H, W = masks.shape[1:]
    yy, xx = np.mgrid[0:H, 0:W]
    centre = np.exp(-((yy - (H - 1) / 2) ** 2 + (xx - (W - 1) / 2) ** 2) / (2 * (H / 5.3) ** 2))
    centre_maps = np.broadcast_to(centre, (int(mal.sum()), H, W))
    baseline = {"pointing_game_malignant": float(pointing_game(centre_maps, masks[mal], tolerance=tolerance).mean()),
                "relevance_mass_malignant": float(relevance_mass(centre_maps, masks[mal]).mean()),
                "description": "a model-free map peaked at the image centre"}
    return {"available": True, "n": int(len(images)), "n_malignant": int(mal.sum()), "layer": layer,
            "tolerance_px": tolerance, "methods": res, "baseline_centre": baseline,
            "definition": (f"pointing game: share of maps whose maximum lies within {tolerance:g} px of the "
                           "ground-truth lesion mask (Zhang et al. 2016 use 15 px at 224 px; 'strict' = on the "
                           "mask); relevance mass: share of the positive relevance inside the mask")}


__all__ = ["train_wdbc_model", "train_lesion_model", "fit_lesion_cnn", "lesion_scores", "measure_localisation"]
