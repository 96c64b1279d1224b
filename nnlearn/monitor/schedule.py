"""When an instrument computes: cheap quantities often, expensive ones rarely (as in Cockpit)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Schedule:
    """The first `first` steps, then every `every`-th step."""

    every: int = 10
    first: int = 3

    def __call__(self, step: int) -> bool:
        return step < self.first or step % self.every == 0


ALWAYS = Schedule(every=1, first=0)
