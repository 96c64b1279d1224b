"""The builtin training loop: one client of `Monitor`, like any user's loop."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import Dataset

from nnlearn.data.batch import batch_size as batch_size_of
from nnlearn.data.batch import batches, infinite_batches, to_device
from nnlearn.data.bundle import DataBundle
from nnlearn.errors import ProbeFailed, UserCodeError
from nnlearn.monitor import Monitor
from nnlearn.probe.setup import LossFn
from nnlearn.probe.step import Step, StepOutput

# evaluation reads at most this many samples of each split: enough for a stable estimate,
# bounded cost on large datasets
EVAL_LIMIT = 4096


@dataclass
class RunResult:
    steps_done: int
    stopped: str  # "completed" | "nonfinite" | "budget"
    nonfinite_step: int | None
    duration_s: float
    lr_peak: float | None = None  # the highest rate the optimizer ran at (a schedule moves it)
    lr_peaks: list[float] | None = None  # the same per parameter group


def as_step(step_or_loss) -> Step:
    """A `Step`, or a bare loss function wrapped in the builtin one."""
    return step_or_loss if isinstance(step_or_loss, Step) else Step(step_or_loss)


def group_lrs(optimizer) -> list[float]:
    try:
        return [float(g.get("lr", 0.0)) for g in optimizer.param_groups]
    except (AttributeError, TypeError, ValueError):
        return []


def current_lr(optimizer) -> float | None:
    try:
        return float(optimizer.param_groups[0]["lr"])
    except (AttributeError, IndexError, KeyError, TypeError, ValueError):
        return None


def train(
    model: nn.Module,
    step_fn: Step | LossFn,
    optimizer: torch.optim.Optimizer,
    bundle: DataBundle,
    monitor: Monitor,
    *,
    steps: int,
    batch_size: int,
    eval_every: int,
    device: torch.device,
    seed: int,
    deadline: float,
    grad_clip: float | None = None,
    on_step: Callable[[int], None] | None = None,
    scheduler=None,
    agree: Callable[[bool, bool], tuple[bool, bool]] | None = None,
) -> RunResult:
    """`steps` optimizer steps; validation every `eval_every` steps and at the end. A
    non-finite loss stops the loop after recording it; the deadline stops it early. The
    scheduler, when there is one, steps once per optimizer step. `agree` (a distributed
    run's) turns this rank's (non-finite, past deadline) into every rank's, so that all ranks
    stop on the same step."""
    step_fn = as_step(step_fn)
    start = time.perf_counter()
    stream = infinite_batches(bundle.train, batch_size, seed=seed)
    stopped, step = "completed", 0
    lr_peak, lr_peaks = current_lr(optimizer), group_lrs(optimizer)
    model.train()
    for step in range(steps):
        batch = to_device(guarded(next, "drawing a training batch", stream), device)
        monitor.step_begin(step)
        loss = guarded(forward_backward, "training step", model, step_fn, optimizer, batch)
        monitor.after_backward()
        if grad_clip:
            torch.nn.utils.clip_grad_norm_(monitor.parameters, grad_clip)
        guarded(optimizer.step, "optimizer.step")
        if scheduler is not None:
            guarded(scheduler.step, "scheduler.step")
            lr = current_lr(optimizer)
            lr_peak = max(lr_peak or 0.0, lr or 0.0)
            lr_peaks = [max(a, b) for a, b in zip(lr_peaks, group_lrs(optimizer), strict=False)]
        value = monitor.after_update(loss)
        if on_step:
            on_step(step)
        nonfinite = not math.isfinite(value)
        late = step + 1 < steps and time.perf_counter() > deadline
        if agree is not None:
            nonfinite, late = agree(nonfinite, late)
        if nonfinite:
            stopped = "nonfinite"
            break
        if (step + 1) % eval_every == 0 or step + 1 == steps:
            evaluate_and_log(model, step_fn, bundle, monitor, device, step)
            model.train()
        if late:
            stopped = "budget"
            break
    if stopped != "completed" and (step + 1) % eval_every != 0:
        evaluate_and_log(model, step_fn, bundle, monitor, device, step)
    return RunResult(
        step + 1, stopped, monitor.nonfinite_step, time.perf_counter() - start, lr_peak, lr_peaks
    )


def forward_backward(model, step_fn: Step, optimizer, batch) -> torch.Tensor:
    optimizer.zero_grad(set_to_none=True)
    loss = step_fn(model, batch).loss
    loss.backward()
    return loss


def guarded(fn: Callable, what: str, *args):
    """Run a piece of the user's training; their exceptions become exit 3, OOM included."""
    try:
        return fn(*args)
    except torch.cuda.OutOfMemoryError as exc:
        raise ProbeFailed(f"out of memory during {what}: lower data.batch_size ({exc})") from exc
    except Exception as exc:
        raise UserCodeError(what, exc) from exc


@torch.no_grad()
def evaluate(
    model: nn.Module,
    step_fn: Step | LossFn,
    ds: Dataset,
    device: torch.device,
    batch_size: int = 512,
) -> tuple[float, float | None]:
    """Mean loss and accuracy over at most EVAL_LIMIT samples; accuracy where the task has one
    (see `Step.hits`), else None."""
    step_fn = as_step(step_fn)
    model.eval()
    total, seen, correct, counted = 0.0, 0, 0, 0
    accuracy = True
    for batch in batches(ds, batch_size, shuffle=False):
        if seen >= EVAL_LIMIT:
            break
        batch = to_device(batch, device)
        out = step_fn(model, batch)
        n = batch_size_of(batch)
        total += float(out.loss) * n
        hits = step_fn.hits(out) if accuracy else None
        if hits is None:
            accuracy = False
        else:
            correct, counted = correct + hits[0], counted + hits[1]
        seen += n
    if seen == 0:
        return math.nan, None
    return total / seen, (correct / counted if accuracy and counted else None)


def accuracy_hits(out, y: torch.Tensor, step_fn) -> int | None:
    """Correct predictions of `out` against `y` (kept for callers counting per sample)."""
    hits = as_step(step_fn).hits(StepOutput(torch.zeros(()), out, y))
    return hits[0] if hits is not None else None


def evaluate_and_log(model, step_fn, bundle, monitor: Monitor, device, step: int) -> None:
    for split, ds in (("val", bundle.val), ("train_eval", bundle.train)):
        loss, acc = guarded(evaluate, "evaluation", model, step_fn, ds, device)
        monitor.log(f"{split}_loss", loss, step=step)
        if acc is not None:
            monitor.log(f"{split}_acc", acc, step=step)
