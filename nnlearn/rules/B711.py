from __future__ import annotations

import math
from dataclasses import dataclass

from nnlearn.rules.base import Cause, Rule, Severity


def describe_range(lo: float, hi: float) -> str:
    """'never go below 0', 'stay within [0, 1]', ..."""
    if math.isinf(hi):
        return f"never go below {lo:g}"
    if math.isinf(lo):
        return f"never go above {hi:g}"
    return f"stay within [{lo:g}, {hi:g}]"


@dataclass
class B711(Rule):
    """The model's output range keeps the loss from reaching what the targets allow.

    What it detects:
        An output confined by its final activation (measured on the setup's sample batch and
        on passes of random inputs 10x and 1000x the data's scale, the wider one piled at the
        range's ends: within [0, 1], a sigmoid; within [-1, 1], a tanh; never negative, a
        ReLU, softplus or exp; never positive) while the targets need values outside it: a ReLU or sigmoid head on
        regression targets that go negative, a tanh head on targets beyond +-1, logits passed
        through a ReLU or tanh before BCEWithLogitsLoss (no probability below 0.5, or none
        outside [0.27, 0.73]), class scores squashed into [0, 1] before CrossEntropyLoss. The
        measure is the spec's own loss on the sample batch for three predictions: the best
        constant (chance), the targets themselves (free: a one-hot at logit 30, the targets'
        logits) and the same clamped into the range (bounded). `forbidden` = (bounded - free)
        / (chance - free), the share of the way from a constant to a perfect prediction that
        the range rules out.

    Why it matters:
        No learning rate, model size or number of steps gets a model past its own output
        range: a ReLU output that should go negative sits at 0 (and once every unit feeding it
        is off, gets no gradient at all), a sigmoid head cannot leave [0, 1]. The training
        curve looks like a learning rate or capacity problem, and those fixes do nothing.

    Evidence:
        The measured range, the three losses and `forbidden`. Regression losses: an error from
        `error_share` 0.1 (even a perfect model inside the range keeps 10% of the constant
        predictor's loss: R^2 stays under 0.9, the accuracy benchmark's bar for "learns"), a
        warning from `warn_share` 0.05. Class scores (cross-entropy, BCE with logits): a
        warning from `warn_share`, never an error, since bounded scores still rank the
        classes. The range comes from a third, "wide" pass (random inputs 1000x the data's
        scale) that drives the activation to its ends: a ReLU or softplus head sits at 0 for
        46-100% of it, a sigmoid or tanh head at both ends. A linear head over an RNN's
        saturated state is bounded too, but piled at neither end: no range, no finding (a
        GRU regressor with a linear head on z-scored targets was an error before that check).
        Measured (`forbidden` on the sample batch; the plain PyTorch loop's validation result
        at seeds 0-2, against the same model with a linear head): `bench/cases/`
        `relu_output_regression` 0.59 (R^2 0.46-0.58), `sigmoid_output_regression` 0.49 (R^2
        0.45-0.52), `sigmoid_scores_ce` 0.51 (balanced accuracy 1.0, the loss held at 0.56);
        ad-hoc variants: a softplus head on zero-mean targets 0.47, a tanh head on targets
        reaching 2 0.073 (MSE 0.088 against 0.018), tanh scores into CrossEntropyLoss 0.22
        (accuracy 1.0), ReLU'd logits into BCEWithLogitsLoss on five labels 0.54 (accuracy
        89% against 98%). Where the targets fit the range: a sigmoid head on shares in (0, 1)
        (`configs/examples/bounded_head_fits.yaml`) and a ReLU head on positive targets, 0.
        Token-id and mapping inputs get no random pass, so no check.

    Example:
        `configs/examples/bug_bounded_head.yaml` (healthy twin:
        `configs/examples/bounded_head_fits.yaml`).

    Fix:
        End the model in a plain Linear layer (no activation after it) for regression and for
        logits; keep a bounded activation only where the targets share its range (a sigmoid
        for targets in [0, 1]), or rescale the targets into it.
    """

    code = "B711"
    name = "output-range-excludes-targets"
    cause = Cause.IMPLEMENTATION_BUG
    severity = Severity.ERROR
    requires = ("facts:setup.output_reach",)
    fixes = (
        "end the model in a plain Linear layer (no ReLU, sigmoid or tanh after it) for "
        "regression outputs and for logits",
        "keep a bounded output activation only where the targets share its range, or rescale "
        "the targets into it",
    )

    error_share: float = 0.1
    warn_share: float = 0.05

    def evaluate(self, m):
        reach = m.fact("setup.output_reach") or {}
        forbidden = reach.get("forbidden")
        if forbidden is None or forbidden < self.warn_share:
            return []
        lo, hi = reach["range"]
        evidence = {
            k: reach.get(k)
            for k in ("loss", "range", "chance_loss", "free_loss", "bounded_loss", "forbidden")
        }
        message = (
            f"the model's outputs {describe_range(lo, hi)} (an activation after the last "
            f"layer), but the targets need values beyond: the best prediction in that range "
            f"leaves the {reach['loss']} loss at {reach['bounded_loss']:.3g} (a constant "
            f"gets {reach['chance_loss']:.3g}, the targets allow {reach['free_loss']:.3g}), "
            f"{forbidden:.0%} of the way out of reach"
        )
        # class scores under a bound still rank the classes: the loss and the probabilities
        # are capped, the predicted class is not (measured below)
        error = bool(reach.get("regression")) and forbidden >= self.error_share
        severity = Severity.ERROR if error else Severity.WARNING
        return [self.finding(message, evidence, severity=severity)]
