from __future__ import annotations

import torch

from nnlearn.monitor.instruments.base import Instrument, LayerParameters


class UpdateRatio(Instrument):
    """||W_after - W_before|| / ||W_before|| per layer, `update_ratio` (Karpathy's update/weight
    ratio; healthy training sits around 1e-3).

    The pre-step copy of the weights is taken only on sampled steps, between backward and the
    optimizer step, and dropped right after: memory costs one copy of the parameters, briefly.
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
            self._before = [p.detach().clone() for p in self.layers.params]

    def on_update(self, step: int) -> None:
        before, self._before = self._before, None
        if before is None:
            return
        with torch.no_grad():
            delta = torch._foreach_sub([p.detach() for p in self.layers.params], before)
            moved, _ = self.layers.norms(delta)
            size, _ = self.layers.norms(before)
            if moved is None:
                return
            values = torch.stack([moved, size]).tolist()
        for name, d, w in zip(self.layers.names, *values, strict=True):
            if w > 0:
                self.monitor.log(self.name, d / w, layer=name)
