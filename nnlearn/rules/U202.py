from __future__ import annotations

from dataclasses import dataclass

from nnlearn.rules.base import Cause, Rule, Severity
from nnlearn.rules.evidence import first_half, table


@dataclass
class U202(Rule):
    """The optimizer barely moves the weights: update ratios far below 1e-3.

    What it detects:
        Over the first half of the main run, the update-to-weight ratio ||dW|| / ||W|| of the
        layer that moves most is below `min_ratio` on the typical (median) sampled step.

    Why it matters:
        Healthy training moves weights by about 1e-3 of their size per step (Karpathy). At
        1e-5 and below, a few hundred steps change nothing: the loss stays flat and the probe
        learns nothing about the model. Taking the layer that moves most keeps vanishing
        gradients (small updates in the first layers only) out of this rule; the first half
        of the run keeps a converged SGD run, whose updates shrink at the end, out too.

    Evidence:
        The median over the first half's sampled steps of the largest per-layer ratio.
        Threshold 1e-5, 100x below Karpathy's 1e-3: measured, Adam at 1e-7 on the quickstart
        gives 1e-6, the healthy quickstart 4e-2 early and 2e-3 at its end.

    Example:
        `configs/examples/lr_too_low.yaml`.

    Fix:
        Raise the learning rate (the lr_range experiment suggests one); if it comes from a
        scheduler, check its first value and its warm-up.
    """

    code = "U202"
    name = "update-ratio-too-small"
    cause = Cause.LR_TOO_LOW
    severity = Severity.WARNING
    requires = ("update_ratio",)
    fixes = (
        "raise the learning rate (optimizer.lr), e.g. to the lr_range experiment's suggestion",
        "check a learning-rate scheduler's initial value and warm-up",
    )

    min_ratio: float = 1e-5

    def evaluate(self, m):
        t = first_half(table(m, "update_ratio"))
        if len(t) < 3:
            return []
        per_step = t.max(axis=1, skipna=True).dropna()
        if per_step.empty:
            return []
        typical = float(per_step.median())
        if typical >= self.min_ratio or typical <= 0:
            return []  # 0: nothing moved at all, a bug (frozen or detached), not a small rate
        return [
            self.finding(
                f"the layer that moves most changes by only {typical:.2g} of its size per "
                f"step (median over {len(per_step)} sampled steps; healthy is about 1e-3)",
                {"typical_max_update_ratio": typical, "steps": [int(s) for s in per_step.index]},
            )
        ]
