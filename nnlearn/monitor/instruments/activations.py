from __future__ import annotations

from functools import partial

import torch
from torch import nn

from nnlearn.monitor.instruments.base import Instrument, layers_with_parameters
from nnlearn.monitor.signal import _native

# A unit is dead when it is non-zero on fewer than 1% of the batch's samples (SageMaker
# Debugger's `threshold_inactivity` of 1%).
DEAD_ACTIVITY = 0.01
# A value is saturated at its extreme: a sigmoid output below 0.01 or above 0.99, a tanh output
# beyond +-0.99; the derivative there is under 4% of its maximum, so little gradient passes back.
EDGE = 0.01
# On a CPU the C helper (`nnlearn/monitor/_native.c`) computes a layer's statistics in one pass
# on one core, up to this many values (about 3 ms); beyond it torch's kernels, on all threads.
NATIVE_MAX_VALUES = 2**20


class ActivationStats(Instrument):
    """Statistics of the activations every parameterised layer receives, per layer:
    `act_mean`, `act_std`, `act_rms` (scale through depth), `dead_frac` (share of units
    non-zero on < 1% of the batch) and, where the values are bounded like a sigmoid's [0, 1]
    or a tanh's [-1, 1], `saturated_frac` (share of the values at the extremes, where the
    derivative is under 4% of its maximum; the quantity Glorot & Bengio 2010 plot).

    The input of layer `net.2` is the output of whatever ran before it, so this needs neither
    activation modules (models that call `F.relu` in `forward` are measured the same) nor
    backward hooks (in-place ReLU is fine). The model's own input is recognised by its storage,
    and the first layer called is assumed to read the data: both are left out, data are not
    activations. Forward pre-hooks exist only on sampled steps, from
    `on_step_begin` to `on_update`; the values of all layers leave the device in one copy.
    """

    name = "activations"

    def attach(self, monitor) -> None:
        super().attach(monitor)
        model = monitor.model
        # the layers and their hooks are built once; registering them is all a sampled step does
        self._hooks = [
            (module, partial(self._layer_input, name, 1 if _is_conv(module) else -1))
            for name, module in layers_with_parameters(model)
            if module is not model  # the model's own input is the data
        ]
        self._handles: list = []
        self._pending: dict[str, tuple[int, torch.Tensor]] = {}
        self._inputs: set[int] = set()
        self._first_seen = False
        self._helper = _native  # the C helper, None where it was not built

    def detach(self) -> None:
        self._remove_hooks()
        super().detach()

    def _remove_hooks(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def on_step_begin(self, step: int) -> None:
        model = self.monitor.model
        self._remove_hooks()
        self._pending, self._inputs, self._first_seen = {}, set(), False
        self._handles.append(model.register_forward_pre_hook(self._model_input))
        self._handles += [module.register_forward_pre_hook(hook) for module, hook in self._hooks]

    def _model_input(self, module, args) -> None:
        for a in args:
            if isinstance(a, torch.Tensor):
                self._inputs.add(a.untyped_storage().data_ptr())

    def _layer_input(self, name: str, unit_dim: int, module, args) -> None:
        first, self._first_seen = not self._first_seen, True
        if first or name in self._pending or not args or not isinstance(args[0], torch.Tensor):
            return  # the first layer reads the data; a repeated call is measured once
        x = args[0]
        if not x.is_floating_point() or x.dim() < 2 or x.numel() == 0:
            return
        if x.untyped_storage().data_ptr() in self._inputs:
            return  # the data, as given to the model
        with torch.no_grad():
            self._pending[name] = activation_stats(x.detach(), unit_dim, self._helper)

    def on_update(self, step: int) -> None:
        self._remove_hooks()
        pending, self._pending = self._pending, {}
        if not pending:
            return
        on_device = [t for _, t in pending.values() if isinstance(t, torch.Tensor)]
        if on_device:  # one copy of every layer's values computed by torch
            device = on_device[0].device
            read = iter(torch.cat([t.to(device) for t in on_device]).tolist())
        for name, (samples, t) in pending.items():
            row = [next(read) for _ in range(len(t))] if isinstance(t, torch.Tensor) else t
            stats = summarise(samples, row)
            for key in ("act_mean", "act_std", "act_rms", "dead_frac"):
                self.monitor.log(key, stats[key], layer=name)
            saturated = saturated_share(stats)
            if saturated is not None:
                self.monitor.log("saturated_frac", saturated, layer=name)


def activation_stats(
    x: torch.Tensor, unit_dim: int, helper=_native
) -> tuple[int, torch.Tensor | list[float]]:
    """The number of samples per unit, and [sum, sum of squares, min, max, #beyond +-(1-EDGE),
    #below EDGE, then per unit its number of non-zero values]: on a CPU, up to
    `NATIVE_MAX_VALUES` float32 values, host floats from the C helper's one pass (about 5 us
    for 4k values); otherwise on the device, from a few fused reductions (about 100 us per
    layer on a CPU, a dozen launches inside a training step). Everything else happens on the
    host in `summarise`."""
    x = x.float()
    flat = x.movedim(unit_dim, -1).reshape(-1, x.shape[unit_dim])
    if helper is not None and flat.is_cpu and flat.numel() <= NATIVE_MAX_VALUES:
        rows, units = flat.shape
        row = helper.activation_stats(
            flat, torch.Tensor, torch.float32, rows, units, 1 - EDGE, EDGE
        )
        if row is not None:
            return rows, row
    lo, hi = torch.aminmax(flat)
    head = torch.stack(
        [
            flat.sum(),
            flat.square().sum(),
            lo,
            hi,
            flat.abs().gt(1 - EDGE).sum(),
            flat.lt(EDGE).sum(),
        ]
    )
    return flat.shape[0], torch.cat([head, flat.ne(0).sum(0)])


def summarise(samples: int, row: list[float]) -> dict[str, float]:
    total, squares, lo, hi, beyond, below, *nonzero = row
    units = len(nonzero)
    values = samples * units
    mean = total / values
    var = max(squares / values - mean * mean, 0.0)
    return {
        "act_mean": mean,
        "act_std": var**0.5,
        "act_rms": (squares / values) ** 0.5,
        "min": lo,
        "max": hi,
        "dead_frac": sum(n < DEAD_ACTIVITY * samples for n in nonzero) / units,
        "zeros": 1 - sum(nonzero) / values,
        # for values in [0, 1], beyond 1 - EDGE is above 1 - EDGE
        "sat01": (beyond + below) / values,
        "sat11": beyond / values,
    }


def _is_conv(module: nn.Module) -> bool:
    """Modules whose input has its units (channels) on dim 1 rather than last."""
    channel_first = (
        nn.modules.conv._ConvNd,
        nn.modules.batchnorm._BatchNorm,
        nn.modules.instancenorm._InstanceNorm,
        nn.GroupNorm,
    )
    return isinstance(module, channel_first)


def saturated_share(stats: dict[str, float]) -> float | None:
    """Share of saturated units for bounded activations, None for unbounded ones (ReLU & co).

    The bound is read from the values, not from the model's modules: in [0, 1] with no exact
    zeros (ReLU gives many, a sigmoid none) is sigmoid-like; in [-1, 1] with negatives is
    tanh-like."""
    lo, hi = stats["min"], stats["max"]
    if lo >= 0 and hi <= 1 and stats["zeros"] < 0.01:
        return stats["sat01"]
    if lo < 0 and lo >= -1 and hi <= 1:
        return stats["sat11"]
    return None
