"""What each rank measures locally for the DDP rules, on sampled steps. Nothing here talks to
the other ranks: the rows are gathered once, at the end (`collect.gather_rows`).

- `ddp_batch_sum`, `ddp_batch_sq`: an order-free fingerprint of the batch the model read (the
  sum and the sum of squares of a fixed random projection of each sample). Two ranks with the
  same values read the same samples (R101).
- `ddp_weight_norm` per layer: the L2 norm of the layer's parameters after the update. Under
  DDP every rank holds bit-identical weights; any difference is drift (R102).
- `ddp_local_grad` per layer: the share of the layer's parameters that received a gradient
  from this rank's own backward pass, before DDP averaged it (R103).
"""

from __future__ import annotations

import torch

from nnlearn.monitor.instruments.base import Instrument, LayerParameters
from nnlearn.monitor.schedule import Schedule

# the projection of a sample reads at most this many of its values: enough to tell samples
# apart, bounded cost on images and long sequences
FINGERPRINT_VALUES = 4096


class RankStats(Instrument):
    name = "ddp"
    # 3 + steps/25 sampled steps (23 on a 500-step run): the weight comparison needs several
    # points to show drift growing, each costs one fused norm and a few hooks
    default_schedule = Schedule(every=25, first=3)

    def attach(self, monitor) -> None:
        super().attach(monitor)
        self.layers = LayerParameters(monitor.model)
        self._handles: list = []
        self._got: set[int] = set()
        self._batch: tuple[float, float] | None = None
        generator = torch.Generator().manual_seed(12345)  # the same projection on every rank
        self._projection = torch.randn(FINGERPRINT_VALUES, generator=generator, dtype=torch.float64)

    def detach(self) -> None:
        self._remove()
        super().detach()

    def _remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def on_step_begin(self, step: int) -> None:
        self._remove()
        self._got, self._batch = set(), None
        model = self.monitor.model
        self._handles.append(model.register_forward_pre_hook(self._input, with_kwargs=True))
        for i, p in enumerate(self.layers.params):
            self._handles.append(p.register_hook(self._marker(i)))

    def _marker(self, index: int):
        def mark(grad):
            self._got.add(index)

        return mark

    def _input(self, module, args, kwargs) -> None:
        if self._batch is not None or not torch.is_grad_enabled():
            return  # the step's first training forward reads its batch (not a validation one)
        x = next(
            (a for a in (*args, *kwargs.values()) if isinstance(a, torch.Tensor) and a.dim()),
            None,
        )
        if x is None or x.numel() == 0:
            return
        with torch.no_grad():
            rows = x.detach().reshape(len(x), -1)[:, :FINGERPRINT_VALUES].double()
            s = rows @ self._projection[: rows.shape[1]].to(rows.device)
            self._batch = tuple(torch.stack([s.sum(), s.square().sum()]).tolist())

    def on_update(self, step: int) -> None:
        self._remove()
        log = self.monitor.log
        if self._batch is not None:
            log("ddp_batch_sum", self._batch[0])
            log("ddp_batch_sq", self._batch[1])
        with torch.no_grad():
            squares = self.layers.squared_norms(list(self.layers.params))
        if squares is not None:
            for name, norm in self.layers.by_layer(self.layers.params, squares.tolist()).items():
                log("ddp_weight_norm", norm, layer=name)
        got: dict[str, list[int]] = {}
        for i, owner in enumerate(self.layers.owner):
            got.setdefault(self.layers.names[owner], []).append(i in self._got)
        for name, flags in got.items():
            log("ddp_local_grad", sum(flags) / len(flags), layer=name)
