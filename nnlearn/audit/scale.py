"""Input and target scale: mean and spread per feature (tables) or per channel (images)."""

from __future__ import annotations

from typing import Any

import torch

from nnlearn.audit.rows import flat

# per-feature statistics are kept for up to this many features; wider inputs (flattened
# images, embeddings) are summarised as one pooled feature, enough to see a 0..255 scale
MAX_FEATURES = 4096
# features listed by name in the facts, the worst first
MAX_LISTED = 5


def input_scale(x: torch.Tensor, names: list[str]) -> dict[str, Any]:
    """Mean and standard deviation of every feature (per channel for (N, C, H, W) images),
    NaN/Inf ignored. Constant features are counted apart: they carry no signal but are not
    badly scaled."""
    if len(x) < 2:
        return {}
    if x.dim() == 4:
        layout = "channels"
        v = x.transpose(0, 1).reshape(x.shape[1], -1).T  # (N*H*W, C)
    else:
        v = flat(x)
        layout = "features"
        if v.shape[1] > MAX_FEATURES:
            v, names, layout = v.reshape(-1, 1), ["all inputs"], "pooled"
    v = v.double()
    v = torch.where(torch.isfinite(v), v, torch.nan)
    mean = v.nanmean(0)
    std = (v - mean).pow(2).nanmean(0).sqrt()
    ok = torch.isfinite(mean) & torch.isfinite(std)
    scale = torch.maximum(mean.abs(), std).nan_to_num(0.0)
    worst = torch.argsort(scale, descending=True)[:MAX_LISTED].tolist()
    return {
        "layout": layout,
        "n": int(v.shape[1]),
        "abs_mean": [round(float(m), 6) for m in mean.abs().nan_to_num(0.0)],
        "mean": [round(float(m), 6) for m in mean.nan_to_num(0.0)],
        "std": [round(float(s), 6) for s in std.nan_to_num(0.0)],
        "names": list(names),
        "worst": [
            {"name": names[i], "mean": float(mean[i]), "std": float(std[i])} for i in worst if ok[i]
        ],
        "n_constant": int(((std == 0) & ok).sum()),
    }


def target_scale(y: torch.Tensor) -> dict[str, Any]:
    """Mean, spread and range of float targets, pooled over output dimensions."""
    if not y.is_floating_point() or y.numel() < 2:
        return {}
    v = y.reshape(-1).double()
    v = v[torch.isfinite(v)]
    if v.numel() < 2:
        return {}
    return {
        "mean": float(v.mean()),
        "std": float(v.std(unbiased=False)),
        "min": float(v.min()),
        "max": float(v.max()),
    }
