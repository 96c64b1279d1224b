from __future__ import annotations

from dataclasses import dataclass

from nnlearn.rules.base import Cause, Rule, Severity


@dataclass
class B704(Rule):
    """Probabilities fed to a loss that expects logits, or the reverse (double softmax).

    What it detects:
        From one forward pass at init, on a sample batch and on a batch of large random
        inputs: outputs whose rows are already probabilities (in [0, 1], summing to one) going
        into CrossEntropyLoss or NLLLoss, outputs bounded in [0, 1] (a sigmoid) going into
        BCEWithLogitsLoss, raw logits going into NLLLoss (which expects log-probabilities), and
        outputs outside [0, 1] going into BCELoss (which expects probabilities).

    Why it matters:
        CrossEntropyLoss and BCEWithLogitsLoss apply their own (log-)softmax or sigmoid. A
        second one squashes the logits into [0, 1], so the loss can barely move away from
        its starting value and the gradients shrink: the network learns slowly, or not at
        all. NLLLoss on raw logits is unbounded below and runs to -inf. BCELoss on logits
        raises (a device-side assert on a GPU).

    Evidence:
        The loss kind (read from the criterion object), the output range and whether rows sum
        to one. Rows "sum to one" within 1e-3; the random-input pass keeps a linear head whose
        small init outputs happen to fall in [0, 1] from being taken for a sigmoid.

    Example:
        `configs/examples/bug_double_softmax.yaml`; `configs/examples/bug_logits_into_bce.yaml`.

    Fix:
        Return raw logits from forward() and let CrossEntropyLoss / BCEWithLogitsLoss apply
        the softmax / sigmoid; apply softmax only at inference. With NLLLoss, end the model
        in log_softmax; with BCELoss, end it in a sigmoid (or better, switch to
        BCEWithLogitsLoss).
    """

    code = "B704"
    name = "probabilities-into-logit-loss"
    cause = Cause.IMPLEMENTATION_BUG
    severity = Severity.ERROR
    requires = ("facts:setup.loss_kind", "facts:setup.output")
    fixes = (
        "return raw logits from forward(); CrossEntropyLoss / BCEWithLogitsLoss apply softmax / sigmoid themselves",
        "apply softmax / sigmoid only when predicting, outside the loss",
        "NLLLoss needs log_softmax outputs; BCELoss needs sigmoid outputs (prefer BCEWithLogitsLoss)",
    )

    def evaluate(self, m):
        kind = m.fact("setup.loss_kind")
        o = m.fact("setup.output") or {}
        fatal = m.fact("setup.fatal") or {}
        rng = f"[{o.get('min', float('nan')):.3g}, {o.get('max', float('nan')):.3g}]"
        evidence = {"loss": kind, "output_min": o.get("min"), "output_max": o.get("max")}
        if kind == "cross_entropy" and o.get("rows_sum_to_one"):
            msg = (
                "the model outputs probabilities (every row in [0, 1] and summing to 1) into "
                "CrossEntropyLoss, which applies its own softmax: a double softmax"
            )
        elif kind == "nll" and o.get("rows_sum_to_one"):
            msg = (
                "the model outputs probabilities into NLLLoss, which expects log-probabilities "
                "(log_softmax, not softmax)"
            )
        elif kind == "nll" and o.get("log_probabilities") is False:
            msg = (
                f"the model outputs raw logits (range {rng}) into NLLLoss, which expects "
                "log-probabilities: the loss is unbounded below"
            )
        elif kind == "bce_with_logits" and o.get("in_unit_interval") and o.get("stress_checked"):
            msg = (
                f"the model's outputs stay in [0, 1] (range {rng}) even on large random "
                "inputs, a sigmoid, into BCEWithLogitsLoss, which applies its own sigmoid"
            )
        elif kind == "bce" and fatal.get("reason") == "logits_into_bce":
            msg = (
                f"the model outputs values outside [0, 1] (range {rng}) into BCELoss, which "
                "expects probabilities; training was skipped"
            )
        else:
            return []
        return [self.finding(msg, evidence)]
