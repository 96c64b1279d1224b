from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nnlearn.rules.base import Cause, Rule, Severity
from nnlearn.rules.curves import finite, smooth, window
from nnlearn.rules.fit import reference_loss


@dataclass
class L103(Rule):
    """The training loss diverges: it ends well above where it started or its best value.

    What it detects:
        The smoothed training loss rising to `diverge_factor` times its best value so far
        and above where it started (torch-lr-finder stops its sweep at 5x the best loss), or
        ending `end_factor` times above where it started.

    Why it matters:
        A loss that climbs while training means each update overshoots: the learning rate is
        too high for the curvature of the loss, or the gradients explode. It ends in a NaN loss
        or in weights that no longer learn.

    Evidence:
        Initial, best and final smoothed loss, the step of the worst value.
        Thresholds: 5x the best (torch-lr-finder's `diverge_th`), 1.5x the start (measured: the
        quickstart with lr 50 ends more than 10x above its start, healthy runs end below).

        Tiny batches make single-step spikes that are not divergence (issue 15: at batch size
        1 the best single-sample loss is ~0 and one misclassified sample gives 8.3, "2.1e5x
        its best value"). So the curve is smoothed over at least `min_samples` (64) samples
        (an exponential average over 64 / batch-size steps, at least torch-lr-finder's 0.9),
        and the best value is floored at `best_floor` (1%) of the chance-level loss: a loss
        below it is fitted, and rising from it is not diverging.

    Example:
        `configs/quickstart.yaml` with `--set optimizer.lr=50`.

    Fix:
        Lower the learning rate (10x, or the lr_range suggestion), clip gradients, add warm-up.
    """

    code = "L103"
    name = "diverging-loss"
    cause = Cause.LR_TOO_HIGH
    severity = Severity.ERROR
    requires = ("train_loss",)
    fixes = (
        "lower the learning rate by 10x, or use the lr_range experiment's suggestion",
        "clip gradients (optimizer.grad_clip: 1.0)",
        "add a learning-rate warm-up over the first few hundred steps",
    )

    diverge_factor: float = 5.0
    end_factor: float = 1.5
    min_steps: int = 20
    min_samples: int = 64
    best_floor: float = 0.01

    def evaluate(self, m):
        loss = finite(m.series("train_loss"))
        if len(loss) < self.min_steps:
            return []
        batch = m.fact("run.batch_size")
        beta = 0.9
        if isinstance(batch, int) and 0 < batch < self.min_samples:
            beta = max(beta, 1 - batch / self.min_samples)
        s = smooth(loss, beta)
        w = window(loss, 0.1, 5)
        start = float(loss.iloc[:w].mean())
        final = float(s.iloc[-w:].mean())
        best_so_far = np.minimum.accumulate(s.to_numpy())
        reference = reference_loss(m)
        floor = self.best_floor * reference if reference else 1e-12
        ratio = s.to_numpy() / np.maximum(best_so_far, max(floor, 1e-12))
        worst = int(np.argmax(ratio))
        evidence = {
            "start_loss": start,
            "best_loss": float(best_so_far[-1]),
            "final_loss": final,
            "worst_step": int(s.index[worst]),
            "worst_over_best": float(ratio[worst]),
        }
        if final > self.end_factor * start and start > 0:
            msg = f"training loss rose from {start:.4g} to {final:.4g} ({final / start:.1f}x its start)"
        elif ratio[worst] > self.diverge_factor and s.iloc[worst] > start:
            # a spike above where training started, not noise on a loss near zero
            msg = (
                f"training loss jumped to {ratio[worst]:.3g}x its best value at step "
                f"{int(s.index[worst])}"
            )
        else:
            return []
        return [self.finding(msg, evidence)]
