"""One notion of a batch: whatever the user's dataset yields, and the only module that indexes it.

A batch is a tuple/list `(x, y, ...)` (x is passed to the model positionally; x may itself be a
mapping, passed as keyword arguments) or a mapping in the Hugging Face style (`input_ids`,
`attention_mask`, `labels`, ...), passed to the model as keyword arguments. Tensors keep their
dtype: integer token ids stay integer. Everything else in nnlearn moves, slices, counts and
samples batches through the functions here, so a new batch shape is supported everywhere or
nowhere.

The audits read a `SampleView` of a dataset: the main input tensor with its dtype, the targets
(for next-token language modelling without labels: the inputs shifted by one), the index the
loss ignores, and the attention mask when there is one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset

Batch = Any  # a tuple/list of tensors, or a mapping of name -> tensor

# keys of a mapping batch that hold the targets, first match wins (Hugging Face: `labels`)
TARGET_KEYS = ("labels", "label", "targets", "target", "y")
# keys of a mapping batch that hold the main input, first match wins
INPUT_KEYS = ("input_ids", "inputs", "x", "pixel_values", "inputs_embeds")
# torch's CrossEntropyLoss and Hugging Face models skip targets equal to this
IGNORE_INDEX = -100
# tasks whose targets are one class per position of a sequence
TOKEN_TASKS = ("language_modeling", "token_classification")


class MappingDataset(Dataset):
    """An in-memory dataset of named, equally long tensors (a tokenizer's output, say); items
    are mappings, and batches are sliced directly, like a TensorDataset's."""

    def __init__(self, columns: Mapping[str, Any]):
        self.columns = {k: torch.as_tensor(v) for k, v in columns.items()}
        lengths = {len(v) for v in self.columns.values() if v.dim()}
        if len(lengths) != 1:
            raise ValueError(f"columns of different lengths: {sorted(lengths)}")
        self.n = lengths.pop()

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i):
        return {k: v[i] for k, v in self.columns.items()}


# -- a batch ---------------------------------------------------------------------------------
def is_mapping(batch: Batch) -> bool:
    return isinstance(batch, Mapping)


def _first_tensor(obj: Any) -> torch.Tensor | None:
    if isinstance(obj, torch.Tensor):
        return obj
    values = obj.values() if isinstance(obj, Mapping) else obj
    if isinstance(values, (tuple, list)) or isinstance(obj, Mapping):
        for v in values:
            t = _first_tensor(v)
            if t is not None and t.dim():
                return t
    return None


def batch_size(batch: Batch) -> int:
    """Samples in the batch: the length of its first tensor."""
    t = _first_tensor(batch)
    return int(len(t)) if t is not None else 0


def to_device(batch: Batch, device: torch.device) -> Batch:
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (tuple, list)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


def slice_batch(batch: Batch, idx: Any, n: int | None = None) -> Batch:
    """The rows `idx` (a slice or index tensor) of every tensor that has a row per sample."""
    n = batch_size(batch) if n is None else n
    if isinstance(batch, torch.Tensor):
        return batch[idx] if batch.dim() and len(batch) == n else batch
    if isinstance(batch, Mapping):
        return {k: slice_batch(v, idx, n) for k, v in batch.items()}
    if isinstance(batch, (tuple, list)):
        return tuple(slice_batch(v, idx, n) for v in batch)
    return batch


def target_key(batch: Mapping) -> str | None:
    return next((k for k in TARGET_KEYS if k in batch), None)


def inputs_and_target(batch: Batch) -> tuple[Any, torch.Tensor | None]:
    """-> (what the model takes, the targets or None). A tuple's inputs are its first element;
    a mapping's are the mapping without its target key."""
    if isinstance(batch, Mapping):
        key = target_key(batch)
        inputs = {k: v for k, v in batch.items() if k != key}
        return inputs, (batch[key] if key else None)
    if isinstance(batch, (tuple, list)):
        return batch[0], (batch[1] if len(batch) > 1 else None)
    return batch, None


def with_target(batch: Batch, target: torch.Tensor) -> Batch:
    """The same batch with its targets replaced (the shuffled-labels experiment)."""
    if isinstance(batch, Mapping):
        key = target_key(batch) or "labels"
        return {**batch, key: target}
    if isinstance(batch, (tuple, list)):
        return (batch[0], target, *batch[2:])
    return (batch, target)


def main_input(inputs: Any) -> torch.Tensor | None:
    """The input tensor the audits read: the tensor itself, or a mapping's `input_ids` (or the
    first of INPUT_KEYS, else its first tensor)."""
    if isinstance(inputs, Mapping):
        for key in INPUT_KEYS:
            if isinstance(inputs.get(key), torch.Tensor):
                return inputs[key]
        return _first_tensor(inputs)
    return _first_tensor(inputs)


def call_model(model: torch.nn.Module, inputs: Any, extra: Mapping | None = None) -> Any:
    """A mapping is passed as keyword arguments, anything else positionally."""
    if isinstance(inputs, Mapping):
        return model(**inputs, **(extra or {}))
    return model(inputs, **(extra or {}))


# -- a dataset -------------------------------------------------------------------------------
def whole(ds: Dataset) -> Batch | None:
    """An in-memory dataset as one batch (a TensorDataset's tensors, a MappingDataset's
    columns), else None: such datasets are sliced, never collated item by item."""
    if isinstance(ds, TensorDataset):
        return tuple(ds.tensors)
    if isinstance(ds, MappingDataset):
        return dict(ds.columns)
    return None


def from_batch(batch: Batch) -> Dataset:
    """An in-memory dataset holding the rows of a batch."""
    if isinstance(batch, Mapping):
        return MappingDataset(batch)
    if isinstance(batch, torch.Tensor):
        return TensorDataset(batch)
    return TensorDataset(*batch)


def collate(items: list[Any]) -> Batch:
    from torch.utils.data import default_collate

    out = default_collate(items)
    return tuple(out) if isinstance(out, list) else out


def sample_batch(ds: Dataset, limit: int, seed: int = 0) -> Batch:
    """Up to `limit` rows of any dataset as one batch, a seeded random subset when it is
    larger: audits and inference cost the same on 1k and 10M rows."""
    n = len(ds)  # type: ignore[arg-type]
    if n > limit:
        idx = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:limit]
    else:
        idx = torch.arange(n)
    full = whole(ds)
    if full is not None:
        return full if n <= limit else slice_batch(full, idx, n)
    return collate([ds[int(i)] for i in idx])


def batches(
    ds: Dataset, size: int, *, shuffle: bool, generator: torch.Generator | None = None
) -> Iterator[Batch]:
    """One epoch of batches. In-memory datasets are sliced directly (a DataLoader's per-item
    collation would dominate a small model's step); others go through a DataLoader."""
    full = whole(ds)
    if full is not None:
        n = len(ds)  # type: ignore[arg-type]
        order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
        for start in range(0, n, size):
            yield slice_batch(full, order[start : start + size], n)
        return
    loader = DataLoader(ds, batch_size=size, shuffle=shuffle, generator=generator)
    for batch in loader:
        yield tuple(batch) if isinstance(batch, list) else batch


def infinite_batches(ds: Dataset, size: int, *, seed: int) -> Iterator[Batch]:
    generator = torch.Generator().manual_seed(seed)
    while True:
        yield from batches(ds, size, shuffle=True, generator=generator)


# -- what the audits read --------------------------------------------------------------------
@dataclass
class SampleView:
    """Rows of a dataset as the audits see them. `inputs`: the main input tensor, dtype kept
    (integer ids stay integer); `targets`: what the loss compares with, per sample (for
    language modelling without labels, the inputs shifted by one: (N, T-1)); `ignore_index`:
    target value the loss skips; `attention_mask`: 1 for real tokens when the batch has one."""

    inputs: torch.Tensor
    targets: torch.Tensor | None
    ignore_index: int | None = None
    attention_mask: torch.Tensor | None = None
    mapping: bool = False  # the batch was a mapping (passed to the model as keyword arguments)
    target_key: str | None = None

    def __len__(self) -> int:
        return len(self.inputs)


def view_of(batch: Batch, task: str | None = None, ignore_index: int | None = None) -> SampleView:
    inputs, target = inputs_and_target(batch)
    x = main_input(inputs)
    if x is None:
        raise ValueError("the batch holds no input tensor")
    mask = inputs.get("attention_mask") if isinstance(inputs, Mapping) else None
    if task == "language_modeling" and target is None and x.dim() >= 2:
        target = x[:, 1:]  # next-token prediction: the inputs shifted by one
    if ignore_index is None and task in TOKEN_TASKS:
        ignore_index = IGNORE_INDEX
    return SampleView(
        inputs=x,
        targets=target,
        ignore_index=ignore_index,
        attention_mask=mask if isinstance(mask, torch.Tensor) else None,
        mapping=isinstance(batch, Mapping) or isinstance(inputs, Mapping),
        target_key=target_key(batch) if isinstance(batch, Mapping) else None,
    )


def sample_view(
    ds: Dataset,
    limit: int,
    seed: int = 0,
    task: str | None = None,
    ignore_index: int | None = None,
) -> SampleView:
    return view_of(sample_batch(ds, limit, seed), task, ignore_index)
