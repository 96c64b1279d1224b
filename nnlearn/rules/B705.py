from __future__ import annotations

from dataclasses import dataclass

from nnlearn.rules.base import Cause, Rule, Severity


@dataclass
class B705(Rule):
    """Output and target shapes differ, and the loss broadcasts (or rejects) them.

    What it detects:
        An elementwise loss (MSE, L1, Huber, BCE) given an output and a target of different
        shapes, such as an (N, 1) output against an (N,) target.

    Why it matters:
        MSELoss broadcasts (N, 1) against (N,) to an (N, N) matrix: every prediction is
        compared with every target, the loss is minimised by predicting the batch mean, and
        the model learns nothing about its input while the loss looks reasonable. torch only
        warns. BCE losses raise instead.

    Evidence:
        Output shape, target shape and the shape they broadcast to, from one forward pass on
        a sample batch. No threshold.

    Example:
        `configs/examples/bug_broadcast.yaml`: a regression head returning (N, 1).

    Fix:
        Make the shapes equal: `output.squeeze(-1)` for one output per sample, or
        `target.unsqueeze(-1)`; assert `output.shape == target.shape` before the loss.
    """

    code = "B705"
    name = "shape-mismatch"
    cause = Cause.IMPLEMENTATION_BUG
    severity = Severity.ERROR
    requires = ("facts:setup.shapes",)
    fixes = (
        "squeeze the output's trailing dimension (output.squeeze(-1)) or unsqueeze the target",
        "assert output.shape == target.shape before calling the loss",
    )

    def evaluate(self, m):
        s = m.fact("setup.shapes") or {}
        if not s or s.get("output") == s.get("target"):
            return []
        if s.get("broadcast") is not None:
            tail = (
                f"the loss broadcasts them to {s['broadcast']} and compares every prediction "
                "with every target"
            )
        else:
            tail = "the loss cannot compare them; training was skipped"
        return [
            self.finding(
                f"model output shape {s['output']} against target shape {s['target']}: {tail}",
                dict(s),
            )
        ]
