from __future__ import annotations

from dataclasses import dataclass

from nnlearn.rules.base import Cause, Rule, Severity
from nnlearn.rules.curves import finite, smooth, window
from nnlearn.rules.fit import could_memorise_training_set, experiment, too_few_parameters
from nnlearn.rules.why import Why, explain


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
        The cause follows the other evidence (`nnlearn.rules.why`, upstream first): a data
        audit, lr_range's verdict on the rate (E902), update ratios (U201 far above, U202 far
        below 1e-3), the initialisation (I602, I601), dead units (A501), saturated
        activations (A502), vanishing gradients (G401), each with that rule's default
        thresholds and cause. With none of them, the experiments decide: a model that
        memorises one batch (overfit_batch at 10% of chance, or every batch label right), or
        halves the batch loss while it has the 2n + d parameters to memorise every training
        label (F802's bound; label_noise at seed 2: the batch loss falls 83%), but
        not the training set learns
        labels that carry little signal (`inconsistent_data`: a third of the labels flipped
        gives a 3% drop, bench/accuracy.py's label_noise); one with fewer parameters than it
        takes to memorise the batch (F802's bound) is too small (`low_capacity`: a linear
        model on XOR); otherwise lr_range's suggestion decides, never contradicting it (issue
        9): more than 3x below the rate in use makes the cause `lr_too_high`, more than 3x
        above it `lr_too_low`, within 3x of it the rate is not what keeps the loss flat
        (nothing reaches the weights: `implementation_bug`), and an unreliable sweep is not
        quoted.
        Severity error: a loss that does not fall at all is a run that learns nothing, and
        the gate fails on it (issue 12: SGD at 1e-6 for 500 steps passed it as a warning).
        Every healthy case of bench/accuracy.py drops by more than 30%.

    Example:
        `configs/quickstart.yaml` with `--set optimizer.lr=1e-7`.

    Fix:
        Raise the learning rate (the lr_range experiment suggests one), check that every
        parameter gets a gradient and is in the optimizer, check the labels.
    """

    code = "L102"
    name = "loss-not-decreasing"
    cause = Cause.LR_TOO_LOW
    severity = Severity.ERROR
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
        explained = explain(m) or fallback(m)
        if explained is None:
            cause, fixes, note = lr_advice(m, self.fixes)
            if note:
                message += f"; {note}"
            return [self.finding(message, evidence, cause=cause, fixes=fixes)]
        evidence["explained_by"] = explained.rule or explained.name
        return [
            self.finding(
                f"{message}; {explained.clause()}",
                evidence,
                cause=explained.cause,
                fixes=explained.fixes,
            )
        ]


def fallback(m) -> Why | None:
    """What the experiments say when no other rule explains a flat loss (see Evidence)."""

    batch = experiment(m, "overfit_batch") or {}
    ratio = batch.get("final_ratio")
    memorised = (ratio is not None and ratio <= 0.1) or (batch.get("accuracy") or 0) >= 0.99
    start, end = batch.get("initial_loss"), batch.get("final_loss")
    learns_batch = bool(start) and end is not None and 1 - end / start >= 0.5
    if memorised or (learns_batch and could_memorise_training_set(m)):
        return Why(
            "",
            "overfit_batch",
            Cause.INCONSISTENT_DATA,
            "it memorises one batch yet not the training set",
            [
                "check the labels: noisy or contradictory labels cap how far the loss falls",
                "measure the label noise (relabel a sample, compare annotators)",
            ],
        )
    if ratio is not None and too_few_parameters(m, batch):
        return Why(
            "",
            "overfit_batch",
            Cause.LOW_CAPACITY,
            "the model has too few parameters to memorise one batch",
            ["add capacity: hidden layers with a non-linearity (model.hidden)"],
        )
    return None


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
        Cause.IMPLEMENTATION_BUG,
        [
            "check that every trainable parameter is in the optimizer and gets a gradient",
            "check that the loss matches the model's output",
        ],
        f"the rate in use ({lr:.2g}) is close to lr_range's suggestion ({suggested:.2g}): "
        "the rate is not what keeps the loss flat",
    )
