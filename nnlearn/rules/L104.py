from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nnlearn.rules.base import Cause, Rule, Severity
from nnlearn.rules.curves import finite


@dataclass
class L104(Rule):
    """The training loss oscillates: it keeps jumping back up instead of settling.

    What it detects:
        On the training loss measured over the training set at every evaluation (no
        minibatch noise), at least `min_rises` rises of more than `rise` (25%) of the loss
        before them, together making up at least `rise_share` (30%) of all the curve's
        movement.

    Why it matters:
        A full-dataset loss that goes up again and again means updates overshoot the
        minimum and bounce across the valley: the learning rate is too high for the loss's
        curvature (or momentum too strong). Training may still inch downwards but wastes
        most of its steps and ends far from where it could be.

    Evidence:
        The number of rises, the largest, and the share of movement that was upwards.
        Thresholds measured: the healthy quickstart's curve never rises by 25% and has an
        upward share under 5%; Adam at 0.1 has 2 such rises, at 0.5 over 5 and a share over 40%.
        A random walk would give a share of 50%.

    Example:
        `configs/examples/lr_too_high.yaml`.

    Fix:
        Lower the learning rate (or momentum), add a decaying schedule, increase the batch
        size to reduce the noise of each update.
    """

    code = "L104"
    name = "oscillating-loss"
    cause = Cause.LR_TOO_HIGH
    severity = Severity.WARNING
    requires = ("train_eval_loss",)
    fixes = (
        "lower the learning rate by 3-10x (optimizer.lr)",
        "add a decaying learning-rate schedule (cosine, step)",
        "lower the momentum, or increase the batch size",
    )

    rise: float = 0.25
    min_rises: int = 3
    rise_share: float = 0.3
    min_points: int = 6

    def evaluate(self, m):
        loss = finite(m.series("train_eval_loss"))
        if len(loss) < self.min_points:
            return []
        values = loss.to_numpy(float)
        steps = np.diff(values)
        before = np.maximum(np.abs(values[:-1]), 1e-12)
        big = np.flatnonzero(steps / before > self.rise)
        moved = float(np.abs(steps).sum())
        share = float(steps[steps > 0].sum() / moved) if moved > 0 else 0.0
        if len(big) < self.min_rises or share < self.rise_share:
            return []
        largest = int(big[np.argmax(steps[big] / before[big])])
        evidence = {
            "rises": len(big),
            "upward_share": share,
            "largest_rise_step": int(loss.index[largest + 1]),
            "largest_rise": float(steps[largest] / before[largest]),
        }
        return [
            self.finding(
                f"the training-set loss rose by more than {self.rise:.0%} {len(big)} times in "
                f"{len(values)} evaluations ({share:.0%} of its movement was upwards)",
                evidence,
            )
        ]
