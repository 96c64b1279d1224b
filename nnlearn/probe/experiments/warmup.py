"""warmup: the main run's first steps again, from the same init, with a linear warm-up.

Transformers (post-LN ones above all: Xiong et al., On Layer Normalization in the Transformer
Architecture, 2020) and Adam's first steps (Liu et al., On the Variance of the Adaptive
Learning Rate and Beyond, 2020) need a warm-up: at the full rate from step 0, the first
updates are too large, the loss spikes and often never recovers. Whether the rate in use is
too high *without* warm-up is an experiment, not a reading of the spec: the same model from
the same initial weights, the same optimizer and batches, for the main run's first STEPS steps
(when the budget cut the main run shorter, the run without warm-up is repeated for STEPS steps
too, as run "warmup_none": a warm-up needs room to recover from its peak), with the
optimizer's own rate (its `initial_lr` when a scheduler set one, else `lr`) reached
linearly at the last of them (`WARM_SHARE`). Recorded as run "warmup" (`train_loss`); rule
E904 compares it with the main run's first steps.

The experiment runs only when the main run's first steps show a loss spike (the loss rising
SPIKE of the initial loss above its running minimum, or going non-finite); otherwise it
costs nothing.
"""

from __future__ import annotations

import math
from typing import Any

from nnlearn.data.bundle import infinite_batches
from nnlearn.probe.experiments._training import tail_mean, train_steps

# the first steps re-run: warm-up problems show within the first hundred steps (the examples'
# post-LN Transformer at Adam 3e-2 is stuck at chance from step ~10)
STEPS = 100
# a rise above the running minimum of this share of the initial loss is a spike (measured:
# healthy examples' first 100 steps rise by at most 4%, the post-LN Transformer without warm-up
# by 60%)
SPIKE = 0.1
# the share of STEPS the warm-up takes. Measured with a plain PyTorch loop on the examples'
# post-LN Transformer at Adam 3e-2 (seeds 0-4, two CPU kernel sets: AVX-512 and the default
# one): without a warm-up the loss over steps 80-100 is 0.69-0.71 (chance) at every seed; a
# warm-up over the whole 100 steps brings it to at most 0.23 at every seed, one over the first
# 50 leaves 2 of the 10 runs at 0.47-0.69 by step 100 (they recover later, or not: the peak
# rate is reached with too few steps left to show it)
WARM_SHARE = 1.0


def planned_steps(ctx) -> int:
    """STEPS, twice when the main run was cut before STEPS (the run without warm-up is then
    repeated too), or 0 when the main run gives it nothing to test: the budget then never
    skips an experiment that costs nothing."""
    steps = _steps(ctx)
    if not _needed(main_losses(ctx, steps)):
        return 0
    return STEPS if _main_done(ctx) >= STEPS else 2 * STEPS


def _main_done(ctx) -> int:
    return int((ctx.facts.get("run") or {}).get("steps_done") or 0)


def _steps(ctx) -> int:
    return min(STEPS, _main_done(ctx) or ctx.spec.probe.steps)


def _needed(main: list[float]) -> bool:
    """Only a spike (or a non-finite loss) calls for the experiment: a loss that merely stays
    flat has cheaper explanations the other experiments test (a stuck readout, a frozen
    model, a rate far too low), and repeating it would take their budget."""
    return len(main) >= 20 and rise(main) >= SPIKE


def main_losses(ctx, steps: int) -> list[float]:
    df = ctx.recorder.frame()
    df = df[(df["run"] == "main") & (df["name"] == "train_loss") & (df["layer"] == "")]
    df = df[df["step"] < steps].sort_values("step")
    return [float(v) for v in df["value"]]


def rise(losses: list[float]) -> float:
    """The largest rise of the loss above its running minimum, as a share of its start."""
    vals = [v for v in losses if math.isfinite(v)]
    if len(vals) < 2 or vals[0] <= 0:
        return math.nan
    low, worst = vals[0], 0.0
    for v in vals[1:]:
        worst = max(worst, v - low)
        low = min(low, v)
    if len(vals) < len(losses):  # a non-finite loss is the largest rise there is
        return math.inf
    return worst / vals[0]


def run(ctx) -> dict[str, Any]:
    steps = _steps(ctx)
    main = main_losses(ctx, steps)
    if len(main) < 20:
        return {"skipped": "the main run made fewer than 20 steps"}
    if not _needed(main):
        return {"not_needed": "the main run's first steps did not spike", "steps": 0}
    offset = 0
    if steps < STEPS:
        # the main run was cut short (the budget): a warm-up needs room to recover from the
        # peak, so both runs get STEPS steps, the one without warm-up repeated here
        steps = STEPS
        plain = _run(ctx, steps, "warmup_none", warm=None)
        if plain.steps < steps:
            return {"skipped": "the budget ran out during the run without warm-up"}
        main, offset = plain.losses, steps
    main_rise, main_end = rise(main), tail_mean(main)
    warm = max(1, round(WARM_SHARE * steps))
    curve = _run(ctx, steps, "warmup", warm=warm, progress_offset=offset)
    return {
        "steps": curve.steps,
        "warmup_steps": warm,
        "lr": _peak_lr(ctx),
        "stopped": curve.stopped,
        "main_start": main[0],
        "main_end": main_end,
        "main_rise": main_rise,
        "warm_end": tail_mean(curve.losses) if curve.losses else None,
        "warm_rise": rise(curve.losses),
    }


def _peak_lr(ctx) -> float:
    optimizer = ctx.optimizer(ctx.fresh_model())
    group = optimizer.param_groups[0]
    return float(group.get("initial_lr", group["lr"]))


def _run(ctx, steps: int, name: str, warm: int | None, progress_offset: int = 0):
    """`steps` steps from the initial weights with the main run's batches; the optimizer's own
    rate reached linearly over the first `warm` steps (None: no warm-up)."""
    model = ctx.fresh_model()
    optimizer = ctx.optimizer(model)
    peaks = [g.get("initial_lr", g["lr"]) for g in optimizer.param_groups]

    def warm_up(step: int) -> None:
        for group, peak in zip(optimizer.param_groups, peaks, strict=True):
            group["lr"] = peak * min(1.0, (step + 1) / warm)

    stream = infinite_batches(ctx.bundle.train, ctx.spec.data.batch_size, seed=ctx.seed)
    return train_steps(
        ctx,
        model,
        optimizer,
        stream,
        steps,
        name,
        before_step=warm_up if warm else None,
        progress_offset=progress_offset,
    )
