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

A suggestion the probe stands by (issue 9: a healthy Adam-trained Transformer got 6.4e-07, the
first point after SKIP_START, because the exponential average falling from one noisy first
batch was the "steepest" descent of a sweep whose real descent came later or never). The
torch-lr-finder pick is kept only inside the good range (where the loss is actually falling);
outside it, the steepest descent of the centred curve within the range replaces it. The sweep
is `unreliable` (no number is suggested) when it is flat (descent under MIN_DESCENT), when
its descent is within NOISE_K times the centred curve's noise, when the main run learnt at a
rate more than SANITY_FACTOR above the suggestion (the rate in use read from the optimizer,
never from the spec), or when a CONFIRM_STEPS run from the same init at the suggested rate
does not lower the loss by MIN_DESCENT (the confirmation run, recorded as run
"lr_range_confirm").
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nnlearn.data.bundle import infinite_batches
from nnlearn.probe.experiments._training import finite_mean, train_steps

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
# the descent must exceed NOISE_K standard errors of the centred curve (the per-batch noise,
# a robust spread, over sqrt(CENTRED_WINDOW)); 3: a descent that noise alone reaches about once in 700 sweeps
NOISE_K = 3.0
# a main run that lowered its loss by MAIN_LEARNT at a rate SANITY_FACTOR above the suggestion
# contradicts the sweep: the healthy Adam Transformer of issue 9 learnt at 1e-3 while the
# sweep said 6.4e-07 (1,600x lower); classic sweeps suggest within 50x of a rate that learns
SANITY_FACTOR = 100.0
MAIN_LEARNT = 0.3
# steps of the confirmation run at the suggested rate; measured on the quickstart, blobs and
# moons, a rate from the good range lowers the loss by over 20% within 30 steps
CONFIRM_STEPS = 30


def planned_steps(ctx) -> int:
    return NUM_ITER + CONFIRM_STEPS


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
    result = {
        "start_lr": START_LR,
        "end_lr": lrs[-1] if lrs else START_LR,
        "steps": curve.steps,
        "stopped": curve.stopped,
        "diverged_at_lr": lrs[curve.steps - 1]
        if curve.stopped in ("diverged", "nonfinite")
        else None,
        **good_range(lrs[:n], curve.losses[:n]),
    }
    candidate = suggestion(lrs[:n], smoothed[:n], curve.losses[:n], result["good_range"])
    result["candidate_lr"] = candidate
    result["lr_in_use"] = (ctx.facts.get("run") or {}).get("lr")
    result["unreliable"] = unreliable(result, curve.losses[:n], ctx)
    if candidate is not None and result["unreliable"] is None:
        result["confirmation"] = confirm(ctx, candidate)
        if result["confirmation"].get("confirmed") is False:
            c = result["confirmation"]
            result["unreliable"] = (
                f"a {c['steps']}-step run at the suggested {candidate:.2g} did not lower the loss "
                f"({c['initial_loss']:.4g} -> {c['final_loss']:.4g})"
            )
    result["suggested_lr"] = candidate if result["unreliable"] is None else None
    return result


def suggestion(
    lrs: list[float], smoothed: list[float], losses: list[float], good: list[float] | None
) -> float | None:
    """torch-lr-finder's pick when it lies in the good range, else the steepest descent of the
    centred (lag-free) curve inside the range."""
    pick = steepest(lrs, smoothed)
    if good is None or pick is None:
        return pick
    lo, hi = good
    if lo <= pick <= hi:
        return pick
    centred = centred_mean(np.asarray(losses, dtype=float))
    inside = [i for i, lr in enumerate(lrs) if lo <= lr <= hi]
    if len(inside) < 2:
        return None
    slope = np.gradient(centred)[inside]
    return float(lrs[inside[int(slope.argmin())]])


def unreliable(result: dict[str, Any], losses: list[float], ctx) -> str | None:
    """Why the sweep's suggestion cannot be stood by, or None."""
    if result["candidate_lr"] is None:
        return "the sweep ended before it had enough points"
    if result["good_range"] is None:
        descent = result.get("descent")
        return (
            f"the sweep's loss is flat (it fell {descent:.1%} at best)"
            if descent is not None
            else "the sweep is too short"
        )
    values = np.asarray(losses, dtype=float)
    centred = centred_mean(values)
    low = int(centred.argmin())
    # per-batch noise as a robust spread (1.4826 * MAD: one outlier batch does not inflate it)
    residual = values[: low + 1] - centred[: low + 1]
    spread = 1.4826 * float(np.median(np.abs(residual - np.median(residual))))
    noise = spread / math.sqrt(CENTRED_WINDOW)
    drop = float(values[:SKIP_START].mean() - centred[low])
    if drop < NOISE_K * noise:
        return f"the sweep's descent ({drop:.3g}) is within its noise ({noise:.3g} per point)"
    lr_in_use = result.get("lr_in_use")
    if isinstance(lr_in_use, (int, float)) and lr_in_use > 0:
        drop_main = main_run_drop(ctx)
        ratio = lr_in_use / result["candidate_lr"]
        if drop_main is not None and drop_main >= MAIN_LEARNT and ratio > SANITY_FACTOR:
            return (
                f"the main run learnt at {lr_in_use:.2g} (loss {drop_main:.0%} lower), "
                f"{ratio:.0f}x above the sweep's pick {result['candidate_lr']:.2g}"
            )
    return None


def main_run_drop(ctx) -> float | None:
    """Relative drop of the main run's training loss from its first step (the loss at init, a
    reference one diverging step cannot inflate) to the median of its last tenth."""
    df = ctx.recorder.frame()
    loss = df[(df["run"] == "main") & (df["name"] == "train_loss") & (df["layer"] == "")]
    values = loss.sort_values("step")["value"].tolist()
    if len(values) < 20 or not all(math.isfinite(v) for v in values):
        return None
    w = max(len(values) // 10, 2)
    first, last = values[0], float(np.median(values[-w:]))
    return (first - last) / first if first > 0 else None


def confirm(ctx, lr: float) -> dict[str, Any]:
    """CONFIRM_STEPS steps from the same init at the suggested rate (no schedule): does it
    learn?"""
    if ctx.time_left() <= 0:
        return {"lr": lr, "steps": 0, "confirmed": None}
    model = ctx.fresh_model()
    optimizer = ctx.optimizer(model)
    for group in optimizer.param_groups:
        group["lr"] = lr
    stream = infinite_batches(ctx.bundle.train, ctx.spec.data.batch_size, seed=ctx.seed)
    curve = train_steps(
        ctx,
        model,
        optimizer,
        stream,
        CONFIRM_STEPS,
        "lr_range_confirm",
        progress_offset=NUM_ITER,
        scheduled=False,
    )
    w = max(CONFIRM_STEPS // 6, 3)
    initial, final = finite_mean(curve.losses[:w]), finite_mean(curve.losses[-w:])
    if curve.stopped == "budget" and curve.steps < CONFIRM_STEPS:
        confirmed = None  # not enough time to tell
    elif curve.stopped == "nonfinite" or not math.isfinite(final):
        confirmed = False
    else:
        confirmed = bool(initial > 0 and final <= initial * (1 - MIN_DESCENT))
    return {
        "lr": lr,
        "steps": curve.steps,
        "initial_loss": initial,
        "final_loss": final,
        "confirmed": confirmed,
    }


def centred_mean(values: np.ndarray) -> np.ndarray:
    """A centred moving average of CENTRED_WINDOW points; the edges average what exists."""
    kernel = np.ones(CENTRED_WINDOW) / CENTRED_WINDOW
    return np.convolve(values, kernel, "same") / np.convolve(np.ones_like(values), kernel, "same")


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
    centred = centred_mean(values)
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
