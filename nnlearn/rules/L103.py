from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nnlearn.rules.base import Cause, Rule, Severity
from nnlearn.rules.curves import finite, smooth, window


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
        A training log (`nnlearn check`) may begin after the blow-up (Lightning at lr 50 logs
        4e6 at step 4): when its chance-level loss is known (`--classes`, a Hugging Face
        config.json) and the first logged losses exceed 1.5x chance, the run is judged
        against chance (measured: a tiny BERT at lr 1.0 starts at 9.8x chance and ends at
        2.4x; at lr 1e-3 it starts at chance).

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

    def evaluate(self, m):
        loss = finite(m.series("train_loss"))
        from_log = m.fact("run.source") == "log"
        # a log's row stands for its logging interval: 20 steps logged every 5 are 20 steps;
        # the start and end windows (5 rows each) must not overlap
        enough = len(loss) >= self.min_steps or (
            from_log and len(loss) >= 10 and int(loss.index[-1]) + 1 >= self.min_steps
        )
        if not enough:
            return self.no_evidence(f"{len(loss)} finite training losses, {self.min_steps} needed")
        s = smooth(loss)
        w = window(loss, 0.1, 5)
        start = float(loss.iloc[:w].mean())
        chance = m.fact("init.chance_loss")
        blown_at_first_log = (
            from_log and isinstance(chance, (int, float)) and start > self.end_factor * chance
        )
        if blown_at_first_log:  # the log begins after the blow-up: chance is where it started
            start = float(chance)
        final = float(s.iloc[-w:].mean())
        best_so_far = np.minimum.accumulate(s.to_numpy())
        ratio = s.to_numpy() / np.maximum(best_so_far, 1e-12)
        worst = int(np.argmax(ratio))
        evidence = {
            "start_loss": start,
            "best_loss": float(best_so_far[-1]),
            "final_loss": final,
            "worst_step": int(s.index[worst]),
            "worst_over_best": float(ratio[worst]),
        }
        # the raw tail: the smoothed one still carries the blow-up of the first rows
        tail = float(loss.iloc[-w:].mean())
        if blown_at_first_log and tail > self.end_factor * start:
            evidence.update(
                chance_loss=start, first_logged_loss=float(loss.iloc[0]), final_loss=tail
            )
            msg = (
                f"training loss was already {float(loss.iloc[0]):.4g} at the first logged step "
                f"{int(loss.index[0])}, {float(loss.iloc[0]) / start:.3g}x the chance-level loss "
                f"{start:.4g}, and ends at {tail:.4g} ({tail / start:.1f}x chance)"
            )
        elif final > self.end_factor * start and start > 0:
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
