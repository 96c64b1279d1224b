from __future__ import annotations

import torch

from nnlearn.monitor.instruments.base import Instrument, layers_with_parameters
from nnlearn.monitor.schedule import Schedule


class WeightSymmetry(Instrument):
    """How different a layer's units are from each other, `weight_row_spread` per layer: the
    norm of the rows of [W | b] minus their mean row, over the norm of [W | b]. Random init
    gives about 1; 0 means every unit of the layer is the same function of its input, and stays
    so under gradient descent (the symmetry is never broken). Measured on the first step only:
    the weights at init are what matters.
    """

    name = "weight_row_spread"
    default_schedule = Schedule(every=2**62, first=1)

    def on_step_begin(self, step: int) -> None:
        rows = []
        with torch.no_grad():
            for name, module in layers_with_parameters(self.monitor.model):
                if isinstance(module, torch.nn.Embedding):
                    # rows are tokens, not units: each is trained by its own tokens, so equal
                    # rows (a zero placeholder table) are no symmetry (issue 9)
                    continue
                weight = getattr(module, "weight", None)
                if not isinstance(weight, torch.Tensor) or weight.dim() < 2 or len(weight) < 2:
                    continue
                w = weight.detach().reshape(len(weight), -1).float()
                bias = getattr(module, "bias", None)
                if isinstance(bias, torch.Tensor) and bias.shape == (len(weight),):
                    w = torch.cat([w, bias.detach().float()[:, None]], dim=1)
                spread = (w - w.mean(0)).norm() / w.norm().clamp_min(1e-30)
                rows.append((name, spread))
        if rows:
            values = torch.stack([s.to(rows[0][1].device) for _, s in rows]).tolist()
            for (name, _), value in zip(rows, values, strict=True):
                self.monitor.log(self.name, value, layer=name)
