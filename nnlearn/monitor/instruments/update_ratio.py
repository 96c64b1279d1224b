from __future__ import annotations

import torch
from torch import nn

from nnlearn.monitor.instruments.base import Instrument, LayerParameters


class UpdateRatio(Instrument):
    """||W_after - W_before|| / ||W_before|| per layer, `update_ratio` (Karpathy's update/weight
    ratio; healthy training sits around 1e-3).

    The pre-step copy of the weights is taken only on sampled steps, between backward and the
    optimizer step, and dropped right after: memory costs one copy of the parameters, briefly,
    and the difference is taken in place in that copy. On a CPU, for a small model, the C helper
    copies them into one float64 buffer and takes the differences from it, one call each.
    Needs the optimizer (without one, as in the init check, nothing steps).
    """

    name = "update_ratio"

    def attach(self, monitor) -> None:
        super().attach(monitor)
        self.layers = LayerParameters(monitor.model)
        self._before: list[torch.Tensor] | torch.Tensor | None = None
        self._sizes: torch.Tensor | list[float] | None = None
        # the helper's arguments but the buffer: the parameters, their type, the dtypes read;
        # it reads only parameters of exactly that type
        self._args = (self.layers.params, nn.Parameter, torch.float32, torch.float64)
        plain = all(type(p) is nn.Parameter for p in self.layers.params)
        self._native = self.layers.native if plain else None

    def on_backward(self, step: int) -> None:
        if self.monitor.optimizer is None:
            return  # nothing will step (the init check): no update to measure
        if self._native is not None:
            buffer = torch.empty(self.layers.numel, dtype=torch.float64)
            sizes = self._native.snapshot(*self._args, buffer, torch.Tensor)
            if sizes is not None:
                self._before, self._sizes = buffer, sizes
                return
        with torch.no_grad():
            params = [p.detach() for p in self.layers.params]
            self._sizes = self.layers.squared_norms(params)
            self._before = torch._foreach_mul(params, 1.0)  # the one copy

    def on_update(self, step: int) -> None:
        before, self._before = self._before, None
        if before is None:
            return
        params = self.layers.params
        if isinstance(before, torch.Tensor):  # the helper's buffer
            moved = self._native.diffsq(*self._args, before, torch.Tensor)
            if moved is None:  # a parameter is no longer a plain block: no sample this step
                return
            squares = moved + self._sizes
        else:
            with torch.no_grad():
                torch._foreach_sub_(before, [p.detach() for p in params])  # -dW, in place
                squares = torch.cat([self.layers.squared_norms(before), self._sizes]).tolist()
        n = len(params)
        moved = self.layers.by_layer(params, squares[:n])
        size = self.layers.by_layer(params, squares[n:])
        for name, d in moved.items():
            if size[name] > 0:
                self.monitor.log(self.name, d / size[name], layer=name)
