from __future__ import annotations

from dataclasses import dataclass

from nnlearn.rules.base import Cause, Rule, Severity


@dataclass
class D306(Rule):
    """Validation samples also appear in the training data (leakage).

    What it detects:
        Validation rows whose exact input is also a training row (up to 200,000 training rows
        hashed, 20,000 validation rows checked).

    Why it matters:
        A validation sample the network trained on measures memory, not generalisation:
        validation loss and accuracy look better than they are, and overfitting goes unseen.
        Typical causes: splitting after augmentation or oversampling, a dataset concatenated
        with itself, the same record exported twice.

    Evidence:
        Validation rows found in training and their share. Threshold `min_fraction` 1%:
        Barz and Denzler ("Do We Train on Test Data?", 2020) found 3.3% of CIFAR-10 and 10% of
        CIFAR-100 test images duplicated in training, enough to shift model rankings. When the
        inputs take few distinct values (fewer than `min_distinct` of the training rows are
        distinct) overlap is expected and the finding is info only.

    Example:
        `configs/examples/data_leaky.yaml`: 30% of the validation rows copied from training.

    Fix:
        Deduplicate before splitting, split before augmenting or oversampling, and split by
        the entity (patient, user, document) when one entity yields several rows.
    """

    code = "D306"
    name = "train-val-overlap"
    cause = Cause.INCONSISTENT_DATA
    severity = Severity.WARNING
    requires = ("facts:data.overlap.val_in_train",)
    fixes = (
        "deduplicate the data before splitting it",
        "split first, then augment or oversample the training part only",
        "split by entity (patient, user, session) when one entity gives several rows",
    )

    min_fraction: float = 0.01
    min_distinct: float = 0.5

    def evaluate(self, m):
        o = m.fact("data.overlap") or {}
        hits, rows = o.get("val_in_train") or 0, o.get("val_rows") or 0
        if not hits or not rows:
            return []
        fraction = hits / rows
        d = m.fact("data.duplicates") or {}
        distinct = (d.get("distinct_inputs") or 0) / d["rows"] if d.get("rows") else 1.0
        discrete = distinct < self.min_distinct
        severity = Severity.WARNING
        if fraction < self.min_fraction or discrete:
            severity = Severity.INFO
        msg = f"{hits:,} of {rows:,} validation rows ({fraction:.1%}) are also training rows"
        if discrete:
            msg += f" (expected: only {distinct:.0%} of the training inputs are distinct)"
        return [self.finding(msg, {**o, "distinct_share": distinct}, severity=severity)]
