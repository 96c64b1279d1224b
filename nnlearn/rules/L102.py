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
        them, a learning rate too low, unless lr_range says otherwise: its suggestion more
        than 3x below the rate in use makes the cause `lr_too_high` (lower the rate), within 3x
        of it no advice to move the rate is given, and an unreliable sweep is not quoted.

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
            cause, fixes, note = lr_advice(m, self.fixes)
            if note:
                message += f"; {note}"
            return [self.finding(message, evidence, cause=cause, fixes=fixes)]
        evidence["explained_by"] = explained.rule
        return [
            self.finding(
                f"{message}; {explained.rule} ({explained.name}) explains it",
                evidence,
                cause=explained.cause,
                fixes=explained.fixes,
            )
        ]


# the rate in use and lr_range's suggestion within this factor of each other: the rate is not
# what keeps the loss flat, so no advice to move it
LR_NEAR = 3.0


def lr_advice(m, default_fixes: tuple[str, ...]):
    """(cause, fixes, note) that never contradict lr_range (issue 9: "raise the learning rate"
    beside a suggestion 5,000x lower): raise it only when the suggestion is higher, lower it
    when the suggestion is far lower, neither when they agree or the sweep was unreliable."""
    from nnlearn.rules.base import Cause
    from nnlearn.rules.fit import experiment

    sweep = experiment(m, "lr_range")
    lr = m.fact("run.lr")
    others = list(default_fixes[1:])
    if not sweep or not isinstance(lr, (int, float)) or lr <= 0:
        return None, None, None
    suggested = sweep.get("suggested_lr")
    if not suggested:
        reason = sweep.get("unreliable") or "no suggestion"
        return (
            None,
            ["raise the learning rate 3-10x and check the loss moves (optimizer.lr)", *others],
            f"lr_range gives no rate to stand by ({reason})",
        )
    if suggested > lr * LR_NEAR:
        return (
            None,
            [f"raise the learning rate to about {suggested:.2g}, lr_range's suggestion", *others],
            None,
        )
    if suggested < lr / LR_NEAR:
        return (
            Cause.LR_TOO_HIGH,
            [f"lower the learning rate to about {suggested:.2g}, lr_range's suggestion", *others],
            f"lr_range suggests {suggested:.2g}, {lr / suggested:.0f}x below the rate in use",
        )
    return (
        None,
        others,
        f"the rate in use ({lr:.2g}) is close to lr_range's suggestion ({suggested:.2g})",
    )


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
