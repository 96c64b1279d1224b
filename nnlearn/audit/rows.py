"""Which rows an audit reads: all of an in-memory dataset when that is cheap, else a seeded
sample, so an audit of 10M rows costs what one of a few hundred thousand does."""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

from nnlearn.data.bundle import sample, tensors_of

# in-memory tensors up to this many elements are scanned whole (a vectorised pass over
# 50M floats takes a fraction of a second); beyond it, and for other datasets, rows are sampled
FULL_SCAN_ELEMENTS = 50_000_000


def audit_rows(ds: Dataset, limit: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """-> (X, y, whole): every row when in memory and small enough, else up to `limit`."""
    pair = tensors_of(ds)
    if pair is not None and pair[0].numel() + pair[1].numel() <= FULL_SCAN_ELEMENTS:
        return pair[0], pair[1], True
    x, y = sample(ds, limit, seed=seed)
    return x, y, len(x) == len(ds)  # type: ignore[arg-type]


def flat(x: torch.Tensor) -> torch.Tensor:
    """(N, ...) -> (N, F) float, one row per sample."""
    x = x.reshape(len(x), -1)
    return x if x.is_floating_point() else x.double()
