"""User code for the distributed examples (`nnlearn probe SPEC --nproc 2`): what a DDP user
writes whose fault shows only when several ranks train together."""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn

from datasets import spirals


def _rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def shard_files(corrupt_rank: int = 1, corrupt_fraction: float = 0.5, n: int = 1600):
    """Each rank loads its own shard file, as sharded datasets on disk are read (here: 1600
    spiral points drawn with the rank as seed). The shard of `corrupt_rank` came out of a
    broken export: `corrupt_fraction` of its labels are random. Validation is shared."""
    rank = _rank()
    x, y = spirals(n, seed=1 + rank)
    if rank == corrupt_rank:
        g = torch.Generator().manual_seed(7)
        k = int(n * corrupt_fraction)
        y = y.clone()
        y[:k] = torch.randint(0, 3, (k,), generator=g)
    return (x, y), spirals(400, seed=100)


class GatedMLP(nn.Module):
    """A ReLU MLP with a refinement block that only runs on batches whose first feature has a
    positive mean (a data-dependent branch, like an auxiliary head or an expert route): on a
    given step some ranks use it and some do not."""

    def __init__(self, in_features: int, n_classes: int, width: int = 64):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(in_features, width), nn.ReLU())
        self.refine = nn.Sequential(nn.Linear(width, width), nn.ReLU())
        self.head = nn.Linear(width, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.body(x)
        if x[:, 0].mean() > 0:
            h = h + self.refine(h)
        return self.head(h)


class FailsOnRank(nn.Module):
    """A model whose forward raises on one rank after a few steps (a shape bug that only one
    shard's data triggers): the distributed probe must end every rank with this error."""

    def __init__(self, in_features: int, n_classes: int, rank: int = 1, after: int = 5):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_features, 32), nn.ReLU(), nn.Linear(32, n_classes))
        self.rank, self.after, self.calls = rank, after, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.training and _rank() == self.rank and self.calls > self.after:
            raise ValueError(f"rank {self.rank} cannot handle this batch of shape {tuple(x.shape)}")
        return self.net(x)
