from __future__ import annotations

from dataclasses import dataclass

from nnlearn.rules.base import Cause, Rule, Severity
from nnlearn.rules.evidence import gradient_flow, learnt_most


@dataclass
class G401(Rule):
    """Gradients vanish on their way back: the first layer gets almost none of the last's.

    What it detects:
        The ratio of the first layer's gradient norm to the last layer's, on the typical
        (median) sampled step of the main run, is below `ratio`.

    Why it matters:
        Each layer multiplies the gradient flowing back by its weights and by the derivative
        of its activation; sigmoid's is at most 1/4, a collapsing signal's is small. Over
        many layers the product goes to zero and the layers near the input stop learning:
        the loss plateaus while the last layers fit what they can on their own.

    Evidence:
        The first and last layer's names and gradient norms and their ratio (median over the
        sampled steps), and the ratio at init. Threshold 1e-3: AUTOTRAINER's (Zhang et al.,
        ICSE 2021) vanishing-gradient condition. Measured: ten sigmoid layers give 1e-9, the
        quickstart 0.2 to 2. A first layer with exactly zero gradient is no gradient at all
        (dead units, a detached layer), not a vanishing one, and is left to those rules.
        A run whose training loss fell to `learnt_fraction` (20%) of its first steps' loss or
        below has learnt through its first layers: the small ratio is convergence, not a
        failure. Measured (seeds 0 and 1): the healthy Transformer encoder of
        `seq_transformer_warmup.yaml` gives 3.2e-4 at seed 1 with 3e-6 of its initial loss
        left, the tiny BERT of `seq_hf_bert_healthy.yaml` 8.2e-4 with 0.7% left; the
        ten-sigmoid-layer example keeps 98-99% of its initial loss (ratio 1e-9).

    Example:
        `configs/examples/vanishing_gradients.yaml`.

    Fix:
        Use ReLU/GELU instead of sigmoid/tanh in hidden layers, He/Kaiming initialisation,
        normalisation layers (BatchNorm/LayerNorm), residual connections, fewer layers.
    """

    code = "G401"
    name = "vanishing-gradients"
    cause = Cause.VANISHING_GRADIENTS
    severity = Severity.ERROR
    requires = ("layer_grad_norm",)
    fixes = (
        "use ReLU/GELU instead of sigmoid/tanh in hidden layers",
        "initialise with He/Kaiming (ReLU) or Xavier (tanh) scaling",
        "add normalisation layers (BatchNorm/LayerNorm) or residual connections",
        "use fewer layers",
    )

    ratio: float = 1e-3
    min_samples: int = 3
    learnt_fraction: float = 0.2

    def evaluate(self, m):
        flow = gradient_flow(m)
        if len(flow) < self.min_samples:
            return []
        typical = float(flow["ratio"].median())
        if typical >= self.ratio:
            return []
        if learnt_most(m, self.learnt_fraction):
            return []
        first, last = flow.attrs["layers"]
        at_init = gradient_flow(m, "init")
        evidence = {
            "first_layer": first,
            "last_layer": last,
            "ratio": typical,
            "first_grad_norm": float(flow["first"].median()),
            "last_grad_norm": float(flow["last"].median()),
        }
        if not at_init.empty:
            evidence["ratio_at_init"] = float(at_init["ratio"].iloc[0])
        return [
            self.finding(
                f"gradient norm of layer {first} is {evidence['first_grad_norm']:.2g}, "
                f"{typical:.2g} of the last layer {last}'s ({evidence['last_grad_norm']:.2g}; "
                f"median over {len(flow)} sampled steps)",
                evidence,
            )
        ]
