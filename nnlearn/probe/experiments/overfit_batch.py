"""overfit_batch: can the model drive the loss on one small batch close to zero?

Karpathy's "overfit a single batch" check (A Recipe for Training Neural Networks, 2019): a
model and a training setup that work memorise a handful of examples within a few hundred
steps. One that cannot is broken (no gradient reaches the weights, loss and outputs do not
match, a learning rate far off) or far too small for the problem. One that can, but whose
full run stays high, lacks capacity or data, not correctness.

Trains a fresh copy with the configured optimizer and learning rate on one fixed batch of
BATCH training samples for at most MAX_STEPS steps, recorded as run "overfit_batch"; stops
early once the loss is under STOP_FRACTION of the batch's chance-level loss. The result says
how far the loss got; the rules (E901, F802) judge it.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import torch

from nnlearn.data.batch import batch_size, sample_batch, to_device
from nnlearn.probe.experiments._training import train_steps
from nnlearn.probe.experiments.init_check import chance_loss
from nnlearn.probe.loop import guarded

# Karpathy: "as little as two" examples; 16 keeps every class of a 10-class problem likely in
# the batch while a working model still memorises it in well under MAX_STEPS steps
BATCH = 16
# measured: healthy configs (quickstart, moons, blobs) reach STOP_FRACTION in 30-150 steps
MAX_STEPS = 300
# 1% of chance: far below the 10% the rules ask for, so a stricter threshold still has evidence
STOP_FRACTION = 0.01


def planned_steps(ctx) -> int:
    return MAX_STEPS


def run(ctx) -> dict[str, Any]:
    model = ctx.fresh_model()
    optimizer = ctx.optimizer(model)
    step = ctx.step
    batch = to_device(sample_batch(ctx.bundle.train, BATCH, seed=ctx.seed), ctx.device)
    with torch.no_grad():
        model.eval()
        out = guarded(step, "overfit_batch loss", model, batch)
        initial = float(out.loss)
    reference = (
        chance_loss(ctx.loss_fn, out.target, step.ignore_index) if out.target is not None else None
    )
    if reference is None or reference <= 0:
        reference = initial  # a loss without a known chance level: judge against the start
    curve = train_steps(
        ctx,
        model,
        optimizer,
        itertools.repeat(batch),
        MAX_STEPS,
        "overfit_batch",
        stop=lambda loss: "target" if loss < STOP_FRACTION * reference else None,
    )
    # judged in eval mode: what the weights learnt, without dropout's noise
    with torch.no_grad():
        model.eval()
        out = guarded(step, "overfit_batch loss", model, batch)
        final = float(out.loss)
        hits = step.hits(out)
    seen = [v for v in (final, *curve.losses) if math.isfinite(v)]
    best = min(seen) if seen else math.nan
    return {
        "batch_size": batch_size(batch),
        "steps": curve.steps,
        "stopped": curve.stopped,
        "lr": optimizer.param_groups[0]["lr"],
        "initial_loss": initial,
        "final_loss": final,
        "best_loss": best,
        "reference_loss": reference,
        "final_ratio": final / reference if reference > 0 else None,
        "accuracy": hits[0] / hits[1] if hits is not None and hits[1] else None,
    }
