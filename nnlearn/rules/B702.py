from __future__ import annotations

from dataclasses import dataclass

from nnlearn.rules.audits import names
from nnlearn.rules.base import Cause, Rule, Severity


@dataclass
class B702(Rule):
    """Trainable parameters receive no gradient.

    What it detects:
        Parameters with requires_grad=True whose `.grad` is still None after a backward pass
        of the loss: at init (the init check) or on the last step of the main run.

    Why it matters:
        A parameter without a gradient is not on the path from the input to the loss: an
        unused layer, a `.detach()` or `.item()` or `.numpy()` in the forward pass, a branch
        computed under torch.no_grad. That part of the model never learns, and the model
        being trained is not the one that was designed.

    Evidence:
        The parameter names and their share of the trainable parameters. No threshold: a
        None gradient is unambiguous (a zero gradient is not, and is left to the gradient
        rules).

    Example:
        `configs/examples/bug_detached.yaml`: the encoder's output is detached.

    Fix:
        Remove the `.detach()` / `.item()` / `torch.no_grad()` from the forward path, call
        the layer you defined, or freeze it explicitly (requires_grad_(False)) if it is
        meant to stay fixed.
    """

    code = "B702"
    name = "parameters-without-gradient"
    cause = Cause.IMPLEMENTATION_BUG
    severity = Severity.ERROR
    requires = ()
    fixes = (
        "remove .detach() / .item() / .numpy() / torch.no_grad() from the forward path",
        "call the layers you define in forward(), or delete them",
        "freeze parameters that are meant to stay fixed: p.requires_grad_(False)",
    )

    def evaluate(self, m):
        at_init = m.fact("init.params_without_grad")
        missing = at_init if at_init is not None else m.fact("setup.updates.no_grad")
        if missing is None:  # a training log: no gradients per parameter were measured
            return self.no_evidence("no per-parameter gradients (init check or setup check)")
        if not missing:
            return []
        when = "at init" if at_init is not None else "on the last training step"
        return [
            self.finding(
                f"{len(missing)} trainable parameter tensors get no gradient from the loss "
                f"{when}: {names(missing)}",
                {"parameters": missing, "when": when},
            )
        ]
