"""Each rank's share of the training data, as `torch.utils.data.DistributedSampler` splits it:
one seeded permutation, the same on every rank, and rank r takes every N-th index from r on.
The shard is fixed for the probe (a short run sees each sample a few times at most); the
builtin loop shuffles within it. Validation data stay whole on every rank."""

from __future__ import annotations

import dataclasses

import torch
from torch.utils.data import Dataset, Subset

from nnlearn.data.batch import from_batch, slice_batch, whole
from nnlearn.data.bundle import DataBundle


def shard_indices(n: int, rank: int, world_size: int, seed: int) -> torch.Tensor:
    """DistributedSampler's split without padding: ranks differ by at most one sample."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return order[rank::world_size]


def shard_dataset(ds: Dataset, rank: int, world_size: int, seed: int) -> Dataset:
    n = len(ds)  # type: ignore[arg-type]
    idx = shard_indices(n, rank, world_size, seed)
    full = whole(ds)
    if full is not None:  # in memory: stays in memory, the builtin loop keeps slicing it
        return from_batch(slice_batch(full, idx, n))
    return Subset(ds, idx.tolist())


def shard_bundle(bundle: DataBundle, rank: int, world_size: int, seed: int) -> DataBundle:
    return dataclasses.replace(bundle, train=shard_dataset(bundle.train, rank, world_size, seed))
