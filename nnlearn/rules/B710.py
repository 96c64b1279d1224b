from __future__ import annotations

import math
from dataclasses import dataclass

from nnlearn.rules.B709 import frozen_share
from nnlearn.rules.base import Cause, Rule, Severity
from nnlearn.rules.curves import finite
from nnlearn.rules.E904 import warmup_helps
from nnlearn.rules.evidence import table
from nnlearn.rules.fit import experiment, reference_loss, too_few_parameters


def gain_below(reference: float, losses) -> float:
    """How far the tail of a loss curve got below `reference`, as a share of it."""
    s = finite(losses)
    if not len(s) or reference <= 0:
        return math.nan
    w = max(5, len(s) // 10)
    return (reference - float(s.iloc[-w:].mean())) / reference


@dataclass
class B710(Rule):
    """The model cannot see what the labels depend on: it fits neither one batch nor real labels.

    What it detects:
        Three measurements together: the overfit_batch experiment leaves the loss on one
        repeated batch of 16 samples above `max_batch_ratio` of its chance level; the main
        run gets its training loss less than `max_gain` below chance (and, when the
        shuffled_labels experiment ran, no further than it does on permuted labels); and yet the optimisation is healthy: the
        gradient norm is finite and non-zero and the typical update moves the largest-moving
        layer by at least `min_update_ratio` of its size (the learning rate is not the
        reason).

    Why it matters:
        A model that sees its input memorises 16 samples in a few steps, whatever the task.
        When it cannot, and real labels are learnt exactly as badly as random ones, the
        output does not depend on the part of the input the labels depend on: an RNN
        classifier reading `out[:, 0]` (the state after the first token, BOS) where the label
        depends on the sequence end, a pooled vector taken from padding, an attention mask
        that hides the content, the input tensor replaced by a constant. Raising the learning
        rate or the model size cannot help; the training curve of such a model looks exactly
        like one of a learning rate far too low.

    It is what is left when nothing else explains it: when another rule finds a classic
    cause (dead or saturated units, vanishing gradients, symmetric init, data problems, a
    learning rate outside its range) or the model has too few parameters to memorise the
    batch, B710 stays quiet (measured: on the accuracy bench's seed 0 it led seven classic
    faults — dead bias, ten sigmoid layers, zero init, tiny init, unscaled house prices, a
    linear model on XOR and on a checkerboard — before this condition; none after).

    Evidence:
        The overfit batch's final loss against chance, the gains of the real and the shuffled
        run below chance, the median gradient norm and update ratio. Measured:
        `configs/examples/seq_gru_readout_first.yaml` (a GRU reading `out[:, 0]`) ends its
        overfit batch at 100% of chance, both runs 0% below chance, update ratios ~1e-2; its
        twin reading `out[:, -1]` reaches 0% of chance on the batch and val accuracy 100%
        (both with a plain PyTorch loop too). `lr_too_low.yaml`'s updates are 1e-6 (quiet:
        U202 and E902 speak), `fit_no_signal.yaml` memorises its batch (quiet).

    Example:
        `configs/examples/seq_gru_readout_first.yaml`.

    Fix:
        Check what the head reads: the last valid time step (`out[:, -1]`, or `h_n[-1]`, or
        the state at each sequence's length with padding), the CLS token's position, the
        pooling mask; check the model's output changes when the input's end changes.
    """

    code = "B710"
    name = "output-blind-to-labels"
    cause = Cause.IMPLEMENTATION_BUG
    severity = Severity.ERROR
    requires = ("facts:experiments.overfit_batch", "train_loss")
    fixes = (
        "check what the head reads: the last valid time step (out[:, -1] or h_n[-1]; with "
        "padding, the state at each sequence's length), the CLS position, the pooling mask",
        "check the output changes when the input changes where the labels depend on it",
        "do not raise the learning rate or the model size: they cannot fix a blind readout",
    )

    max_batch_ratio: float = 0.5
    max_gain: float = 0.05
    min_update_ratio: float = 1e-4
    min_steps: int = 20

    def evaluate(self, m):
        batch = experiment(m, "overfit_batch")
        if not batch or batch.get("final_ratio") is None or batch.get("steps", 0) < 50:
            return []
        share = frozen_share(m)
        if share is not None and share >= 0.5:
            return []  # a frozen majority is B709's finding
        if warmup_helps(m):
            return []  # the same steps with a warm-up learn: E904's finding, not blindness
        batch_ratio = float(batch["final_ratio"])
        reference = reference_loss(m)
        real = finite(m.series("train_loss"))
        # the permuted-label run, when it ran: the real labels must do no better than it
        fake = finite(m.series("train_loss", run="shuffled_labels"))
        if batch_ratio <= self.max_batch_ratio or not reference or len(real) < self.min_steps:
            return []
        real_gain = gain_below(reference, real)
        fake_gain = gain_below(reference, fake) if len(fake) else None
        if not real_gain <= self.max_gain:
            return []
        if fake_gain is not None and not real_gain <= max(fake_gain, 0.0) + self.max_gain:
            return []
        grad = finite(m.series("grad_norm"))
        if not len(grad) or float(grad.median()) <= 0:
            return []  # no gradient at all: B703/G401 territory
        updates = table(m, "update_ratio")
        per_step = updates.max(axis=1, skipna=True).dropna() if not updates.empty else updates
        if not len(per_step) or float(per_step.median()) < self.min_update_ratio:
            return []  # updates too small: the learning rate may be the reason
        # blindness is what is left when nothing else explains a model that cannot learn: the
        # classic causes (dead or saturated units, vanishing gradients, symmetric init, data
        # problems, a learning rate outside its range, too few parameters) come first
        from nnlearn.rules.why import explain

        if explain(m, skip=(self.code,)) is not None or too_few_parameters(m, batch):
            return []
        update = float(per_step.median())
        return [
            self.finding(
                f"the model cannot fit one batch of {batch.get('batch_size')} samples (loss "
                f"{batch['final_loss']:.4g} after {batch['steps']} steps, {batch_ratio:.0%} of "
                f"chance) and its training loss ends {real_gain:.0%} below chance "
                f"({reference:.4g}"
                + (f"; on permuted labels {fake_gain:.0%}" if fake_gain is not None else "")
                + "), while its "
                f"gradients ({float(grad.median()):.3g}) and updates ({update:.2g} of the "
                "weights per step) are healthy: the output does not see what the labels "
                "depend on",
                {
                    "batch_ratio": batch_ratio,
                    "batch_final_loss": batch["final_loss"],
                    "real_gain": real_gain,
                    "shuffled_gain": fake_gain,
                    "chance_loss": reference,
                    "median_grad_norm": float(grad.median()),
                    "median_update_ratio": update,
                },
            )
        ]
