from __future__ import annotations

import math
from dataclasses import dataclass

from nnlearn.rules.audits import scale_problems
from nnlearn.rules.base import Cause, Rule, Severity


@dataclass
class B707(Rule):
    """The loss at init is far above the chance-level loss.

    What it detects:
        The loss of the untrained model on a sample batch more than `max_ratio` times the
        chance-level loss: that of an input-independent predictor that knows the label
        frequencies (the target variance for MSE), or of a uniform prediction (ln C for C
        classes, ln 2 for BCE) when that is higher, because an unsure default-initialised
        network predicts about uniformly even when the classes are imbalanced. Unscaled inputs
        or targets explain a high loss by themselves and are reported by D302 / D303 instead.

    Why it matters:
        A well-initialised network is unsure at init and scores about chance (Karpathy, "A
        Recipe for Training Neural Networks": verify the loss at init). Far above chance
        means confidently wrong predictions: the output layer's weights or bias are too
        large, a custom initialisation is off, or the output is scaled. The first part of
        training is then spent undoing the init (a hockey-stick loss curve).

    Evidence:
        Loss at init, chance-level loss, their ratio, and the root-mean-square output of
        every Linear/Conv layer on the setup batch. The cause follows the layers: when the
        hidden layers' scale grows by more than `max_layer_gain` per layer, the whole
        initialisation is too large (poor_initialization); otherwise the jump is in the output
        layer (implementation_bug). `max_ratio` 3: measured, the healthy configs start at
        0.86-1.18 times chance (quickstart, moons, blobs, circles, xor, linear, sine, images);
        the quickstart MLP with its output layer scaled 30x starts at 1.95x and still learns;
        scaled 300x it starts at 15x. `max_layer_gain` 2: measured per-layer gain of the
        hidden scale 0.38 (torch default), 1.0 (Kaiming), 1.34 (Xavier + tanh, 6 layers),
        5.5-5.7 (normal init with std 1).

    Example:
        `configs/examples/bug_loud_head.yaml`: the output layer initialised 300x too large.

    Fix:
        Initialise the last layer small (zero or std 0.01 weights) and its bias to the log
        class priors (classification) or the target mean (regression); check custom
        initialisation code; use Kaiming (ReLU) or Xavier (tanh) initialisation throughout.
    """

    code = "B707"
    name = "init-loss-far-from-chance"
    cause = Cause.IMPLEMENTATION_BUG
    severity = Severity.WARNING
    requires = ("facts:init.loss", "facts:init.chance_loss")
    fixes = (
        "initialise the output layer small (weights ~0 / std 0.01)",
        "set the output bias to the log class priors (classification) or the target mean (regression)",
        "check custom weight-initialisation code",
    )

    max_ratio: float = 3.0
    max_layer_gain: float = 2.0

    def evaluate(self, m):
        loss, chance = m.fact("init.loss"), m.fact("init.chance_loss")
        if not isinstance(loss, (int, float)) or not isinstance(chance, (int, float)):
            return []
        if not (math.isfinite(loss) and math.isfinite(chance)) or chance <= 0:
            return []
        chance = max(chance, self._uniform_loss(m))
        ratio = loss / chance
        if ratio <= self.max_ratio or self._explained_by_data(m, loss):
            return []
        msg = (
            f"loss at init is {loss:.4g}, {ratio:.1f}x the chance-level {chance:.4g}: the "
            "untrained model is confidently wrong"
        )
        evidence = {"init_loss": loss, "chance_loss": chance, "ratio": ratio}
        layers = m.fact("setup.layer_rms") or []
        gain = depth_gain(layers)
        if gain is not None and gain > self.max_layer_gain:
            evidence["layer_gain"] = gain
            return [
                self.finding(
                    f"{msg}; the activation scale grows {gain:.2g}x per layer, from "
                    f"{layers[0]['rms']:.3g} at `{layers[0]['name']}` to {layers[-2]['rms']:.3g} "
                    f"at `{layers[-2]['name']}`: the initialisation is too large",
                    evidence,
                    cause=Cause.POOR_INITIALIZATION,
                    fixes=[
                        "use Kaiming (ReLU) or Xavier (tanh) initialisation, or the framework default",
                        self.fixes[2],
                    ],
                )
            ]
        if len(layers) >= 2:
            head, before = layers[-1], layers[-2]
            evidence["output_rms"], evidence["before_output_rms"] = head["rms"], before["rms"]
            msg += (
                f"; the output layer `{head['name']}` has scale {head['rms']:.3g} on inputs of "
                f"scale {before['rms']:.3g}"
            )
        return [self.finding(msg, evidence)]

    @staticmethod
    def _uniform_loss(m) -> float:
        kind = m.fact("setup.loss_kind")
        classes = m.fact("data.n_classes") or len(m.fact("data.class_counts") or [])
        if kind in ("cross_entropy", "nll") and classes and classes > 1:
            return math.log(classes)
        if kind in ("bce", "bce_with_logits"):
            return math.log(2)
        return 0.0

    def _explained_by_data(self, m, loss: float) -> bool:
        """Unscaled inputs (D302's defaults) or a target offset a near-zero output cannot
        reach (the loss of predicting 0 is mean^2 + var) explain a high loss at init."""
        if scale_problems(m.fact("data.inputs") or {}, 50.0, 5.0):
            return True
        t = m.fact("data.targets") or {}
        if "mean" in t and "std" in t:
            zero_predictor = t["mean"] ** 2 + t["std"] ** 2
            return loss <= self.max_ratio * zero_predictor and zero_predictor > t["std"] ** 2 * 2
        return False


def depth_gain(layers: list[dict]) -> float | None:
    """Geometric-mean growth per layer of the hidden layers' output scale (the output layer
    excluded), or None with fewer than two hidden layers."""
    hidden = [layer["rms"] for layer in layers[:-1]]
    if len(hidden) < 2 or hidden[0] <= 0 or not all(math.isfinite(h) for h in hidden):
        return None
    return (hidden[-1] / hidden[0]) ** (1 / (len(hidden) - 1))
