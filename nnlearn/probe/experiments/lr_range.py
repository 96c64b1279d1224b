"""lr_range: the learning-rate range test, and the learning rate it suggests.

Leslie Smith's range test (Cyclical Learning Rates for Training Neural Networks, 2017) as
torch-lr-finder runs it: a fresh copy of the model and the configured optimizer, the learning
rate raised exponentially from START_LR to END_LR over NUM_ITER training batches, the loss
smoothed (`s = SMOOTH_F * loss + (1 - SMOOTH_F) * s`), the sweep stopped once the smoothed loss
passes DIVERGE_TH times its best value. The suggestion is torch-lr-finder's: the rate at the
steepest descent of the smoothed loss, SKIP_START and SKIP_END points trimmed. Unlike
torch-lr-finder, a NaN or Inf loss ends the sweep as divergence instead of poisoning it, and
the steepest descent is looked for only before the loss's minimum.

Besides the suggestion, the curve gives a good range: from where the loss starts to fall
(`good_range[0]`) to where it is lowest (`good_range[1]`), both read from a centred moving
average, which does not lag behind the learning rate as the exponential one does. A configured
rate far outside it is evidence for `lr_too_low` / `lr_too_high` (rule E902).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nnlearn.data.bundle import infinite_batches
from nnlearn.probe.experiments._training import train_steps

# torch-lr-finder's defaults for range_test(step_mode="exp") and plot(suggest_lr=True)
START_LR = 1e-7
END_LR = 10.0
NUM_ITER = 100
SMOOTH_F = 0.05
DIVERGE_TH = 5.0
SKIP_START = 10
SKIP_END = 5
# the good range's edges: where the loss has made LO_FRACTION of its total descent, read from
# a centred moving average of CENTRED_WINDOW points (about one decade of learning rate)
LO_FRACTION = 0.1
CENTRED_WINDOW = 11
# a sweep whose loss falls by less than this fraction of its start found no rate that learns
MIN_DESCENT = 0.05


def planned_steps(ctx) -> int:
    return NUM_ITER


def schedule(step: int) -> float:
    return START_LR * (END_LR / START_LR) ** (step / (NUM_ITER - 1))


def run(ctx) -> dict[str, Any]:
    model = ctx.fresh_model()
    # built as configured, its rate then set before every step: a user's optimizer factory
    # need not take an `lr` argument
    optimizer = ctx.optimizer(model)
    lrs: list[float] = []
    smoothed: list[float] = []
    best = [math.inf]

    def set_lr(step: int) -> None:
        lr = schedule(step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        lrs.append(lr)
        ctx.recorder.add("lr_range", step, "lr", lr)

    def diverged(loss: float) -> str | None:
        s = loss if not smoothed else SMOOTH_F * loss + (1 - SMOOTH_F) * smoothed[-1]
        smoothed.append(s)
        ctx.recorder.add("lr_range", len(smoothed) - 1, "smoothed_loss", s)
        best[0] = min(best[0], s)
        return "diverged" if s > DIVERGE_TH * best[0] else None

    stream = infinite_batches(ctx.bundle.train, ctx.spec.data.batch_size, seed=ctx.seed)
    curve = train_steps(
        ctx,
        model,
        optimizer,
        stream,
        NUM_ITER,
        "lr_range",
        before_step=set_lr,
        stop=diverged,
        scheduled=False,  # the sweep sets the rate itself
    )
    # a non-finite loss is recorded but never smoothed: the sweep ends at the last finite point
    n = min(len(smoothed), len(curve.losses))
    while n and not math.isfinite(smoothed[n - 1]):
        n -= 1
    return {
        "start_lr": START_LR,
        "end_lr": lrs[-1] if lrs else START_LR,
        "steps": curve.steps,
        "stopped": curve.stopped,
        "diverged_at_lr": lrs[curve.steps - 1]
        if curve.stopped in ("diverged", "nonfinite")
        else None,
        "suggested_lr": steepest(lrs[:n], smoothed[:n]),
        **good_range(lrs[:n], curve.losses[:n]),
    }


def steepest(lrs: list[float], smoothed: list[float]) -> float | None:
    """torch-lr-finder's suggestion, the rate where the smoothed loss falls fastest, looked for
    only before the loss's minimum: after it, a recovery from a spike can be steeper still
    (torch-lr-finder then suggests a rate in the diverging part, measured 3 in 9 sweeps of
    the quickstart)."""
    if len(lrs) < SKIP_START + SKIP_END + 2:
        return None
    losses = np.asarray(smoothed[SKIP_START : len(smoothed) - SKIP_END])
    slope = np.gradient(losses)[: int(losses.argmin()) + 1]
    return float(lrs[SKIP_START + int(slope.argmin())])


def good_range(lrs: list[float], losses: list[float]) -> dict[str, Any]:
    if len(lrs) < CENTRED_WINDOW:
        return {"good_range": None, "min_loss_lr": None, "descent": None}
    values = np.asarray(losses, dtype=float)
    kernel = np.ones(CENTRED_WINDOW) / CENTRED_WINDOW
    # a centred mean; the edges average over the points that exist
    centred = np.convolve(values, kernel, "same") / np.convolve(
        np.ones_like(values), kernel, "same"
    )
    start = float(values[:SKIP_START].mean())
    low = int(centred.argmin())
    descent = (start - float(centred[low])) / start if start > 0 else 0.0
    if descent < MIN_DESCENT:
        return {"good_range": None, "min_loss_lr": None, "descent": descent}
    moving = np.flatnonzero(centred <= start - LO_FRACTION * (start - centred[low]))
    return {
        "good_range": [float(lrs[int(moving[0])]), float(lrs[low])],
        "min_loss_lr": float(lrs[low]),
        "descent": descent,
    }
