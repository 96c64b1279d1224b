from __future__ import annotations

from dataclasses import dataclass

from nnlearn.rules.base import Cause, Finding, Rule, Severity
from nnlearn.rules.curves import finite, smooth, window


@dataclass
class L102(Rule):
    """The training loss is not decreasing.

    What it detects:
        The smoothed training loss over the last part of the main run is not lower than over
        the first part by at least `min_relative_drop`.

    Why it matters:
        A network that learns drives its training loss down in the first few hundred steps;
        a flat curve means the updates are too small (learning rate far too low), nothing
        reaches the weights (a bug), or the labels carry no signal.

    Evidence:
        Mean loss of the first and last `window_fraction` of the run, the relative drop.
        Threshold 5%: measured on the examples, a learning rate of 1e-6 (Adam, spirals, 500
        steps) gives a drop under 1%, healthy runs (quickstart, moons, linear) drop over 30%.
        The cause follows the other evidence, in this order: update ratios far below 1e-3
        (U202: the learning rate), dead units (A501), saturated activations (A502), vanishing
        gradients (G401), each with that rule's default thresholds and cause; with none of
        them, a learning rate too low.

    Example:
        `configs/quickstart.yaml` with `--set optimizer.lr=1e-7`.

    Fix:
        Raise the learning rate (the lr_range experiment suggests one), check that every
        parameter gets a gradient and is in the optimizer, check the labels.
    """

    code = "L102"
    name = "loss-not-decreasing"
    cause = Cause.LR_TOO_LOW
    severity = Severity.WARNING
    requires = ("train_loss",)
    fixes = (
        "raise the learning rate (try the lr_range experiment's suggestion)",
        "check that every trainable parameter is passed to the optimizer and receives a gradient",
        "check that labels match inputs (the shuffled_labels experiment compares)",
    )

    min_relative_drop: float = 0.05
    window_fraction: float = 0.1
    min_steps: int = 50

    def evaluate(self, m):
        loss = finite(m.series("train_loss"))
        if len(loss) < self.min_steps or m.fact("run.stopped") == "nonfinite":
            return []
        w = window(loss, self.window_fraction, 5)
        first = float(loss.iloc[:w].mean())
        last = float(smooth(loss).iloc[-w:].mean())
        if first <= 0:
            return []
        drop = (first - last) / abs(first)
        if drop >= self.min_relative_drop or last > first * 1.5:
            return []  # learning, or diverging (L103's finding, not this one's)
        evidence = {
            "first_loss": first,
            "last_loss": last,
            "relative_drop": drop,
            "steps": len(loss),
        }
        message = (
            f"training loss went from {first:.4g} to {last:.4g} over {len(loss)} steps "
            f"({drop:.1%} lower; a learning run drops by more than {self.min_relative_drop:.0%})"
        )
        explained = explanation(m)
        if explained is None:
            return [self.finding(message, evidence)]
        evidence["explained_by"] = explained.rule
        return [
            self.finding(
                f"{message}; {explained.rule} ({explained.name}) explains it",
                evidence,
                cause=explained.cause,
                fixes=explained.fixes,
            )
        ]


def explanation(m) -> Finding | None:
    """The first finding of the rules that explain a flat loss, with their default thresholds."""
    from nnlearn.rules import registry

    rules = registry()
    for code in ("U202", "A501", "A502", "G401"):
        cls = rules.get(code)
        if cls is None or not all(m.has(r) for r in cls.requires):
            continue
        findings = cls().evaluate(m)
        if findings:
            return findings[0]
    return None
