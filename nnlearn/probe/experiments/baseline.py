"""baseline: the best input-independent predictor, fitted on the training labels, on validation.

Classification predicts the training class frequencies (the majority class for accuracy),
binary the positive rate, regression the mean target (the median under an L1 loss). A trained
model no better than this has learnt nothing from its inputs (rule F804). No training: one
pass of the loss over the validation split, so it costs nothing in the budget. Recorded as
run "baseline", step 0: val_loss, val_acc.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from nnlearn.data.bundle import sample
from nnlearn.probe.experiments._training import MAX_ROWS, train_tensors
from nnlearn.probe.loop import accuracy_hits


def planned_steps(ctx) -> int:
    return 0


def run(ctx) -> dict[str, Any]:
    loss_fn = ctx.loss_fn
    _, y_train = train_tensors(ctx.bundle.train, ctx.seed)
    _, y_val = sample(ctx.bundle.val, MAX_ROWS, seed=ctx.seed)
    y_train, y_val = loss_fn.targets(y_train), loss_fn.targets(y_val)
    if len(y_val) == 0:
        return {"skipped": "no validation samples"}
    constant, kind = predictor(loss_fn, y_train, ctx.bundle.n_classes or 0)
    if constant is None:
        return {"skipped": f"no input-independent predictor known for loss {loss_fn.name}"}
    out = constant.expand(len(y_val), *constant.shape[1:]).clone()
    try:
        with torch.no_grad():
            loss = float(loss_fn(out, y_val))
    except Exception as exc:  # a user's loss that wants another output shape: no evidence
        return {"skipped": f"the loss does not accept a constant prediction ({exc})"}
    hits = accuracy_hits(out, y_val, loss_fn)
    if math.isfinite(loss):
        ctx.recorder.add("baseline", 0, "val_loss", loss)
    if hits is not None:
        ctx.recorder.add("baseline", 0, "val_acc", hits / len(y_val))
    return {
        "predictor": kind,
        "val_loss": loss if math.isfinite(loss) else None,
        "val_acc": hits / len(y_val) if hits is not None else None,
        "n_val": len(y_val),
    }


def predictor(loss_fn, y: torch.Tensor, n_classes: int = 0) -> tuple[torch.Tensor | None, str]:
    """One prediction, shaped (1, ...), in the form the loss takes."""
    if loss_fn.task == "classification" and y.dim() == 1:
        counts = torch.bincount(y.clamp_min(0), minlength=n_classes).float()
        prior = (counts + 1e-6) / (counts + 1e-6).sum()  # never log(0) for an unseen class
        # log-probabilities: logits for cross-entropy, exactly what NLL takes
        return prior.log()[None, :], "class prior (majority class)"
    if loss_fn.task == "binary":
        rate = float(y.float().mean().clamp(1e-6, 1 - 1e-6))
        value = rate if loss_fn.name == "bce" else math.log(rate / (1 - rate))
        return torch.full((1, *y.shape[1:]), value), "positive rate"
    if loss_fn.task == "regression":
        centre = y.float().median(0).values if loss_fn.name == "l1" else y.float().mean(0)
        return centre[None], "median target" if loss_fn.name == "l1" else "mean target"
    return None, ""
