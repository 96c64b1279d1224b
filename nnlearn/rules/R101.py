from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

from nnlearn.rules.base import Cause, Rule, Severity
from nnlearn.rules.ranks import WORLD, per_rank


@dataclass
class R101(Rule):
    """Several ranks train on the same batches.

    What it detects:
        In a distributed run, two or more ranks whose batches are the same samples on at least
        `min_share` of the sampled steps. Each rank fingerprints the batch its model reads (the
        sum and the sum of squares of a fixed random projection of each sample: order-free,
        different for different samples), and the fingerprints are compared across ranks.

    Why it matters:
        The classic DDP mistake: a DataLoader without a `DistributedSampler` (or a sampler
        whose seed differs per rank, or an IterableDataset not split by rank) hands every rank
        the whole dataset in the same order. DDP then averages N copies of the same gradient:
        N times the compute for one process's worth of data per step, and the global batch
        and the learning rate scaled for it are fiction. The effective data shrinks N-fold.

    Evidence:
        The share of sampled steps on which each pair of ranks read identical batches, and
        the groups of ranks that did. Threshold: half of the sampled steps. Measured with
        `configs/examples/ddp_train.py`: `--no-sampler` (one shuffled DataLoader per rank,
        same seed) matches on 100% of its 18 sampled steps, the DistributedSampler twin on 0%;
        two different random batches matching is a coincidence of two float64 sums.

    Example:
        `python -m torch.distributed.run --standalone --nproc_per_node 2
        configs/examples/ddp_train.py --no-sampler` (healthy twin: without `--no-sampler`).

    Fix:
        Give the DataLoader a `DistributedSampler(dataset)` (and call `sampler.set_epoch(epoch)`
        each epoch); for an IterableDataset split the stream by `torch.distributed.get_rank()`.
    """

    code = "R101"
    name = "ranks-see-identical-batches"
    cause = Cause.INSUFFICIENT_DATA
    severity = Severity.ERROR
    requires = (WORLD,)
    fixes = (
        "use a DistributedSampler in the DataLoader: DataLoader(ds, sampler=DistributedSampler(ds))"
        " and call sampler.set_epoch(epoch) every epoch",
        "split an IterableDataset by rank (torch.distributed.get_rank(), get_world_size())",
    )

    min_share: float = 0.5
    min_steps: int = 3

    def evaluate(self, m):
        sums, squares = per_rank(m, "ddp_batch_sum"), per_rank(m, "ddp_batch_sq")
        if len(sums) < self.min_steps or len(squares) < self.min_steps:
            return []
        same: dict[tuple[int, int], float] = {}
        for a, b in combinations(sums.columns, 2):
            match = _close(sums[a], sums[b]) & _close(squares[a], squares[b])
            same[(a, b)] = float(match.mean())
        pairs = {p: s for p, s in same.items() if s >= self.min_share}
        if not pairs:
            return []
        groups = _groups(pairs)
        share = max(pairs.values())
        world = len(sums.columns)
        biggest = max(len(g) for g in groups)
        described = "; ".join("ranks " + ", ".join(map(str, g)) for g in groups)
        message = (
            f"{described} read the same samples on {share:.0%} of {len(sums)} sampled steps: "
            f"{biggest} of the {world} ranks train on copies of one batch, so each step sees "
            f"{biggest}x fewer distinct samples than the global batch (no DistributedSampler?)"
        )
        evidence = {
            "world_size": world,
            "sampled_steps": len(sums),
            "identical_share": share,
            "groups": groups,
            "pairs": {f"{a}-{b}": s for (a, b), s in same.items()},
        }
        return [self.finding(message, evidence)]


def _close(a, b, rtol: float = 1e-9):
    return (a - b).abs() <= rtol * (a.abs() + b.abs() + 1e-30)


def _groups(pairs) -> list[list[int]]:
    """Ranks linked by identical batches, as groups (connected components)."""
    groups: list[set[int]] = []
    for a, b in pairs:
        joined = [g for g in groups if a in g or b in g]
        merged = {a, b}.union(*joined)
        groups = [g for g in groups if g not in joined] + [merged]
    return sorted(sorted(int(r) for r in g) for g in groups)
