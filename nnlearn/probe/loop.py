"""The builtin training loop: one client of `Monitor`, like any user's loop."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import Dataset

from nnlearn.data.bundle import DataBundle, batches, infinite_batches
from nnlearn.errors import ProbeFailed, UserCodeError
from nnlearn.monitor import Monitor
from nnlearn.probe.setup import LossFn

# evaluation reads at most this many samples of each split: enough for a stable estimate,
# bounded cost on large datasets
EVAL_LIMIT = 4096


@dataclass
class RunResult:
    steps_done: int
    stopped: str  # "completed" | "nonfinite" | "budget"
    nonfinite_step: int | None
    duration_s: float


def train(
    model: nn.Module,
    loss_fn: LossFn,
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
    agree: Callable[[bool, bool], tuple[bool, bool]] | None = None,
) -> RunResult:
    """`steps` optimizer steps; validation every `eval_every` steps and at the end. A
    non-finite loss stops the loop after recording it; the deadline stops it early. `agree`
    (a distributed run's) turns this rank's (non-finite, past deadline) into every rank's, so
    that all ranks stop on the same step."""
    start = time.perf_counter()
    stream = infinite_batches(bundle.train, batch_size, seed=seed)
    stopped, step = "completed", 0
    model.train()
    for step in range(steps):
        x, y = next(stream)
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        monitor.step_begin(step)
        loss = guarded(_forward_backward, "training step", model, loss_fn, optimizer, x, y)
        monitor.after_backward()
        if grad_clip:
            torch.nn.utils.clip_grad_norm_(monitor.parameters, grad_clip)
        guarded(optimizer.step, "optimizer.step")
        value = monitor.after_update(loss)
        if on_step:
            on_step(step)
        nonfinite, late = not math.isfinite(value), time.perf_counter() > deadline
        if agree is not None:
            nonfinite, late = agree(nonfinite, late)
        if nonfinite:
            stopped = "nonfinite"
            break
        if (step + 1) % eval_every == 0 or step + 1 == steps:
            evaluate_and_log(model, loss_fn, bundle, monitor, device, step)
            model.train()
        if late:
            stopped = "budget"
            break
    if stopped != "completed" and (step + 1) % eval_every != 0:
        evaluate_and_log(model, loss_fn, bundle, monitor, device, step)
    return RunResult(step + 1, stopped, monitor.nonfinite_step, time.perf_counter() - start)


def _forward_backward(model, loss_fn, optimizer, x, y) -> torch.Tensor:
    optimizer.zero_grad(set_to_none=True)
    loss = loss_fn(model(x), y)
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
    model: nn.Module, loss_fn: LossFn, ds: Dataset, device: torch.device, batch_size: int = 512
) -> tuple[float, float | None]:
    """Mean loss and accuracy (classification and binary) over at most EVAL_LIMIT samples."""
    model.eval()
    total, correct, seen = 0.0, 0, 0
    for x, y in batches(ds, batch_size, shuffle=False):
        if seen >= EVAL_LIMIT:
            break
        x, y = x.to(device), y.to(device)
        out = model(x)
        total += float(loss_fn(out, y)) * len(x)
        hits = accuracy_hits(out, loss_fn.targets(y), loss_fn)
        correct = correct + hits if hits is not None and correct is not None else None
        seen += len(x)
    if seen == 0:
        return math.nan, None
    return total / seen, (correct / seen if correct is not None else None)


def accuracy_hits(out: torch.Tensor, y: torch.Tensor, loss_fn: LossFn) -> int | None:
    if loss_fn.task == "classification" and out.dim() == 2 and out.shape[0] == y.shape[0]:
        return int((out.argmax(1) == y).sum())
    if loss_fn.task == "binary" and out.numel() == y.numel():
        threshold = 0.5 if loss_fn.name == "bce" else 0.0
        return int(((out.reshape(y.shape) > threshold).float() == y).sum())
    return None


def evaluate_and_log(model, loss_fn, bundle, monitor: Monitor, device, step: int) -> None:
    for split, ds in (("val", bundle.val), ("train_eval", bundle.train)):
        loss, acc = guarded(evaluate, "evaluation", model, loss_fn, ds, device)
        monitor.log(f"{split}_loss", loss, step=step)
        if acc is not None:
            monitor.log(f"{split}_acc", acc, step=step)
