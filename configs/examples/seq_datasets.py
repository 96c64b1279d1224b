"""Synthetic token data for the sequence examples (`_target_: seq_datasets.<fn>`): no downloads.

Each function returns (train, val), each a `TensorDataset` of int64 token ids and their
targets, or a list of Hugging Face style dict samples (`input_ids`, `attention_mask`,
`labels`). Ids: 0 is padding, 1 is BOS/CLS, 2 the marker token, 3.. ordinary tokens.

- `marker_reviews`: sentiment-style classification. Each sequence starts with BOS; the label
  says whether the marker token occurs in the last `tail` positions: the label depends on the
  sequence end. A GRU reading its last state learns it; one reading `out[:, 0]` (the BOS step)
  cannot.
- `markov_corpus`: a language-model corpus with learnable structure: a random first-order
  Markov chain in which every token has `branching` likely successors. Its conditional entropy
  (the best loss a model can reach) is returned by `markov_entropy` and is well above zero, and
  well below the unigram entropy a model that learns nothing reaches.
"""

from __future__ import annotations

import torch
from torch.utils.data import Dataset, TensorDataset

PAD, BOS, MARKER, FIRST = 0, 1, 2, 3
IGNORE = -100


def _split(*tensors: torch.Tensor, val_fraction: float = 0.2):
    n_val = int(len(tensors[0]) * val_fraction)
    return TensorDataset(*(t[n_val:] for t in tensors)), TensorDataset(
        *(t[:n_val] for t in tensors)
    )


def marker_reviews(
    n: int = 2000,
    vocab: int = 40,
    length: int = 16,
    tail: int = 4,
    label_noise: float = 0.0,
    leak: bool = False,
    seed: int = 0,
):
    """-> (train, val) of (ids (n, length) int64, label int64). Half the sequences carry the
    marker at a random position among the last `tail`; label 1 if so. `label_noise` flips that
    share of labels (train and val: the annotations are noisy). `leak` writes the (noisy) label
    into the sequence end as a token: the bug of building the text from a record that still
    holds its label."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(FIRST, vocab, (n, length), generator=g)
    ids[:, 0] = BOS
    label = torch.randint(0, 2, (n,), generator=g)
    where = length - 1 - torch.randint(0, tail, (n,), generator=g)
    rows = torch.nonzero(label == 1).ravel()
    ids[rows, where[rows]] = MARKER
    if label_noise:
        flip = torch.rand(n, generator=g) < label_noise
        label = torch.where(flip, 1 - label, label)
    if leak:  # the label's own token (3 or 4) written right after BOS
        ids[:, 1] = FIRST + label
    return _split(ids, label)


def markov_chain(vocab: int, branching: int, seed: int) -> torch.Tensor:
    """(vocab, vocab) transition matrix over ordinary tokens: each row puts its mass on
    `branching` successors (Dirichlet(1) weights); PAD/BOS/MARKER rows and columns are 0."""
    g = torch.Generator().manual_seed(seed + 100)
    p = torch.zeros(vocab, vocab)
    for tok in range(vocab):
        succ = FIRST + torch.randperm(vocab - FIRST, generator=g)[:branching]
        w = -torch.log(torch.rand(branching, generator=g))  # Dirichlet(1) via exponentials
        p[tok, succ] = w / w.sum()
    return p


def markov_entropy(vocab: int = 32, branching: int = 3, seed: int = 0) -> float:
    """The chain's conditional entropy in nats, weighted by its stationary distribution: the
    lowest next-token loss any model can reach on this corpus."""
    p = markov_chain(vocab, branching, seed)[FIRST:, FIRST:].double()
    pi = torch.full((len(p),), 1.0 / len(p), dtype=torch.float64)
    for _ in range(500):
        pi = pi @ p
    h = -(p * torch.log(p.clamp_min(1e-30))).sum(1)
    return float((pi * h).sum())


def _walks(n: int, length: int, vocab: int, branching: int, seed: int) -> torch.Tensor:
    p = markov_chain(vocab, branching, seed)
    g = torch.Generator().manual_seed(seed)
    seq = torch.empty(n, length, dtype=torch.int64)
    seq[:, 0] = torch.randint(FIRST, vocab, (n,), generator=g)
    for t in range(1, length):
        seq[:, t] = torch.multinomial(p[seq[:, t - 1]], 1, generator=g).ravel()
    return seq


def markov_corpus(
    n: int = 1200,
    length: int = 33,
    vocab: int = 32,
    branching: int = 3,
    shift: bool = True,
    pad_share: float = 0.0,
    ignore_pad: bool = True,
    seed: int = 0,
):
    """-> (train, val) of (input ids (n, length-1), target ids (n, length-1)), both int64.

    `shift=False` is the classic bug: targets equal to the inputs, no next-token shift.
    `pad_share` > 0 cuts sequences to random lengths and pads them with id 0 so that about that
    share of the positions is padding; `ignore_pad` sets the padded targets to -100 (what
    CrossEntropyLoss ignores); without it the pads are counted in the loss."""
    seq = _walks(n, length, vocab, branching, seed)
    x, y = seq[:, :-1].clone(), (seq[:, 1:] if shift else seq[:, :-1]).clone()
    if pad_share:
        g = torch.Generator().manual_seed(seed + 7)
        t = x.shape[1]
        # lengths uniform in [lo, t] give an expected pad share of (t - lo) / (2 t)
        lo = max(2, round(t * (1 - 2 * pad_share)))
        lengths = torch.randint(lo, t + 1, (n,), generator=g)
        pad = torch.arange(t)[None, :] >= lengths[:, None]
        x[pad] = PAD
        y[pad] = IGNORE if ignore_pad else PAD
    return _split(x, y)


class DictSequences(Dataset):
    """Hugging Face style samples: {input_ids, attention_mask, labels} per item."""

    def __init__(self, ids: torch.Tensor, labels: torch.Tensor, attention: torch.Tensor):
        self.ids, self.labels, self.attention = ids, labels, attention

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {
            "input_ids": self.ids[i],
            "attention_mask": self.attention[i],
            "labels": self.labels[i],
        }


def hf_reviews(
    n: int = 1600, vocab: int = 40, length: int = 16, label_noise: float = 0.0, seed: int = 0
):
    """`marker_reviews` as dict samples for a Hugging Face sequence classifier."""
    train, val = marker_reviews(n=n, vocab=vocab, length=length, label_noise=label_noise, seed=seed)

    def wrap(ds: TensorDataset) -> DictSequences:
        ids, label = ds.tensors
        return DictSequences(ids, label, torch.ones_like(ids))

    return wrap(train), wrap(val)


def hf_corpus(
    n: int = 1200,
    length: int = 33,
    vocab: int = 32,
    pad_share: float = 0.0,
    ignore_pad: bool = True,
    seed: int = 0,
):
    """`markov_corpus` as dict samples for a Hugging Face causal LM, whose own loss shifts the
    labels: labels = input_ids (the HF convention), -100 on padding."""
    train, val = markov_corpus(
        n=n,
        length=length,
        vocab=vocab,
        shift=False,
        pad_share=pad_share,
        ignore_pad=ignore_pad,
        seed=seed,
    )

    def wrap(ds: TensorDataset) -> DictSequences:
        ids, labels = ds.tensors
        return DictSequences(ids, labels, (ids != PAD).long())

    return wrap(train), wrap(val)


def unigram_entropy(vocab: int = 32, branching: int = 3, seed: int = 0) -> float:
    """Entropy of the corpus's token frequencies: the loss of a model that ignores context."""
    seq = _walks(2000, 33, vocab, branching, seed)
    counts = torch.bincount(seq.ravel(), minlength=vocab).double()
    p = counts[counts > 0] / counts.sum()
    return float(-(p * p.log()).sum())


__all__ = [
    "DictSequences",
    "hf_corpus",
    "hf_reviews",
    "markov_corpus",
    "markov_entropy",
    "marker_reviews",
    "unigram_entropy",
]
