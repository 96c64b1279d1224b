from __future__ import annotations

from dataclasses import dataclass

from nnlearn.rules.base import Cause, Rule, Severity
from nnlearn.rules.fit import experiment, main_drop


@dataclass
class E902(Rule):
    """The learning rate is far outside the range where the loss falls fastest.

    What it detects:
        The rate the optimizer actually had in the main run (`param_groups[0]["lr"]`,
        whatever set it: the spec, the user's code) more than `low_factor` below the start of
        lr_range's good range, or more than `high_factor` above its end. The good range runs
        from the rate at which the sweep's loss has made 10% of its descent to the rate of
        its lowest loss.

    Why it matters:
        Below the range, each step moves the weights too little to matter and training
        crawls; above it, the loss climbs in the sweep itself: steps overshoot. The range
        test (Smith, Cyclical Learning Rates, 2017; fastai's lr_find; torch-lr-finder)
        measures where the rate works for this model, optimizer and data.

    Evidence:
        The configured rate, the good range, the suggested rate (torch-lr-finder's steepest
        descent), and the main run's loss drop. `low_factor` 10: the rate at which the
        sweep's loss starts moving is already a slow one (fastai picks rates an order of
        magnitude above it); measured, the quickstart's 3e-3 sits 2x above the range's start
        (1.6e-3), a rate of 1e-5 100x below it. `high_factor` 3: the range ends at the
        rate of lowest loss, which fastai's rule of thumb already divides by 10 to train;
        3x past it, the quickstart's sweep has diverged. Quiet when lr_range marks its sweep
        `unreliable` (flat, within its noise, contradicted by a main run that learnt at a rate
        100x above the pick, or a confirmation run at the pick that did not learn): issue 9's
        healthy Adam Transformer was otherwise told its rate was far too high. Quiet too when
        the main run itself converged at that rate: its loss fell `converged` (90%) or more
        from its first step to the median of its last tenth. Measured: a BatchNorm MLP at SGD
        0.5, 5x above its range's end, falls 93% to 100% validation accuracy
        (`bench/cases/h_bn_sgd_fast.yaml`); the too-high and too-low rates of the examples
        fall far less (the quickstart at lr 1.0 and 1e-5) or diverge.

    Example:
        `configs/quickstart.yaml` with `--set optimizer.lr=1e-5` (too low) or
        `--set optimizer.lr=1.0` (too high).

    Fix:
        Use a rate inside the good range: the suggested one is a good start.
    """

    code = "E902"
    name = "lr-outside-good-range"
    cause = Cause.LR_TOO_LOW
    severity = Severity.WARNING
    requires = ("facts:experiments.lr_range", "facts:run.lr")
    fixes = (
        "use the learning rate lr_range suggests (optimizer.lr), or one inside its good range",
    )

    low_factor: float = 10.0
    high_factor: float = 3.0
    converged: float = 0.9

    def evaluate(self, m):
        sweep = experiment(m, "lr_range")
        lr = m.fact("run.lr")
        if not sweep or not sweep.get("good_range") or not isinstance(lr, (int, float)) or lr <= 0:
            return []
        if sweep.get("unreliable"):
            return []  # a sweep the probe does not stand by is no evidence about the rate
        drop = main_drop(m)
        if drop is not None and drop >= self.converged:
            return []  # the run shows the rate works, whatever the sweep says
        lo, hi = sweep["good_range"]
        suggested = sweep.get("suggested_lr")
        evidence = {"lr": lr, "good_range": [lo, hi], "suggested_lr": suggested}
        hint = f"; lr_range suggests {suggested:.2g}" if suggested else ""
        if lr < lo / self.low_factor:
            return [
                self.finding(
                    f"learning rate {lr:.2g} is {lo / lr:.0f}x below the range where the loss "
                    f"falls ({lo:.2g} to {hi:.2g}){hint}",
                    evidence,
                    fixes=[f"raise the learning rate to about {suggested:.2g} (optimizer.lr)"]
                    if suggested
                    else None,
                )
            ]
        if lr > hi * self.high_factor:
            return [
                self.finding(
                    f"learning rate {lr:.2g} is {lr / hi:.0f}x above the rate of lowest loss in "
                    f"the range test ({hi:.2g}; good range from {lo:.2g}){hint}",
                    evidence,
                    cause=Cause.LR_TOO_HIGH,
                    fixes=[f"lower the learning rate to about {suggested:.2g} (optimizer.lr)"]
                    if suggested
                    else None,
                )
            ]
        return []
