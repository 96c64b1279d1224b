from __future__ import annotations

from dataclasses import dataclass

from nnlearn.rules.base import Cause, Rule, Severity


@dataclass
class D307(Rule):
    """Labels are outside what the model's output and the loss can represent.

    What it detects:
        For class-index losses (cross-entropy, NLL): labels at or above the number of outputs
        of the model, or negative (other than the loss's `ignore_index`), over both splits;
        labels 1..C against C outputs are named as such. For BCE losses: binary targets
        outside [0, 1], such as -1/+1 labels.

    Why it matters:
        Cross-entropy indexes the output with the label: label C of C outputs raises an
        IndexError on the CPU and a device-side assert on a GPU that kills the CUDA context.
        nnlearn checks the range before the loss ever runs, skips training and reports it.
        BCE targets outside [0, 1] do not raise, but the loss then has no minimum to learn.

    Evidence:
        Label range, number of outputs, the negative values found. No threshold: one label
        out of range is enough to crash the loss.

    Example:
        `configs/examples/data_one_based_labels.yaml`: labels 1..3 for a 3-output model.

    Fix:
        Map labels to 0..C-1 (subtract 1 from 1-based labels; sklearn LabelEncoder for
        arbitrary ones), size the output layer to the number of classes, and map -1/+1
        binary labels to 0/1.
    """

    code = "D307"
    name = "labels-out-of-range"
    cause = Cause.INVALID_DATA
    severity = Severity.ERROR
    requires = ("facts:setup.loss_kind",)
    fixes = (
        "map class labels to 0..C-1 (subtract 1 from 1-based labels; sklearn LabelEncoder)",
        "give the output layer one unit per class",
        "map -1/+1 binary labels to 0/1 for BCE losses",
    )

    def evaluate(self, m):
        kind = m.fact("setup.loss_kind")
        labels = m.fact("data.labels") or {}
        r = m.fact("setup.labels") or {}
        if kind in ("cross_entropy", "nll") and r.get("out_of_range"):
            if labels.get("floating") and not labels.get("integer_valued"):
                return []  # continuous targets into cross-entropy: B706's finding
            n = r["n_outputs"]
            msg = f"class labels span {r['min']}..{r['max']} but the model has {n} outputs"
            if r.get("one_based"):
                msg += f": the labels look 1-based (1..{n}), cross-entropy expects 0..{n - 1}"
            elif r.get("negative"):
                msg += f"; negative labels {r['negative']} are not class indices"
            else:
                msg += f" (valid labels 0..{n - 1})"
            return [self.finding(msg + "; training was skipped", dict(r))]
        if kind in ("bce", "bce_with_logits") and labels.get("outside_unit_interval"):
            if labels.get("integer_valued") and (labels.get("n_distinct") or 0) > 2:
                return []  # multi-class labels into a binary loss: B706's finding
            return [
                self.finding(
                    f"{labels['outside_unit_interval']:,} binary targets lie outside [0, 1] "
                    f"(range {labels['min']:g}..{labels['max']:g}); BCE needs targets in [0, 1]",
                    {k: labels.get(k) for k in ("min", "max", "outside_unit_interval")},
                )
            ]
        return []
