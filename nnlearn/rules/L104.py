from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nnlearn.rules.base import Cause, Rule, Severity
from nnlearn.rules.curves import finite


@dataclass
class L104(Rule):
    """The training loss oscillates: it keeps climbing back up instead of settling.

    What it detects:
        On the training loss measured over the training set at every evaluation (no
        minibatch noise): at least `rise_share` (30%) of the curve's movement is upwards, and
        its rises add up to at least `rise_total` (25%) of the first evaluated loss.

    Why it matters:
        A full-dataset loss that goes up again and again means the updates overshoot the
        minimum and bounce across the valley: the learning rate is too high for the loss's
        curvature (or the momentum too strong). Training may still inch downwards but wastes
        most of its steps and ends far from where it could be.

    Evidence:
        The share of the movement that was upwards, the rises' total relative to the first
        loss, the largest rise and its step. Thresholds measured on the spirals MLP: the
        healthy quickstart's curve never rises (share 0); Adam at 0.5 gives a share of 38% and
        rises of 57% of its first loss, at 0.1 44% and 330%, at 50 45%. A random walk gives
        50%. Relating the rises to the first loss keeps the jitter of a converged run (rises
        of 1e-3 on a loss of 0.01) out.

        The rises must come with updates that are large for the weights: the run's median
        update ratio (per sampled step, the median over layers) at least `min_update_ratio`
        (5e-2), when update ratios were measured. An evaluated loss also rises for reasons
        other than the rate: a BatchNorm network's eval-mode loss follows its running
        statistics (bench/accuracy.py's healthy h_deep_sigmoid_bn: rises of 139-158% of its
        first loss, yet a median update ratio of 0.004 and 98% validation accuracy), a
        network on raw-unit inputs (raw_credit, 0.006) is the data's finding. Measured with
        oscillation from the rate: the quickstart at 0.1 (median ratio 0.27), 0.5 (0.40),
        lr_too_high.yaml (0.57); healthy runs 0.004-0.021 (h_spirals_deep, h_moons_adam),
        the quickstart at 0.03, which does not oscillate, 0.19.

    Example:
        `configs/examples/lr_too_high.yaml`.

    Fix:
        Lower the learning rate (or momentum), add a decaying schedule, increase the batch
        size to reduce the noise of each update.
    """

    code = "L104"
    name = "oscillating-loss"
    cause = Cause.LR_TOO_HIGH
    severity = Severity.WARNING
    requires = ("train_eval_loss",)
    fixes = (
        "lower the learning rate by 3-10x (optimizer.lr)",
        "add a decaying learning-rate schedule (cosine, step)",
        "lower the momentum, or increase the batch size",
    )

    rise_share: float = 0.3
    rise_total: float = 0.25
    min_points: int = 6
    min_update_ratio: float = 5e-2

    def evaluate(self, m):
        loss = finite(m.series("train_eval_loss"))
        if len(loss) < self.min_points:
            return []
        values = loss.to_numpy(float)
        start = abs(float(values[0]))
        moves = np.diff(values)
        moved = float(np.abs(moves).sum())
        if moved <= 0 or start <= 0:
            return []
        rises = moves[moves > 0]
        share = float(rises.sum() / moved)
        total = float(rises.sum() / start)
        if share < self.rise_share or total < self.rise_total:
            return []
        updates = _median_update_ratio(m)
        if updates is not None and updates < self.min_update_ratio:
            return []  # rises without large updates: not the learning rate
        largest = int(np.argmax(moves))
        evidence = {
            "upward_share": share,
            "rises_over_first_loss": total,
            "rises": int(len(rises)),
            "largest_rise": float(moves[largest]),
            "largest_rise_step": int(loss.index[largest + 1]),
            "median_update_ratio": updates,
        }
        return [
            self.finding(
                f"the training-set loss went back up {len(rises)} times in {len(values)} "
                f"evaluations ({share:.0%} of its movement was upwards, rises adding up to "
                f"{total:.0%} of the first loss {start:.3g})",
                evidence,
            )
        ]


def _median_update_ratio(m) -> float | None:
    """The main run's median over sampled steps of the median update ratio across layers."""
    from nnlearn.rules.evidence import table

    t = table(m, "update_ratio")
    if t.empty:
        return None
    per_step = t.median(axis=1, skipna=True).dropna()
    return float(per_step.median()) if len(per_step) else None
