from __future__ import annotations

from nnlearn.monitor.instruments.base import Instrument, LayerParameters


class LayerGradNorm(Instrument):
    """The L2 norm of each layer's parameter gradients, `layer_grad_norm` per layer (the global
    `grad_norm` is the monitor's own, every step).

    Read from `.grad` after backward, never through backward hooks, so it works on any model,
    in-place ReLU included. Under run "init" it is the gradient norm at initialisation. One
    fused norm over every gradient and one copy to the host per sampled step (on a CPU, small
    models: one call of the C helper).
    """

    name = "layer_grad_norm"

    def attach(self, monitor) -> None:
        super().attach(monitor)
        self.layers = LayerParameters(monitor.model)

    def on_backward(self, step: int) -> None:
        grads = [p.grad for p in self.layers.params]
        values = self.layers.host_squared_norms(grads)
        for name, norm in self.layers.by_layer(grads, values).items():
            self.monitor.log(self.name, norm, layer=name)
