from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nnlearn.rules.base import Cause, Rule, Severity
from nnlearn.rules.evidence import table


@dataclass
class I601(Rule):
    """The activation scale collapses or explodes through depth at init.

    What it detects:
        At init (one forward pass of the init check), the RMS of the activations reaching
        the deepest measured layer over the RMS of those reaching the first one is below
        `collapse_ratio` or above `explode_ratio`; at least `min_layers` layers measured.

    Why it matters:
        A variance-preserving initialisation (Glorot & Bengio 2010, He et al. 2015) keeps the
        activation scale about constant through depth. If every layer shrinks it, the signal
        and the gradients reaching the first layers fade to nothing; if every layer grows it,
        the outputs and the loss are huge or Inf before training starts.

    Evidence:
        The RMS per layer at init, first and deepest. Thresholds 1e-2 and 1e2, two orders of
        magnitude either way. Measured on 64-wide MLPs: ReLU with weights of std 0.01 shrinks
        the scale 18x per layer (5e-7 over 6 layers), with std 1 grows it 5.5x per layer (5e3);
        over 10 layers torch's default init gives 0.19x, Kaiming 1.2x, tanh with Xavier 4.1x.

    Example:
        `configs/examples/poor_initialization.yaml`.

    Fix:
        Initialise with He/Kaiming (ReLU) or Xavier/Glorot (tanh) scaling, or torch's
        default; add normalisation layers.
    """

    code = "I601"
    name = "activation-scale-through-depth"
    cause = Cause.POOR_INITIALIZATION
    severity = Severity.WARNING
    requires = ("init/act_rms",)
    fixes = (
        "initialise with He/Kaiming (ReLU) or Xavier/Glorot (tanh) scaling, or torch's default",
        "add normalisation layers (BatchNorm/LayerNorm)",
    )

    collapse_ratio: float = 1e-2
    explode_ratio: float = 1e2
    min_layers: int = 3

    def evaluate(self, m):
        t = table(m, "act_rms", "init")
        if t.empty or t.shape[1] < self.min_layers:
            return []
        rms = t.iloc[0]
        first, last = float(rms.iloc[0]), float(rms.iloc[-1])
        if not np.isfinite(first) or first <= 0:
            return []
        ratio = last / first if np.isfinite(last) else float("inf")
        if self.collapse_ratio <= ratio <= self.explode_ratio:
            return []
        way = "collapses" if ratio < self.collapse_ratio else "explodes"
        evidence = {
            "ratio": ratio,
            "first_layer": str(rms.index[0]),
            "last_layer": str(rms.index[-1]),
            "rms": {str(k): float(v) for k, v in rms.items()},
        }
        return [
            self.finding(
                f"at init the activation scale {way} through depth: RMS {first:.3g} into "
                f"{rms.index[0]}, {last:.3g} into {rms.index[-1]} ({ratio:.2g}x over "
                f"{len(rms)} layers)",
                evidence,
            )
        ]
