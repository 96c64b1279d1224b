"""User model code for the sequence examples: what people train on tokens today.

- `GRUClassifier`: Embedding -> GRU -> linear head, sentiment style. `readout="first"` reads
  `out[:, 0]`, the state after the first (BOS) token, where the label depends on the end;
  `pretrained="zeros"` loads a placeholder vector table (no word was found in the "pretrained"
  vocabulary) with `nn.Embedding.from_pretrained`, whose default `freeze=True` freezes it.
- `LSTMLanguageModel`: pytorch/examples' word_language_model shape (Embedding -> LSTM -> tied
  size decoder), logits (B, T, V).
- `TinyTransformerClassifier`: a post-LN Transformer encoder returning `{"logits": ...}`.
- `TinyCausalLM`: a GPT-style causal Transformer language model, logits (B, T, V).
- `hf_bert_classifier` / `hf_gpt2_lm`: Hugging Face models built from a config (no download).
"""

from __future__ import annotations

import torch
from torch import nn


class GRUClassifier(nn.Module):
    def __init__(
        self,
        vocab: int = 40,
        embed: int = 32,
        hidden: int = 64,
        n_classes: int = 2,
        readout: str = "last",
        pretrained: str | None = None,
        freeze: bool = True,
    ):
        super().__init__()
        if pretrained == "zeros":
            # vectors for the words found in a pretrained table: none of these ids were
            vectors = torch.zeros(vocab, embed)
            self.embed = nn.Embedding.from_pretrained(vectors, freeze=freeze)
        else:
            self.embed = nn.Embedding(vocab, embed)
        self.rnn = nn.GRU(embed, hidden, batch_first=True)
        self.head = nn.Linear(hidden, n_classes)
        self.readout = readout

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(self.embed(ids))
        h = out[:, 0] if self.readout == "first" else out[:, -1]
        return self.head(h)


class LSTMLanguageModel(nn.Module):
    def __init__(self, vocab: int = 32, embed: int = 64, hidden: int = 64, layers: int = 2):
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        self.rnn = nn.LSTM(embed, hidden, layers, batch_first=True)
        self.decoder = nn.Linear(hidden, vocab)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(self.embed(ids))
        return self.decoder(out)


class TinyTransformerClassifier(nn.Module):
    """Token + position embeddings, a post-LN encoder (PyTorch's default norm_first=False, as
    in Vaswani et al.), mean pooling, a linear head; returns a dict as HF-style code does."""

    def __init__(
        self,
        vocab: int = 40,
        d_model: int = 64,
        heads: int = 4,
        layers: int = 2,
        n_classes: int = 2,
        max_len: int = 64,
    ):
        super().__init__()
        self.embed = nn.Embedding(vocab, d_model)
        self.pos = nn.Embedding(max_len, d_model)
        layer = nn.TransformerEncoderLayer(
            d_model, heads, 2 * d_model, dropout=0.0, batch_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(d_model, n_classes)

    def forward(self, ids: torch.Tensor) -> dict[str, torch.Tensor]:
        pos = torch.arange(ids.shape[1], device=ids.device)
        h = self.encoder(self.embed(ids) + self.pos(pos))
        return {"logits": self.head(h.mean(1))}


class TinyCausalLM(nn.Module):
    """GPT-style: token + position embeddings, pre-LN blocks with a causal mask, logits."""

    def __init__(
        self, vocab: int = 32, d_model: int = 64, heads: int = 4, layers: int = 2, max_len: int = 64
    ):
        super().__init__()
        self.embed = nn.Embedding(vocab, d_model)
        self.pos = nn.Embedding(max_len, d_model)
        layer = nn.TransformerEncoderLayer(
            d_model, heads, 4 * d_model, dropout=0.0, batch_first=True, norm_first=True
        )
        self.blocks = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        t = ids.shape[1]
        mask = nn.Transformer.generate_square_subsequent_mask(t, device=ids.device)
        h = self.embed(ids) + self.pos(torch.arange(t, device=ids.device))
        return self.head(self.norm(self.blocks(h, mask=mask, is_causal=True)))


def hf_bert_classifier(
    vocab: int = 40, hidden: int = 32, layers: int = 2, n_classes: int = 2, freeze_backbone=False
):
    """BertForSequenceClassification from a small BertConfig. `freeze_backbone` is the
    fine-tuning recipe "train only the head", applied to a backbone that was never pretrained
    (built from a config, not `from_pretrained`): its random features stay random."""
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=2 * hidden,
        max_position_embeddings=64,
        num_labels=n_classes,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    model = BertForSequenceClassification(config)
    if freeze_backbone:
        for p in model.bert.parameters():
            p.requires_grad_(False)
    return model


def hf_gpt2_lm(vocab: int = 32, hidden: int = 32, layers: int = 2):
    """GPT2LMHeadModel from a small GPT2Config; it shifts `labels` itself."""
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        vocab_size=vocab,
        n_positions=64,
        n_embd=hidden,
        n_layer=layers,
        n_head=2,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=1,
        eos_token_id=1,
        pad_token_id=0,
    )
    return GPT2LMHeadModel(config)
