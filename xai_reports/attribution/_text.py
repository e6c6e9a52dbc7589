"""What text methods share: the explainer base for ``transformers`` classifiers and word-level aggregation.

Values are per token, shape ``(n, L)`` (0 at padding). For string inputs
``extras["words"]`` holds, per row, the words of the text with the sum of their
sub-word tokens' values and their character span; special tokens ([CLS], [SEP])
belong to no word and are reported in ``extras["special_total"]``.
"""

from __future__ import annotations

import numpy as np

from ..errors import ExplanationError
from .base import Explainer


def word_attributions(text: str, offsets, word_ids, values) -> list[dict]:
    """Sub-word token values summed per word: ``[{"word", "start", "end", "value", "tokens"}]``, in text order.

    ``offsets``/``word_ids`` are the fast tokenizer's ``offset_mapping`` and ``word_ids()`` for the row.
    """
    words: dict[int, dict] = {}
    for t, w in enumerate(word_ids):
        if w is None:
            continue
        start, end = (int(v) for v in offsets[t])
        entry = words.setdefault(w, {"start": start, "end": end, "value": 0.0, "tokens": 0})
        entry["start"] = min(entry["start"], start)
        entry["end"] = max(entry["end"], end)
        entry["value"] += float(values[t])
        entry["tokens"] += 1
    out = []
    for w in sorted(words):
        e = words[w]
        out.append({"word": text[e["start"]:e["end"]], **e})
    return out


class TextExplainer(Explainer):
    """Base of the methods for :class:`~xai_reports.adapters.transformers_text.TextModelAdapter` models."""

    requires = frozenset({"text"})

    def _check_model(self, adapter) -> None:
        from ..adapters.transformers_text import TextModelAdapter

        if not isinstance(adapter, TextModelAdapter):
            raise ExplanationError(f"method {self.name!r} needs a transformers text model "
                                   "(load_text_model(folder)), got {adapter!r}")

    def _targets(self, logits, target):
        """Per-row class index: ``target`` (int, label name or per-row list) or the predicted class."""
        import torch

        n, k = logits.shape
        labels = self.model_.labels
        if target is None:
            return logits.argmax(dim=1)
        if isinstance(target, str):
            if target not in labels:
                raise ExplanationError(f"target {target!r} is not a label of the model ({', '.join(labels)})")
            target = labels.index(target)
        t = torch.as_tensor(np.broadcast_to(np.asarray(target, dtype=np.int64), (n,)).copy(), device=logits.device)
        if ((t < 0) | (t >= k)).any():
            raise ExplanationError(f"target {target!r} outside the model's {k} classes")
        return t

    def _text_extras(self, enc, values: np.ndarray) -> dict:
        """Tokens, words (string inputs) and the special tokens' share, for ``extras``."""
        ids = enc["input_ids"]
        mask = enc["attention_mask"].detach().cpu().numpy().astype(bool)
        toks = self.model_.tokens(ids)
        extras = {"tokens": [[t for t, m in zip(r, mr) if m] for r, mr in zip(toks, mask)],
                  "attention_mask": mask.astype(np.int8), "truncated": list(enc["truncated"])}
        special = self.model_.special_mask(ids).detach().cpu().numpy()
        extras["special_total"] = (values * special).sum(axis=1)
        if enc["texts"] is not None:
            extras["words"] = [word_attributions(text, enc["offsets"][i], enc["word_ids"][i], values[i])
                               for i, text in enumerate(enc["texts"])]
        return extras


__all__ = ["TextExplainer", "word_attributions"]
