"""A model card built from the team's own data (``xai-reports model-card``, :func:`build_model_card`).

The demo's trainers write their cards as they train; a hospital team has a
trained image model and its own calibration and test splits. From those:

* the model's logits on the calibration split fit the calibration map: Platt
  scaling or isotonic regression (two classes), temperature scaling (3+ softmax classes) or Platt per
  label (multi-label), each with a bootstrap for the intervals;
* the calibrated probabilities on the calibration split give the split-conformal
  quantile (stored as ``calibration_set``, from which sheets compute ``qhat``);
* the test split gives the held-out performance (``holdout``);
* the calibration images give the input ranges behind the out-of-scope flags
  (``quality_ranges``) and the reference set of similar cases.

A split is a CSV or Parquet file with the pack's image column and a ``label``
column: the class name (softmax) or the present labels separated by ``;``
(multi-label; empty for none). The pack's id column, when present, names the
reference cases. Nothing depends on the clock: the training date is what the
team says (``trained_on``), ``"not stated"`` otherwise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ...errors import InputError, PackError
from ...packs import load_pack

LABEL_COLUMN = "label"


def _raw_scorer(adapter, spec):
    """Volumes under ``max_score`` before any calibration exists: the model's uncalibrated probability."""
    if spec.input.slice_policy != "max_score":
        return None
    from .heads import softmax

    k = list(spec.classes).index(spec.input.slice_class or spec.positive_class)

    def score(x):
        z = _logits(adapter, np.asarray(x, dtype=np.float32), len(spec.classes), "slices")
        p = 1 / (1 + np.exp(-z[:, k])) if spec.head == "multilabel" else softmax(z)[:, k]
        return p, f"uncalibrated probability of {spec.classes[k]}"

    return score


def _read_split(path, spec, images, id_column, scorer=None):
    from ...io.storage import is_remote, scrub
    from ...io.tabular import read_table
    from .job import _read_case_image

    frame = read_table(path)
    label = scrub(path) if is_remote(path) else str(path)
    folder = images if is_remote(images) else Path(images)  # a prefix: each image copied while it is read
    col = spec.input.column
    for c in (col, LABEL_COLUMN):
        if c not in frame.columns:
            raise InputError(f"missing column '{c}'", file=label, column=c)
    if len(frame) == 0:
        raise InputError("no rows", file=label)
    classes = list(spec.classes)
    xs, ys, ids = [], [], []
    for i, row in enumerate(frame.to_dict("records")):
        row_no = i + 1
        rid = str(row.get(id_column)) if id_column and id_column in frame.columns else f"{Path(label).stem}-{row_no}"
        img, _flags, _raw, _d = _read_case_image(row[col], folder, spec, label, row_no, rid, scorer=scorer)
        raw_label = row[LABEL_COLUMN]
        text = "" if raw_label is None or (isinstance(raw_label, float) and np.isnan(raw_label)) else str(raw_label)
        names = [t.strip() for t in text.split(";") if t.strip()] if spec.head == "multilabel" else [text.strip()]
        bad = [n for n in names if n not in classes]
        if bad or (spec.head != "multilabel" and not names[0]):
            raise InputError(f"label {text!r} is not one of the classes {classes}"
                             + ("; separate several labels with ';'" if spec.head == "multilabel" else ""),
                             file=label, row=row_no, column=LABEL_COLUMN, record_id=rid)
        if spec.head == "multilabel":
            ys.append([int(c in names) for c in classes])
        else:
            ys.append(classes.index(names[0]))
        xs.append(img)
        ids.append(rid)
    return np.stack(xs).astype(np.float32), np.asarray(ys, dtype=np.int64), ids


def _logits(adapter, X, n_classes, source):
    import torch

    outs = []
    with torch.no_grad():
        for i in range(0, len(X), 64):
            z = adapter.model(torch.as_tensor(X[i:i + 64], device=getattr(adapter, "device", "cpu")))
            outs.append(z.detach().cpu().numpy().astype(np.float64).reshape(len(z), -1))
    z = np.concatenate(outs)
    if z.shape[1] != n_classes:
        raise InputError(f"the model gives {z.shape[1]} outputs per image; the pack declares {n_classes} classes",
                         file=source)
    return z


def build_model_card(model, pack, model_id: str, *, calibration, test, images, architecture: str | None = None,
                     calibration_method: str | None = None, trained_on: str = "not stated",
                     data_description: str | None = None, reference_size: int = 200, seed: int = 0) -> Path:
    """Build ``<model stem>.card.json`` (and ``.reference.npz``) for an image model from the team's data.

    Args:
        model: the model file (state dict, TorchScript or ONNX, as the pack's ``model_format`` says).
        pack: pack name, path or loaded pack; ``model_id`` is a key of its ``case_review.models``.
        calibration, test: CSV/Parquet splits (image column and ``label``), disjoint from training.
        images: folder of the images those files name (PNG/TIFF/BMP/JPEG or DICOM).
        architecture: the team's ``module:factory`` when the pack names one (see ``case-review``).
        calibration_method: ``"platt"`` or ``"isotonic"`` (two classes), ``"temperature"`` (softmax) or
            ``"platt_per_label"`` (sigmoid); default: the first that fits the model's output.
        trained_on, data_description: what the card records about training (never the clock).
        reference_size: calibration images kept as the reference set of similar cases.

    Returns:
        The card's path.

    Raises:
        PackError: unknown model id, not an image model, a method that does not fit the output.
        InputError: a split with a missing column, an unknown label, an unreadable image (file, row, field).

    Examples::

        >>> build_model_card("derm.pt", "my_pack", "derm_cnn", calibration="cal.csv", test="test.csv",
        ...                  images="images/")
        PosixPath('derm.card.json')
    """
    from .card import write_card
    from .heads import IsotonicCalibrator, LabelwiseCalibrator, TemperatureCalibrator
    from .image_models import load_image_model
    from .quality import image_quality, quality_ranges
    from .uncertainty import PlattCalibrator

    pack = load_pack(pack)
    pack.require_section("case_review")
    hc = pack.spec.section("case_review")
    key = f"{pack.section_key('case_review')}.models"
    if model_id not in hc.models:
        raise PackError(f"model '{model_id}' is not declared (declared: {', '.join(sorted(hc.models))})",
                        file=pack.files[-1], key_path=key)
    spec = hc.models[model_id]
    if spec.kind != "image":
        raise PackError(f"model '{model_id}' is {spec.kind}; model-card builds cards of image models",
                        file=pack.files[-1], key_path=f"{key}.{model_id}.kind")
    fitting = {"binary": ("platt", "isotonic"), "multiclass": ("temperature",),
               "multilabel": ("platt_per_label",)}[spec.head]
    method = calibration_method or fitting[0]
    if method not in fitting:
        raise PackError(f"calibration '{method}' does not fit a {spec.head} output; use "
                        f"{' or '.join(repr(m) for m in fitting)}", file=pack.files[-1], key_path=f"{key}.{model_id}.output")
    arch = {"name": spec.architecture, "options": dict(spec.architecture_options)} if spec.architecture else None
    provisional = {"model_format": spec.model_format, "architecture": arch}
    adapter = load_image_model(model, provisional, spec, pack, model_id, architecture=architecture)
    id_column = pack.spec.columns.id
    scorer = _raw_scorer(adapter, spec)
    Xc, yc, ids_c = _read_split(calibration, spec, images, id_column, scorer)
    Xt, yt, _ = _read_split(test, spec, images, id_column, scorer)
    K = len(spec.classes)
    zc, zt = _logits(adapter, Xc, K, str(calibration)), _logits(adapter, Xt, K, str(test))
    try:
        if spec.head == "binary":
            cal = (IsotonicCalibrator if method == "isotonic" else PlattCalibrator)(random_state=seed).fit(
                zc[:, 1] - zc[:, 0], yc)
            p_cal, p_test = cal.predict(zc[:, 1] - zc[:, 0]), cal.predict(zt[:, 1] - zt[:, 0])
            score = f"logit({spec.classes[1]}) - logit({spec.classes[0]})"
        elif spec.head == "multiclass":
            cal = TemperatureCalibrator(random_state=seed).fit(zc, yc)
            p_cal, p_test = cal.predict(zc), cal.predict(zt)
            score = "the model's logits (softmax)"
        else:
            cal = LabelwiseCalibrator(random_state=seed).fit(zc, yc)
            p_cal, p_test = cal.predict(zc), cal.predict(zt)
            score = "each label's logit (sigmoid)"
    except ValueError as exc:
        raise InputError(f"cannot calibrate on this split: {exc}", file=str(calibration)) from None
    q_test = image_quality(Xt)
    holdout = {"p": np.round(p_test, 10).tolist(), "y": yt.tolist(),
               "description": data_description and f"held-out test split of {data_description}"
               or f"held-out test split ({Path(str(test)).name}, {len(yt)} cases)"}
    if spec.head == "binary":
        holdout["subgroup"] = {"name": "image contrast (grey-level SD)", "metric": "contrast",
                               "values": np.round(q_test["contrast"], 6).tolist()}
    card = {
        "pack_model": model_id, "kind": "image", "classes": list(spec.classes), "output": spec.output,
        "model_format": spec.model_format, "architecture": arch,
        "input": {"height": spec.input.height, "width": spec.input.width, "channels": spec.input.channels,
                  "normalisation": spec.input.normalisation, "window": spec.input.window},
        "trained": {"on": trained_on, "data": data_description or "the team's own data (not stated further)",
                    "split": "calibration and held-out test splits given to xai-reports model-card",
                    "n_train": "not stated", "n_calibration": int(len(yc)), "n_test": int(len(yt)),
                    "algorithm": "not stated"},
        "score": score,
        "calibration": cal.to_dict(),
        "calibration_set": {"p": np.round(p_cal, 10).tolist(), "y": yc.tolist()},
        "holdout": holdout,
        "quality_ranges": quality_ranges(Xc),
        "reference_outcome_source": f"labels of the calibration split ({Path(str(calibration)).name})",
    }
    keep = np.arange(min(reference_size, len(yc)))
    ref_images = np.rint(np.clip(Xc[keep], 0, 1) * 255).astype(np.uint8)
    reference = {"images": ref_images, "y": yc[keep],
                 "ids": np.asarray([ids_c[i] for i in keep], dtype=f"U{max(len(s) for s in ids_c)}")}
    return write_card(model, card, reference)


__all__ = ["build_model_card", "LABEL_COLUMN"]
