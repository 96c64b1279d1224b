"""Exact duplicates: identical inputs with different labels, and validation rows that are also
training rows. Rows are compared by the bytes of their float32 values (-0.0 counted as 0.0)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from nnlearn.audit.rows import flat


def row_keys(x: torch.Tensor) -> np.ndarray:
    """One hashable, sortable key per row: the row's float32 bytes."""
    a = np.ascontiguousarray(flat(x).float().numpy()) + np.float32(0.0)  # -0.0 -> 0.0
    a = np.ascontiguousarray(a, dtype=np.float32)
    return a.view(np.dtype((np.void, a.dtype.itemsize * a.shape[1]))).ravel()


def conflicts(x: torch.Tensor, y: torch.Tensor) -> dict[str, Any]:
    """Rows whose exact input also occurs with another label. Only meaningful for class
    labels; a regression target that differs between twins is noise, not a contradiction."""
    if len(x) == 0:
        return {}
    keys = row_keys(x)
    _, group, counts = np.unique(keys, return_inverse=True, return_counts=True)
    group = group.ravel()
    labels = y.reshape(len(y), -1)[:, 0].double().numpy()
    pairs = np.unique(np.stack([group.astype(np.float64), labels], 1), axis=0)
    labels_per_group = np.bincount(pairs[:, 0].astype(np.int64), minlength=len(counts))
    conflicting = labels_per_group[group] > 1
    out: dict[str, Any] = {
        "rows": int(len(x)),
        "distinct_inputs": int(len(counts)),
        "duplicated_rows": int((counts[group] > 1).sum()),
        "conflicting_rows": int(conflicting.sum()),
        "conflicting_inputs": int((labels_per_group > 1).sum()),
    }
    if conflicting.any():
        g = int(group[np.flatnonzero(conflicting)[0]])
        members = np.flatnonzero(group == g)
        out["example"] = {
            "rows": members[:5].tolist(),
            "labels": sorted({_plain(v) for v in labels[members]}),
        }
    return out


def overlap(x_train: torch.Tensor, x_val: torch.Tensor) -> dict[str, Any]:
    """Validation rows whose exact input is also in the (audited) training rows."""
    if len(x_train) == 0 or len(x_val) == 0:
        return {}
    if flat(x_train[:1]).shape[1] != flat(x_val[:1]).shape[1]:
        return {}
    train = set(row_keys(x_train).tolist())
    hits = np.fromiter((k in train for k in row_keys(x_val).tolist()), dtype=bool, count=len(x_val))
    return {
        "val_rows": int(len(x_val)),
        "train_rows": int(len(x_train)),
        "val_in_train": int(hits.sum()),
        "fraction": float(hits.mean()),
        "example_val_rows": np.flatnonzero(hits)[:5].tolist(),
    }


def _plain(v: float) -> float | int:
    return int(v) if float(v).is_integer() else float(v)
