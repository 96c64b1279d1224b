from __future__ import annotations

import math
from dataclasses import dataclass

from nnlearn.rules.base import Cause, Rule, Severity
from nnlearn.rules.curves import finite, window
from nnlearn.rules.fit import experiment


def warmup_helps(m, min_gain: float = 0.2) -> dict | None:
    """The warmup experiment's result when its warmed run ended its first steps at least
    `min_gain` of the starting loss below the main run's same steps and below its own start
    by as much (it learnt: a warmed run that diverged less is no fix), else None."""
    w = experiment(m, "warmup")
    if not w or not w.get("steps") or w.get("warm_end") is None:
        return None
    start = w.get("main_start") or 0.0
    main_end = w.get("main_end")
    main_end = math.inf if main_end is None or not math.isfinite(main_end) else main_end
    warm_end = w["warm_end"]
    if start <= 0 or not math.isfinite(warm_end) or main_end - warm_end < min_gain * start:
        return None
    if warm_end > (1 - min_gain) * start:
        return None
    return w


@dataclass
class E904(Rule):
    """The learning rate is too high without a warm-up: the first steps spike or stall, and the
    same steps with a short linear warm-up do not.

    What it detects:
        The warmup experiment (the main run's first 100 steps again, same init, batches and
        optimizer, the optimizer's own rate reached linearly over all of them) ends those
        steps at least `min_gain` of the initial loss below the main run's same steps, while
        the main run's first steps spiked (the loss rose `min_rise` of its start above its
        running minimum, or went non-finite) or stalled. The warmed run may spike too (the
        examples' Transformer does, as the rate reaches its peak): what counts is that it
        recovers and learns where the run without warm-up does not. A main run that goes on
        past those steps and ends (its last `tail_fraction`) at or below the warmed run's end
        has recovered by itself: no finding, whatever its first steps did.

    Why it matters:
        Adam's first updates are large and its variance estimates unreliable (Liu et al.,
        On the Variance of the Adaptive Learning Rate and Beyond, 2020), and post-LN
        Transformers have large gradients near the output at init (Xiong et al., On Layer
        Normalization in the Transformer Architecture, 2020): at the full rate from step 0
        the first steps throw the weights into a region they never leave (attention
        collapsed, the loss stuck at chance). The same rate after a warm-up is fine, so
        lowering the rate is not the only fix, and lr_range (which starts tiny and rises:
        a warm-up of its own) cannot show it.

    Evidence:
        Both runs' loss at the end of the first steps, the main run's rise, the warmed run's.
        Measured in the probe (seed 0, AVX-512 kernels): the main run's first 100 steps end at
        0.698 (from 0.673, a 243% rise on the way), the warmed run's at 0.304.
        Measured (plain PyTorch loop, seeds 0-4, AVX-512 and default CPU kernels):
        `configs/examples/seq_transformer_no_warmup.yaml` (post-LN encoder, Adam 3e-2) ends its
        first 100 steps at 0.69-0.71 (ln 2) at every seed and stays there at 4 of 5 (val
        accuracy 54%); warmed over those 100 steps it ends them at 0.00-0.23, at least 65% of
        the initial loss lower, and its twin with a 100-step warm-up reaches 90-100%. Healthy
        examples rise by at most 4% in their first steps and the experiment is not even run.
        `min_gain` 20%, `min_rise` 10%; the warmed run must also end `min_gain` below its
        start: the quickstart at Adam 50 ends its first 100 steps at 9.3 from 1.06, warmed at
        7.2, a divergence a warm-up does not fix (E902's rate far above the range says what
        does). The recovery clause: a BatchNorm MLP on the spirals
        at SGD 0.5 (momentum 0.9) spikes 185% in its first 100 steps and ends them at 0.48
        against the warmed run's 0.17, then ends its 500 steps at 0.08 with 100% validation
        accuracy (`bench/cases/h_bn_sgd_fast.yaml`): a gate failure there was a false alarm.

    Example:
        `configs/examples/seq_transformer_no_warmup.yaml`.

    Fix:
        Warm the learning rate up linearly over the first few hundred steps (`scheduler:
        {name: linear_warmup, warmup_steps: 100}`, or
        `transformers.get_linear_schedule_with_warmup`), or lower the rate; for Transformers
        prefer pre-LN blocks (`norm_first=True`).
    """

    code = "E904"
    name = "lr-needs-warmup"
    cause = Cause.LR_TOO_HIGH
    severity = Severity.ERROR
    requires = ("facts:experiments.warmup",)
    fixes = (
        "warm the learning rate up over the first ~100-1000 steps: scheduler: {name: "
        "linear_warmup, warmup_steps: 100} (or transformers.get_linear_schedule_with_warmup)",
        "or lower the learning rate (3-10x)",
        "for a Transformer, use pre-LN blocks (nn.TransformerEncoderLayer(norm_first=True))",
    )

    min_gain: float = 0.2
    min_rise: float = 0.1
    tail_fraction: float = 0.1

    def evaluate(self, m):
        w = warmup_helps(m, self.min_gain)
        if not w:
            return []
        main_rise, warm_rise = w.get("main_rise"), w.get("warm_rise")
        start, main_end = w["main_start"], w.get("main_end")
        stalled = main_end is None or not math.isfinite(main_end) or main_end > 0.9 * start
        spiked = main_rise is not None and main_rise >= self.min_rise
        if not (spiked or stalled) or self._recovered(m, w):
            return []
        how = (
            f"its loss rose {main_rise:.0%} of its start above its best"
            if spiked and math.isfinite(main_rise) and main_rise < 10
            else f"its loss rose {main_rise:.2g} times its start above its best"
            if spiked and math.isfinite(main_rise)
            else "its loss went non-finite"
            if spiked
            else "its loss did not fall"
        )
        return [
            self.finding(
                f"in the first {w['steps']} steps at lr {w.get('lr', math.nan):.3g} {how} and "
                f"ended at {main_end:.4g} (from {start:.4g}); the same steps with a "
                f"{w.get('warmup_steps')}-step linear warm-up from the same init ended at "
                f"{w['warm_end']:.4g}: the rate is too high without a warm-up",
                {
                    "lr": w.get("lr"),
                    "steps": w["steps"],
                    "warmup_steps": w.get("warmup_steps"),
                    "main_end": main_end,
                    "warm_end": w["warm_end"],
                    "main_rise": main_rise,
                    "warm_rise": warm_rise,
                },
            )
        ]

    def _recovered(self, m, w: dict) -> bool:
        """The main run went on past the experiment's steps and ended where the warm-up got."""
        loss = finite(m.series("train_loss"))
        if len(loss) <= w["steps"]:
            return False
        tail = float(loss.iloc[-window(loss, self.tail_fraction, 5) :].mean())
        return tail <= w["warm_end"]
