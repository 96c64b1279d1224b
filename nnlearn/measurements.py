"""Everything the probe measured, out of torch: the metrics table and the facts.

The metrics table is long-format pandas: one row per (run, step, name, layer, value).
`run` is "main" for the main training run, "init" for the init check, or an experiment's name;
`layer` is "" for whole-model quantities. Facts are small JSON-able dicts by topic:
`data` (audits), `init`, `run` (how the main run went), `model`, `experiments`.
Rules read only this object, so they never need torch or a GPU.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

COLUMNS = ["run", "step", "name", "layer", "value"]


class MetricsRecorder:
    """Append-only rows, turned into a DataFrame once at the end (cheap in the training loop)."""

    def __init__(self) -> None:
        self._rows: list[tuple[str, int, str, str, float]] = []

    def add(self, run: str, step: int, name: str, value: float, layer: str = "") -> None:
        self._rows.append((run, int(step), name, layer, float(value)))

    def extend(self, rows: list[tuple[str, int, str, str, float]]) -> None:
        self._rows.extend(rows)

    def __len__(self) -> int:
        return len(self._rows)

    def rows(self) -> list[tuple[str, int, str, str, float]]:
        return list(self._rows)

    def replace(self, rows: list[tuple[str, int, str, str, float]]) -> None:
        """Swap in other rows (a distributed probe's merged table), in place."""
        self._rows[:] = rows

    def frame(self) -> pd.DataFrame:
        df = pd.DataFrame(self._rows, columns=COLUMNS)
        return df.astype({"run": "string", "name": "string", "layer": "string", "step": "int64"})


@dataclass
class Measurements:
    metrics: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=COLUMNS))
    facts: dict[str, Any] = field(default_factory=dict)

    def _select(self, name: str, run: str = "main") -> pd.DataFrame:
        df = self.metrics
        return df[(df["run"] == run) & (df["name"] == name)]

    def series(self, name: str, run: str = "main", layer: str = "") -> pd.Series:
        """One quantity over steps (float Series indexed by step)."""
        df = self._select(name, run)
        df = df[df["layer"] == layer]
        return pd.Series(df["value"].to_numpy(float), index=df["step"].to_numpy(), name=name)

    def layers(self, name: str, run: str = "main") -> pd.DataFrame:
        """A per-layer quantity as a step x layer table, columns in the order first recorded."""
        df = self._select(name, run)
        df = df[df["layer"] != ""]
        if df.empty:
            return pd.DataFrame()
        order = list(dict.fromkeys(df["layer"]))
        # pivot, not pivot_table: a layer whose values are all NaN is evidence, keep its column
        last = df.drop_duplicates(["step", "layer"], keep="last")
        table = last.pivot(index="step", columns="layer", values="value")
        return table[order].astype(float)

    def fact(self, path: str, default: Any = None) -> Any:
        node: Any = self.facts
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node

    def has(self, requirement: str) -> bool:
        """`name` (main-run metric), `run/name` (another run's metric) or `facts:dotted.path`."""
        if requirement.startswith("facts:"):
            return self.fact(requirement[len("facts:") :]) is not None
        run, _, name = requirement.rpartition("/")
        return not self._select(name, run or "main").empty
