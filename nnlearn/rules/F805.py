from __future__ import annotations

from dataclasses import dataclass

from nnlearn.rules.base import Cause, Rule, Severity
from nnlearn.rules.fit import last, reference_loss


@dataclass
class F805(Rule):
    """Too good to be true: the model reaches a loss its data cannot allow, through a copy of
    the target in its inputs.

    What it detects:
        The data audit finds the target inside the inputs, and the model uses it: its
        validation loss ends below `max_fraction` of the chance-level loss (or its validation
        accuracy at `min_accuracy` or more). The audit's two cases:

        - sequence targets equal to the inputs at the same positions (at least 90% of them):
          a language model trained without the next-token shift learns to copy its input;
        - one input position whose value alone determines the class label (the label is the
          same for 99% or more of each value's occurrences) and that takes at most one
          common value per class: the label's own token leaked into the inputs (built from
          a record that still held it). A position with many values the label is a function
          of is a learnable task, not a leak (a tiny BERT whose label is "first token in the
          upper half of the vocabulary" is healthy, 42 values at that position).

    Why it matters:
        Such a model is perfect on its probe and useless on real inputs, and nothing in the
        curves looks wrong: the loss falls fast, validation agrees (it has the copy too).
        Noisy labels cannot be predicted better than their noise allows, and next tokens
        cannot be predicted better than the text's entropy; a loss near zero is the sign.
        The shuffled-labels run cannot catch it (a permuted target is no longer a copy).

    Evidence:
        The audit's finding (share of copied positions, or the leaking position and its
        purity) and the main run's final validation loss against chance. Measured (plain
        PyTorch loop and probe): `configs/examples/seq_causal_lm_no_shift.yaml` reaches a
        loss of 0.001 where the corpus's entropy floor is 0.84 nats (chance 3.0);
        `seq_gru_label_leak.yaml` 100% validation accuracy on labels with 25% noise (the
        honest model tops out at 64%). Their twins stay at or above the floor. `max_fraction`
        0.1 and `min_accuracy` 0.99 sit between.
        The cause follows the evidence: a copied sequence is an `implementation_bug` (the
        shift is missing), a leaked label column `inconsistent_data`.

    Example:
        `configs/examples/seq_causal_lm_no_shift.yaml`, `configs/examples/seq_gru_label_leak.yaml`.

    Fix:
        For a language model, shift: inputs `ids[:, :-1]`, targets `ids[:, 1:]` (a Hugging Face
        `*LMHeadModel` shifts `labels` itself: pass labels = input_ids and no shift of your
        own). For a leaked label, remove the input field that encodes it and check the
        pipeline that builds the inputs.
    """

    code = "F805"
    name = "too-good-to-be-true"
    cause = Cause.IMPLEMENTATION_BUG
    severity = Severity.ERROR
    requires = ("facts:data.leak", "val_loss")
    fixes = (
        "language model: shift the targets by one (inputs ids[:, :-1], targets ids[:, 1:]); "
        "a Hugging Face *LMHeadModel shifts labels itself",
        "classifier: remove the input field or token that encodes the label, and check how "
        "the inputs are built",
        "judge the model on data built by a separate pipeline",
    )

    max_fraction: float = 0.1
    min_accuracy: float = 0.99

    def evaluate(self, m):
        leak = m.fact("data.leak") or {}
        reference = reference_loss(m)
        val_loss = last(m, "val_loss")
        val_acc = last(m, "val_acc")
        if not leak or not reference or val_loss is None:
            return []
        low = val_loss <= self.max_fraction * reference
        perfect = val_acc is not None and val_acc >= self.min_accuracy
        if not (low or perfect):
            return []
        evidence = {
            "leak": leak,
            "val_loss": val_loss,
            "chance_loss": reference,
            "val_acc": val_acc,
        }
        result = (
            f"validation loss {val_loss:.3g} ({val_loss / reference:.1%} of chance "
            f"{reference:.3g})" + (f", accuracy {val_acc:.1%}" if val_acc is not None else "")
        )
        if leak.get("kind") == "copy":
            return [
                self.finding(
                    f"{result}: {leak['share_equal']:.0%} of the targets equal the input at "
                    "the same position, so the model copies its input: the next-token shift "
                    "is missing",
                    evidence,
                )
            ]
        return [
            self.finding(
                f"{result}: input position {leak.get('position')} alone determines the label "
                f"({leak.get('purity', 0):.1%} of {leak.get('rows', 0):,} rows): the label "
                "leaked into the inputs",
                evidence,
                cause=Cause.INCONSISTENT_DATA,
                fixes=self.fixes[1:],
            )
        ]
