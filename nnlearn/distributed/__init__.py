"""Distributed runs: `nnlearn probe SPEC --nproc N` and `nnlearn.Probe` inside a DDP script.

- `launch`: the CLI side; starts N ranks through torch's elastic launcher (torchrun's API),
  returns rank 0's exit code, turns a failure on any rank into that rank's error (exit 3).
- `worker`: what one rank runs.
- `collect`: the process group, the DDP wrapper, the per-step stop agreement and the gather of
  every rank's metric rows to rank 0.
- `role`: what a distributed probe changes in the runner's phases, in one object.
- `user`: `nnlearn.Probe` in the user's own DDP script (rank 0 diagnoses every rank's rows).
- `shard`: each rank's share of the training data (a DistributedSampler's split).
- `instrument`: what each rank measures for the DDP rules (R101-R104).
- `merge`: the torch-free reduction of the gathered rows into one metrics table.

`current()` is the one question the rest of nnlearn asks: are we one of several ranks?
"""

from __future__ import annotations

import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Rank:
    rank: int
    world_size: int
    backend: str

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def current() -> Rank | None:
    """This process's rank when a process group of more than one rank is initialised, else
    None. Torch is not imported for the question: a process that never imported it is not
    distributed."""
    if "torch" not in sys.modules:
        return None
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
        return None
    return Rank(dist.get_rank(), dist.get_world_size(), str(dist.get_backend()))


def is_main_process() -> bool:
    """True on rank 0 and in a process that is not distributed."""
    r = current()
    return r is None or r.is_main
