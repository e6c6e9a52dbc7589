"""Tiny random-config ``transformers`` classifiers and a WordPiece tokenizer written locally (no network)."""

from __future__ import annotations

from pathlib import Path

WORDS = ["no", "acute", "mass", "nodule", "effusion", "normal", "lung", "left", "right", "small", "large",
         "seen", "is", "there", "a", "the", "of", "with", "pleural", "fracture", "stable", "new"]
SUBWORDS = ["##s", "##ed", "##ing", "##al", "##ar", "pneumo", "##thorax", "cardio", "##megaly"]
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def write_tokenizer(folder: Path):
    from transformers import BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    tokens = SPECIAL + WORDS + SUBWORDS + list("abcdefghijklmnopqrstuvwxyz.,0123456789") + \
        ["##" + c for c in "abcdefghijklmnopqrstuvwxyz0123456789"]
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(tokens) + "\n")
    import inspect

    if "vocab_file" in inspect.signature(BertTokenizerFast.__init__).parameters:      # transformers < 5
        return BertTokenizerFast(vocab_file=str(vocab), do_lower_case=True)
    return BertTokenizerFast(vocab={t: i for i, t in enumerate(tokens)}, do_lower_case=True)


def tiny_config(family: str = "bert", *, hidden: int = 32, layers: int = 2, heads: int = 4, labels: int = 2,
                vocab: int = 80, init: float = 0.3):
    import transformers as tf

    common = dict(vocab_size=vocab, num_labels=labels, pad_token_id=0, initializer_range=init)
    if family == "bert":
        return tf.BertConfig(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                             intermediate_size=2 * hidden, max_position_embeddings=64, **common)
    if family == "roberta":
        return tf.RobertaConfig(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                                intermediate_size=2 * hidden, max_position_embeddings=70, **common)
    if family == "distilbert":
        return tf.DistilBertConfig(dim=hidden, n_layers=layers, n_heads=heads, hidden_dim=2 * hidden,
                                   max_position_embeddings=64, **common)
    if family == "modernbert":
        return tf.ModernBertConfig(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                                   intermediate_size=2 * hidden, max_position_embeddings=64,
                                   bos_token_id=2, eos_token_id=3, cls_token_id=2, sep_token_id=3, **common)
    raise ValueError(family)


def tiny_text_model(folder: Path, family: str = "bert", *, seed: int = 0, **config):
    """Save a random-weight classifier + tokenizer in ``folder`` (safetensors); return the folder."""
    import torch
    import transformers as tf

    tok = write_tokenizer(folder)
    torch.manual_seed(seed)
    cfg = tiny_config(family, vocab=tok.vocab_size, **config)
    model = tf.AutoModelForSequenceClassification.from_config(cfg)
    model.save_pretrained(folder, safe_serialization=True)
    tok.save_pretrained(folder)
    return folder
