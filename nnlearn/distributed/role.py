"""What a distributed probe changes in the runner, in one object: the runner asks
`RankRole.current()` once and, when it gets one, lets it shard the data, wrap the model, stop
every rank on the same step and reduce the measurements onto rank 0.

Only rank 0 audits the data, checks the setup, runs the experiments, the rules and the
reports; every rank trains (the main run is the distributed part) and measures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nnlearn.distributed import Rank, current


@dataclass
class RankRole:
    rank: Rank
    notes: list[str] = field(default_factory=list)

    @classmethod
    def current(cls) -> RankRole | None:
        rank = current()
        return cls(rank) if rank is not None else None

    @property
    def is_main(self) -> bool:
        return self.rank.is_main

    # -- before training ---------------------------------------------------------------------
    def device(self, requested: str):
        """The spec's device, `cuda` meaning this rank's own GPU."""
        from nnlearn.distributed.collect import rank_device
        from nnlearn.probe.setup import resolve_device

        return rank_device(resolve_device(requested))

    def agree_fatal(self, fatal: Any) -> Any:
        """Rank 0's setup verdict on every rank: all train, or none does."""
        from nnlearn.distributed.collect import broadcast

        return broadcast(fatal)

    def train_data(self, bundle, seed: int):
        from nnlearn.distributed.shard import shard_bundle

        return shard_bundle(bundle, self.rank.rank, self.rank.world_size, seed)

    def train_model(self, model, device):
        from nnlearn.distributed.collect import wrap

        return wrap(model, device)

    def instruments(self) -> list:
        from nnlearn.distributed.instrument import RankStats

        return [RankStats()]

    def agree(self, nonfinite: bool, over_deadline: bool) -> tuple[bool, bool]:
        from nnlearn.distributed.collect import agree

        return agree(nonfinite, over_deadline)

    # -- after the main run --------------------------------------------------------------------
    def reduce(self, recorder, facts: dict[str, Any], train_size: int, batch_size: int) -> None:
        """Every rank's rows and run facts gathered to rank 0; there the recorder holds the
        merged table (`merge.merge_rows`) and `facts["distributed"]` says how the ranks ran."""
        from nnlearn.distributed.collect import gather
        from nnlearn.distributed.merge import merge_rows

        mine = {
            "rows": recorder.rows(),
            "nonfinite_step": facts.get("run", {}).get("nonfinite_step"),
            "train_samples": train_size,
        }
        everyone = gather(mine)
        if everyone is None:
            return
        recorder.replace(merge_rows([r["rows"] for r in everyone]))
        steps = [r["nonfinite_step"] for r in everyone if r["nonfinite_step"] is not None]
        if steps and "run" in facts:
            facts["run"]["nonfinite_step"] = min(steps)
        world = self.rank.world_size
        facts["distributed"] = {
            "world_size": world,
            "backend": self.rank.backend,
            "batch_size_per_rank": batch_size,
            "global_batch_size": batch_size * world,
            "train_samples_per_rank": [r["train_samples"] for r in everyone],
            "nonfinite_step_per_rank": [r["nonfinite_step"] for r in everyone],
        }
        self.notes.append(
            f"distributed: {world} ranks ({self.rank.backend}), DistributedDataParallel, each "
            f"rank {batch_size} samples a step from its shard (global batch "
            f"{batch_size * world}); the data audits, the setup check and the experiments ran on "
            "rank 0 alone"
        )
