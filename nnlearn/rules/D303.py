from __future__ import annotations

import math
from dataclasses import dataclass

from nnlearn.rules.base import Cause, Rule, Severity


@dataclass
class D303(Rule):
    """Regression targets are on a huge scale or far from zero.

    What it detects:
        Regression targets whose standard deviation exceeds `max_std`, or whose mean sits more
        than `offset_ratio` standard deviations from zero (and more than 1 in absolute terms).

    Why it matters:
        A freshly initialised network outputs values near zero. Targets around 200,000 make
        the loss at init ~1e10 and its gradients enormous; the optimiser spends the run
        moving the output bias instead of learning the relation (Karpathy, "A Recipe for
        Training Neural Networks": initialise the final bias to the target mean, or scale
        the targets).

    Evidence:
        Target mean, standard deviation and range. Thresholds measured on a linear-regression
        set (8 features, MSE, Adam 3e-3, 500 steps; validation MSE / target variance 0.002
        when centred): an offset of 10 standard deviations raises it to 0.03, 100 to 40
        (worse than predicting the mean); a spread of 1000 triples it, 100 changes nothing.
        Hence `offset_ratio` 5 and `max_std` 1000.

    Example:
        `configs/examples/data_regression_targets.yaml`: prices around 2e5, spread 1e4.

    Fix:
        Standardise the targets (subtract the training mean, divide by the std) and invert
        the transform on predictions, or predict log(target) for positive quantities; at
        least initialise the output bias to the target mean.
    """

    code = "D303"
    name = "unscaled-regression-targets"
    cause = Cause.UNNORMALIZED_INPUT
    severity = Severity.WARNING
    requires = ("facts:data.targets.std",)
    fixes = (
        "standardise the targets: (y - mean) / std with training statistics; invert for predictions",
        "predict log(y) for positive quantities spanning orders of magnitude",
        "initialise the output layer's bias to the target mean",
    )

    max_std: float = 1000.0
    offset_ratio: float = 5.0

    def evaluate(self, m):
        t = m.fact("data.targets") or {}
        mean, std = t.get("mean"), t.get("std")
        if mean is None or std is None or not (math.isfinite(mean) and math.isfinite(std)):
            return []
        offset = abs(mean) > 1.0 and abs(mean) > self.offset_ratio * std
        if std <= self.max_std and not offset:
            return []
        why = (
            f"their mean {mean:.4g} is {abs(mean) / std:.3g} standard deviations from zero"
            if offset and std > 0
            else f"their standard deviation is {std:.4g}"
        )
        span = f" span [{t['min']:.4g}, {t['max']:.4g}]" if "min" in t and "max" in t else ""
        return [
            self.finding(
                f"regression targets{span}: {why}; a fresh network predicts values near 0",
                dict(t),
            )
        ]
