from __future__ import annotations

from dataclasses import dataclass

from nnlearn.rules.base import Cause, Rule, Severity
from nnlearn.rules.fit import (
    could_memorise_training_set,
    experiment,
    last,
    lr_outside_range,
    reference_loss,
    relative_drop,
    too_few_parameters,
)


@dataclass
class F802(Rule):
    """The model cannot fit its training data: training loss stays high and has stopped falling.

    What it detects:
        The main run's training loss (`train_eval_loss`, or the batch loss) ending above
        `high_fraction` of the chance-level loss but at least `min_learnt` below it (a model
        that learns nothing at all is F804's finding, which tells no-signal data from a weak
        model), falling by less than `plateau_drop` over the last quarter of the run, while
        the overfit_batch experiment shows the setup works: its loss on one batch fell to
        `overfit_pass` of chance (the model memorises a batch but not the training set), or
        fell by more than `min_batch_drop` without reaching it while the model has fewer
        parameters than it takes to memorise 16 samples (it learns, but is far too small).
        A large model that fails the batch has an optimisation problem, not a capacity one,
        and is left to the gradient and activation rules.

    Why it matters:
        A model that cannot fit the data it trains on cannot do better on new data. When it
        can memorise a small batch, the pipeline is sound and the limit is capacity: too few
        units or layers, or inputs that do not carry the features it would need. More steps
        or a different learning rate will not fix it.

    Evidence:
        Final training loss against the chance-level loss, its drop over the last quarter,
        overfit_batch's final loss ratio. Thresholds measured: a linear model on the
        3-arm spiral ends at 0.67 of chance with a 1% drop in its last quarter, and reaches
        only 0.49 of chance on a 16-sample batch (from 1.10); healthy runs (quickstart,
        fit_healthy) end below 0.05 of chance and pass overfit_batch at 0.01.
        `high_fraction` 0.5: half the chance-level loss (on 3 balanced classes, an average
        probability of about 0.58 on the right class). `overfit_pass` 0.1 of chance follows
        Karpathy's "overfit one batch" check (the loss should get near zero). Quiet when
        the learning rate lies far outside lr_range's good range (E902 says so instead).
        "Too small to memorise the batch" is Zhang et al.'s bound (Understanding deep
        learning requires rethinking generalization, 2017, Theorem 1): 2n + d parameters
        fit any labels of n samples in d dimensions; the linear spiral model has 9 for a
        bound of 34, an 8-layer sigmoid MLP that fails the batch by slow optimisation 30k.
        Irreducible label noise looks the same to this rule, except in model size: a model
        with Zhang et al.'s 2n + d parameters for the whole training set could memorise every
        label, so when it memorises the batch but not the set, the labels are noisy
        (`inconsistent_data`, a warning: bench/accuracy.py's label_noise, a third of the
        labels flipped, 4.5k parameters for 1.5k rows), unless a training rule explains the loss
        (saturated tanh layers, bench/accuracy.py's saturated_tanh). The data audits tell them apart,
        and a data audit that explains the high loss (`nnlearn.rules.why`: raw feature scale,
        a 50:1 imbalance, conflicting labels) gives the cause. Severity error: a model that
        cannot fit its own training data does not learn the task (bench/accuracy.py: a 3-unit
        bottleneck on a 5-arm spiral, saturated tanh layers); a warning when contradictory
        labels (`inconsistent_data`) explain the loss, whose floor they set.

    Example:
        `configs/examples/fit_underfit.yaml`: a linear model on the spiral.

    Fix:
        Add capacity: wider and deeper hidden layers (model.hidden), a non-linear
        architecture; add input features that carry the signal; then train longer.
    """

    code = "F802"
    name = "underfitting"
    cause = Cause.LOW_CAPACITY
    severity = Severity.ERROR
    requires = ("train_loss", "facts:experiments.overfit_batch")
    fixes = (
        "add capacity: more units and layers (model.hidden: [128, 128]), a non-linear model",
        "give the model inputs that carry the signal (feature engineering, another architecture)",
        "then train longer: capacity first, steps second",
    )

    high_fraction: float = 0.5
    plateau_drop: float = 0.1
    overfit_pass: float = 0.1
    min_batch_drop: float = 0.3
    min_learnt: float = 0.1

    def evaluate(self, m):
        batch = experiment(m, "overfit_batch")
        reference = reference_loss(m)
        name = "train_eval_loss" if m.has("train_eval_loss") else "train_loss"
        final = last(m, name, n=2 if name == "train_eval_loss" else 20)
        if not batch or not reference or final is None or batch.get("final_ratio") is None:
            return []
        if m.fact("run.stopped") == "nonfinite" or lr_outside_range(m):
            return []
        drop = relative_drop(m.series(name).tolist())
        ratio = final / reference
        if ratio < self.high_fraction or drop is None or drop >= self.plateau_drop:
            return []
        if ratio > 1 - self.min_learnt:
            return []  # learnt nothing at all: no-signal or broken, F804's and E901's findings
        batch_ratio = float(batch["final_ratio"])
        initial = batch.get("initial_loss") or 0.0
        batch_drop = 1 - batch["final_loss"] / initial if initial > 0 else 0.0
        evidence = {
            "final_train_loss": final,
            "chance_loss": reference,
            "train_over_chance": ratio,
            "last_quarter_drop": drop,
            "overfit_batch_ratio": batch_ratio,
            "overfit_batch_drop": batch_drop,
        }
        head = (
            f"training loss stays at {ratio:.0%} of the chance-level loss ({final:.4g} vs "
            f"{reference:.4g}) and fell only {drop:.0%} over the last quarter of the run"
        )
        if batch_ratio <= self.overfit_pass:
            return [
                self._found(
                    m,
                    head + f"; yet it memorises one batch ({batch_ratio:.1%} of chance): "
                    "the setup works, the model is too small for the data",
                    evidence,
                    noise=could_memorise_training_set(m),
                )
            ]
        if batch_drop >= self.min_batch_drop and too_few_parameters(m, batch):
            return [
                self._found(
                    m,
                    head + f"; on one batch of {batch.get('batch_size')} samples its loss falls "
                    f"{batch_drop:.0%} but stops at {batch_ratio:.0%} of chance: it learns, "
                    "yet cannot even memorise a handful of samples: far too small",
                    evidence,
                )
            ]
        # the batch loss barely moved (a broken setup, E901's finding), or a model with the
        # parameters to memorise the batch did not: optimisation, not capacity (the
        # gradient and activation rules say why)
        return []

    def _found(self, m, message: str, evidence: dict, noise: bool = False):
        """The cause: a data audit's, else a training rule's (saturation, dead units, ...),
        else noisy labels when the model has the parameters to memorise every one of them,
        else capacity."""
        from nnlearn.rules.why import explain

        head = message.split("; ")[0]
        found = explain(m, training=False) or explain(m, data=False)
        if found is not None:
            evidence["explained_by"] = found.rule
            noisy = found.cause == Cause.INCONSISTENT_DATA
            return self.finding(
                head + f"; {found.clause()}",
                evidence,
                cause=found.cause,
                severity=Severity.WARNING if noisy else None,
                fixes=found.fixes,
            )
        if noise:
            return self.finding(
                head + f"; it memorises one batch and has the {m.fact('model.n_trainable'):,} "
                "parameters to memorise every training label, yet does not fit them: the "
                "labels are noisy or contradict each other",
                evidence,
                cause=Cause.INCONSISTENT_DATA,
                severity=Severity.WARNING,
                fixes=[
                    "check the labels: relabel a sample, compare annotators, look for flips",
                    "use a noise-robust loss (label smoothing) or clean the labels",
                ],
            )
        return self.finding(message, evidence)
