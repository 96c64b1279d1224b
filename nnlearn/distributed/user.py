"""`nnlearn.Probe` inside the user's own DDP script (`torchrun ... train.py`): every rank
measures its own loop; when the `with` block ends, every rank's rows are gathered to rank 0,
merged (`merge.merge_rows`) and diagnosed there, and the one result is sent back, so that
`probe.result` is the same `ProbeResult` on every rank. Only rank 0 prints and saves.

The gather happens in `Probe.stop()`, which every rank reaches at the same point of the
script (the end of the `with` block). A block left by an exception is diagnosed locally,
without a collective: the other ranks may never get there.
"""

from __future__ import annotations

from typing import Any

from nnlearn.distributed import Rank


def unwrap(model: Any) -> Any:
    """The module inside DistributedDataParallel (measured under its own layer names)."""
    from torch.nn.parallel import DistributedDataParallel

    return model.module if isinstance(model, DistributedDataParallel) else model


def diagnose_across_ranks(probe, rank: Rank):
    """Rank 0's diagnosis of every rank's measurements, on every rank."""
    import pandas as pd

    from nnlearn.distributed.collect import broadcast, gather
    from nnlearn.distributed.merge import merge_rows
    from nnlearn.measurements import COLUMNS

    rows = probe.monitor.recorder.rows()
    rows += list(probe._user_rows().itertuples(index=False, name=None))
    everyone = gather({"rows": rows, "steps": probe.steps_done})
    result = None
    if everyone is not None:
        merged = pd.DataFrame(merge_rows([r["rows"] for r in everyone]), columns=COLUMNS)
        probe.facts["distributed"] = {
            "world_size": rank.world_size,
            "backend": rank.backend,
            "steps_per_rank": [r["steps"] for r in everyone],
        }
        result = probe._diagnose(merged.astype({"step": "int64"}))
        result.notes.append(
            f"distributed: {rank.world_size} ranks ({rank.backend}); every rank measured its "
            "own steps, the losses are the mean over the ranks; this report is rank 0's"
        )
    return broadcast(result)
