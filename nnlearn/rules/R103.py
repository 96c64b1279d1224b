from __future__ import annotations

from dataclasses import dataclass

from nnlearn.rules.base import Cause, Rule, Severity
from nnlearn.rules.ranks import WORLD, per_rank_layers


@dataclass
class R103(Rule):
    """Some parameters get a gradient on some ranks and none on others.

    What it detects:
        In a distributed run, a layer whose parameters received a gradient from one rank's own
        backward pass but not from another's on the same sampled step, on at least
        `min_share` of the sampled steps. Each rank marks the parameters its local backward
        reached (a gradient hook), before DDP averages the gradients.

    Why it matters:
        DDP all-reduces gradients in buckets and waits for every parameter of a bucket. A
        parameter that one rank's forward pass did not use (a branch taken on some batches,
        an auxiliary head, a mixture-of-experts route) never reports ready there: without
        `find_unused_parameters=True` the run stops with "Expected to have finished reduction
        in the prior iteration" or waits in the all-reduce until the timeout. nnlearn's own
        DDP wrapper sets the flag so that it can measure this; your training script probably
        does not. With the flag on, those parameters learn from fewer samples than the rest.

    Evidence:
        The layers concerned, the share of sampled steps on which their gradient was present
        on some ranks only, and on which ranks it was missing. Threshold: one sampled step in
        ten; a model without data-dependent branches shows none (every rank's backward reaches
        every used parameter, measured on `configs/examples/ddp_healthy.yaml`), the gated model
        of `configs/examples/ddp_unused_branch.yaml` on 40% of its 10 sampled steps.

    Example:
        `nnlearn probe configs/examples/ddp_unused_branch.yaml --nproc 2` (healthy twin:
        `configs/examples/ddp_healthy.yaml`).

    Fix:
        Make every rank use every parameter in each step (compute the branch and multiply it by
        zero rather than skipping it), or pass `find_unused_parameters=True` to
        DistributedDataParallel (one extra graph traversal a step).
    """

    code = "R103"
    name = "gradients-on-some-ranks-only"
    cause = Cause.IMPLEMENTATION_BUG
    severity = Severity.WARNING
    requires = (WORLD,)
    fixes = (
        "use every parameter on every step (multiply a skipped branch by zero instead of "
        "skipping it)",
        "or pass find_unused_parameters=True to DistributedDataParallel",
    )

    min_share: float = 0.1

    def evaluate(self, m):
        tables = per_rank_layers(m, "ddp_local_grad")
        if len(tables) < 2:
            return []
        import pandas as pd

        stacked = pd.concat(tables, names=["rank", "step"])  # (rank, step) x layer
        low = stacked.groupby(level="step").min()
        high = stacked.groupby(level="step").max()
        uneven = (high > 0) & (low < high)
        share = uneven.mean()
        flagged = share[share >= self.min_share]
        if flagged.empty:
            return []
        missing: dict[str, list[int]] = {}
        for layer in flagged.index:
            steps = uneven.index[uneven[layer]]
            without = stacked[layer].loc[:, steps]
            missing[str(layer)] = sorted({int(r) for (r, _), v in without.items() if v < 1})
        worst = str(flagged.idxmax())
        message = (
            f"layer {worst} got a gradient on some ranks and none on others on "
            f"{flagged.max():.0%} of {len(uneven)} sampled steps (missing on ranks "
            f"{', '.join(map(str, missing[worst]))}); without find_unused_parameters=True "
            "DDP stops or hangs on such a step"
        )
        evidence = {
            "layers": {str(k): float(v) for k, v in flagged.items()},
            "sampled_steps": len(uneven),
            "missing_on_ranks": missing,
        }
        return [self.finding(message, evidence)]
