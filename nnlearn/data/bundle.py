"""The data the probe trains on, whatever its source, and fast batching over it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset


@dataclass
class DataBundle:
    train: Dataset
    val: Dataset
    task: str  # classification | binary | regression
    n_classes: int | None  # classification: number of classes the labels imply
    input_shape: tuple[int, ...]  # one sample, without the batch dimension
    target_shape: tuple[int, ...]
    source: str  # "synthetic:spirals", "csv:/path", "user:pkg.fn"
    class_names: list[str] | None = None  # string labels, index -> name
    feature_names: list[str] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def out_features(self) -> int:
        if self.task == "classification":
            return int(self.n_classes or 2)
        n = 1
        for d in self.target_shape:
            n *= d
        return max(n, 1)


def tensors_of(ds: Dataset) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The (X, y) tensors behind a TensorDataset, else None."""
    if isinstance(ds, TensorDataset) and len(ds.tensors) >= 2:
        return ds.tensors[0], ds.tensors[1]
    return None


def sample(ds: Dataset, limit: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Up to `limit` (X, y) rows of any dataset, a seeded random subset when it is larger: audits
    and inference of the task cost the same on 1k and 10M rows."""
    n = len(ds)  # type: ignore[arg-type]
    if n > limit:
        idx = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:limit]
    else:
        idx = torch.arange(n)
    pair = tensors_of(ds)
    if pair is not None:
        return pair[0][idx], pair[1][idx]
    xs, ys = zip(*(ds[int(i)][:2] for i in idx), strict=True)
    return torch.stack([torch.as_tensor(x) for x in xs]), torch.stack(
        [torch.as_tensor(y) for y in ys]
    )


def batches(
    ds: Dataset, batch_size: int, *, shuffle: bool, generator: torch.Generator | None = None
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """One epoch of batches. In-memory tensors are sliced directly (a DataLoader's per-item
    collation would dominate a small model's step); other datasets go through a DataLoader."""
    pair = tensors_of(ds)
    if pair is not None:
        x, y = pair
        n = len(x)
        order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            yield x[idx], y[idx]
        return
    loader = DataLoader(ds, batch_size=batch_size, shuffle=shuffle, generator=generator)
    for batch in loader:
        yield batch[0], batch[1]


def infinite_batches(
    ds: Dataset, batch_size: int, *, seed: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(seed)
    while True:
        yield from batches(ds, batch_size, shuffle=True, generator=generator)
