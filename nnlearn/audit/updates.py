"""After the main run: which trainable parameters the optimizer actually moved.

Compares the trained model with the untouched initial copy the runner keeps, and reads the
optimizer's parameter groups, so it works for the user's own optimizer `_target_` too.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn


def parameter_updates(
    initial: nn.Module,
    trained: nn.Module,
    optimizer: torch.optim.Optimizer | None,
    lr_peaks: list[float] | None = None,
) -> dict[str, Any]:
    """After training: trainable parameters the optimizer does not hold, holds at lr 0,
    that were bit-identical to their initial values, or had no gradient on the last step.
    `lr_peaks`: the highest rate each parameter group ran at (a schedule that decays to 0
    leaves 0 in the optimizer at the end; that group still trained)."""
    groups = optimizer.param_groups if optimizer is not None else []
    peaks = lr_peaks if lr_peaks is not None and len(lr_peaks) == len(groups) else None
    lr_of = {
        id(p): float(peaks[i] if peaks else g.get("lr", math.nan))
        for i, g in enumerate(groups)
        for p in g["params"]
    }
    start = dict(initial.named_parameters())
    facts: dict[str, Any] = {"not_in_optimizer": [], "zero_lr": [], "unchanged": [], "no_grad": []}
    for name, p in trained.named_parameters():
        if not p.requires_grad:
            continue
        if id(p) not in lr_of:
            facts["not_in_optimizer"].append(name)
        elif lr_of[id(p)] == 0:
            facts["zero_lr"].append(name)
        if p.grad is None:
            facts["no_grad"].append(name)
        q = start.get(name)
        if (
            q is not None
            and q.shape == p.shape
            and torch.equal(q.detach().to(p.device), p.detach())
        ):
            grad = float(p.grad.norm()) if p.grad is not None else None
            facts["unchanged"].append({"name": name, "grad_norm": grad, "numel": p.numel()})
    return facts
