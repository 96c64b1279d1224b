"""Helpers the fit (F8xx) and experiment (E9xx) rules share: pure pandas/numpy, torch-free."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nnlearn.rules.curves import finite


def reference_loss(m) -> float | None:
    """The loss of knowing nothing about the inputs, to put other losses on one scale: the
    baseline experiment's validation loss, else the chance-level loss at init, else the first
    training loss. None when none is a positive number."""
    for value in (
        m.fact("experiments.baseline.val_loss"),
        m.fact("init.chance_loss"),
        _first(m.series("train_loss")),
    ):
        if isinstance(value, (int, float)) and math.isfinite(value) and value > 0:
            return float(value)
    return None


def _first(series) -> float | None:
    s = finite(series)
    return float(s.iloc[0]) if len(s) else None


def last(m, name: str, n: int = 2, run: str = "main") -> float | None:
    """Mean of the last `n` finite values of a main-run metric (evaluations are few; one noisy
    evaluation should not decide a verdict)."""
    s = finite(m.series(name, run))
    return float(s.iloc[-n:].mean()) if len(s) else None


def experiment(m, name: str) -> dict[str, Any] | None:
    """An experiment's result, or None when it did not run or was skipped."""
    result = m.fact(f"experiments.{name}")
    if not isinstance(result, dict) or "skipped" in result:
        return None
    return result


def lr_outside_range(m, low_factor: float = 10.0, high_factor: float = 3.0) -> str | None:
    """Whether the rate the optimizer had in the main run lies more than `low_factor` below
    ("low") or `high_factor` above ("high") lr_range's good range, else None. The defaults are
    E902's: rules that defer to it stay quiet exactly when it speaks (and, like it, when the
    sweep was unreliable)."""
    sweep = experiment(m, "lr_range")
    lr = m.fact("run.lr")
    if not sweep or not sweep.get("good_range") or not isinstance(lr, (int, float)) or lr <= 0:
        return None
    if sweep.get("unreliable"):
        return None
    lo, hi = sweep["good_range"]
    if lr < lo / low_factor:
        return "low"
    if lr > hi * high_factor:
        return "high"
    return None


def main_drop(m) -> float | None:
    """Relative drop of the main run's training loss from its first step (the loss at init) to
    the median of its last tenth, as `lr_range.main_run_drop` measures it; None for fewer than
    20 steps, a non-finite value or a non-positive start."""
    v = [float(x) for x in m.series("train_loss").tolist()]
    if len(v) < 20 or not all(math.isfinite(x) for x in v) or v[0] <= 0:
        return None
    w = max(len(v) // 10, 2)
    return (v[0] - float(np.median(v[-w:]))) / v[0]


def relative_drop(values, start_fraction: float = 0.75) -> float | None:
    """How much a curve still fell over its last quarter, relative to its value there."""
    v = np.asarray([x for x in values if math.isfinite(x)], dtype=float)
    if len(v) < 4:
        return None
    i = int(len(v) * start_fraction)
    before = float(v[max(i - 1, 0) : i + 1].mean())
    return (before - float(v[-2:].mean())) / before if before > 0 else None


def _input_dims(m) -> int:
    """d: the number of input values of one sample."""
    d = 1
    for size in m.fact("data.input_shape") or []:
        d *= int(size)
    return d


def could_memorise_training_set(m) -> bool:
    """At least Zhang et al.'s 2n + d parameters for the n training samples: a model that fails
    to fit them anyway is not short of capacity."""
    n_params, n_train = m.fact("model.n_trainable"), m.fact("data.n_train")
    if not isinstance(n_params, int) or not isinstance(n_train, int):
        return False
    return n_params >= 2 * n_train + _input_dims(m)


def too_few_parameters(m, batch: dict) -> bool:
    """Fewer trainable parameters than the 2n + d with which a two-layer ReLU network can fit
    any labels of n samples in d dimensions (Zhang et al. 2017, Theorem 1): only then is
    failing to memorise the batch a matter of size."""
    n_params = m.fact("model.n_trainable")
    if not isinstance(n_params, int) or not batch.get("batch_size"):
        return False
    return n_params < 2 * int(batch["batch_size"]) + _input_dims(m)
