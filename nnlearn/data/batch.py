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


def next_tokens(x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Next-token targets of ids `x` (N, T): the inputs shifted by one, padding (mask 0) at
    the ignore index."""
    target = x[:, 1:]
    if mask is not None and tuple(mask.shape) == tuple(x.shape):
        target = target.masked_fill(mask[:, 1:] == 0, IGNORE_INDEX)
    return target


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


def empty_like(ds: Dataset) -> Dataset:
    """An in-memory dataset of no rows with the items' shapes (a missing validation split)."""
    first = sample_batch(ds, 1)
    return from_batch(slice_batch(first, slice(0, 0), batch_size(first)))


def from_batch(batch: Batch) -> Dataset:
    """An in-memory dataset holding the rows of a batch."""
    if isinstance(batch, Mapping):
        return MappingDataset(batch)
    if isinstance(batch, torch.Tensor):
        return TensorDataset(batch)
    return TensorDataset(*batch)


# keys of a mapping item padded with 0 whatever the pad token (Hugging Face's collators)
ZERO_PAD_KEYS = ("attention_mask", "token_type_ids", "special_tokens_mask")


class CollateError(ValueError):
    """Items that no collate can stack: the message names the key or position and says which
    spec field fixes it (`data.collate_fn`)."""


class PadCollate:
    """The default collate: torch's `default_collate`, and for 1-D integer sequences of
    unequal length (token ids, per-token labels) right padding to the longest in the batch,
    as transformers' `DataCollatorWithPadding` (+ `DataCollatorForTokenClassification`) do:
    inputs with `pad_token_id` (0 unless the dataset or the model states one), target keys
    (`labels`, ...; in a tuple every element after the first) with -100, the loss's
    ignore_index, `attention_mask`/`token_type_ids` with 0; a mapping item without an
    `attention_mask` gets one (1 for real tokens) when `build_mask` is on (the probe turns it
    off for a model whose forward takes no attention_mask). Lists of ints are tensors here
    (a Hugging Face `datasets` row without set_format). Other unequal shapes are a
    `CollateError`."""

    def __init__(self, pad_token_id: int | None = None, build_mask: bool = True):
        self.pad_token_id = pad_token_id
        self.build_mask = build_mask

    def __call__(self, items: list[Any]) -> Batch:
        if not items:
            raise CollateError("no items to collate")
        first = items[0]
        if isinstance(first, Mapping):
            return self._mapping(items)
        if isinstance(first, (tuple, list)) and not _numbers(first):
            return tuple(
                self._column([it[i] for it in items], f"element {i}", IGNORE_INDEX if i else None)
                for i in range(len(first))
            )
        return self._column(items, "item", None)

    def _mapping(self, items: list[Mapping]) -> dict:
        keys = list(items[0].keys())
        out, ragged = {}, set()
        for key in keys:
            if key in TARGET_KEYS:
                pad = IGNORE_INDEX
            elif key in ZERO_PAD_KEYS:
                pad = 0
            else:
                pad = None  # the pad token
            values = [_as_tensor(v) if _numbers(v) else v for v in (it[key] for it in items)]
            out[key] = self._column(values, repr(key), pad)
            if _is_ragged(values):
                ragged.add(key)
        main = next((k for k in INPUT_KEYS if k in ragged), None)
        if main and "attention_mask" not in out and self.build_mask:
            lengths = [len(_as_tensor(it[main])) for it in items]
            width = out[main].shape[1]
            out["attention_mask"] = (
                torch.arange(width)[None, :] < torch.tensor(lengths)[:, None]
            ).long()
        return out

    def _column(self, values: list[Any], where: str, pad: int | None) -> Any:
        values = [_as_tensor(v) if _numbers(v) else v for v in values]
        if not _is_ragged(values):
            from torch.utils.data import default_collate

            return default_collate(values)
        shapes = sorted({tuple(v.shape) for v in values})
        if not all(v.dim() == 1 and not v.is_floating_point() for v in values):
            raise CollateError(
                f"{where} of the dataset's items have unequal shapes {shapes[:3]}; the default "
                "collate pads 1-D integer sequences only: give data.collate_fn (or return "
                "DataLoaders with your collate_fn)"
            )
        from torch.nn.utils.rnn import pad_sequence

        value = self.pad_token_id if pad is None else pad
        return pad_sequence(values, batch_first=True, padding_value=int(value or 0))


def _numbers(v: Any) -> bool:
    """A list/tuple of Python ints or floats (a token-id list), not of tensors or items."""
    return (
        isinstance(v, (list, tuple))
        and bool(v)
        and all(isinstance(e, (int, float)) and not isinstance(e, bool) for e in v)
    )


def _as_tensor(v: Any) -> torch.Tensor:
    return v if isinstance(v, torch.Tensor) else torch.as_tensor(v)


def _is_ragged(values: list[Any]) -> bool:
    """Tensors of one rank whose shapes differ."""
    if not values or not all(isinstance(v, torch.Tensor) for v in values):
        return False
    return len({tuple(v.shape) for v in values}) > 1


class WithCollate(Dataset):
    """A dataset and the collate its batches are built with (the user's `data.collate_fn`, a
    DataLoader's `collate_fn`, or a `PadCollate` that knows the pad token)."""

    def __init__(self, dataset: Dataset, collate_fn):
        self.dataset = dataset
        self.collate_fn = collate_fn

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, i):
        return self.dataset[i]


def collate_of(ds: Any):
    """The collate a dataset's batches are built with: its own (WithCollate, through Subsets),
    else a PadCollate with the pad token the dataset states."""
    seen = ds
    for _ in range(8):
        fn = getattr(seen, "collate_fn", None)
        if isinstance(seen, WithCollate) and fn is not None:
            return fn
        inner = getattr(seen, "dataset", None)
        if inner is None:
            break
        seen = inner
    return PadCollate(pad_token_id_of(ds))


def pad_token_id_of(obj: Any) -> int | None:
    """The pad token a dataset or model states: `pad_token_id`, its tokenizer's, or its
    config's (a Hugging Face model), through Subset/WithCollate wrappers."""
    for _ in range(8):
        if obj is None:
            return None
        for holder in (obj, getattr(obj, "tokenizer", None), getattr(obj, "config", None)):
            value = getattr(holder, "pad_token_id", None) if holder is not None else None
            if isinstance(value, int) and not isinstance(value, bool):
                return value
        obj = getattr(obj, "dataset", None)
    return None


def collate(items: list[Any], collate_fn=None) -> Batch:
    out = (collate_fn or PadCollate())(items)
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
    return collate([ds[int(i)] for i in idx], collate_of(ds))


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
    loader = DataLoader(
        ds, batch_size=size, shuffle=shuffle, generator=generator, collate_fn=collate_of(ds)
    )
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
        target = next_tokens(x, mask if isinstance(mask, torch.Tensor) else None)
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
