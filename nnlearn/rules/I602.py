from __future__ import annotations

from dataclasses import dataclass

from nnlearn.rules.base import Cause, Rule, Severity
from nnlearn.rules.evidence import layer_medians


@dataclass
class I602(Rule):
    """Symmetric weights: every unit of a layer starts identical (constant or zero init).

    What it detects:
        A layer, other than the last, whose weight rows (with their biases) are all the same
        at init: the spread of the rows around their mean row is below `max_spread` of their
        norm. Zero weights count.

    Why it matters:
        Units that start identical compute the same output and receive the same gradient, so
        they stay identical forever: the layer behaves like a single unit whatever its width.
        Random initialisation exists to break this symmetry. The last layer is left out: a
        zero-initialised output layer is a common, harmless choice, as its rows get different
        gradients from different targets.

    Evidence:
        The layers and their row spread at init. Random initialisation gives about 1 (measured
        0.8 to 1.0 on the builtin models); identical rows give 0 up to rounding, hence 1e-6.

    Example:
        `configs/quickstart.yaml` with `--set model.init=zeros`.

    Fix:
        Initialise weights randomly (torch's default, He/Kaiming or Xavier); never with a
        constant.
    """

    code = "I602"
    name = "symmetric-weights"
    cause = Cause.POOR_INITIALIZATION
    severity = Severity.ERROR
    requires = ("init/weight_row_spread",)
    fixes = (
        "initialise weights randomly: torch's default, He/Kaiming or Xavier, never a constant",
    )

    max_spread: float = 1e-6

    def evaluate(self, m):
        spread = layer_medians(m, "weight_row_spread", "init")
        if len(spread) < 2:
            return []
        hidden = spread.iloc[:-1]
        flagged = hidden[hidden < self.max_spread]
        if flagged.empty:
            return []
        names = ", ".join(str(k) for k in flagged.index)
        return [
            self.finding(
                f"every unit of layer(s) {names} starts with the same weights: they compute "
                "the same thing, get the same gradient and can never differ",
                {"layers": {str(k): float(v) for k, v in flagged.items()}},
            )
        ]
