"""Which rows an audit reads: all of an in-memory dataset when that is cheap, else a seeded
sample, so an audit of 10M rows costs what one of a few hundred thousand does."""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

from nnlearn.data.batch import sample_view, whole

# in-memory tensors up to this many elements are scanned whole (a vectorised pass over
# 50M floats takes a fraction of a second); beyond it, and for other datasets, rows are sampled
FULL_SCAN_ELEMENTS = 50_000_000


def audit_rows(
    ds: Dataset, limit: int, seed: int, task: str | None = None
) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """-> (inputs, targets, whole) of the dataset's sample view (`nnlearn.data.batch`):
    every row when in memory and small enough, else up to `limit`."""
    x, y, _, complete = audit_view(ds, limit, seed, task)
    return x, y, complete


def audit_view(
    ds: Dataset, limit: int, seed: int, task: str | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, bool]:
    """`audit_rows` and the rows' attention mask (None when the batches have none)."""
    full = whole(ds)
    n = len(ds)  # type: ignore[arg-type]
    if full is not None:
        elements = sum(t.numel() for t in (full.values() if isinstance(full, dict) else full))
        if elements <= FULL_SCAN_ELEMENTS:
            limit = max(limit, n)
    v = sample_view(ds, limit, seed=seed, task=task)
    y = v.targets if v.targets is not None else torch.zeros(len(v.inputs))
    return v.inputs, y, v.attention_mask, len(v.inputs) == n


def flat(x: torch.Tensor) -> torch.Tensor:
    """(N, ...) -> (N, F) float, one row per sample."""
    x = x.reshape(len(x), -1)
    return x if x.is_floating_point() else x.double()
