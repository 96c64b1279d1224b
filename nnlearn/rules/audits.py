"""Helpers the data-audit and setup rules share (pure Python over `facts`, torch-free)."""

from __future__ import annotations

import math
from typing import Any


def scale_problems(
    stats: dict[str, Any], max_rms: float, offset_ratio: float, min_offset: float = 1.0
) -> list[dict[str, Any]]:
    """Features (or channels) far from zero mean and unit scale, the worst first.

    A feature is flagged when its root-mean-square sqrt(mean^2 + std^2) exceeds `max_rms`, or
    when its mean sits more than `offset_ratio` standard deviations from zero (and more than
    `min_offset` in absolute terms, so a rare binary flag with mean 0.99 is not flagged).
    Constant features (std 0) carry no signal and are not counted as badly scaled."""
    names = stats.get("names") or []
    means, stds = stats.get("abs_mean") or [], stats.get("std") or []
    out = []
    for name, m, s in zip(names, means, stds, strict=False):
        rms = math.hypot(m, s)
        if rms > max_rms:
            out.append({"name": name, "abs_mean": m, "std": s, "why": "scale"})
        elif s > 0 and m > min_offset and m > offset_ratio * s:
            out.append({"name": name, "abs_mean": m, "std": s, "why": "offset"})
    return sorted(out, key=lambda f: -math.hypot(f["abs_mean"], f["std"]))


def describe_features(flagged: list[dict[str, Any]], limit: int = 3) -> str:
    parts = [f"{f['name']} (|mean| {f['abs_mean']:.3g}, std {f['std']:.3g})" for f in flagged]
    more = f" and {len(parts) - limit} more" if len(parts) > limit else ""
    return ", ".join(parts[:limit]) + more


def names(items: list[str], limit: int = 4) -> str:
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(f"`{n}`" for n in items[:limit]) + more
