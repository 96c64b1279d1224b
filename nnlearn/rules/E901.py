from __future__ import annotations

from dataclasses import dataclass

from nnlearn.rules.base import Cause, Rule, Severity
from nnlearn.rules.fit import experiment, lr_outside_range, too_few_parameters
from nnlearn.rules.why import explain


@dataclass
class E901(Rule):
    """The model cannot drive the loss down even on one small batch.

    What it detects:
        The overfit_batch experiment (the configured optimizer and rate, one fixed batch of
        16 training samples, up to 300 steps) ending with its loss still above
        `max_ratio` of the batch's chance-level loss and less than `min_drop` below where it
        started: the loss barely moved.

    Why it matters:
        Any working model and training setup memorises a handful of samples (Karpathy, A
        Recipe for Training Neural Networks: "overfit a single batch"). When the loss on one
        repeated batch does not fall, no amount of data or steps will help: something
        between the loss and the weights is broken: parameters outside the optimizer or cut
        from the graph (`detach`, `no_grad`), an output that does not depend on the input,
        a loss that does not match the outputs, or a learning rate of the wrong scale.

    Evidence:
        The batch loss at the start and the end, its ratio to chance, the steps taken. Quiet
        when lr_range puts the configured rate far outside its good range (E902 explains
        the failure then). Thresholds: `min_drop` 20%, measured: every healthy example's
        batch loss falls by more than 98%, a linear model on the spiral's by 53%
        (F802's "far too small"), the quickstart at a rate of 1e-9 by 0%.
        Failing the batch is a symptom with many causes, so the cause comes from the rest of
        the evidence (`nnlearn.rules.why`): a data audit (targets of scale 1e10, NaN inputs),
        update ratios (U201/U202), symmetric or collapsing weights at init (I602/I601), dead
        or saturated units (A501/A502), vanishing or exploding gradients (G401/G402); then a
        model with fewer parameters than it takes to memorise the batch (Zhang et al. 2017's
        2n + d, F802's bound: a linear model on XOR has 6 for a bound of 34) is
        `low_capacity`. Measured on bench/accuracy.py's cases: dead biases, ten sigmoid
        layers, zero and tiny initialisations, SGD at 20 each get the cause of the rule that
        sees them. `implementation_bug` only when nothing else explains it (a frozen or
        detached body, a loss that does not fit the output). It stays an error: a setup that
        cannot memorise 16 samples learns nothing.

    Example:
        `configs/quickstart.yaml` with `--set optimizer.lr=1e-9 --set
        probe.experiments=[init_check,overfit_batch]` (the rate is the broken part; with
        lr_range in the set, E902 reports it instead).

    Fix:
        Check that every parameter is in the optimizer and receives a gradient, that the
        model's output depends on its input, that the loss matches the outputs (logits for
        CrossEntropyLoss), and try the lr_range suggestion.
    """

    code = "E901"
    name = "cannot-overfit-batch"
    cause = Cause.IMPLEMENTATION_BUG
    severity = Severity.ERROR
    requires = ("facts:experiments.overfit_batch",)
    fixes = (
        "check that every parameter is passed to the optimizer and receives a gradient (no detach/no_grad)",
        "check that the loss matches the output (raw logits into CrossEntropyLoss / BCEWithLogitsLoss)",
        "try the learning rate the lr_range experiment suggests",
    )

    max_ratio: float = 0.1
    min_drop: float = 0.2

    def evaluate(self, m):
        batch = experiment(m, "overfit_batch")
        if not batch or batch.get("final_ratio") is None or not batch.get("initial_loss"):
            return []
        if lr_outside_range(m):
            return []
        ratio = float(batch["final_ratio"])
        drop = 1 - batch["final_loss"] / batch["initial_loss"]
        if ratio <= self.max_ratio or drop >= self.min_drop or batch.get("steps", 0) < 50:
            return []
        cause, fixes, why = None, None, "a working setup memorises it"
        found = explain(m)
        if found is not None:
            cause, fixes, why = found.cause, found.fixes, found.clause()
        elif too_few_parameters(m, batch):
            cause = Cause.LOW_CAPACITY
            why = (
                f"the model's {m.fact('model.n_trainable')} parameters are too few to memorise "
                f"{batch.get('batch_size')} samples"
            )
            fixes = ["add capacity: hidden layers with a non-linearity (model.hidden)"]
        return [
            self.finding(
                f"on one batch of {batch.get('batch_size')} training samples, {batch['steps']} "
                f"steps took the loss only from {batch['initial_loss']:.4g} to "
                f"{batch['final_loss']:.4g} ({drop:.0%} lower, {ratio:.0%} of chance): {why}",
                {
                    "initial_loss": batch["initial_loss"],
                    "final_loss": batch["final_loss"],
                    "ratio_to_chance": ratio,
                    "drop": drop,
                    "steps": batch["steps"],
                    "lr": batch.get("lr"),
                    "explained_by": found.rule if found else None,
                },
                cause=cause,
                fixes=fixes,
            )
        ]
