from __future__ import annotations

from dataclasses import dataclass

from nnlearn.rules.base import Cause, Rule, Severity


@dataclass
class B706(Rule):
    """The loss does not fit the targets (regression loss on classes, or the reverse).

    What it detects:
        A class-index loss (cross-entropy, NLL) given continuous, non-integer targets; a
        binary loss (BCE) given integer labels with more than two values; a regression loss
        (MSE, L1, Huber) given integer class labels (an integer dtype with at most
        `max_classes` distinct values).

    Why it matters:
        Cross-entropy on continuous targets truncates them to class indices (or crashes on
        negative ones); BCE on labels 0..4 treats 2, 3, 4 as impossible probabilities; MSE on
        class indices imposes an order and a distance between classes (class 2 "between"
        classes 1 and 3) that the data does not have, and the predictions are not classes.

    Evidence:
        The loss kind (read from the criterion object), the targets' dtype, whether they are
        integer-valued, and their distinct values. `max_classes` 20: integer targets with
        more distinct values are more likely counts than classes.

    Example:
        `configs/examples/bug_mse_on_labels.yaml`; `configs/examples/bug_ce_on_continuous.yaml`.

    Fix:
        Classes: CrossEntropyLoss on logits with one output per class (BCEWithLogitsLoss for
        two classes). Continuous targets: MSELoss / L1Loss / HuberLoss with one output.
    """

    code = "B706"
    name = "loss-target-mismatch"
    cause = Cause.IMPLEMENTATION_BUG
    severity = Severity.ERROR
    requires = ("facts:setup.loss_kind", "facts:data.labels.dtype")
    fixes = (
        "class labels: CrossEntropyLoss with one output per class (or BCEWithLogitsLoss for two)",
        "continuous targets: MSELoss / L1Loss / HuberLoss with one output per target",
    )

    max_classes: int = 20

    def evaluate(self, m):
        kind = m.fact("setup.loss_kind")
        y = m.fact("data.labels") or {}
        distinct = y.get("n_distinct") or 0
        evidence = {
            "loss": kind,
            **{k: y.get(k) for k in ("dtype", "integer_valued", "n_distinct", "min", "max")},
        }
        if kind in ("cross_entropy", "nll") and y.get("floating") and not y.get("integer_valued"):
            return [
                self.finding(
                    f"{kind} expects class indices, but the targets are continuous ({y['dtype']}, "
                    f"range {y['min']:.4g}..{y['max']:.4g}): they are truncated to integers",
                    evidence,
                )
            ]
        if kind in ("bce", "bce_with_logits") and y.get("integer_valued") and distinct > 2:
            return [
                self.finding(
                    f"{kind} expects 0/1 targets, but the labels take {distinct} integer "
                    f"values ({y['min']:g}..{y['max']:g}): a multi-class problem",
                    evidence,
                )
            ]
        if (
            kind in ("mse", "l1", "huber")
            and y.get("floating") is False
            and 0 < distinct <= self.max_classes
        ):
            return [
                self.finding(
                    f"a regression loss ({kind}) on integer class labels ({y['dtype']}, "
                    f"{distinct} values {y['min']:g}..{y['max']:g}): the classes get an order "
                    "and a distance they do not have",
                    evidence,
                    severity=Severity.WARNING,
                )
            ]
        return []
