"""init_check: one forward and backward pass at init, every instrument sampled.

Records under run "init": the loss at init and the chance-level loss to compare it with
(`facts:init.loss`, `facts:init.chance_loss`), which parameters received a gradient, and
whatever the default instruments measure (activation scale through depth, gradient norms).
Runs on a copy, so BatchNorm statistics of the model that trains are untouched.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from nnlearn.data.bundle import sample
from nnlearn.monitor import Monitor
from nnlearn.probe.loop import guarded

# one batch of this many samples is enough to estimate the loss at init within a few percent
INIT_BATCH = 512


def run(ctx) -> dict[str, Any]:
    model = ctx.fresh_model()
    model.train()
    x, y = sample(ctx.bundle.train, INIT_BATCH, seed=ctx.seed)
    x, y = x.to(ctx.device), y.to(ctx.device)
    monitor = Monitor(
        model, None, recorder=ctx.recorder, facts=ctx.facts, run="init", sample_all=True
    )
    with monitor:
        monitor.step_begin(0)

        def forward_backward():
            model.zero_grad(set_to_none=True)
            loss = ctx.loss_fn(model(x), y)
            loss.backward()
            return loss

        loss = guarded(forward_backward, "forward/backward at init")
        monitor.after_backward()
        value = monitor.after_update(loss)
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    return {
        "loss": value,
        "chance_loss": chance_loss(ctx.loss_fn, y),
        "params_without_grad": [n for n, p in trainable if p.grad is None],
        "params_zero_grad": [
            n for n, p in trainable if p.grad is not None and not bool(p.grad.any())
        ],
    }


def chance_loss(loss_fn, y: torch.Tensor) -> float | None:
    """The loss of an input-independent predictor that knows the label frequencies: the entropy
    of the class prior for cross-entropy (ln C when balanced), of the positive rate for BCE,
    and the target variance for MSE (Karpathy's "verify loss @ init")."""
    y = loss_fn.targets(y).float()
    name = loss_fn.name
    if name in ("cross_entropy", "nll") and y.dim() == 1:
        counts = torch.bincount(y.long().clamp_min(0))
        p = counts[counts > 0].float() / counts.sum()
        return float(-(p * p.log()).sum())
    if name in ("bce", "bce_with_logits"):
        q = float(y.mean().clamp(1e-6, 1 - 1e-6))
        return -(q * math.log(q) + (1 - q) * math.log(1 - q))
    if name == "mse":
        return float(y.var(unbiased=False))
    if name == "l1":
        return float((y - y.median()).abs().mean())
    return None
