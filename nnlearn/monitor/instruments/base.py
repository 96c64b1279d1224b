"""An instrument measures one kind of quantity on the steps its schedule picks.

The monitor calls, on a scheduled step only: `on_step_begin` before the forward pass (turn
forward hooks on), `on_backward` once gradients exist and before the optimizer steps, and
`on_update` after the optimizer stepped. Values leave torch (`.item()`, `.tolist()`) before
they reach `monitor.log`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import nn

from nnlearn.monitor.schedule import Schedule

if TYPE_CHECKING:
    from nnlearn.monitor.monitor import Monitor


class Instrument:
    name: str = ""
    default_schedule = Schedule()

    def __init__(self, schedule: Schedule | None = None):
        self.schedule = schedule or self.default_schedule
        self.monitor: Monitor | None = None

    def attach(self, monitor: Monitor) -> None:
        self.monitor = monitor

    def detach(self) -> None:
        self.monitor = None

    def on_step_begin(self, step: int) -> None:  # noqa: B027 - optional hook
        pass

    def on_backward(self, step: int) -> None:  # noqa: B027 - optional hook
        pass

    def on_update(self, step: int) -> None:  # noqa: B027 - optional hook
        pass


def layers_with_parameters(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Modules owning trainable parameters directly (Linear, Conv, norms, embeddings, ...)."""
    return [
        (name or type(model).__name__, module)
        for name, module in model.named_modules()
        if any(p.requires_grad for p in module.parameters(recurse=False))
    ]
