"""Every rank's metric rows into one table, the global picture plus each rank's own (torch-free).

Under run "main" the rules read the mean over the ranks of each (step, name, layer): the loss
of the global batch, the gradient norms (identical on every rank once DDP averaged them), the
activation statistics of all ranks' samples. Each rank's own training loss and its `ddp_*`
rows (`instrument.RankStats`) are kept under run "rank<r>", where the DDP rules compare them.
Rows of other runs (the init check, the experiments) exist on rank 0 only and pass as they are.
"""

from __future__ import annotations

import math

Row = tuple[str, int, str, str, float]

# per-rank quantities the DDP rules compare; the rest is only reduced
PER_RANK = ("train_loss",)


def rank_run(rank: int) -> str:
    return f"rank{rank}"


def is_per_rank(name: str) -> bool:
    return name in PER_RANK or name.startswith("ddp_")


def merge_rows(per_rank: list[list[Row]], run: str = "main") -> list[Row]:
    """`per_rank[r]` is rank r's rows. A (step, name, layer) of `run` that not every rank
    recorded is reduced over the ranks that did."""
    merged: list[Row] = []
    groups: dict[tuple[int, str, str], list[float]] = {}
    for rank, rows in enumerate(per_rank):
        for row in rows:
            name, step, metric, layer, value = row
            if name != run:
                if rank == 0:
                    merged.append(row)
                continue
            if is_per_rank(metric):
                merged.append((rank_run(rank), step, metric, layer, value))
            if not metric.startswith("ddp_"):
                groups.setdefault((step, metric, layer), []).append(value)
    for (step, metric, layer), values in groups.items():
        merged.append((run, step, metric, layer, _mean(values)))
    return merged


def _mean(values: list[float]) -> float:
    # a NaN or Inf on any rank stays visible in the global value
    if any(not math.isfinite(v) for v in values):
        return next(v for v in values if not math.isfinite(v))
    return sum(values) / len(values)
