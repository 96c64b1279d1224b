from __future__ import annotations

from dataclasses import dataclass

from nnlearn.rules.base import Cause, Rule, Severity
from nnlearn.rules.curves import finite, smooth
from nnlearn.rules.fit import experiment, reference_loss


@dataclass
class E903(Rule):
    """Permuted labels are learnt about as fast as the real ones.

    What it detects:
        The shuffled_labels experiment (the same training with the labels permuted across
        the training set) driving its training loss below the chance-level loss by at least
        `similarity` of what the main run achieved over the same steps, the main run getting
        at least `min_drop` of the chance-level loss below it (a run that learns nothing is
        L102's and F804's finding). Measured below chance, not from the start: a loss falling
        from an over-confident init to chance learnt the label frequencies, nothing more.

    Why it matters:
        Real labels are learnt much faster than random ones when the inputs predict them
        (Zhang et al., Understanding deep learning requires rethinking generalization,
        2017; Arpit et al., A Closer Look at Memorization in Deep Networks, 2017). When the
        two curves match, either the labels carry little signal the inputs explain (noisy or
        misaligned labels), or the model is big enough to memorise either, and what it
        learns from the real labels may be memorised too.

    Evidence:
        Start and end of both curves (bias-corrected moving average, the last 10% of the
        common steps), the chance-level loss, the ratio of the gains below it. `similarity`
        0.8, measured: the quickstart's network gets the permuted-label loss 0% of the real
        gain below chance, fit_healthy 0%, fit_no_signal's (no signal to learn) 0%; 2x512
        units on 30 samples (fit_overfit) 100%.
        The cause follows the validation result: a model that also generalises no better
        than the baseline points at the labels (`inconsistent_data`), one that does points
        at memorisation (`overfitting`).

    Example:
        `configs/examples/fit_overfit.yaml`.

    Fix:
        Check labels against inputs (join, order, label noise); regularise or shrink a model
        that memorises; prefer more data.
    """

    code = "E903"
    name = "labels-learnt-like-noise"
    cause = Cause.OVERFITTING
    severity = Severity.WARNING
    requires = ("train_loss", "shuffled_labels/train_loss")
    fixes = (
        "check that labels belong to their inputs (row order, joins) and how noisy they are",
        "regularise (optimizer.weight_decay, model.dropout) or shrink a model that memorises",
        "get more data: memorising it becomes harder",
    )

    similarity: float = 0.8
    min_drop: float = 0.1

    def evaluate(self, m):
        if not experiment(m, "shuffled_labels"):
            return []
        real = finite(m.series("train_loss"))
        fake = finite(m.series("train_loss", run="shuffled_labels"))
        n = min(len(real), len(fake))
        reference = reference_loss(m)
        if n < 20 or not reference:
            return []
        real_start, real_end = _ends(real.iloc[:n])
        fake_start, fake_end = _ends(fake.iloc[:n])
        # what each run learnt about its labels: how far its loss got below the chance level
        # (a drop from an over-confident init down to chance is learning the prior, not labels)
        real_drop, fake_drop = reference - real_end, reference - fake_end
        if real_drop < self.min_drop * reference or fake_drop < self.similarity * real_drop:
            return []
        val_acc = m.series("val_acc")
        base_acc = m.fact("experiments.baseline.val_acc")
        generalises = not (
            len(val_acc) and base_acc is not None and float(val_acc.iloc[-1]) <= base_acc + 0.02
        )
        evidence = {
            "steps": n,
            "real_loss": [real_start, real_end],
            "shuffled_loss": [fake_start, fake_end],
            "chance_loss": reference,
            "gain_ratio": fake_drop / real_drop,
        }
        what = (
            f"over {n} steps the loss on permuted labels fell from {fake_start:.3g} to "
            f"{fake_end:.3g}, {fake_drop / real_drop:.0%} as far below chance ({reference:.3g}) "
            f"as on the real labels ({real_start:.3g} to {real_end:.3g})"
        )
        if generalises:
            return [self.finding(what + ": the model memorises whatever labels it gets", evidence)]
        return [
            self.finding(
                what + ", and validation is no better than the baseline: the labels carry "
                "little signal the inputs predict",
                evidence,
                cause=Cause.INCONSISTENT_DATA,
            )
        ]


def _ends(loss) -> tuple[float, float]:
    s = smooth(loss)
    w = max(5, len(s) // 10)
    return float(loss.iloc[:w].mean()), float(s.iloc[-w:].mean())
