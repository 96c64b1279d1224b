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
