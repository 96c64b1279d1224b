from __future__ import annotations

from dataclasses import dataclass

from nnlearn.rules.base import Cause, Rule, Severity
from nnlearn.rules.ranks import WORLD, per_rank_layers


@dataclass
class R102(Rule):
    """The ranks' copies of the weights drift apart.

    What it detects:
        In a distributed run, a layer whose weight norm on some rank differs from rank 0's by
        at least `max_relative_difference` on a sampled step. Each rank records the L2 norm of
        every layer's parameters after the optimizer step.

    Why it matters:
        DistributedDataParallel keeps every rank's weights bit-identical: the same initial
        weights (broadcast from rank 0), the same averaged gradient, the same optimizer step.
        Weights that differ mean the ranks no longer train one model: the model is not wrapped
        in DDP, or is called through `model.module` (no gradient sync), some parameters are
        excluded from DDP, or the code changes weights per rank. Each rank then fits its own
        shard and rank 0's checkpoint is one of N models.

    Evidence:
        The largest relative difference of a layer's norm from rank 0's, its step, layer and
        rank, and the first sampled step with a difference. Threshold 1e-5: DDP's ranks
        differ by exactly 0 (the all-reduce gives every rank the same bits, measured on the
        DistributedSampler run of `configs/examples/ddp_train.py`); the same script with
        `--no-ddp` differs by 9e-4 after its first step and by 7e-2 at step 50; float32's
        own rounding is about 1e-7.

    Example:
        `python -m torch.distributed.run --standalone --nproc_per_node 2
        configs/examples/ddp_train.py --no-ddp` (healthy twin: without `--no-ddp`).

    Fix:
        Wrap the model, `model = DistributedDataParallel(model)`, before building the
        optimizer, and call `model(x)`, never `model.module(x)`, in training; keep every
        trainable parameter inside the wrapped module.
    """

    code = "R102"
    name = "weights-diverge-across-ranks"
    cause = Cause.IMPLEMENTATION_BUG
    severity = Severity.ERROR
    requires = (WORLD,)
    fixes = (
        "wrap the model in DistributedDataParallel before building the optimizer and train "
        "through the wrapper (model(x), not model.module(x))",
        "keep every trainable parameter inside the wrapped module; do not change weights on "
        "some ranks only",
    )

    max_relative_difference: float = 1e-5

    def evaluate(self, m):
        tables = per_rank_layers(m, "ddp_weight_norm")
        if 0 not in tables or len(tables) < 2:
            return []
        reference = tables[0]
        worst = (0.0, None, None, None)  # difference, step, layer, rank
        first_step = None
        for rank, table in tables.items():
            if rank == 0:
                continue
            steps = reference.index.intersection(table.index)
            layers = reference.columns.intersection(table.columns)
            if not len(steps) or not len(layers):
                continue
            ref = reference.loc[steps, layers]
            diff = ((table.loc[steps, layers] - ref).abs() / ref.abs().clip(lower=1e-30)).fillna(0)
            over = diff.max(axis=1) >= self.max_relative_difference
            if over.any():
                step = int(over[over].index[0])
                first_step = step if first_step is None else min(first_step, step)
            peak = float(diff.to_numpy().max())
            if peak > worst[0]:
                row, col = divmod(int(diff.to_numpy().argmax()), diff.shape[1])
                worst = (peak, int(diff.index[row]), str(diff.columns[col]), rank)
        peak, step, layer, rank = worst
        if peak < self.max_relative_difference:
            return []
        message = (
            f"the weights of layer {layer} on rank {rank} differ from rank 0's by {peak:.2g} "
            f"of their norm at step {step} (first seen at step {first_step}); under DDP every "
            "rank holds the same weights, so the ranks are training separate models"
        )
        evidence = {
            "max_relative_difference": peak,
            "step": step,
            "layer": layer,
            "rank": rank,
            "first_step": first_step,
        }
        return [self.finding(message, evidence)]
