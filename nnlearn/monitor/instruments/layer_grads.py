from __future__ import annotations

from nnlearn.monitor.instruments.base import Instrument, LayerParameters


class LayerGradNorm(Instrument):
    """The L2 norm of each layer's parameter gradients, `layer_grad_norm` per layer.

    Read from `.grad` after backward, never through backward hooks, so it works on any model,
    in-place ReLU included. Under run "init" it is the gradient norm at initialisation.
    """

    name = "layer_grad_norm"

    def attach(self, monitor) -> None:
        super().attach(monitor)
        self.layers = LayerParameters(monitor.model)

    def on_backward(self, step: int) -> None:
        norms, present = self.layers.norms([p.grad for p in self.layers.params])
        if norms is None:
            return
        for name, value, has in zip(self.layers.names, norms.tolist(), present, strict=True):
            if has:
                self.monitor.log(self.name, value, layer=name)
