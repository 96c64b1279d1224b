from __future__ import annotations

from dataclasses import dataclass

from nnlearn.rules.base import Cause, Rule, Severity
from nnlearn.rules.evidence import burst_after_healthy_init, flagged_layers


@dataclass
class A501(Rule):
    """Dead units: most of a layer's ReLU-like units output zero for every input.

    What it detects:
        A layer whose input has at least `dead_fraction` of its units dead (non-zero on fewer
        than 1% of the batch) on the typical (median) sampled step of the main run. The units
        are measured where they arrive, at the next layer's input, so `F.relu` in `forward`
        and in-place ReLU count the same as `nn.ReLU` modules.

    Why it matters:
        A ReLU unit that is negative for every input outputs 0 and receives no gradient, so
        it never comes back: the layer works with a fraction of its width, and when a whole
        layer is dead nothing passes at all.

    Evidence:
        Per layer, the median dead fraction over the run and at init. Thresholds from
        SageMaker Debugger's `DeadRelu` rule: a unit is dead below 1% activity, a layer is
        flagged when 50% of it is. Measured: the quickstart stays under 31%. Severity error at
        `all_dead_fraction` (99%): nothing passes. The cause follows the evidence: units alive
        at init that died after an update of 1x the weights' size (U201) were killed by the
        learning rate; units dead at init behind symmetric weights (I602) or a signal that
        collapses through depth (I601: the activations lose their spread across samples, so
        each unit is either on or off for all of them) by the initialisation.
        "Zero for every sample" needs samples: on a batch of b, a healthy unit active for half
        the inputs reads dead with probability 0.5^b, so at batch size 1 half of a healthy
        layer looks dead (issue 15: 54-63% "dead" on a ReLU net with 0 of 50 units dead on
        the whole training set; bench/accuracy.py's h_batch1_relu and h_batch1_adam fire at 2
        of 3 seeds). Main-run batches under `min_samples` (32: 0.5^32 ~ 2e-10, and a unit
        active on 10% of inputs reads dead 3% of the time) are not evidence; the rule then
        stays quiet.

    Example:
        `configs/examples/dead_units.yaml`.

    Fix:
        Lower the learning rate, use LeakyReLU/GELU/ELU, initialise biases at 0 (or slightly
        positive) and weights with He/Kaiming scaling, normalise the inputs, add BatchNorm.
    """

    code = "A501"
    name = "dead-units"
    cause = Cause.DEAD_UNITS
    severity = Severity.WARNING
    requires = ("dead_frac",)
    fixes = (
        "use LeakyReLU, GELU or ELU instead of ReLU",
        "initialise biases at 0 or slightly positive, weights with He/Kaiming scaling",
        "lower the learning rate: one large update can push units negative for every input",
        "normalise the inputs or add BatchNorm before the activation",
    )

    dead_fraction: float = 0.5
    all_dead_fraction: float = 0.99
    burst_ratio: float = 1.0
    min_samples: int = 32

    def evaluate(self, m):
        batch = m.fact("run.batch_size")
        if isinstance(batch, int) and batch < self.min_samples:
            return []  # too few samples per measurement to call a unit dead
        flagged, at_init, evidence = flagged_layers(m, "dead_frac", self.dead_fraction)
        if flagged.empty:
            return []
        worst = str(flagged.idxmax())
        share = float(flagged.max())
        cause, fixes, why = self._cause(m, flagged, at_init)
        severity = Severity.ERROR if share >= self.all_dead_fraction else None
        names = ", ".join(f"{k} {v:.0%}" for k, v in flagged.items())
        return [
            self.finding(
                f"{share:.0%} of the units feeding layer {worst} are dead (zero for every "
                f"sample); layers over {self.dead_fraction:.0%} dead: {names}{why}",
                evidence,
                cause=cause,
                severity=severity,
                fixes=fixes,
            )
        ]

    def _cause(self, m, flagged, at_init):
        burst = burst_after_healthy_init(m, flagged, at_init, self.dead_fraction, self.burst_ratio)
        if burst:
            why = (
                f"; they were alive at init and died after the update at step {burst[1]} "
                f"moved the weights by {burst[0]:.3g}x their size"
            )
            return Cause.LR_TOO_HIGH, [self.fixes[2], self.fixes[0]], why
        from nnlearn.rules.I601 import I601
        from nnlearn.rules.I602 import I602

        for rule in (I602(), I601()):
            if all(m.has(r) for r in rule.requires) and rule.evaluate(m):
                why = f"; at init {rule.name} ({rule.code}) already leaves units without signal"
                return Cause.POOR_INITIALIZATION, [self.fixes[1]], why
        return None, None, ""
