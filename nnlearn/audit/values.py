"""Non-finite values and label statistics: what the loss will be asked to eat."""

from __future__ import annotations

from typing import Any

import torch

from nnlearn.audit.rows import flat

# positions listed per split and tensor; the counts cover all of them
MAX_POSITIONS = 10


def nonfinite(x: torch.Tensor, names: list[str]) -> dict[str, Any]:
    """NaN and Inf counts, the rows they touch, and where (feature, channel or position)."""
    if not x.is_floating_point():
        return {"nan": 0, "inf": 0, "rows": 0, "where": {}}
    nan, inf = torch.isnan(x), torch.isinf(x)
    bad = nan | inf
    rows = int(bad.reshape(len(x), -1).any(1).sum()) if len(x) else 0
    where: dict[str, int] = {}
    if rows:
        grid = bad.reshape(len(x), *position_shape(x))
        per_position = grid.sum(dim=[d for d in range(grid.dim()) if d != 1])
        top = torch.argsort(per_position, descending=True)[:MAX_POSITIONS]
        where = {names[i]: int(per_position[i]) for i in top.tolist() if per_position[i] > 0}
    return {"nan": int(nan.sum()), "inf": int(inf.sum()), "rows": rows, "where": where}


def position_shape(x: torch.Tensor) -> tuple[int, ...]:
    """Images (N, C, H, W) are located per channel; everything else per flattened position."""
    if x.dim() == 4:
        return (x.shape[1], -1)
    return (-1,)


def position_names(
    x: torch.Tensor, feature_names: list[str] | None, prefix: str = "x"
) -> list[str]:
    if x.dim() == 4:
        return [f"channel {c}" for c in range(x.shape[1])]
    n = flat(x[:1]).shape[1] if len(x) else 0
    if feature_names and len(feature_names) == n:
        return list(feature_names)
    return [f"{prefix}[{i}]" for i in range(n)]


def labels(y_train: torch.Tensor, y_val: torch.Tensor) -> dict[str, Any]:
    """Range and kind of the targets of both splits: the loss sees them all (training and
    evaluation), so one label out of range in either is enough to crash it."""
    y = torch.cat([y_train.reshape(-1), y_val.reshape(-1)])
    finite = y[torch.isfinite(y)] if y.is_floating_point() else y
    if finite.numel() == 0:
        return {"dtype": str(y.dtype).replace("torch.", ""), "count": 0}
    integer = bool((finite == finite.round()).all()) if y.is_floating_point() else True
    return {
        "dtype": str(y.dtype).replace("torch.", ""),
        "floating": y.is_floating_point(),
        "integer_valued": integer,
        "min": float(finite.min()),
        "max": float(finite.max()),
        "n_distinct": int(torch.unique(finite).numel()) if integer else None,
        "outside_unit_interval": int(((finite < 0) | (finite > 1)).sum()),
        "negative": int((finite < 0).sum()),
        # a few distinct negative values: -100 is CrossEntropyLoss's "ignore" label, not a bug
        "negative_values": [float(v) for v in torch.unique(finite[finite < 0])[:5]],
        "count": int(finite.numel()),
    }


def class_counts(y: torch.Tensor) -> list[int] | None:
    """Samples per class index 0..max of integer-valued labels; None when the labels are not
    class indices (continuous, or soft binary targets)."""
    y = y.reshape(-1)
    if y.is_floating_point():
        y = y[torch.isfinite(y)]
        if y.numel() == 0 or not bool((y == y.round()).all()):
            return None
    y = y.long()
    y = y[y >= 0]  # negative labels are counted by `labels()`, not as a class
    if y.numel() == 0:
        return None
    return torch.bincount(y).tolist()
