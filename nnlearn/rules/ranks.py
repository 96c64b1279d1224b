"""What the DDP rules (R101-R104) share: each rank's own rows, under run "rank<r>" (see
`nnlearn.distributed.merge`), as step x rank tables (pure pandas)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from nnlearn.measurements import Measurements

WORLD = "facts:distributed.world_size"


def ranks(m: Measurements) -> list[int]:
    return list(range(int(m.fact("distributed.world_size", 0) or 0)))


def per_rank(m: Measurements, name: str) -> pd.DataFrame:
    """A whole-model quantity as a step x rank table, the steps every rank recorded."""
    import pandas as pd

    columns = {r: m.series(name, run=f"rank{r}") for r in ranks(m)}
    columns = {r: s[~s.index.duplicated(keep="last")] for r, s in columns.items() if len(s)}
    if len(columns) < 2:
        return pd.DataFrame()
    return pd.DataFrame(columns).dropna()


def per_rank_layers(m: Measurements, name: str) -> dict[int, pd.DataFrame]:
    """A per-layer quantity as {rank: step x layer table}, ranks with rows only."""
    tables = {r: m.layers(name, run=f"rank{r}") for r in ranks(m)}
    return {r: t for r, t in tables.items() if not t.empty}
