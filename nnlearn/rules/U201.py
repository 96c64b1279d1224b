from __future__ import annotations

from dataclasses import dataclass

from nnlearn.rules.base import Cause, Rule, Severity
from nnlearn.rules.evidence import largest_update, table


@dataclass
class U201(Rule):
    """An optimizer step moved the weights by as much as their own size.

    What it detects:
        A sampled main-run step whose update-to-weight ratio ||dW|| / ||W||, the median over
        the layers, reaches `max_ratio`.

    Why it matters:
        Karpathy's rule of thumb puts a healthy update at about 1e-3 of the weights. An update
        the size of the weights themselves throws away what they held: the loss jumps, ReLU
        units die, the run diverges or oscillates. It is the most direct measurement of a
        learning rate that is too high, and it does not depend on how the rate was set.

    Evidence:
        The largest median-over-layers ratio, its step, and each layer's ratio there.
        Threshold 1.0, a thousand times the healthy 1e-3: measured, the quickstart (Adam 3e-3)
        peaks at 0.03, Adam at 0.1 reaches 1.1 on its first step, at 0.5 5.3, at 50 551. Adam's first
        step moves every weight by about the learning rate, so the ratio is lr / rms(W).

    Example:
        `configs/examples/lr_too_high.yaml`.

    Fix:
        Lower the learning rate until the ratio sits near 1e-3 (the lr_range experiment
        suggests one); add warm-up; clip gradients.
    """

    code = "U201"
    name = "update-ratio-too-large"
    cause = Cause.LR_TOO_HIGH
    severity = Severity.WARNING
    requires = ("update_ratio",)
    fixes = (
        "lower the learning rate (optimizer.lr) until update/weight ratios sit near 1e-3",
        "add a learning-rate warm-up over the first few hundred steps",
        "clip gradients (optimizer.grad_clip: 1.0)",
    )

    max_ratio: float = 1.0

    def evaluate(self, m):
        worst = largest_update(m)
        if worst is None or worst[0] < self.max_ratio:
            return []
        ratio, step = worst
        layers = table(m, "update_ratio").loc[step].dropna()
        return [
            self.finding(
                f"at step {step} the optimizer moved the weights by {ratio:.3g}x their own size "
                f"(median over {len(layers)} layers; healthy updates are about 1e-3 of them)",
                {
                    "step": step,
                    "median_update_ratio": ratio,
                    "per_layer": {str(k): float(v) for k, v in layers.items()},
                },
            )
        ]
