"""Token-sequence data and models for the accuracy benchmark's `s_*` / `hs_*` cases
(`_target_: acc_seq.<name>`): the generators and model classes of the sequence examples
(`configs/examples/seq_datasets.py`, `seq_models.py`), at other sizes, vocabularies, depths and
rates than the examples the rules were built on, plus what the examples do not have (an LSTM
classifier, a pre-LN Transformer classifier, a GRU tagger over padded batches).

Ids: 0 is padding, 1 BOS, 2 the marker token, 3.. ordinary tokens; ignored targets are -100.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import torch
from torch import nn

EXAMPLES = Path(__file__).resolve().parents[2] / "configs" / "examples"


def _example_module(name: str):
    """The example module `name` loaded from its file under a name of its own: nothing is put on
    sys.path (the examples folder holds a `datasets.py` that would shadow a user's)."""
    spec = importlib.util.spec_from_file_location(f"acc_seq_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


D = _example_module("seq_datasets")
M = _example_module("seq_models")

PAD, IGNORE = D.PAD, D.IGNORE


# the examples' generators, given the case's own sizes in its spec: `reviews` (vocab, length,
# tail, label noise, leak), `corpus` (vocabulary, branching, length, shift, padding)
reviews = D.marker_reviews
corpus = D.markov_corpus


def tagged(n: int = 1600, vocab: int = 30, length: int = 20, pad_share: float = 0.3, seed: int = 0):
    """Token classification over padded sequences: each token's tag says whether the marker
    occurred at or before it (a running state an RNN must carry). Padded positions get -100."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(D.FIRST, vocab, (n, length), generator=g)
    where = torch.randint(0, length, (n,), generator=g)
    has = torch.rand(n, generator=g) < 0.7
    ids[has, where[has]] = D.MARKER
    tags = (torch.cumsum((ids == D.MARKER).long(), 1) > 0).long()
    lo = max(2, round(length * (1 - 2 * pad_share)))
    lengths = torch.randint(lo, length + 1, (n,), generator=g)
    pad = torch.arange(length)[None, :] >= lengths[:, None]
    ids[pad] = PAD
    tags[pad] = IGNORE
    return D._split(ids, tags)


class LSTMClassifier(nn.Module):
    """Embedding -> LSTM -> head on the last time step."""

    def __init__(
        self, vocab: int = 40, embed: int = 32, hidden: int = 48, n_classes: int = 2, layers=1
    ):
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        self.rnn = nn.LSTM(embed, hidden, layers, batch_first=True)
        self.head = nn.Linear(hidden, n_classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(self.embed(ids))
        return self.head(out[:, -1])


class GRUTagger(nn.Module):
    """Embedding -> GRU -> per-token head: logits (B, T, classes)."""

    def __init__(self, vocab: int = 30, embed: int = 24, hidden: int = 48, n_classes: int = 2):
        super().__init__()
        self.embed = nn.Embedding(vocab, embed, padding_idx=PAD)
        self.rnn = nn.GRU(embed, hidden, batch_first=True)
        self.head = nn.Linear(hidden, n_classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(self.embed(ids))
        return self.head(out)


# the examples' classes, configured per case in the specs
GRUClassifier = M.GRUClassifier
LSTMLanguageModel = M.LSTMLanguageModel
TinyCausalLM = M.TinyCausalLM


class PreLNClassifier(M.TinyTransformerClassifier):
    """The examples' Transformer classifier with pre-LN blocks (norm_first=True, GPT-2's and
    most current models' arrangement, which trains without warm-up at moderate rates)."""

    def __init__(self, vocab: int = 40, d_model: int = 48, heads: int = 4, layers: int = 2):
        super().__init__(vocab=vocab, d_model=d_model, heads=heads, layers=layers)
        layer = nn.TransformerEncoderLayer(
            d_model, heads, 2 * d_model, dropout=0.0, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
