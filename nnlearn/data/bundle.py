"""The data the probe trains on, whatever its source. Batches are handled in `batch.py`."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch.utils.data import Dataset, TensorDataset

from nnlearn.data.batch import (
    TOKEN_TASKS,
    SampleView,
    batches,
    infinite_batches,
    sample_view,
)

__all__ = ["DataBundle", "batches", "infinite_batches", "sample", "tensors_of"]

# tasks whose outputs are one score per class (per sample, or per position of a sequence)
CLASS_TASKS = ("classification", *TOKEN_TASKS)


@dataclass
class DataBundle:
    train: Dataset
    val: Dataset
    # classification | binary | regression | multilabel | language_modeling | token_classification
    task: str
    n_classes: int | None  # classes the labels imply (the vocabulary for language modelling)
    input_shape: tuple[int, ...]  # one sample, without the batch dimension
    target_shape: tuple[int, ...]
    source: str  # "synthetic:spirals", "csv:/path", "user:pkg.fn"
    class_names: list[str] | None = None  # string labels, index -> name
    feature_names: list[str] | None = None
    notes: list[str] = field(default_factory=list)
    ignore_index: int | None = None  # target value the loss skips (token tasks: -100)

    @property
    def out_features(self) -> int:
        if self.task in CLASS_TASKS:
            return int(self.n_classes or 2)
        n = 1
        for d in self.target_shape:
            n *= d
        return max(n, 1)

    def view(self, split: str, limit: int, seed: int = 0) -> SampleView:
        """Up to `limit` rows of a split as the audits read them."""
        ds = self.train if split == "train" else self.val
        return sample_view(ds, limit, seed, self.task, self.ignore_index)


def tensors_of(ds: Dataset) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The (X, y) tensors behind a TensorDataset, else None."""
    if isinstance(ds, TensorDataset) and len(ds.tensors) >= 2:
        return ds.tensors[0], ds.tensors[1]
    return None


def sample(
    ds: Dataset, limit: int, seed: int = 0, task: str | None = None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Up to `limit` (inputs, targets) rows of any dataset (its sample view's tensors)."""
    v = sample_view(ds, limit, seed, task)
    return v.inputs, v.targets
