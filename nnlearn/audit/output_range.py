"""The range a model's outputs are confined to, and what it costs the loss (rule B711).

A final ReLU, sigmoid or tanh confines a model's outputs to that activation's range whatever the
weights become; when the targets need values outside it, no training gets past it. The setup
check measures the range from forward passes (`output_bounds`) and prices it in the spec's own
loss (`output_reach`).
"""

from __future__ import annotations

import math
import warnings

import torch
from torch.nn import functional as F

REGRESSION_LOSSES = ("mse", "l1", "huber")

# An output bounded by its final activation. Beside the stress pass, the "wide" pass feeds
# random inputs BOUND_SCALE times the data's scale: whatever comes before a final sigmoid, tanh,
# ReLU, softplus or exp is then driven far past its knee, so at least PILE of the outputs sit
# within AT of the activation's end (measured: 46-100% for the ReLU heads of B711's cases,
# 25-90% at one end or both for a sigmoid or tanh). A linear head grows with the inputs, and one
# over bounded features (an RNN's saturated state) spreads over an arbitrary interval without
# piling at 0 or +-1; both give no bound.
BOUND_SCALE = 1000.0
WIDE_ROWS = 64  # enough rows to see a pile; a forward pass of a quarter of the sample batch
PILE = 0.2
AT = 1e-3
# a logit standing for "as far as needed" where the range is open (sigmoid(30) = 1 - 1e-13)
OPEN_LOGIT = 30.0


def output_bounds(outputs: list[torch.Tensor], wide: torch.Tensor) -> tuple[float, float] | None:
    """The range the model's outputs are confined to: every output of `outputs` (the sample
    batch's and the passes') within it, and the wide pass's piled at its ends; None when no
    final activation bounds them."""
    every = torch.cat([o.detach().reshape(-1).float() for o in [*outputs, wide]])
    every = every[torch.isfinite(every)]
    w = wide.detach().reshape(-1).float()
    w = w[torch.isfinite(w)]
    if not every.numel() or not w.numel():
        return None
    lo, hi = float(every.min()), float(every.max())

    def piled(end: float) -> float:
        return float(((w - end).abs() <= AT).float().mean())

    # a pile at 1 or -1 is a squashing activation's (a ReLU head off for every input sits at
    # 0 alone; a 1-D input drives a sigmoid or tanh to one end only, both directions alike)
    if lo >= 0 and hi <= 1 and piled(1) >= PILE / 4 and piled(0) + piled(1) >= PILE:
        return (0.0, 1.0)
    if lo >= -1 and hi <= 1 and piled(-1) + piled(1) >= PILE:
        return (-1.0, 1.0)
    if lo >= 0 and piled(0) >= PILE:
        return (0.0, math.inf)
    if hi <= 0 and piled(0) >= PILE:
        return (-math.inf, 0.0)
    return None


def output_reach(
    kind, loss_fn, outputs: list[torch.Tensor], wide: torch.Tensor, target
) -> dict | None:
    """How much of the way from a constant prediction to a perfect one the output range lets
    the loss go. The loss (the spec's own criterion) of three predictions on the sample batch:
    `chance`, the best constant (per output: the targets' mean or median, the log class
    frequencies, the logit of the positive rate); `free`, the best unbounded one (the targets
    themselves, their logits, a one-hot at `OPEN_LOGIT`); `bounded`, the best one within the
    measured range (those, clamped into it). `forbidden` is the share of the way from chance
    to free that the range forbids: 0 when it costs nothing, 1 when the best the model can do
    is the constant. None when the loss or the targets do not allow the comparison."""
    out = outputs[0]
    bounds = output_bounds(outputs, wide)
    if bounds is None or not isinstance(target, torch.Tensor) or kind is None:
        return None
    lo, hi = bounds
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            best = _best_predictions(kind, loss_fn, out.detach().float(), target, bounds)
            if best is None:
                return None
            losses = {name: float(loss_fn(p.to(out.dtype), target)) for name, p in best.items()}
    except Exception:  # a criterion that rejects them: nothing to compare
        return None
    if not all(math.isfinite(v) for v in losses.values()):
        return None
    gap = losses["chance"] - losses["free"]
    forbidden = (losses["bounded"] - losses["free"]) / gap if gap > 1e-8 else None
    return {
        "range": [lo, hi],
        "loss": kind,
        "regression": kind in REGRESSION_LOSSES,
        **{f"{name}_loss": value for name, value in losses.items()},
        "forbidden": None if forbidden is None else max(0.0, min(1.0, forbidden)),
    }


def _best_predictions(kind, loss_fn, out, target, bounds) -> dict[str, torch.Tensor] | None:
    lo, hi = bounds
    t = loss_fn.targets(target)  # what the criterion is given
    if kind in REGRESSION_LOSSES:
        if t.shape != out.shape or not t.is_floating_point():
            return None
        t = t.float()
        mean, median = t.mean(0, keepdim=True), t.median(0, keepdim=True).values
        center = median if kind == "l1" else mean
        return {
            "chance": center.expand_as(t),
            "free": t,
            "bounded": t.clamp(lo, hi),
        }
    if kind == "bce_with_logits":
        if t.shape != out.shape or not t.is_floating_point():
            return None
        t = t.float().clamp(0, 1)
        z = torch.logit(t.clamp(1e-4, 1 - 1e-4)).clamp(-OPEN_LOGIT, OPEN_LOGIT)
        rate = t.mean(0, keepdim=True).clamp(1e-4, 1 - 1e-4)
        return {"chance": torch.logit(rate).expand_as(t), "free": z, "bounded": z.clamp(lo, hi)}
    if kind == "cross_entropy":
        criterion = loss_fn.criterion
        if getattr(criterion, "label_smoothing", 0.0) or out.dim() < 2 or out.shape[1] < 2:
            return None  # the best logits under label smoothing are not a one-hot
        if t.is_floating_point() or t.shape != out.shape[:1] + out.shape[2:]:
            return None  # class probabilities, or shapes the loss will not take
        classes = out.shape[1]
        valid = (t >= 0) & (t < classes)
        if not bool(valid.any()):
            return None
        onehot = F.one_hot(t.clamp(0, classes - 1), classes).movedim(-1, 1).float()
        counts = torch.bincount(t[valid].reshape(-1), minlength=classes).float()
        prior = torch.log(counts / counts.sum() + 1e-6).reshape(1, classes, *[1] * (out.dim() - 2))
        low = lo if math.isfinite(lo) else (hi - 2 * OPEN_LOGIT)
        high = hi if math.isfinite(hi) else (low + 2 * OPEN_LOGIT)
        return {
            "chance": prior.expand_as(out),
            "free": onehot * 2 * OPEN_LOGIT,
            "bounded": low + onehot * (high - low),
        }
    return None
