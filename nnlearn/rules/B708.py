from __future__ import annotations

from dataclasses import dataclass

from nnlearn.rules.base import Cause, Rule, Severity


@dataclass
class B708(Rule):
    """The loss cannot be computed on the model's output and the targets.

    What it detects:
        The loss raising on one sample batch, before training, for a reason none of the
        specific checks (label range, shapes, probabilities, non-finite data) explains: a
        dtype the loss rejects, a wrong number of dimensions, a user loss that raises.

    Why it matters:
        Training would crash at its first step. nnlearn catches it before training, skips the
        run and reports the loss's own message here, instead of a traceback.

    Evidence:
        The exception type and message, the output and target shapes. No threshold.

    Example:
        `configs/examples/bug_loss_fails.yaml`: a classifier returning one value per sample,
        shape (N,), into CrossEntropyLoss, which reads it as one unbatched sample.

    Fix:
        Read the message: it names the argument the loss rejects. Check the output's shape
        and dtype against what the loss documents, and run `loss_fn(model(x), y)` on one
        batch before training.
    """

    code = "B708"
    name = "loss-fails"
    cause = Cause.IMPLEMENTATION_BUG
    severity = Severity.ERROR
    requires = ("facts:setup.fatal",)
    fixes = (
        "read the loss's message: it names what it rejects",
        "check output and target shapes and dtypes against the loss's documentation",
    )

    def evaluate(self, m):
        fatal = m.fact("setup.fatal") or {}
        if fatal.get("reason") != "loss_raised":
            return []
        out, target = m.fact("setup.output_shape"), m.fact("setup.target_shape")
        return [
            self.finding(
                f"the loss raised on a sample batch (output {out}, target {target}): "
                f"{fatal['message']}; training was skipped",
                {"error": fatal["message"], "output_shape": out, "target_shape": target},
            )
        ]
