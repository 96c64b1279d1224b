from __future__ import annotations

from dataclasses import dataclass

from nnlearn.rules.base import Cause, Rule, Severity
from nnlearn.rules.evidence import burst_after_healthy_init, flagged_layers


@dataclass
class A502(Rule):
    """Saturated activations: sigmoid/tanh outputs stuck at their extremes.

    What it detects:
        A layer whose input (the previous activation's output, bounded like a sigmoid in
        [0, 1] or a tanh in [-1, 1]) has at least `saturated_fraction` of its values at the
        extremes (within 0.01 of a bound) on the typical (median) sampled step of the main
        run. The bound is read from the values, so `torch.tanh` in `forward` counts too.

    Why it matters:
        At its extremes a sigmoid or tanh is flat: its derivative is under 4% of its maximum,
        so almost no gradient passes back through the unit and the layers before it stop
        learning. It comes from pre-activations that are too large: weights initialised too
        wide, unnormalised inputs, or a learning rate that blew the weights up.

    Evidence:
        Per layer, the median saturated fraction over the run and at init. Threshold 50% of
        the layer, SageMaker Debugger's `SaturatedActivation` `threshold_layer`; measured: a
        tanh MLP with hidden weights of std 1 (8x Xavier) has 74% of its last hidden layer
        saturated; the quickstart with tanh reaches 20% as its weights grow, with sigmoid 0.1%. When the saturation follows an
        update of 1x the weights' size (U201), the learning rate is the cause.

    Example:
        `configs/examples/saturated_activations.yaml`.

    Fix:
        Initialise with Xavier/Glorot scaling, normalise the inputs, add normalisation before
        the activation, use ReLU/GELU in hidden layers, lower the learning rate.
    """

    code = "A502"
    name = "saturated-activations"
    cause = Cause.SATURATED_ACTIVATIONS
    severity = Severity.WARNING
    requires = ("saturated_frac",)
    fixes = (
        "initialise weights with Xavier/Glorot scaling (std ~ 1/sqrt(fan_in))",
        "standardise the inputs (zero mean, unit variance)",
        "add LayerNorm/BatchNorm before the activation, or use ReLU/GELU in hidden layers",
        "lower the learning rate",
    )

    saturated_fraction: float = 0.5
    burst_ratio: float = 1.0

    def evaluate(self, m):
        flagged, at_init, evidence = flagged_layers(m, "saturated_frac", self.saturated_fraction)
        if flagged.empty:
            return []
        worst = str(flagged.idxmax())
        cause, why = None, ""
        burst = burst_after_healthy_init(
            m, flagged, at_init, self.saturated_fraction, self.burst_ratio
        )
        if burst:
            cause = Cause.LR_TOO_HIGH
            why = f" after the update at step {burst[1]} moved the weights by {burst[0]:.3g}x"
        return [
            self.finding(
                f"{float(flagged.max()):.0%} of the activations feeding layer {worst} sit at "
                f"the extremes of their sigmoid/tanh, where almost no gradient passes{why}",
                evidence,
                cause=cause,
                fixes=[self.fixes[3], *self.fixes[:3]] if cause else None,
            )
        ]
