"""HuggingFace ``transformers`` text classifiers, loaded from a local folder only.

:func:`load_text_model` reads a folder written by ``save_pretrained`` (``config.json``,
``model.safetensors``, the tokenizer's files) with ``local_files_only=True``,
``trust_remote_code=False`` and ``use_safetensors=True``: no download, no code from the
folder, no pickle (a folder holding only ``pytorch_model.bin`` is refused). The attention
is the eager implementation, so the model can return its attention maps.

:class:`TextModelAdapter` is the adapter: ``predict`` takes a list of strings (tokenised,
padded) or an integer array of token ids ``(n, L)`` (every position attended) and returns
the logits ``(n, k)``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from ..errors import ModelLoadError, UnsafeModelError
from .base import ModelAdapter

#: ``config.model_type`` values this adapter reads (sequence classification heads)
SUPPORTED_MODEL_TYPES = ("bert", "roberta", "distilbert", "modernbert")


def _refuse_pickle_folder(folder: Path) -> None:
    safe = list(folder.glob("*.safetensors")) + list(folder.glob("*.safetensors.index.json"))
    pickled = [p.name for p in folder.iterdir() if p.suffix in (".bin", ".pt", ".pth", ".pkl", ".ckpt")]
    if not safe and pickled:
        raise UnsafeModelError(f"{folder}: weights only as {', '.join(sorted(pickled))} (pickle); "
                               "save them with save_pretrained(safe_serialization=True)")
    if not safe:
        raise ModelLoadError(f"{folder}: no model.safetensors in the folder")


def load_text_model(folder, *, max_length: int = 256, device: str = "cpu") -> "TextModelAdapter":
    """The text classifier saved in ``folder``, as a :class:`TextModelAdapter`.

    Args:
        folder: a folder written by ``model.save_pretrained(folder, safe_serialization=True)``
            and ``tokenizer.save_pretrained(folder)``.
        max_length: longest tokenised input (longer texts are truncated, and say so in ``extras``).
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``.

    Raises:
        ModelLoadError: no folder, no ``config.json``, no safetensors weights, an unsupported
            ``model_type``, or a folder ``transformers`` cannot read (the message names it).
        UnsafeModelError: the weights are only in pickle form (``pytorch_model.bin``).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelLoadError(f"{folder}: model folder not found")
    if not (folder / "config.json").is_file():
        raise ModelLoadError(f"{folder}: no config.json (expected a folder written by save_pretrained)")
    _refuse_pickle_folder(folder)
    try:
        import transformers as tf
    except ImportError as exc:  # pragma: no cover - the optional extra
        raise ModelLoadError("reading transformers models needs `pip install xai-reports[text]`") from exc
    common = {"local_files_only": True, "trust_remote_code": False}
    try:
        config = tf.AutoConfig.from_pretrained(folder, **common)
    except Exception as exc:  # noqa: BLE001 - any reader error becomes one line naming the file
        raise ModelLoadError(f"{folder / 'config.json'}: {type(exc).__name__}: {exc}") from None
    if config.model_type not in SUPPORTED_MODEL_TYPES:
        raise ModelLoadError(f"{folder / 'config.json'}: model_type {config.model_type!r} is not supported "
                             f"(supported: {', '.join(SUPPORTED_MODEL_TYPES)})")
    try:
        model = tf.AutoModelForSequenceClassification.from_pretrained(
            folder, config=config, use_safetensors=True, attn_implementation="eager", **common)
        tokenizer = tf.AutoTokenizer.from_pretrained(folder, **common)
    except Exception as exc:  # noqa: BLE001
        raise ModelLoadError(f"{folder}: {type(exc).__name__}: {exc}") from None
    return TextModelAdapter(model, tokenizer=tokenizer, max_length=max_length, device=device)


class TextModelAdapter(ModelAdapter):
    """Adapter for a ``transformers`` sequence classifier and its tokenizer.

    Args:
        model: a ``PreTrainedModel`` with a sequence-classification head (put in ``eval()``).
        tokenizer: its fast tokenizer (``None``: inputs must be token ids).
        max_length: longest tokenised input.
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``.
    """

    family = "transformers"
    output_space = "logit"
    is_differentiable = True
    is_classifier = True
    supports_gpu = True

    def __init__(self, model, *, tokenizer=None, max_length: int = 256, device: str = "cpu", feature_names=None):
        from .._device import resolve_device

        super().__init__(model, feature_names=feature_names)
        self.tokenizer = tokenizer
        self.max_length = int(max_length)
        self.device = resolve_device(device)
        model.eval()
        model.to(self.device)
        cfg = model.config
        self.labels = [str(cfg.id2label.get(i, i)) for i in range(int(cfg.num_labels))]

    @property
    def tags(self) -> dict:
        return {**super().tags, "text": True}

    @property
    def embeddings(self):
        """The token-embedding module (``get_input_embeddings()``), where attributions are taken."""
        return self.model.get_input_embeddings()

    # -- inputs --------------------------------------------------------------------------
    def encode(self, X) -> dict:
        """``{"input_ids", "attention_mask", "texts", "offsets", "word_ids", "truncated"}`` for ``X``.

        ``X``: a string, a list of strings, or integer token ids ``(n, L)`` (array or tensor;
        every position attended, no words known).
        """
        import torch

        if isinstance(X, str):
            X = [X]
        if isinstance(X, (list, tuple)) and X and all(isinstance(t, str) for t in X):
            if self.tokenizer is None:
                raise ValueError("this text model has no tokenizer: give token ids")
            enc = self.tokenizer(list(X), padding=True, truncation=True, max_length=self.max_length,
                                 return_offsets_mapping=True, return_tensors="pt")
            full = self.tokenizer(list(X), truncation=False)["input_ids"]
            return {"input_ids": enc["input_ids"].to(self.device),
                    "attention_mask": enc["attention_mask"].to(self.device),
                    "texts": list(X), "offsets": enc["offset_mapping"].tolist(),
                    "word_ids": [enc.word_ids(i) for i in range(len(X))],
                    "truncated": [len(f) > self.max_length for f in full]}
        ids = X if isinstance(X, torch.Tensor) else torch.as_tensor(np.asarray(X))
        if ids.is_floating_point() or ids.ndim != 2:
            raise ValueError(f"text model input must be strings or integer token ids (n, L), got {tuple(ids.shape)} "
                             f"{ids.dtype}")
        ids = ids.long().to(self.device)
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "texts": None, "offsets": None,
                "word_ids": None, "truncated": [False] * int(ids.shape[0])}

    def tokens(self, input_ids) -> list[list[str]]:
        """Token strings per row (``"[3]"`` style ids when there is no tokenizer)."""
        rows = np.asarray(input_ids.detach().cpu() if hasattr(input_ids, "detach") else input_ids).tolist()
        if self.tokenizer is None:
            return [[f"[{t}]" for t in r] for r in rows]
        return [self.tokenizer.convert_ids_to_tokens(r) for r in rows]

    def special_mask(self, input_ids):
        """``True`` at special tokens ([CLS], [SEP], padding ...; not [UNK], which stands for text)."""
        import torch

        if self.tokenizer is None:
            return torch.zeros_like(input_ids, dtype=torch.bool)
        unk = self.tokenizer.unk_token_id
        special = torch.as_tensor(sorted(set(self.tokenizer.all_special_ids) - {unk}), device=input_ids.device)
        return torch.isin(input_ids, special)

    # -- forward -------------------------------------------------------------------------
    def forward_ids(self, input_ids, attention_mask, **kwargs):
        """The model's output object for token ids (``kwargs``: e.g. ``output_attentions=True``)."""
        return self.model(input_ids=input_ids, attention_mask=attention_mask, **kwargs)

    def _raw_predict(self, X):
        import torch

        enc = self.encode(X)
        with torch.no_grad():
            logits = self.forward_ids(enc["input_ids"], enc["attention_mask"]).logits
        return logits.detach().cpu().double().numpy()

    def model_bytes(self) -> bytes:
        h = hashlib.sha256()
        for name, tensor in sorted(self.model.state_dict().items()):
            h.update(name.encode())
            h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        return h.digest()

    def describe(self) -> dict:
        return {**super().describe(), "model_type": self.model.config.model_type, "labels": list(self.labels)}


__all__ = ["SUPPORTED_MODEL_TYPES", "TextModelAdapter", "load_text_model"]
