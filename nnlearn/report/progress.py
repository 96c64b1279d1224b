"""A transient Rich progress bar for the probe's phases (absent when stdout is no terminal)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class RichProgress:
    def __init__(self, console: Console, enabled: bool):
        self.enabled = enabled
        self._progress = (
            Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            )
            if enabled
            else None
        )
        self._task = None

    def __enter__(self) -> RichProgress:
        if self._progress:
            self._progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._progress:
            self._progress.__exit__(*exc)

    def phase(self, name: str, total: int | None = None) -> None:
        if not self._progress:
            return
        if self._task is not None:
            self._progress.remove_task(self._task)
        self._task = self._progress.add_task(name, total=total)

    def advance(self, step: int) -> None:
        if self._progress and self._task is not None:
            self._progress.update(self._task, completed=step + 1)
