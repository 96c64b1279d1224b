from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nnlearn.rules.base import Cause, Rule, Severity
from nnlearn.rules.evidence import gradient_flow


@dataclass
class G402(Rule):
    """Gradients explode on their way back, or overflow.

    What it detects:
        The first layer's gradient norm is more than `ratio` times the last layer's at init
        (the init check's backward pass) or on the typical (median) sampled step of the main
        run; or the gradient norm became NaN/Inf on a step whose loss was still finite.

    Why it matters:
        When each layer multiplies the gradient flowing back by more than one, the layers near
        the input receive huge gradients: their updates overshoot, the loss jumps, and the run
        ends in NaN. Normalisation can hide it in the forward pass (bounded activations) while
        the backward pass still explodes.

    Evidence:
        First and last layer's gradient norms and their ratio, at init and over the run, or
        the step whose gradient was non-finite. Threshold 70: AUTOTRAINER's (Zhang et al.,
        ICSE 2021) exploding-gradient condition. Measured: a tanh RNN over 50 steps with
        recurrent weights of std 2/sqrt(width) gives 480 at init, 170 over its first 30
        steps; with std 1/sqrt(width) 1.7; the quickstart 0.2 to 2. At init counts on its
        own: a first update can throw the weights out of the exploding regime (and into
        saturation), hiding the cause from the rest of the run.

    Example:
        `configs/examples/exploding_gradients.yaml`.

    Fix:
        Clip gradients, initialise with variance-preserving scaling (Xavier/He), add
        normalisation layers or residual connections, lower the learning rate.
    """

    code = "G402"
    name = "exploding-gradients"
    cause = Cause.EXPLODING_GRADIENTS
    severity = Severity.ERROR
    requires = ("grad_norm",)
    fixes = (
        "clip gradients (optimizer.grad_clip: 1.0)",
        "initialise with variance-preserving scaling (Xavier for tanh, He/Kaiming for ReLU)",
        "add normalisation layers (LayerNorm/BatchNorm) or residual connections",
        "lower the learning rate",
    )

    ratio: float = 70.0
    min_samples: int = 3

    def evaluate(self, m):
        overflow = self._overflow(m)
        if overflow is not None:
            return [
                self.finding(
                    f"the gradient norm was {overflow[1]} at step {overflow[0]} while the loss "
                    "was still finite: the gradients overflowed",
                    {"step": overflow[0], "grad_norm": overflow[1]},
                )
            ]
        flow = gradient_flow(m)
        at_init = gradient_flow(m, "init")
        candidates = []
        if not at_init.empty:
            candidates.append(("at init", at_init.iloc[0], at_init))
        if len(flow) >= self.min_samples:
            candidates.append((f"median over {len(flow)} sampled steps", flow.median(), flow))
        for when, row, source in candidates:
            if row["ratio"] <= self.ratio:
                continue
            first, last = source.attrs["layers"]
            evidence = {
                "first_layer": first,
                "last_layer": last,
                "ratio": float(row["ratio"]),
                "first_grad_norm": float(row["first"]),
                "last_grad_norm": float(row["last"]),
                "when": when,
            }
            if not at_init.empty:
                evidence["ratio_at_init"] = float(at_init["ratio"].iloc[0])
            if len(flow):
                evidence["ratio_main_median"] = float(flow["ratio"].median())
            return [
                self.finding(
                    f"gradient norm of layer {first} is {row['first']:.3g}, "
                    f"{row['ratio']:.3g}x the last layer {last}'s ({row['last']:.3g}; {when})",
                    evidence,
                )
            ]
        return []

    @staticmethod
    def _overflow(m) -> tuple[int, str] | None:
        grad = m.series("grad_norm")
        loss = m.series("train_loss")
        for step, value in grad.items():
            if not np.isfinite(value) and step in loss.index and np.isfinite(loss[step]):
                return int(step), str(value)
        return None
