"""Each rank's share of the training data, as `torch.utils.data.DistributedSampler` splits it:
one seeded permutation, the same on every rank, and rank r takes every N-th index from r on.
The shard is fixed for the probe (a short run sees each sample a few times at most); the
builtin loop shuffles within it. Validation data stay whole on every rank."""

from __future__ import annotations

import dataclasses

import torch
from torch.utils.data import Dataset, Subset, TensorDataset

from nnlearn.data.bundle import DataBundle


def shard_indices(n: int, rank: int, world_size: int, seed: int) -> torch.Tensor:
    """DistributedSampler's split without padding: ranks differ by at most one sample."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return order[rank::world_size]


def shard_dataset(ds: Dataset, rank: int, world_size: int, seed: int) -> Dataset:
    idx = shard_indices(len(ds), rank, world_size, seed)  # type: ignore[arg-type]
    if isinstance(ds, TensorDataset):  # keep the sliced fast path of the builtin loop
        return TensorDataset(*(t[idx] for t in ds.tensors))
    return Subset(ds, idx.tolist())


def shard_bundle(bundle: DataBundle, rank: int, world_size: int, seed: int) -> DataBundle:
    return dataclasses.replace(bundle, train=shard_dataset(bundle.train, rank, world_size, seed))
