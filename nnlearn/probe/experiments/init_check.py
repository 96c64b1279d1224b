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

from nnlearn.data.batch import IGNORE_INDEX, TOKEN_TASKS, sample_batch, to_device
from nnlearn.monitor import Monitor
from nnlearn.probe.loop import guarded

# one batch of this many samples is enough to estimate the loss at init within a few percent
INIT_BATCH = 512


def run(ctx) -> dict[str, Any]:
    model = ctx.fresh_model()
    model.train()
    batch = to_device(sample_batch(ctx.bundle.train, INIT_BATCH, seed=ctx.seed), ctx.device)
    monitor = Monitor(
        model, None, recorder=ctx.recorder, facts=ctx.facts, run="init", sample_all=True
    )
    step = ctx.step
    seen: dict[str, Any] = {}
    with monitor:
        monitor.step_begin(0)

        def forward_backward():
            model.zero_grad(set_to_none=True)
            out = step(model, batch)
            out.loss.backward()
            seen["target"] = out.target
            return out.loss

        loss = guarded(forward_backward, "forward/backward at init")
        monitor.after_backward()
        value = monitor.after_update(loss)
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    target = seen.get("target")
    result = {
        "loss": value,
        "chance_loss": chance_loss(ctx.loss_fn, target, step.ignore_index)
        if target is not None
        else None,
        "params_without_grad": [n for n, p in trainable if p.grad is None],
        "params_zero_grad": [
            n for n, p in trainable if p.grad is not None and not bool(p.grad.any())
        ],
    }
    n_classes = ctx.bundle.n_classes
    if ctx.bundle.task in TOKEN_TASKS and n_classes:
        # a uniform guess over the vocabulary: what a freshly initialised LM should score
        result["uniform_loss"] = math.log(n_classes)
    return result


def chance_loss(loss_fn, y: torch.Tensor, ignore_index: int = IGNORE_INDEX) -> float | None:
    """The loss of an input-independent predictor that knows the label frequencies: the entropy
    of the class prior for cross-entropy (ln C when balanced; for language modelling and token
    classification the unigram entropy of the target tokens, ignored positions left out), of
    the positive rate for BCE (per label for multilabel, averaged as the loss averages), and
    the target variance for MSE (Karpathy's "verify loss @ init")."""
    task = getattr(loss_fn, "task", None)
    y = loss_fn.targets(y)
    name = loss_fn.name
    if name in ("cross_entropy", "nll"):
        if task in TOKEN_TASKS:
            y = y.reshape(-1)
        if y.dim() != 1:
            return None
        y = y.long()
        y = y[(y != ignore_index) & (y >= 0)]
        if not y.numel():
            return None
        counts = torch.bincount(y)
        p = counts[counts > 0].float() / counts.sum()
        return float(-(p * p.log()).sum())
    y = y.float()
    if name in ("bce", "bce_with_logits"):
        q = (y.mean(0) if task == "multilabel" and y.dim() == 2 else y.mean()).clamp(1e-6, 1 - 1e-6)
        return float((-(q * q.log() + (1 - q) * (1 - q).log())).mean())
    if name == "mse":
        return float(y.var(unbiased=False))
    if name == "l1":
        return float((y - y.median()).abs().mean())
    return None
