from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nnlearn.rules.base import Cause, Rule, Severity
from nnlearn.rules.evidence import largest_update


@dataclass
class L101(Rule):
    """The training loss became NaN or Inf.

    What it detects:
        The first main-run step whose training loss is not a finite number. The probe stops
        the main run there (a NaN loss is a finding, not a crash).

    Why it matters:
        Once the loss is NaN every gradient is NaN and the weights are destroyed; nothing after
        that step learns. It is the end state of divergence (learning rate too high, exploding
        gradients), of NaN/Inf in the data, or of a numerically unsafe loss (log of 0).

    Evidence:
        `step` of the first non-finite loss, its value, the last finite loss before it. The
        cause follows the evidence before it: non-finite from the first step (before any
        update) points at the data when the audit found NaN/Inf in it (invalid_data), else at
        the initialisation; after an update that moved the
        weights by `burst_ratio` (1x) their own size or more it points at the learning rate;
        after the gradient norm grew `grad_growth` (1e3x) over its first value, at exploding
        gradients; otherwise at the learning rate. `burst_ratio` is U201's threshold;
        `grad_growth` is measured: the quickstart and its SGD and sigmoid variants stay within
        3x of their first gradient norm, Adam at 0.5 reaches 130x, at 50 1e6x.

    Example:
        `configs/quickstart.yaml` with `--set optimizer.lr=50`.

    Fix:
        Lower the learning rate (10x), add gradient clipping, check the data for NaN/Inf, use
        losses that take logits (BCEWithLogitsLoss, CrossEntropyLoss) instead of log(softmax).
    """

    code = "L101"
    name = "non-finite-loss"
    cause = Cause.LR_TOO_HIGH
    severity = Severity.ERROR
    requires = ("train_loss",)
    fixes = (
        "lower the learning rate by 10x (optimizer.lr) and probe again",
        "clip gradients (optimizer.grad_clip: 1.0)",
        "check inputs and targets for NaN/Inf (the data audit lists them)",
        "feed logits to CrossEntropyLoss / BCEWithLogitsLoss instead of taking log() of probabilities",
    )

    burst_ratio: float = 1.0
    grad_growth: float = 1e3

    def evaluate(self, m):
        loss = m.series("train_loss")
        values = loss.to_numpy(float)
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size == 0:
            return []
        i = int(bad[0])
        step = int(loss.index[i])
        last = float(values[i - 1]) if i > 0 else None
        init_loss = m.fact("init.loss")
        at_init = step == 0 or (init_loss is not None and not np.isfinite(init_loss))
        evidence = {"step": step, "value": str(values[i]), "last_finite_loss": last}
        if at_init:
            return [self._at_init(m, values[i], evidence)]
        burst = largest_update(m, before=step)  # the update of step s shows in the loss of s + 1
        if burst is not None and burst[0] >= self.burst_ratio:
            evidence.update(largest_update_ratio=burst[0], update_step=burst[1])
            return [
                self.finding(
                    f"training loss became {values[i]} at step {step} (last finite value "
                    f"{last:.4g}), after an update at step {burst[1]} that moved the weights "
                    f"by {burst[0]:.3g}x their own size: the learning rate is too high",
                    evidence,
                )
            ]
        growth = self._grad_growth(m, step)
        if growth is not None and growth >= self.grad_growth:
            evidence["grad_norm_growth"] = growth
            return [
                self.finding(
                    f"training loss became {values[i]} at step {step} after the gradient norm "
                    f"grew {growth:.3g}x over its first value: the gradients exploded",
                    evidence,
                    cause=Cause.EXPLODING_GRADIENTS,
                    fixes=[self.fixes[1], self.fixes[0], "add normalisation layers"],
                )
            ]
        return [
            self.finding(
                f"training loss became {values[i]} at step {step} (last finite value "
                f"{last:.4g}); the run diverged",
                evidence,
            )
        ]

    def _at_init(self, m, value, evidence):
        rms = m.layers("act_rms", "init")
        message = (
            f"training loss is {value} from the first step: the model's output or the data is "
            "already non-finite before any update"
        )
        if not rms.empty:
            scale = rms.iloc[0].to_numpy(float)
            worst = float(np.nanmax(np.abs(scale))) if np.isfinite(scale).any() else float("inf")
            evidence["largest_activation_rms_at_init"] = worst
            if not np.isfinite(worst) or worst > 1e3:
                message += f"; activations at init reach an RMS of {worst:.3g}"
        bad_rows = _nonfinite_training_rows(m)
        if bad_rows:  # NaN in, NaN out: the data, not the weights
            evidence["nonfinite_training_rows"] = bad_rows
            return self.finding(
                message + f"; {bad_rows} audited training rows hold NaN/Inf",
                evidence,
                cause=Cause.INVALID_DATA,
                fixes=[self.fixes[2], self.fixes[3]],
            )
        return self.finding(
            message,
            evidence,
            cause=Cause.POOR_INITIALIZATION,
            fixes=[self.fixes[2], "check the initialisation scale of the weights", self.fixes[3]],
        )

    @staticmethod
    def _grad_growth(m, step: int) -> float | None:
        g = m.series("grad_norm")
        g = g[(g.index < step) & np.isfinite(g.to_numpy(float))]
        if len(g) < 2 or g.iloc[0] <= 0:
            return None
        return float(g.max() / g.iloc[0])


def _nonfinite_training_rows(m) -> int:
    """Rows of the audited training sample with NaN/Inf in inputs or targets (`facts:data`)."""
    split = m.fact("data.nonfinite.train") or {}
    return max(int((split.get(part) or {}).get("rows", 0) or 0) for part in ("inputs", "targets"))
