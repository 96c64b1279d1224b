from __future__ import annotations

from dataclasses import dataclass

from nnlearn.rules.base import Cause, Rule, Severity


@dataclass
class D313(Rule):
    """Every training label is the same class: there is nothing to learn.

    What it detects:
        A classification (or binary) training set whose class counts have a single non-empty
        class, with at least `min_samples` samples audited. The validation labels are shown
        beside it: when they hold other classes, the training labels were broken on their way
        in.

    Why it matters:
        With one class the loss is minimised by predicting it for every input, which the
        output bias learns in a few steps: the loss falls to 0, the run looks perfect, and
        the model has learnt nothing. It is what a label column divided by 255 with the
        pixels (every label floors to 0), a filter that kept one class, or a join on the
        wrong key produces (issue 15). Experiments cannot see it either: permuting labels
        that are all equal changes nothing.

    Evidence:
        The training class counts, the class, the validation class counts. No threshold: one
        class is a degenerate target whatever the data size; `min_samples` 2 only keeps a
        single audited row from counting as a dataset.

    Example:
        `configs/examples/data_single_class.yaml`: digits whose labels were divided by 255.

    Fix:
        Check the label column before training (`y.unique()`), normalise the inputs only,
        never the labels, and check the filter or join that built the training set.
    """

    code = "D313"
    name = "single-class-target"
    cause = Cause.INVALID_DATA
    severity = Severity.ERROR
    requires = ("facts:data.class_counts",)
    fixes = (
        "check the training labels (`y.unique()`): normalise the inputs, never the label column",
        "check the filter, join or label mapping that built the training set",
    )

    min_samples: int = 2

    def evaluate(self, m):
        counts = m.fact("data.class_counts") or []
        present = [i for i, c in enumerate(counts) if c > 0]
        if len(present) != 1 or sum(counts) < self.min_samples:
            return []
        only = present[0]
        val = m.fact("data.val_class_counts") or []
        val_present = [i for i, c in enumerate(val) if c > 0]
        names = m.fact("data.class_names") or []
        label = repr(names[only]) if only < len(names) else str(only)
        where = (
            f"; validation holds {len(val_present)} classes, so the training labels were "
            "broken on their way in"
            if len(val_present) > 1
            else ""
        )
        return [
            self.finding(
                f"all {sum(counts):,} audited training labels are class {label}: a model "
                f"learns nothing from them but to predict {label}{where}",
                {"class_counts": counts, "class": only, "val_class_counts": val},
            )
        ]
