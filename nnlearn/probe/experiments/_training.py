"""The small training loop the experiments share: no instruments, one `loss.item()` a step.

Experiments measure a curve, not layer statistics, so they skip the Monitor: a step here costs
what the user's own training step costs. Curves go into the metrics table under the
experiment's run name; the loop stops on a non-finite loss and at the experiment's deadline.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.utils.data import Dataset, TensorDataset

from nnlearn.data.bundle import sample, tensors_of
from nnlearn.probe.loop import guarded

# an experiment copies at most this many training rows into memory (labels permuted, subsets)
MAX_ROWS = 200_000


@dataclass
class Curve:
    losses: list[float] = field(default_factory=list)
    stopped: str = "completed"  # "completed" | "nonfinite" | "budget" | the `stop` reason

    @property
    def steps(self) -> int:
        return len(self.losses)


def train_steps(
    ctx,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    batches: Iterator[tuple[torch.Tensor, torch.Tensor]],
    steps: int,
    run: str,
    *,
    before_step: Callable[[int], None] | None = None,
    stop: Callable[[float], str | None] | None = None,
    progress_offset: int = 0,
) -> Curve:
    """Up to `steps` optimizer steps, the loss of each recorded as `run/train_loss`.
    `before_step(step)` may change the optimizer (the lr sweep does); `stop(loss)` returns a
    reason to end early (the overfit test has its answer, the sweep diverged) or None.
    `progress_offset` continues the progress bar of an experiment made of several runs."""
    curve = Curve()
    model.train()
    grad_clip = ctx.spec.optimizer.grad_clip
    for step in range(steps):
        if time.perf_counter() > ctx.deadline:
            curve.stopped = "budget"
            break
        x, y = next(batches)
        x, y = x.to(ctx.device), y.to(ctx.device)
        if before_step:
            before_step(step)
        loss = guarded(_forward_backward, f"{run} step", model, ctx.loss_fn, optimizer, x, y)
        if grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        guarded(optimizer.step, f"{run} optimizer.step")
        value = float(loss.detach().item())
        ctx.recorder.add(run, step, "train_loss", value)
        curve.losses.append(value)
        if ctx.on_step:
            ctx.on_step(progress_offset + step)
        if not math.isfinite(value):
            curve.stopped = "nonfinite"
            break
        reason = stop(value) if stop else None
        if reason:
            curve.stopped = reason
            break
    return curve


def _forward_backward(model, loss_fn, optimizer, x, y) -> torch.Tensor:
    optimizer.zero_grad(set_to_none=True)
    loss = loss_fn(model(x), y)
    loss.backward()
    return loss


def train_tensors(ds: Dataset, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The training split as (X, y) tensors: the tensors themselves when the dataset holds
    them (never modified), else a seeded sample of at most MAX_ROWS rows."""
    pair = tensors_of(ds)
    if pair is not None and len(pair[0]) <= MAX_ROWS:
        return pair
    return sample(ds, MAX_ROWS, seed=seed)


def subset(ds: Dataset, fraction: float, seed: int) -> TensorDataset:
    """A seeded random `fraction` of the training split, as a new dataset."""
    x, y = train_tensors(ds, seed)
    n = max(1, round(len(x) * fraction))
    idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:n]
    return TensorDataset(x[idx], y[idx])


def finite_mean(values: list[float]) -> float:
    vals = [v for v in values if math.isfinite(v)]
    return sum(vals) / len(vals) if vals else math.nan


def tail_mean(values: list[float], fraction: float = 0.1, minimum: int = 5) -> float:
    """Mean of the last `fraction` of a curve: a final value that one noisy batch cannot move."""
    n = max(minimum, int(len(values) * fraction))
    return finite_mean(values[-n:])
