from __future__ import annotations

import math
from dataclasses import dataclass

from nnlearn.rules.base import Cause, Rule, Severity
from nnlearn.rules.ranks import WORLD, per_rank


@dataclass
class R104(Rule):
    """One rank's training loss differs from the others' more than sampling explains.

    What it detects:
        In a distributed run, a rank whose training loss is systematically above or below the
        other ranks' (their mean) at the same steps: the mean gap is at least `min_gap` of the
        others' mean loss and at least `min_t` standard errors from zero.

    Why it matters:
        At each step every DDP rank holds the same weights, so the only thing that makes one
        rank's loss differ from another's is the batch it read. With shards drawn from the
        same data the differences average out within a few steps. A rank that stays above
        the others reads different data: a shard file with corrupted or shifted labels,
        data sorted by class and split in blocks instead of interleaved, a rank reading
        another source. The averaged gradient then mixes incompatible targets.

    Evidence:
        Each rank's mean loss, the largest relative gap, its paired t statistic over the steps
        (the gap's mean over its standard error), and the rank. Thresholds: a gap of 25% and 5
        standard errors. Measured on 2 ranks: `configs/examples/ddp_healthy.yaml` (both shards
        drawn from one shuffled dataset) gives a gap under 1% at 0.3 standard errors, the
        DistributedSampler run of `configs/examples/ddp_train.py` 1% at 0.8, the gated model
        of `ddp_unused_branch.yaml` 6% at 2.5; `ddp_corrupt_shard.yaml` (half of rank 1's
        labels random) about 100% at over 30.

    Example:
        `nnlearn probe configs/examples/ddp_corrupt_shard.yaml --nproc 2` (healthy twin:
        `configs/examples/ddp_healthy.yaml`).

    Fix:
        Check what each rank reads: the same source for every rank, split by a
        DistributedSampler (interleaved, shuffled) rather than in contiguous blocks; check the
        labels of the shard of the outlying rank.
    """

    code = "R104"
    name = "rank-losses-differ"
    cause = Cause.INCONSISTENT_DATA
    severity = Severity.WARNING
    requires = (WORLD,)
    fixes = (
        "check the data of the outlying rank: its shard file, its labels, its preprocessing",
        "split one shuffled dataset with a DistributedSampler instead of giving each rank a "
        "block of sorted data or its own source",
    )

    min_gap: float = 0.25
    min_t: float = 5.0
    min_steps: int = 30

    def evaluate(self, m):
        import numpy as np

        loss = per_rank(m, "train_loss")
        loss = loss[np.isfinite(loss).all(axis=1)]
        if len(loss) < self.min_steps:
            return []
        rows = {}
        for rank in loss.columns:
            others = loss.drop(columns=rank).mean(axis=1)
            level = float(others.mean())
            if not level > 0:
                return []
            d = loss[rank] - others  # paired: the same step, the same weights
            se = float(d.std(ddof=1)) / math.sqrt(len(d))
            rows[int(rank)] = (float(d.mean()) / level, float(d.mean()) / se if se > 0 else 0.0)
        # the rank furthest from the others; with two ranks, the one above
        rank, (gap, t) = max(rows.items(), key=lambda kv: (abs(kv[1][0]), kv[1][0]))
        if abs(gap) < self.min_gap or abs(t) < self.min_t:
            return []
        means = {int(r): float(v) for r, v in loss.mean().items()}
        side = "above" if gap > 0 else "below"
        message = (
            f"rank {rank}'s training loss is {abs(gap):.0%} {side} the other ranks' at the same "
            f"steps ({abs(t):.0f} standard errors over {len(loss)} steps); every rank holds the "
            "same weights, so the ranks read different data"
        )
        evidence = {
            "rank": rank,
            "relative_gap": gap,
            "t": t,
            "steps": len(loss),
            "mean_loss_per_rank": means,
        }
        return [self.finding(message, evidence)]
