from __future__ import annotations

from dataclasses import dataclass

from nnlearn.rules.base import Cause, Rule, Severity


@dataclass
class B701(Rule):
    """The model has no trainable parameter.

    What it detects:
        A model whose parameters all have requires_grad=False (or that has none).

    Why it matters:
        Nothing can learn: the loss stays where it starts whatever the optimiser does. It is
        the end of a freezing loop that froze the head too, or of a model loaded for
        inference (torch.no_grad, requires_grad_(False)) and then trained. Optimisers refuse
        an empty parameter list, so training is skipped and this is reported instead.

    Evidence:
        Parameter count and frozen tensors, read from the built model. No threshold.

    Example:
        `configs/examples/bug_frozen.yaml`.

    Fix:
        Unfreeze at least the layers to train (`p.requires_grad_(True)`), typically the head
        of a frozen backbone; check the freezing loop's condition.
    """

    code = "B701"
    name = "no-trainable-parameters"
    cause = Cause.IMPLEMENTATION_BUG
    severity = Severity.ERROR
    requires = ("facts:setup.n_trainable",)
    fixes = (
        "unfreeze the layers you mean to train: p.requires_grad_(True) (at least the head)",
        "check the condition of the loop that freezes the backbone",
    )

    def evaluate(self, m):
        if m.fact("setup.n_trainable") != 0:
            return []
        n = m.fact("setup.n_parameters") or 0
        frozen = m.fact("setup.frozen") or []
        return [
            self.finding(
                f"nothing to train: all {n:,} parameters ({len(frozen)} tensors) have "
                "requires_grad=False; training was skipped",
                {"n_parameters": n, "frozen": frozen[:20]},
            )
        ]
