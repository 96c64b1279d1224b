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

from nnlearn.data.batch import TOKEN_TASKS
from nnlearn.probe.experiments._training import MAX_ROWS
from nnlearn.probe.step import Step, StepOutput


def planned_steps(ctx) -> int:
    return 0


def run(ctx) -> dict[str, Any]:
    loss_fn, step = ctx.loss_fn, ctx.step
    y_train = ctx.bundle.view("train", MAX_ROWS, seed=ctx.seed).targets
    y_val = ctx.bundle.view("val", MAX_ROWS, seed=ctx.seed).targets
    if y_train is None or y_val is None or len(y_val) == 0:
        return {"skipped": "no validation samples"}
    y_train, y_val = loss_fn.targets(y_train), loss_fn.targets(y_val)
    if loss_fn.task in TOKEN_TASKS:  # one prediction per position, as the step aligns them
        y_train, y_val = y_train.reshape(-1), y_val.reshape(-1)
        y_train = y_train[y_train != step.ignore_index]
    constant, kind = predictor(loss_fn, y_train, ctx.bundle.n_classes or 0)
    if constant is None:
        return {"skipped": f"no input-independent predictor known for loss {loss_fn.name}"}
    out = constant.expand(len(y_val), *constant.shape[1:]).clone()
    try:
        with torch.no_grad():
            loss = float(loss_fn(out, y_val))
    except Exception as exc:  # a user's loss that wants another output shape: no evidence
        return {"skipped": f"the loss does not accept a constant prediction ({exc})"}
    # the constant is in the form the loss takes (probabilities for BCELoss, else logits), so
    # it is thresholded by the loss, not by what the model's outputs were measured to be
    hits = Step(loss_fn).hits(StepOutput(torch.tensor(loss), out, y_val))
    acc = hits[0] / hits[1] if hits is not None and hits[1] else None
    if math.isfinite(loss):
        ctx.recorder.add("baseline", 0, "val_loss", loss)
    if acc is not None:
        ctx.recorder.add("baseline", 0, "val_acc", acc)
    return {
        "predictor": kind,
        "val_loss": loss if math.isfinite(loss) else None,
        "val_acc": acc,
        "n_val": len(y_val),
    }


def predictor(loss_fn, y: torch.Tensor, n_classes: int = 0) -> tuple[torch.Tensor | None, str]:
    """One prediction, shaped (1, ...), in the form the loss takes."""
    index_task = loss_fn.task in ("classification", *TOKEN_TASKS)
    if index_task and y.dim() == 1:
        counts = torch.bincount(y.clamp_min(0), minlength=n_classes).float()
        prior = (counts + 1e-6) / (counts + 1e-6).sum()  # never log(0) for an unseen class
        # log-probabilities: logits for cross-entropy, exactly what NLL takes
        kind = "class prior (majority class)" if loss_fn.task == "classification" else "unigram"
        return prior.log()[None, :], kind
    if loss_fn.task in ("binary", "multilabel"):
        # per label for multilabel: each label's own positive rate
        rate = (y.float().mean(0) if loss_fn.task == "multilabel" else y.float().mean()).clamp(
            1e-6, 1 - 1e-6
        )
        value = rate if loss_fn.name == "bce" else (rate / (1 - rate)).log()
        if loss_fn.task == "multilabel":
            return value[None], "positive rate per label"
        return torch.full((1, *y.shape[1:]), float(value)), "positive rate"
    if loss_fn.task == "regression":
        centre = y.float().median(0).values if loss_fn.name == "l1" else y.float().mean(0)
        return centre[None], "median target" if loss_fn.name == "l1" else "mean target"
    return None, ""
