"""The measuring layer. It attaches to any training loop, the builtin one included:

    with nnlearn.Monitor(model, optimizer, planned_steps=1000) as mon:
        for step, (x, y) in enumerate(loader):
            mon.step_begin(step)
            loss = loss_fn(model(x), y)
            optimizer.zero_grad(); loss.backward()
            mon.after_backward()
            optimizer.step()
            mon.after_update(loss)
    mon.measurements  # -> metrics table + facts, torch-free, for the rules

Every optimizer step records the training loss (`train_loss`) and the global L2 norm of all
gradients before any clipping (`grad_norm`, one fused `_foreach_norm`; what
`clip_grad_norm_` returns). The values stay on the device and are read in batches: on a CPU
the loss is read every step (the loop needs it for the NaN stop, and a bare loop reads it too)
and the gradient norms every `CPU_READ_EVERY` steps; on an accelerator both every
`DEVICE_READ_EVERY` steps and on sampled steps, so no step waits for the device just to be
measured. There, `after_update` returns the latest loss read, and the NaN stop of a loop that
uses it comes up to `DEVICE_READ_EVERY - 1` steps late.

The per-layer instruments cost more (a few fused reductions per layer and one copy to the host)
and sample on the `Sampler`'s schedule: the first steps, then about `TARGET_SAMPLES` steps
spread over `planned_steps` (a geometric schedule when the length is unknown), and densely for
a while after the gradient norm jumps.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from nnlearn.measurements import Measurements, MetricsRecorder
from nnlearn.monitor.instruments import Instrument, default_instruments
from nnlearn.monitor.schedule import Sampler

# Batched reads of the every-step signal. On a CPU a read is a plain copy, 8 keeps the
# triggered sampling at most 8 steps behind a jump; on a GPU one read per 32 steps is one
# synchronisation per 32 steps.
CPU_READ_EVERY = 8
DEVICE_READ_EVERY = 32


class Monitor:
    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer | None = None,
        *,
        instruments: list[Instrument] | None = None,
        recorder: MetricsRecorder | None = None,
        facts: dict[str, Any] | None = None,
        run: str = "main",
        sample_all: bool = False,
        planned_steps: int | None = None,
        every_step: bool = True,
    ):
        self.model = model
        self.optimizer = optimizer
        self.instruments = default_instruments() if instruments is None else instruments
        self.recorder = recorder if recorder is not None else MetricsRecorder()
        self.facts = facts if facts is not None else {}
        self.run = run
        self.sample_all = sample_all  # the init check samples everything on its one step
        self.every_step = every_step  # the every-step loss and gradient norm
        self.sampler = Sampler(planned_steps)
        self.parameters = [p for p in model.parameters() if p.requires_grad]
        on_cpu = all(p.device.type == "cpu" for p in self.parameters)
        self.read_every = CPU_READ_EVERY if on_cpu else DEVICE_READ_EVERY
        self._read_loss_now = on_cpu
        self.step = -1
        self._active: list[Instrument] = []
        self._sampled = False
        self.nonfinite_step: int | None = None
        self._attached = False
        # the every-step signal waiting to be read: (step, loss) and (step, per-tensor norms)
        self._losses: list[tuple[int, Any]] = []
        self._norms: list[tuple[int, list[torch.Tensor]]] = []
        self._last_loss: float | None = None
        self._jumps_logged = 0

    # -- lifecycle -------------------------------------------------------------------------
    def attach(self) -> Monitor:
        if not self._attached:
            for inst in self.instruments:
                inst.attach(self)
            # instruments without a schedule of their own follow the sampler; the others
            # sharing a schedule are checked once per step
            self._follow = [i for i in self.instruments if i.schedule is None]
            groups: dict = {}
            for inst in self.instruments:
                if inst.schedule is None:
                    continue
                key = inst.schedule if _hashable(inst.schedule) else id(inst.schedule)
                groups.setdefault(key, (inst.schedule, []))[1].append(inst)
            self._groups = list(groups.values())
            self._attached = True
        return self

    def detach(self) -> None:
        self.flush()
        if self._attached:
            for inst in self.instruments:
                inst.detach()
            self._attached = False

    def __enter__(self) -> Monitor:
        return self.attach()

    def __exit__(self, *exc: object) -> None:
        self.detach()

    # -- the three calls a training loop makes ---------------------------------------------
    def step_begin(self, step: int | None = None) -> None:
        self.step = self.step + 1 if step is None else step
        step = self.step
        if not self._attached:
            self.attach()  # a loop that never entered `with monitor:` still gets measured
        if self.sample_all:
            self._active = list(self.instruments)
            self._sampled = True
        else:
            self._sampled = self.sampler.due(step)
            active = list(self._follow) if self._sampled else []
            for due, group in self._groups:
                if due(step):
                    active += group
            self._active = active
            if self._sampled and self._follow:
                self.recorder.add(
                    self.run, step, "sample_triggered", float(self.sampler.dense(step))
                )
        for inst in self._active:
            inst.on_step_begin(step)

    def after_backward(self) -> None:
        for inst in self._active:
            inst.on_backward(self.step)
        if self.every_step:
            grads = [p.grad for p in self.parameters if p.grad is not None]
            norms = torch._foreach_norm(grads) if grads else []
            if self._norms and self._norms[-1][0] == self.step:
                self._norms[-1] = (self.step, norms)  # called twice in a step: the last counts
            else:
                self._norms.append((self.step, norms))

    def after_update(self, loss: torch.Tensor | float | None = None) -> float | None:
        """Record the step's training loss. Returns it as a float (NaN/Inf included); on an
        accelerator, the latest loss read from the device (see the module docstring)."""
        for inst in self._active:
            inst.on_update(self.step)
        self._active = []
        value: Any = None
        if isinstance(loss, torch.Tensor):
            value = loss.item() if self._read_loss_now else loss.detach()
        elif loss is not None:
            value = float(loss)
        if value is not None:
            self._losses.append((self.step, value))
            if isinstance(value, float):
                self._last_loss = value
                if not math.isfinite(value) and self.nonfinite_step is None:
                    self.nonfinite_step = self.step
        if (
            self._sampled
            or len(self._norms) >= self.read_every
            or (len(self._losses) >= self.read_every)
        ):
            self.flush()
        return None if loss is None else self._last_loss

    def flush(self) -> None:
        """Read the waiting every-step values from the device (one copy) and record them."""
        losses, self._losses = self._losses, []
        norms, self._norms = self._norms, []
        if not losses and not norms:
            return
        on_device = [v for _, v in losses if not isinstance(v, float)]
        flat = [t for _, ns in norms for t in ns]
        device_values: list[float] = []
        if on_device or flat:
            device = (on_device or flat)[0].device
            parts = [torch.stack([t.to(device) for t in on_device]).float()] if on_device else []
            if flat:
                parts.append(torch.stack([t.to(device) for t in flat]).float().square())
            device_values = torch.cat([p.reshape(-1) for p in parts]).tolist()  # the one copy
        read = iter(device_values)
        rows = []
        for step, v in losses:
            value = v if isinstance(v, float) else next(read)
            rows.append((self.run, step, "train_loss", "", value))
            if not math.isfinite(value) and self.nonfinite_step is None:
                self.nonfinite_step = step
        if losses:
            # the first non-finite loss of the batch, if any, is what the loop's NaN stop sees
            bad = [r[4] for r in rows if not math.isfinite(r[4])]
            self._last_loss = bad[0] if bad else rows[-1][4]
        steps, totals = [], []
        for step, ns in norms:
            total = math.sqrt(sum(next(read) for _ in ns)) if ns else 0.0
            steps.append(step)
            totals.append(total)
            rows.append((self.run, step, "grad_norm", "", total))
        if not self.sample_all and steps:
            self.sampler.observe(steps, totals, self.step)
            for step, ratio in self.sampler.jumps[self._jumps_logged :]:
                rows.append((self.run, step, "grad_norm_jump", "", ratio))
            self._jumps_logged = len(self.sampler.jumps)
        self.recorder.extend(rows)

    # -- recording -------------------------------------------------------------------------
    def log(self, name: str, value: float, layer: str = "", step: int | None = None) -> None:
        self.recorder.add(self.run, self.step if step is None else step, name, value, layer)

    @property
    def measurements(self) -> Measurements:
        self.flush()
        return Measurements(self.recorder.frame(), self.facts)


def _hashable(value: object) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True
