from __future__ import annotations

import torch

from nnlearn.monitor.instruments.base import Instrument


class GlobalGradNorm(Instrument):
    """The L2 norm of all parameter gradients together (what clip_grad_norm_ reports), on its
    schedule, for a monitor whose every-step signal is off (`Monitor(every_step=False)`);
    with it on, the monitor already records `grad_norm` on every step and this does nothing."""

    name = "grad_norm"

    def on_backward(self, step: int) -> None:
        if self.monitor.every_step:
            return
        grads = [p.grad for p in self.monitor.parameters if p.grad is not None]
        if not grads:
            self.monitor.log("grad_norm", 0.0)
            return
        norms = torch._foreach_norm(grads)
        self.monitor.log("grad_norm", torch.linalg.vector_norm(torch.stack(norms)).item())
