from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nnlearn.rules.base import Cause, Rule, Severity


@dataclass
class L101(Rule):
    """The training loss became NaN or Inf.

    What it detects:
        The first main-run step whose training loss is not a finite number. The probe stops
        the main run there (a NaN loss is a finding, not a crash).

    Why it matters:
        Once the loss is NaN every gradient is NaN and the weights are destroyed; nothing after
        that step learns. It is the end state of divergence (learning rate too high, exploding
        gradients), of NaN/Inf in the data, or of a numerically unsafe loss (log of 0).

    Evidence:
        `step` of the first non-finite loss, its value, the last finite loss before it.
        Its cause follows the evidence: non-finite already at init points at the data or the
        initialisation, later at the learning rate. No threshold: any non-finite value fires.

    Example:
        `configs/quickstart.yaml` with `--set optimizer.lr=50`.

    Fix:
        Lower the learning rate (10x), add gradient clipping, check the data for NaN/Inf, use
        losses that take logits (BCEWithLogitsLoss, CrossEntropyLoss) instead of log(softmax).
    """

    code = "L101"
    name = "non-finite-loss"
    cause = Cause.LR_TOO_HIGH
    severity = Severity.ERROR
    requires = ("train_loss",)
    fixes = (
        "lower the learning rate by 10x (optimizer.lr) and probe again",
        "clip gradients (optimizer.grad_clip: 1.0)",
        "check inputs and targets for NaN/Inf (the data audit lists them)",
        "feed logits to CrossEntropyLoss / BCEWithLogitsLoss instead of taking log() of probabilities",
    )

    def evaluate(self, m):
        loss = m.series("train_loss")
        values = loss.to_numpy(float)
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size == 0:
            return []
        i = int(bad[0])
        step = int(loss.index[i])
        last = float(values[i - 1]) if i > 0 else None
        init_loss = m.fact("init.loss")
        at_init = step == 0 or (init_loss is not None and not np.isfinite(init_loss))
        evidence = {"step": step, "value": str(values[i]), "last_finite_loss": last}
        if at_init:
            return [
                self.finding(
                    f"training loss is {values[i]} from the first step: the model's output or "
                    "the data is already non-finite before any update",
                    evidence,
                    cause=Cause.POOR_INITIALIZATION,
                    fixes=[
                        self.fixes[2],
                        "check the initialisation scale of the weights",
                        self.fixes[3],
                    ],
                )
            ]
        return [
            self.finding(
                f"training loss became {values[i]} at step {step} (last finite value "
                f"{last:.4g}); the run diverged",
                evidence,
            )
        ]
