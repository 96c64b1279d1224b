"""Helpers the loss-curve rules share (pure pandas/numpy)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pandas costs 0.25s to import: `nnlearn rules` and `explain` skip it
    import pandas as pd


def finite(series: pd.Series) -> pd.Series:
    return series[np.isfinite(series.to_numpy(float))]


def smooth(series: pd.Series, beta: float = 0.9) -> pd.Series:
    """Bias-corrected exponential moving average, as torch-lr-finder smooths its loss."""
    values = series.to_numpy(float)
    out = np.empty_like(values)
    avg = 0.0
    for i, v in enumerate(values):
        avg = beta * avg + (1 - beta) * v
        out[i] = avg / (1 - beta ** (i + 1))
    import pandas as pd

    return pd.Series(out, index=series.index)


def window(series: pd.Series, fraction: float, minimum: int) -> int:
    return max(minimum, int(len(series) * fraction))
