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
from torch.utils.data import Dataset

from nnlearn.data.batch import Batch, batch_size, from_batch, sample_batch, slice_batch, to_device
from nnlearn.data.batch import whole as whole_batch
from nnlearn.probe.loop import forward_backward, guarded

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
    batches: Iterator[Batch],
    steps: int,
    run: str,
    *,
    before_step: Callable[[int], None] | None = None,
    stop: Callable[[float], str | None] | None = None,
    progress_offset: int = 0,
    scheduled: bool = True,
) -> Curve:
    """Up to `steps` optimizer steps of the probe's step (`ctx.step`: the user's train_step
    or the builtin one), the loss of each recorded as `run/train_loss`; the spec's scheduler,
    a fresh one, steps after each unless `scheduled` is False (the lr sweep sets the rate
    itself). `before_step(step)` may change the optimizer; `stop(loss)` returns a reason to
    end early (the overfit test has its answer, the sweep diverged) or None.
    `progress_offset` continues the progress bar of an experiment made of several runs."""
    curve = Curve()
    model.train()
    grad_clip = ctx.spec.optimizer.grad_clip
    step_fn = ctx.step
    scheduler = ctx.scheduler(optimizer) if scheduled else None
    for step in range(steps):
        if time.perf_counter() > ctx.deadline:
            curve.stopped = "budget"
            break
        batch = to_device(guarded(next, f"{run}: drawing a batch", batches), ctx.device)
        if before_step:
            before_step(step)
        loss = guarded(forward_backward, f"{run} step", model, step_fn, optimizer, batch)
        if grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        guarded(optimizer.step, f"{run} optimizer.step")
        if scheduler is not None:
            guarded(scheduler.step, f"{run} scheduler.step")
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


def train_batch(ds: Dataset, seed: int) -> Batch:
    """The training split as one batch: the in-memory tensors themselves (never modified),
    else a seeded sample of at most MAX_ROWS rows."""
    full = whole_batch(ds)
    if full is not None and batch_size(full) <= MAX_ROWS:
        return full
    return sample_batch(ds, MAX_ROWS, seed=seed)


def subset(ds: Dataset, fraction: float, seed: int) -> Dataset:
    """A seeded random `fraction` of the training split, as a new dataset."""
    full = train_batch(ds, seed)
    total = batch_size(full)
    n = max(1, round(total * fraction))
    idx = torch.randperm(total, generator=torch.Generator().manual_seed(seed))[:n]
    return from_batch(slice_batch(full, idx, total))


def finite_mean(values: list[float]) -> float:
    vals = [v for v in values if math.isfinite(v)]
    return sum(vals) / len(vals) if vals else math.nan


def tail_mean(values: list[float], fraction: float = 0.1, minimum: int = 5) -> float:
    """Mean of the last `fraction` of a curve: a final value that one noisy batch cannot move."""
    n = max(minimum, int(len(values) * fraction))
    return finite_mean(values[-n:])
