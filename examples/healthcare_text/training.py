"""Train the SYNTHETIC report classifier (tiny BERT, fixed seeds, a few seconds on a CPU) and save it
as a ``transformers`` folder (safetensors, config, tokenizer)."""

from __future__ import annotations

import inspect
from pathlib import Path

from xai_reports.documents.case_review.text import deidentify_text

from .reports import generate, vocabulary

LABELS = {0: "no_effusion", 1: "effusion"}


def _tokenizer(folder: Path):
    from transformers import BertTokenizerFast

    tokens = vocabulary()
    (folder / "vocab.txt").write_text("\n".join(tokens) + "\n")
    if "vocab_file" in inspect.signature(BertTokenizerFast.__init__).parameters:     # transformers < 5
        return BertTokenizerFast(vocab_file=str(folder / "vocab.txt"), do_lower_case=True)
    return BertTokenizerFast(vocab={t: i for i, t in enumerate(tokens)}, do_lower_case=True)


def train(folder, *, n: int = 240, epochs: int = 4, seed: int = 0, hidden: int = 32, layers: int = 2) -> Path:
    """Train on ``n`` SYNTHETIC de-identified reports and save to ``folder``; returns the folder."""
    import torch
    import transformers as tf

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)              # a tiny model: one thread is fastest, and the same bytes everywhere
    try:
        return _train(folder, tok=_tokenizer(folder), n=n, epochs=epochs, seed=seed, hidden=hidden, layers=layers)
    finally:
        torch.set_num_threads(threads)


def _train(folder, *, tok, n, epochs, seed, hidden, layers):
    import torch
    import transformers as tf

    torch.manual_seed(seed)
    cfg = tf.BertConfig(vocab_size=tok.vocab_size, hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=4, intermediate_size=2 * hidden, max_position_embeddings=128,
                        num_labels=2, id2label=LABELS, label2id={v: k for k, v in LABELS.items()},
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, pad_token_id=0)
    model = tf.BertForSequenceClassification(cfg)
    rows = generate(n, seed=seed)
    texts = [deidentify_text(r["text"], identifiers=[r["name"], r["mrn"]])[0] for r in rows]
    enc = tok(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")
    y = torch.tensor([r["label"] for r in rows])
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(n, generator=g).split(32):
            loss = model(input_ids=enc["input_ids"][idx], attention_mask=enc["attention_mask"][idx],
                         labels=y[idx]).loss
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    model.save_pretrained(folder, safe_serialization=True)
    tok.save_pretrained(folder)
    return folder
