from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nnlearn.rules.base import Cause, Rule, Severity
from nnlearn.rules.curves import finite
from nnlearn.rules.fit import reference_loss


def bursts(
    grad,
    loss,
    reference: float,
    factor: float,
    window: int,
    loss_jump: float,
    gap: int = 3,
    min_history: int = 3,
) -> list[dict]:
    """Steps where the gradient norm jumps to `factor` times the median of the (up to)
    `window` recorded values before it (at least `min_history`: the worst bursts come in the
    first steps) and the training loss of the `gap` steps after it (the ones the burst's
    update led to) has a median `loss_jump` of the chance level above its own median over
    the window. The burst step's own loss is left out: it is the loss of the batch that made
    the large gradient (a hard sample at batch size 1), not a consequence of the update.
    Bursts closer than `gap` steps are one episode."""
    g = grad.to_numpy(float)
    steps = grad.index.to_numpy()
    lv = loss.reindex(loss.index.union(grad.index)).ffill()
    out: list[dict] = []
    for i in range(min_history, len(g)):
        lo = max(0, i - window)
        base = float(np.median(g[lo:i]))
        if base <= 0 or g[i] < factor * base:
            continue
        step = int(steps[i])
        before = lv[(lv.index < step) & (lv.index >= int(steps[lo]))]
        after = lv[(lv.index > step) & (lv.index <= step + gap)]
        if not len(before) or not len(after):
            continue
        rise = float(after.median()) - float(before.median())
        if rise < loss_jump * reference:
            continue
        if out and step - out[-1]["last_step"] <= gap:
            out[-1]["last_step"] = step
            out[-1]["peak"] = max(out[-1]["peak"], float(g[i]))
            out[-1]["loss_peak"] = max(out[-1]["loss_peak"], float(after.median()))
            continue
        out.append(
            {
                "step": step,
                "last_step": step,
                "peak": float(g[i]),
                "median": base,
                "loss_rise": rise,
                "loss_peak": float(after.median()),
            }
        )
    return out


@dataclass
class G403(Rule):
    """Short bursts of the gradient norm, unclipped, that throw the loss back.

    What it detects:
        Episodes in which the global gradient norm (all parameters, before any clipping,
        recorded every optimizer step) jumps to `factor` times the median of the (up to)
        `window` steps before it, and the median training loss of the three steps after it
        rises by at least `loss_jump` of the chance-level loss: the updates followed the burst
        unclipped (a clipped run's norm may burst too, but its loss does not jump). The burst
        step's own loss does not count: a hard batch has a large loss and a large gradient on
        the same step, and says nothing about the update. Reported when one
        episode throws the loss to `over_start` times its starting value or more (an
        explosion, not a correction), or when there are `min_bursts` episodes.

    Why it matters:
        Recurrent networks live near cliffs of the loss surface (Pascanu et al., On the
        difficulty of training recurrent neural networks, 2013): most steps are small, then
        one gradient is hundreds of times larger and a single update throws the weights far
        away. Averaged or sampled statistics miss it; the loss curve shows only a noisy
        plateau. Gradient norm clipping is the standard cure (pytorch/examples'
        word_language_model clips at 0.25 with SGD at lr 20).

    Evidence:
        The bursts: step, peak norm, the median before, the loss rise. Measured:
        `configs/examples/seq_lstm_lm_no_clip.yaml` (a 2-layer LSTM LM, SGD lr 20, no clip) has
        norms up to 100x their median with the loss jumping back, and ends at loss 1.31 where
        its clipped twin reaches 0.90 (plain PyTorch loop); the clipped twin's norm never
        exceeds 10x. `factor` 10 follows Pascanu et al.'s cliffs (one to two orders of
        magnitude); `loss_jump` 5% of chance keeps a converged model's tiny noisy losses out.
        `over_start` 3: after the unclipped LSTM's worst burst the loss stays at 9-14x its
        start (seeds 0 and 1); the post-LN Transformer warming up to Adam 3e-2
        (`seq_transformer_warmup.yaml`, which recovers to 90-100% validation accuracy) has
        four episodes below its start, reported by their number. Batch size 1
        (`bench/cases/h_batch1_relu.yaml`, healthy, seed 1) has a 12x burst at step 538
        whose own step's loss is 3.5x the start and the next steps' normal: not reported
        (it was, while the burst step's loss counted).

    Example:
        `configs/examples/seq_lstm_lm_no_clip.yaml`.

    Fix:
        Clip the global gradient norm (`torch.nn.utils.clip_grad_norm_(params, 0.25..1.0)`
        between backward and step, or `optimizer.grad_clip`), then lower the learning rate if
        the bursts remain.
    """

    code = "G403"
    name = "gradient-norm-bursts"
    cause = Cause.EXPLODING_GRADIENTS
    severity = Severity.ERROR
    requires = ("grad_norm", "train_loss")
    fixes = (
        "clip the global gradient norm: torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0) "
        "between backward() and step() (optimizer.grad_clip: 1.0)",
        "for SGD on RNNs, clip at 0.25 as pytorch/examples' word_language_model does",
        "then lower the learning rate if bursts remain",
    )

    factor: float = 10.0
    window: int = 20
    loss_jump: float = 0.05
    over_start: float = 3.0
    min_bursts: int = 3

    def evaluate(self, m):
        grad = finite(m.series("grad_norm"))
        loss = finite(m.series("train_loss"))
        reference = reference_loss(m)
        if len(grad) < self.window or not len(loss) or not reference:
            return []
        found = bursts(grad, loss, reference, self.factor, self.window, self.loss_jump)
        start = float(loss.iloc[: max(1, min(5, len(loss)))].mean())
        explosive = [b for b in found if b["loss_peak"] >= self.over_start * start]
        if len(found) < self.min_bursts and not explosive:
            return []
        worst = max(found, key=lambda b: b["peak"] / b["median"])
        return [
            self.finding(
                f"the gradient norm burst {_times(len(found))} without clipping, the loss "
                f"jumping back with it: at step {worst['step']} to {worst['peak']:.3g}, "
                f"{worst['peak'] / worst['median']:.0f}x the median of the "
                f"{self.window} steps before ({worst['median']:.3g}); first burst at step "
                f"{found[0]['step']}",
                {
                    "step": found[0]["step"],
                    "bursts": found[:10],
                    "n_bursts": len(found),
                    "worst_ratio": worst["peak"] / worst["median"],
                },
            )
        ]


def _times(n: int) -> str:
    return "once" if n == 1 else f"{n} times"
