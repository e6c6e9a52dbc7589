"""The model card: what a case-review sheet needs to know about a trained model.

A model file holds weights; the sheet also needs the calibration map, the
conformal threshold, held-out predictions (for sensitivity, specificity and AUC
at the pack's operating threshold), the training ranges of the inputs and a
reference set of confirmed cases (for similar cases). These travel beside the
model as ``<model stem>.card.json`` plus ``<model stem>.reference.npz``
(arrays only; read with ``allow_pickle=False``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import ModelLoadError
from ...io.outputs import atomic_write, canonical_json, sha256_file

CARD_SCHEMA = "xai-reports/healthcare-model-card/1"


def card_path_for(model_path) -> Path:
    """``models/wdbc_xgb.json`` -> ``models/wdbc_xgb.card.json``."""
    p = Path(model_path)
    return p.with_name(p.stem + ".card.json")


@dataclass
class ModelCard:
    """A loaded model card.

    Attributes:
        data: the card's JSON content.
        path: where it was read from.
        sha256: hash of the card file.
        reference: arrays of the reference set (``X`` or ``images``, ``y``, ``ids``).
    """

    data: dict
    path: Path
    sha256: str
    reference: dict

    def __getitem__(self, key):
        return self.data[key]

    def get(self, key, default=None):
        return self.data.get(key, default)


def write_card(model_path, card: dict, reference: dict) -> Path:
    """Write ``<stem>.card.json`` and ``<stem>.reference.npz`` next to ``model_path``.

    Args:
        model_path: the saved model file.
        card: card content (``schema``, ``pack_model``, ``calibration``, ...). ``calibration`` maps the
            score the sheet explains to a probability: the output the attributions add up in, i.e. a
            boosted or linear classifier's margin (log-odds, ``load_model(path).predict(X,
            output="margin")``), a decision tree's or forest's probability, whatever the library predicts
            by default (scikit-learn and ONNX classifiers default to probabilities).
        reference: arrays of the reference set (no objects: saved without pickle).

    Returns:
        The card's path.
    """
    import io

    model_path = Path(model_path)
    ref_path = model_path.with_name(model_path.stem + ".reference.npz")
    buf = io.BytesIO()
    np.savez_compressed(buf, **{k: np.asarray(v) for k, v in reference.items()})
    atomic_write(ref_path, buf.getvalue())
    card = {**card, "schema": CARD_SCHEMA, "model_file": model_path.name, "model_sha256": sha256_file(model_path),
            "reference": {"file": ref_path.name, "sha256": sha256_file(ref_path), "n": int(len(reference["y"]))}}
    path = card_path_for(model_path)
    atomic_write(path, canonical_json(card))
    return path


def load_card(model_path, card_path=None) -> ModelCard:
    """Read the card of ``model_path`` and its reference set, checking hashes.

    Raises:
        ModelLoadError: missing card, wrong schema, or a model/reference file
            that does not match the hash the card recorded.
    """
    model_path = Path(model_path)
    path = Path(card_path) if card_path else card_path_for(model_path)
    if not path.is_file():
        raise ModelLoadError(f"{path}: model card not found; case-review sheets need the card written when the "
                             "model was trained (write_card; see examples/healthcare/training.py)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{path}: not a readable model card ({exc})") from None
    if not isinstance(data, dict) or data.get("schema") != CARD_SCHEMA:
        raise ModelLoadError(f"{path}: not a model card (expected schema {CARD_SCHEMA!r})")
    if model_path.is_file() and sha256_file(model_path) != data.get("model_sha256"):
        raise ModelLoadError(f"{path}: the card was written for another version of {model_path.name} "
                             "(model hash differs); retrain or regenerate the card")
    ref_path = path.parent / data["reference"]["file"]
    if not ref_path.is_file():
        raise ModelLoadError(f"{ref_path}: reference set of the model card not found")
    if sha256_file(ref_path) != data["reference"]["sha256"]:
        raise ModelLoadError(f"{ref_path}: reference set does not match the hash in the card")
    try:
        with np.load(ref_path, allow_pickle=False) as z:
            reference = {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{ref_path}: not a readable reference set ({exc})") from None
    return ModelCard(data=data, path=path, sha256=sha256_file(path), reference=reference)


def localize_model_and_card(model, card=None):
    """``(model, card)`` as local paths: a model, card or card's reference set on object storage is copied
    into one private folder, keeping the layout the card names (``<stem>.card.json`` and its reference
    set beside the model). Local paths are returned as they are.

    Raises:
        ModelLoadError: an object that cannot be read, or a card naming a reference set outside its folder.
    """
    from ...errors import XaiReportsError
    from ...io.remote import local_file, parent_url
    from ...io.storage import basename, is_remote, scrub

    if not isinstance(model, (str, Path)) or not (is_remote(model) or (card is not None and is_remote(card))):
        return model, card
    import atexit
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="xai-reports-"))
    atexit.register(shutil.rmtree, folder, True)
    card_url = card if card is not None else (
        f"{parent_url(model)}/{Path(basename(model)).stem}.card.json" if is_remote(model) else None)
    try:
        local_model = local_file(str(model), folder)
        if card_url is None or not is_remote(card_url):
            return local_model, card if card is not None else card_path_for(model)
        local_card = local_file(card_url, folder)
        try:
            ref = json.loads(local_card.read_text(encoding="utf-8"))["reference"]["file"]
        except (OSError, ValueError, KeyError, TypeError):
            return local_model, local_card  # load_card says what is wrong with it
        if not isinstance(ref, str) or ref != basename(ref) or ref in ("", ".", "..") or "\\" in ref:
            raise ModelLoadError(f"{scrub(card_url)}: the card's reference set {ref!r} is not a file beside it")
        local_file(f"{parent_url(card_url)}/{ref}", folder)
        return local_model, local_card
    except ModelLoadError:
        raise
    except XaiReportsError as exc:
        raise ModelLoadError(scrub(str(exc))) from None


__all__ = ["ModelCard", "load_card", "write_card", "card_path_for", "sha256_file", "CARD_SCHEMA",
           "localize_model_and_card"]
