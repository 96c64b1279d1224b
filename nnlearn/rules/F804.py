from __future__ import annotations

import math
from dataclasses import dataclass

from nnlearn.rules.base import Cause, Rule, Severity
from nnlearn.rules.fit import (
    experiment,
    last,
    lr_outside_range,
    reference_loss,
    too_few_parameters,
)
from nnlearn.rules.why import explain


@dataclass
class F804(Rule):
    """After training, the model is no better than a predictor that ignores its inputs.

    What it detects:
        The main run's final validation metric against the best input-independent predictor
        (the baseline experiment: the training class frequencies or majority class, the mean
        target): accuracy within `acc_margin` of the majority class's, or, without accuracy,
        a validation loss within `loss_margin` of the baseline's (of the chance-level loss
        when the baseline experiment did not run). On a small validation set the accuracy
        margin widens to `z` standard errors of the majority class's accuracy.

    Why it matters:
        Everything the model learnt is what the label frequencies alone give: its inputs
        made no difference. Either the inputs carry no usable signal for these labels, the
        model cannot extract it, or it learnt the training set without generalising.

    Evidence:
        Model and baseline validation accuracy or loss; training loss. A data audit that
        explains it comes first (`nnlearn.rules.why`: raw feature scale, validation inputs on
        another scale than training ones, a 50:1 imbalance whose majority the model predicts);
        then the training loss decides the
        cause: a training loss also at the baseline means nothing was learnt at all
        (`lr_too_low` / `lr_too_high` when lr_range puts the rate far outside its good
        range, `inconsistent_data` when overfit_batch memorises a batch all the same,
        `low_capacity` when the model has fewer parameters than it takes to memorise that batch
        (F802's bound: a linear model on XOR), `implementation_bug` when even the batch loss
        does not move, else `low_capacity`);
        a training loss below `learnt_fraction` of it means the model learnt its training
        samples only (`overfitting`, or `inconsistent_data` when the shuffled_labels
        experiment learns permuted labels as well).
        Margins: 2 accuracy points, or `z` = 2 standard errors of the baseline accuracy on
        the validation set when that is more (0.048 for 400 samples at 0.35), so sampling
        noise alone fires it about 2% of the time; 5% of the baseline loss for losses (a
        round margin, not yet measured on a regression example). Healthy runs beat the
        baseline by 60 points (quickstart: 1.00 vs 0.36); fit_no_signal ends at 0.365
        against 0.345.

        An accuracy past the margin does not clear the model when its training and validation
        losses both end at or above `chance_multiple` (1x) the loss of predicting without the
        inputs (the baseline's, else the chance level): bench/accuracy.py's raw_credit at seed
        1 ends at 4.3x (training) and 5.2x (validation) the chance-level loss with 0.558
        validation accuracy against 0.50 for the majority class (the plain loop: balanced
        accuracy 0.51); the 17 healthy cases at seeds 0-2 end their training loss at 0.71x the
        chance level at most (h_batch1_adam at seed 2; 0.39x at most without it), and a model
        that overfits ends far below it on its training data.

        Severity error: a model no better than ignoring its inputs has learnt nothing the
        task needs, and the gate fails on it (issue 12: SGD at 1e-6, raw-unit features, a
        linear model on a checkerboard all passed the gate as warnings). Healthy runs never
        come near it (bench/accuracy.py: 17 healthy cases x 3 seeds beat the baseline by at
        least 35 points).

    Example:
        `configs/examples/fit_no_signal.yaml`: blobs drowned in noise.

    Fix:
        Check that inputs and labels belong together (the join, the order, the label
        column), that the inputs carry information about the label, then the model.
    """

    code = "F804"
    name = "no-better-than-baseline"
    cause = Cause.LOW_CAPACITY
    severity = Severity.ERROR
    requires = ("val_loss",)
    fixes = (
        "check that inputs and labels belong together (row order, joins, the label column)",
        "check that the inputs carry information about the label (plot them by class)",
        "then give the model the capacity to use it (model.hidden)",
    )

    acc_margin: float = 0.02
    z: float = 2.0
    loss_margin: float = 0.05
    learnt_fraction: float = 0.5
    chance_multiple: float = 1.0
    min_evaluations: int = 2

    def evaluate(self, m):
        if len(m.series("val_loss")) < self.min_evaluations or m.fact("run.stopped") == "nonfinite":
            return []
        base = experiment(m, "baseline") or {}
        val_acc = last(m, "val_acc")
        base_acc = base.get("val_acc") if base else majority_share(m)
        if val_acc is not None and base_acc is not None:
            n_val = base.get("n_val") or m.fact("data.n_val") or 0
            margin = self.acc_margin
            if n_val > 0:  # a small validation set: the standard error decides
                margin = max(margin, self.z * math.sqrt(base_acc * (1 - base_acc) / n_val))
            what = (
                f"validation accuracy {val_acc:.3f} against {base_acc:.3f} for the majority class"
            )
            if val_acc > base_acc + margin:
                worse = self._worse_than_chance(m)
                if worse is None:
                    return []
                what = f"{what}, but {worse}"
        else:
            val_loss = last(m, "val_loss")
            base_loss = base.get("val_loss") or m.fact("init.chance_loss")
            if not base_loss:  # a log without class counts or chance level: nothing to compare
                return self.no_evidence("no baseline, class counts or chance-level loss")
            if val_loss is None or val_loss < base_loss * (1 - self.loss_margin):
                return []
            what = f"validation loss {val_loss:.4g} against {base_loss:.4g} for the baseline"
        reference = reference_loss(m)
        train = last(m, "train_eval_loss") or last(m, "train_loss", n=20)
        learnt = bool(reference and train is not None and train < self.learnt_fraction * reference)
        cause, why, by = self._cause(m, learnt)
        return [
            self.finding(
                f"after {m.fact('run.steps_done', '?')} steps the model is no better than an "
                f"input-independent predictor: {what}; {why}",
                {
                    "val_acc": val_acc,
                    "baseline_val_acc": base_acc,
                    "val_loss": last(m, "val_loss"),
                    "baseline_val_loss": base.get("val_loss"),
                    "train_loss": train,
                    "chance_loss": reference,
                    "explained_by": by,
                },
                cause=cause,
            )
        ]

    def _worse_than_chance(self, m) -> str | None:
        """Both losses, on the training data and the validation data, at or above the loss of
        knowing nothing about the inputs: a model whose accuracy edges past the majority
        class's but whose confidence is wrong on its own training data has learnt nothing
        (a model that overfits ends far below that loss on the data it trained on)."""
        reference = reference_loss(m)
        train = last(m, "train_eval_loss") or last(m, "train_loss", n=20)
        val = last(m, "val_loss")
        if not reference or train is None or val is None:
            return None
        if min(train, val) < self.chance_multiple * reference:
            return None
        return (
            f"its training loss {train:.4g} and validation loss {val:.4g} end above the "
            f"{reference:.4g} of predicting without the inputs"
        )

    def _cause(self, m, learnt: bool) -> tuple[Cause, str, str | None]:
        """The cause, why (a clause of the message), and the rule that explains it (None: the
        finding's own reasoning)."""
        data = explain(m, training=False)
        if data is not None:
            return data.cause, data.clause(), data.rule or data.name
        shuffled = experiment(m, "shuffled_labels")
        batch = experiment(m, "overfit_batch") or {}
        ratio, start = batch.get("final_ratio"), batch.get("initial_loss")
        memorises = ratio is not None and ratio <= 0.1
        stuck = ratio is not None and bool(start) and batch["final_loss"] > 0.8 * start
        lr = lr_outside_range(m)
        if learnt:
            if shuffled and _learnt_like_real(m, shuffled):
                return (
                    Cause.INCONSISTENT_DATA,
                    "it learns permuted labels as well as the real ones: the labels carry "
                    "little signal the inputs predict",
                    None,
                )
            return Cause.OVERFITTING, "its training loss fell: it memorised the training set", None
        if lr:
            return (
                Cause.LR_TOO_LOW if lr == "low" else Cause.LR_TOO_HIGH,
                f"its learning rate is far {'below' if lr == 'low' else 'above'} the range "
                "where the loss falls (E902)",
                "E902",
            )
        explained = explain(m, data=False)  # the optimisation evidence a flat loss has
        if explained is not None:
            return explained.cause, explained.clause(), explained.rule or explained.name
        if memorises:
            return (
                Cause.INCONSISTENT_DATA,
                "it memorises a small batch, yet learns nothing general from the full set: "
                "the inputs carry little signal about the labels",
                None,
            )

        if ratio is not None and too_few_parameters(m, batch):
            return (
                Cause.LOW_CAPACITY,
                "it has too few parameters to memorise even one batch (Zhang et al.'s 2n + d)",
                None,
            )
        if stuck:
            return (
                Cause.IMPLEMENTATION_BUG,
                "its loss does not move even on one repeated batch (E901): the setup is broken",
                "E901",
            )
        return Cause.LOW_CAPACITY, "its training loss stays at the baseline too", None


def majority_share(m) -> float | None:
    counts = m.fact("data.class_counts")
    if isinstance(counts, list) and counts and sum(counts) > 0:
        return max(counts) / sum(counts)
    return None


def _learnt_like_real(m, shuffled: dict) -> bool:
    real = last(m, "train_loss", n=20)
    fake = shuffled.get("final_loss")
    return real is not None and isinstance(fake, (int, float)) and fake <= 1.2 * real
