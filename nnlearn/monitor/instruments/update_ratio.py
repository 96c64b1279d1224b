from __future__ import annotations

import torch

from nnlearn.monitor.instruments.base import Instrument, LayerParameters
from nnlearn.monitor.schedule import Schedule


class UpdateRatio(Instrument):
    """||W_after - W_before|| / ||W_before|| per layer, `update_ratio` (Karpathy's update/weight
    ratio; healthy training sits around 1e-3).

    The pre-step copy of the weights is taken only on sampled steps, between backward and the
    optimizer step, and dropped right after: memory costs one copy of the parameters, briefly.
    Needs the optimizer (without one, as in the init check, nothing steps).
    """

    name = "update_ratio"
    default_schedule = Schedule(every=50, first=3)

    def attach(self, monitor) -> None:
        super().attach(monitor)
        self.layers = LayerParameters(monitor.model)
        self._before: list[torch.Tensor] | None = None

    def on_backward(self, step: int) -> None:
        if self.monitor.optimizer is None:
            return  # nothing will step (the init check): no update to measure
        with torch.no_grad():
            self._before = torch._foreach_mul([p.detach() for p in self.layers.params], 1.0)

    def on_update(self, step: int) -> None:
        before, self._before = self._before, None
        if before is None:
            return
        with torch.no_grad():
            delta = torch._foreach_sub([p.detach() for p in self.layers.params], before)
            squares = self.layers.squared_norms(delta + before).tolist()
        n = len(before)
        moved = self.layers.by_layer(before, squares[:n])
        size = self.layers.by_layer(before, squares[n:])
        for name, d in moved.items():
            if size[name] > 0:
                self.monitor.log(self.name, d / size[name], layer=name)
