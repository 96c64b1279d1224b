from __future__ import annotations

from dataclasses import dataclass

from nnlearn.rules.audits import names
from nnlearn.rules.base import Cause, Rule, Severity


@dataclass
class B703(Rule):
    """Parameters receive gradients but the optimizer never changes them.

    What it detects:
        After the main run, trainable parameters that the optimizer does not hold, holds with
        a learning rate of 0, or that are bit-identical to their initial values although their
        gradient is not negligible (norm above `min_grad_norm`).

    Why it matters:
        The optimizer updates only what it was given: a layer added after the optimizer was
        built, a parameter list filtered by name, a parameter group at lr 0, a model
        re-created after its optimizer. The loss still decreases through the other layers,
        which hides the bug.

    Evidence:
        The parameters, and which of the three it is, read from the optimizer's parameter
        groups and the weights themselves. `min_grad_norm` 1e-6: below it an SGD step at lr
        1e-2 moves a unit-scale weight by less than float32 resolution, so an unchanged
        weight is a vanishing gradient (the gradient rules' finding), not this bug.

    Example:
        `configs/examples/bug_optimizer_misses_head.yaml`: Adam built over all but the head.

    Fix:
        Build the optimizer from `model.parameters()` after the model is complete, check
        parameter-group learning rates, and build the optimizer after moving the model.
    """

    code = "B703"
    name = "parameters-never-updated"
    cause = Cause.IMPLEMENTATION_BUG
    severity = Severity.ERROR
    requires = ("facts:setup.updates",)
    fixes = (
        "build the optimizer from model.parameters() once the model is complete",
        "check the learning rate of every parameter group (none should be 0)",
        "create the optimizer after model.to(device) and after adding layers",
    )

    min_grad_norm: float = 1e-6

    def evaluate(self, m):
        u = m.fact("setup.updates") or {}
        no_grad = set(m.fact("init.params_without_grad") or []) | set(u.get("no_grad") or [])
        outside = [n for n in u.get("not_in_optimizer", []) if n not in no_grad]
        zero_lr = [n for n in u.get("zero_lr", []) if n not in no_grad]
        stuck = [
            p["name"]
            for p in u.get("unchanged", [])
            if p["name"] not in no_grad
            and p["name"] not in outside
            and p["name"] not in zero_lr
            and (p.get("grad_norm") or 0.0) > self.min_grad_norm
        ]
        parts = []
        if outside:
            parts.append(f"not held by the optimizer: {names(outside)}")
        if zero_lr:
            parts.append(f"in a parameter group with lr 0: {names(zero_lr)}")
        if stuck:
            parts.append(f"unchanged despite non-zero gradients: {names(stuck)}")
        if not parts:
            return []
        steps = m.fact("run.steps_done")
        return [
            self.finding(
                f"{len(outside) + len(zero_lr) + len(stuck)} parameter tensors never changed "
                f"over {steps} steps; " + "; ".join(parts),
                {"not_in_optimizer": outside, "zero_lr": zero_lr, "unchanged": stuck},
            )
        ]
