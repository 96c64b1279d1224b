from __future__ import annotations

import math
from dataclasses import dataclass

from nnlearn.rules.base import Cause, Rule, Severity


@dataclass
class D303(Rule):
    """Regression targets are on a huge scale or far from zero.

    What it detects:
        Regression targets beyond what a freshly initialised network outputs: their
        root-mean-square (sqrt(mean^2 + std^2), how far the output must travel from 0) more
        than `max_output_ratio` times the RMS of the fresh model's output on a training batch
        (the setup check's forward pass, `setup.layer_rms`, last layer); or their mean more
        than `offset_ratio` standard deviations from zero (and more than 1 in absolute
        terms). Without the setup check's measurement, a standard deviation above `max_std`.

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
        Hence `offset_ratio` 5 and `max_std` 1000 (the fallback).
        A fixed limit misses what matters: how far the targets are from what the network
        outputs at init, which the inputs' scale moves too (issue 15: raw sensor readings
        0-100 and targets of std ~650 learn to R^2 0.39, 0.995 scaled). Measured on
        bench/accuracy.py's regressions: healthy cases sit at 3-18x their fresh output
        (h_sine 3.4, h_linear 12, h_sensor_scaled 18), the raw sensor at 237x (R^2 0.25-0.6),
        house prices at 6e6x; standardised targets scaled by 100 (1150x) lose R^2 0.97 to
        0.91, by 1000 to 0.82. Hence `max_output_ratio` 100, two orders of magnitude.
        Severity error when the main run's final training loss is still above
        `stuck_fraction` (30%) of the chance-level loss (an R^2 under 0.7 on the training
        set): the scale visibly kept the run from learning (the raw sensor case ends at
        40-75%, the x100 targets under 10%).

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
    max_output_ratio: float = 100.0
    stuck_fraction: float = 0.3

    def evaluate(self, m):
        t = m.fact("data.targets") or {}
        mean, std = t.get("mean"), t.get("std")
        if mean is None or std is None or not (math.isfinite(mean) and math.isfinite(std)):
            return []
        offset = abs(mean) > 1.0 and abs(mean) > self.offset_ratio * std
        out_rms = fresh_output_rms(m)
        rms = math.hypot(mean, std)
        far = rms > self.max_output_ratio * out_rms if out_rms is not None else std > self.max_std
        if not far and not offset:
            return []
        t = dict(t)
        if out_rms is not None:
            t.update(fresh_output_rms=out_rms, target_over_output=rms / out_rms)
        severity = None
        stuck = _training_loss_over_chance(m)
        if stuck is not None and stuck > self.stuck_fraction:
            severity = Severity.ERROR
            t["train_loss_over_chance"] = stuck
        if offset and std > 0:
            why = f"their mean {mean:.4g} is {abs(mean) / std:.3g} standard deviations from zero"
        elif out_rms is not None:
            why = (
                f"their RMS {rms:.4g} is {rms / out_rms:.3g}x what the fresh network outputs "
                f"({out_rms:.3g})"
            )
        else:
            why = f"their standard deviation is {std:.4g}"
        span = f" span [{t['min']:.4g}, {t['max']:.4g}]" if "min" in t and "max" in t else ""
        return [
            self.finding(
                f"regression targets{span}: {why}; a fresh network predicts values near 0",
                t,
                severity=severity,
            )
        ]


def _training_loss_over_chance(m) -> float | None:
    from nnlearn.rules.fit import last, reference_loss

    reference = reference_loss(m)
    final = last(m, "train_eval_loss") or last(m, "train_loss", n=20)
    if not reference or final is None or not math.isfinite(final):
        return None
    return final / reference


def fresh_output_rms(m) -> float | None:
    """RMS of the fresh model's output on a training batch (the setup check's last layer)."""
    layers = m.fact("setup.layer_rms") or []
    if not layers or not isinstance(layers[-1], dict):
        return None
    rms = layers[-1].get("rms")
    if not isinstance(rms, (int, float)) or not math.isfinite(rms) or rms <= 0:
        return None
    return float(rms)
