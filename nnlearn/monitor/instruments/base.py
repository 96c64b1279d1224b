"""An instrument measures one kind of quantity on the steps its schedule picks.

The monitor calls, on a sampled step only: `on_step_begin` before the forward pass (turn
forward hooks on), `on_backward` once gradients exist and before the optimizer steps, and
`on_update` after the optimizer stepped. Values leave torch (`.item()`, `.tolist()`) before
they reach `monitor.log`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from nnlearn.monitor.schedule import Schedule
from nnlearn.monitor.signal import _native, helper_for

if TYPE_CHECKING:
    from nnlearn.monitor.monitor import Monitor


class Instrument:
    """`schedule` None (the default) follows the monitor's `Sampler`; a `Schedule` of its own
    replaces it."""

    name: str = ""
    default_schedule: Schedule | None = None

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


class LayerParameters:
    """The model's trainable parameters grouped by the layer that owns them, so that per-layer
    norms cost one fused `_foreach_norm` and one device-to-host copy for the whole model, or on
    a CPU, for a model of at most `signal.NATIVE_MAX_NUMEL` float32/float64 parameters, one call
    of the C helper (`native`, None otherwise; see `nnlearn.monitor.signal.helper_for`)."""

    def __init__(self, model: nn.Module):
        self.names: list[str] = []
        self.params: list[torch.Tensor] = []
        self.owner: list[int] = []  # index into `names` for each entry of `params`
        seen: set[int] = set()
        for name, module in layers_with_parameters(model):
            mine = [
                p for p in module.parameters(recurse=False) if p.requires_grad and id(p) not in seen
            ]
            if not mine:
                continue  # shared (tied) weights are counted once, with their first owner
            seen.update(id(p) for p in mine)
            self.owner += [len(self.names)] * len(mine)
            self.names.append(name)
            self.params += mine
        self.numel = sum(p.numel() for p in self.params)
        self.native = helper_for(self.params, _native)

    def squared_norms(self, tensors: list[torch.Tensor | None]) -> torch.Tensor | None:
        """Squared L2 norms of `tensors` (aligned with `params`; None entries give 0), still on
        the device: one fused `_foreach_norm`, so callers can batch the copy to the host."""
        kept = [t for t in tensors if t is not None]
        if not kept:
            return None
        return torch.stack(torch._foreach_norm(kept)).float().square()

    def host_squared_norms(self, tensors: list[torch.Tensor | None]) -> list[float]:
        """`squared_norms` as host floats (empty when every tensor is None): the helper's in
        one call where it reads them all, otherwise torch's and one copy."""
        if self.native is not None:
            squares = self.native.sumsq_each(tensors, torch.Tensor, torch.float32, torch.float64)
            if squares is not None:
                return squares
        squares = self.squared_norms(tensors)
        return [] if squares is None else squares.tolist()

    def by_layer(self, tensors: list, squares: list[float]) -> dict[str, float]:
        """Group squared per-tensor norms (host floats, for the non-None `tensors`) into one
        L2 norm per layer; layers with no tensor are left out."""
        totals: dict[str, float] = {}
        values = iter(squares)
        for t, owner in zip(tensors, self.owner, strict=True):
            if t is not None:
                name = self.names[owner]
                totals[name] = totals.get(name, 0.0) + next(values)
        return {name: total**0.5 for name, total in totals.items()}
