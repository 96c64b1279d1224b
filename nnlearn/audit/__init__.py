"""Data audits, before training: what the data is, and what is wrong with it.

Returns `facts["data"]`, a JSON-able dict the D3xx rules read (`facts:data.*`):

- `nonfinite`: NaN/Inf counts in inputs and targets of each split, and where they are;
- `inputs`: mean and spread per feature (per channel for images), `val_inputs` the same for
  the validation split (train/val shift); `targets`: target scale;
- `labels`: range and kind of the targets of both splits; `class_counts`, `val_class_counts`;
- `duplicates`: identical inputs carrying different labels; `overlap`: validation rows that
  are also training rows;
- integer inputs are ids (token ids, category codes), not features: no scale statistics
  (`inputs` says `layout: ids`), instead `ids`, `padding`, `pad_in_loss`, `target_copy` and
  `leak` (`nnlearn.audit.tokens`). Class counts are taken only of one label per sample: the
  targets of language modelling and token classification are ordinary token frequencies,
  not classes to balance.

In-memory data is scanned whole when that is cheap (counts are exact); otherwise, and for the
costlier statistics, a bounded seeded sample is read, so an audit costs seconds, not minutes.
"""

from __future__ import annotations

from typing import Any

import torch

from nnlearn.audit.duplicates import conflicts, overlap
from nnlearn.audit.rows import audit_rows, audit_view
from nnlearn.audit.scale import input_scale, target_scale
from nnlearn.audit.tokens import id_range, is_ids, token_facts
from nnlearn.audit.values import class_counts, labels, nonfinite, position_names
from nnlearn.data.bundle import DataBundle

# rows sampled per split for scale and duplicate statistics
AUDIT_ROWS = 20_000
# CrossEntropyLoss's default ignore_index: targets equal to it are not counted by the loss
IGNORE_INDEX = -100
# training rows hashed to find validation rows that are also in training
OVERLAP_ROWS = 200_000


def audit_data(bundle: DataBundle, seed: int = 0) -> dict[str, Any]:
    x_train, y_train, mask, train_whole = audit_view(bundle.train, OVERLAP_ROWS, seed, bundle.task)
    x_val, y_val, val_whole = audit_rows(bundle.val, AUDIT_ROWS, seed, bundle.task)
    xs, ys = _head(x_train, y_train, AUDIT_ROWS, seed)
    names = position_names(x_train, bundle.feature_names)
    facts: dict[str, Any] = {
        "source": bundle.source,
        "task": bundle.task,
        "n_train": len(bundle.train),  # type: ignore[arg-type]
        "n_val": len(bundle.val),  # type: ignore[arg-type]
        "input_shape": list(bundle.input_shape),
        "target_shape": list(bundle.target_shape),
        "n_classes": bundle.n_classes,
        "class_names": bundle.class_names,
        "sampled_rows": len(xs),
        "scanned_whole": train_whole and val_whole,
        "nonfinite": {
            split: {
                "inputs": nonfinite(x, position_names(x, bundle.feature_names)),
                "targets": nonfinite(y, position_names(y, None, prefix="y")),
                "rows_checked": len(x),
            }
            for split, x, y in (("train", x_train, y_train), ("val", x_val, y_val))
        },
        "inputs": {"layout": "ids", "n": len(names)} if is_ids(xs) else input_scale(xs, names),
        "val_inputs": input_scale(_head(x_val, y_val, AUDIT_ROWS, seed)[0], names)
        if x_val.shape[1:] == x_train.shape[1:] and not is_ids(xs)
        else {},
        "labels": labels(y_train, y_val),
    }
    ms = mask[: len(xs)] if mask is not None and len(xs) == len(x_train) else None
    facts.update(token_facts(xs, ys, ignore_index=IGNORE_INDEX, mask=ms))
    if is_ids(x_train) and is_ids(x_val):  # the embedding check needs every id, not a sample
        facts["ids"] = id_range(torch.cat([x_train.reshape(-1), x_val.reshape(-1)]))
    if bundle.task == "regression":
        facts["targets"] = target_scale(ys)
    elif ys.dim() <= 1 or (ys.dim() == 2 and ys.shape[1] == 1):
        facts["class_counts"] = class_counts(y_train)
        facts["val_class_counts"] = class_counts(y_val)
    facts["duplicates"] = conflicts(xs, ys)
    facts["overlap"] = overlap(
        _head(x_train, y_train, OVERLAP_ROWS, seed)[0], _head(x_val, y_val, AUDIT_ROWS, seed)[0]
    )
    return facts


def _head(x, y, limit: int, seed: int):
    """At most `limit` rows, a seeded random subset of larger tensors."""
    if len(x) <= limit:
        return x, y

    idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:limit]
    return x[idx], y[idx]
