"""User code for the batch/step contract examples (README "Batches, outputs and steps").

Token ids handed over as a mapping (`input_ids`, `attention_mask`, `labels`), a model that
returns a dict, a Lightning-style `training_step`, and a tiny Hugging Face model built from a
config (no download).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def keyword_batches(n: int = 1024, vocab: int = 50, length: int = 8, seed: int = 0):
    """Sentences of token ids; the label says whether token 7 occurs. Returns a mapping of
    tensors, as a tokenizer would; nnlearn splits it into train and val."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, vocab, (n, length), generator=g)
    return {
        "input_ids": ids,
        "attention_mask": torch.ones_like(ids),
        "labels": (ids == 7).any(1).long(),
    }


class BagOfEmbeddings(nn.Module):
    """Embedding -> masked mean -> linear, returning {"logits": ...}."""

    def __init__(self, vocab: int = 50, dim: int = 16, n_classes: int = 2):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.head = nn.Linear(dim, n_classes)

    def forward(self, input_ids, attention_mask):
        h = self.emb(input_ids) * attention_mask[..., None]
        return {"logits": self.head(h.sum(1) / attention_mask.sum(1, keepdim=True))}


def training_step(model, batch, label_smoothing: float = 0.0):
    """Lightning's shape: (model, batch) -> (loss, outputs)."""
    out = model(batch["input_ids"], batch["attention_mask"])
    loss = F.cross_entropy(out["logits"], batch["labels"], label_smoothing=label_smoothing)
    return loss, out


def tiny_bert(num_labels: int = 2, vocab: int = 50):
    """BertForSequenceClassification from a config: a few thousand parameters, no download."""
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(
        vocab_size=vocab,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=16,
        num_labels=num_labels,
    )
    return BertForSequenceClassification(config)


def ragged_sentences(n: int = 1024, vocab: int = 50, seed: int = 0):
    """Rows as a Hugging Face `datasets.Dataset` yields them before set_format: Python lists
    of 4 to 16 token ids (unequal lengths, no attention_mask) and an int label, whether token
    7 occurs. nnlearn pads each batch (PadCollate) and builds the attention mask."""
    g = torch.Generator().manual_seed(seed)
    rows = []
    for _ in range(n):
        ids = torch.randint(1, vocab, (int(torch.randint(4, 17, (1,), generator=g)),), generator=g)
        rows.append({"input_ids": ids.tolist(), "labels": int((ids == 7).any())})
    return rows


def _pad_pairs(items):
    """The user's own collate_fn: (ids, label) pairs padded with 0 (with an attention mask)."""
    ids = nn.utils.rnn.pad_sequence([torch.tensor(i) for i, _ in items], batch_first=True)
    return {
        "input_ids": ids,
        "attention_mask": (ids != 0).long(),
        "labels": torch.tensor([y for _, y in items]),
    }


def ragged_loaders(n: int = 1024, batch: int = 16):
    """(train, val) DataLoaders with the user's collate_fn and batch size, as a training
    script builds them; nnlearn draws its batches through the same collate_fn. (A parameter
    named `batch_size` would receive data.batch_size, as every data key nnlearn defines.)"""
    rows = [(r["input_ids"], r["labels"]) for r in ragged_sentences(n)]
    cut = int(0.8 * n)
    train = torch.utils.data.DataLoader(
        rows[:cut], batch_size=batch, shuffle=True, collate_fn=_pad_pairs
    )
    val = torch.utils.data.DataLoader(rows[cut:], batch_size=batch, collate_fn=_pad_pairs)
    return train, val
