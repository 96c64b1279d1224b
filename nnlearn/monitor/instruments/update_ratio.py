from __future__ import annotations

import torch

from nnlearn.monitor.instruments.base import Instrument, LayerParameters


class UpdateRatio(Instrument):
    """||W_after - W_before|| / ||W_before|| per layer, `update_ratio` (Karpathy's update/weight
    ratio; healthy training sits around 1e-3).

    The pre-step copy of the weights is taken only on sampled steps, between backward and the
    optimizer step, and dropped right after: memory costs one copy of the parameters, briefly,
    and the difference is taken in place in that copy.
    Needs the optimizer (without one, as in the init check, nothing steps).
    """

    name = "update_ratio"

    def attach(self, monitor) -> None:
        super().attach(monitor)
        self.layers = LayerParameters(monitor.model)
        self._before: list[torch.Tensor] | None = None

    def on_backward(self, step: int) -> None:
        if self.monitor.optimizer is None:
            return  # nothing will step (the init check): no update to measure
        with torch.no_grad():
            params = [p.detach() for p in self.layers.params]
            self._sizes = self.layers.squared_norms(params)
            self._before = torch._foreach_mul(params, 1.0)  # the one copy

    def on_update(self, step: int) -> None:
        before, self._before = self._before, None
        if before is None:
            return
        with torch.no_grad():
            torch._foreach_sub_(before, [p.detach() for p in self.layers.params])  # -dW, in place
            squares = torch.cat([self.layers.squared_norms(before), self._sizes]).tolist()
        n = len(before)
        moved = self.layers.by_layer(before, squares[:n])
        size = self.layers.by_layer(before, squares[n:])
        for name, d in moved.items():
            if size[name] > 0:
                self.monitor.log(self.name, d / size[name], layer=name)
