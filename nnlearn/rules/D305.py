from __future__ import annotations

from dataclasses import dataclass

from nnlearn.rules.base import Cause, Rule, Severity


@dataclass
class D305(Rule):
    """Identical inputs carry different labels.

    What it detects:
        Training rows whose exact input (every value identical) also occurs with another class
        label, among the audited rows (all of in-memory data up to 20,000 rows, a seeded
        sample beyond).

    Why it matters:
        No model can fit both labels of one input: contradictory labels set a floor under
        the training loss and teach the network noise. They come from merged annotation
        sources, label errors, or features too coarse to tell the classes apart.

    Evidence:
        Conflicting rows and distinct conflicting inputs, with one example. Exact conflicts
        are a lower bound on label noise; Northcutt et al. ("Pervasive Label Errors in Test
        Sets", 2021) found 3.3% errors on average across ten benchmark test sets. Warning
        from `min_fraction` 1% of the rows, info below.

    Example:
        `configs/examples/data_conflicting.yaml`: 20% of the rows repeated with another label.

    Fix:
        Deduplicate, resolve the conflicting labels (majority vote, re-annotation), or drop
        them; if the features genuinely cannot separate the classes, add features.
    """

    code = "D305"
    name = "conflicting-labels"
    cause = Cause.INCONSISTENT_DATA
    severity = Severity.WARNING
    requires = ("facts:data.duplicates.conflicting_rows",)
    fixes = (
        "find the duplicated inputs (the example rows) and resolve their labels, or drop them",
        "check how the data was merged: the same sample annotated twice, differently",
        "if the features cannot tell the classes apart, add features",
    )

    min_fraction: float = 0.01

    def evaluate(self, m):
        if m.fact("data.task") == "regression":
            return []  # twins with different continuous targets are noise, not contradictions
        d = m.fact("data.duplicates") or {}
        rows, bad = d.get("rows") or 0, d.get("conflicting_rows") or 0
        if not rows or not bad:
            return []
        fraction = bad / rows
        example = d.get("example") or {}
        return [
            self.finding(
                f"{bad:,} of {rows:,} training rows ({fraction:.1%}) share their exact input "
                f"with a row of another label ({d.get('conflicting_inputs', 0):,} distinct "
                f"inputs; e.g. rows {example.get('rows')} labelled {example.get('labels')})",
                {**d, "fraction": fraction},
                severity=Severity.WARNING if fraction >= self.min_fraction else Severity.INFO,
            )
        ]
