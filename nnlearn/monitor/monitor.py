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
gradients before any clipping (`grad_norm`, what `clip_grad_norm_` returns; how it is computed
at the least cost is `nnlearn.monitor.signal`'s). The values are read in batches: on a CPU the
loss is read every step (the loop needs it for the NaN stop, and a bare loop reads it too) and
the gradient norms every `CPU_READ_EVERY` steps; on an accelerator both every
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
from itertools import repeat
from typing import Any

import torch
from torch import nn

from nnlearn.measurements import Measurements, MetricsRecorder
from nnlearn.monitor.instruments import Instrument, default_instruments
from nnlearn.monitor.schedule import Sampler, Schedule
from nnlearn.monitor.signal import GradNormSignal

# Batched reads of the every-step signal. On a GPU one read per 32 steps is one synchronisation
# per 32 steps. On a CPU a read is a plain copy, but computing a batch of kept gradients' norms
# costs a few launches per parameter whatever the batch's length (see `signal`), and the
# bookkeeping of a read is a few tens of microseconds: 32 steps share one there too. Triggered
# sampling starts at most 32 steps after a jump; the every-step series itself misses nothing.
CPU_READ_EVERY = 32
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
        self._one_device = len({p.device for p in self.parameters}) <= 1
        self.read_every = CPU_READ_EVERY if on_cpu else DEVICE_READ_EVERY
        self.signal = GradNormSignal(self.parameters, on_cpu, self.read_every)
        # on a CPU the loss is read at once; on an accelerator a sampled step synchronises
        # anyway (its instruments copy their values to the host), so the waiting values are
        # read with it, while on a CPU a read costs the batch's norm computation whenever it
        # comes: there only every `read_every` steps
        self._read_loss_now = on_cpu
        self.step = -1
        self._active: list[Instrument] = []
        self._sampled = False
        self.nonfinite_step: int | None = None
        self._attached = False
        # the every-step losses waiting to be read, (step, loss); the gradient norms wait in
        # `self.signal`
        self._losses: list[tuple[int, Any]] = []
        self._waiting = 0  # steps since the last read
        self._last_loss: float | None = None
        self._jumps_logged = 0
        # steps in [_quiet_from, _quiet_until) are known unsampled (see step_begin)
        self._quiet_from, self._quiet_until = 0, 0

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
            # the groups are asked again after `_groups_at` (the step they were last asked on)
            # from `_groups_next` on, the next step a group is due on (a `Schedule` knows it;
            # another callable is asked every step), and when the step numbers go back
            self._groups_at, self._groups_next = -1, 0 if self._groups else math.inf
            self._attached = True
        return self

    def detach(self) -> None:
        self.flush()
        if self._attached:
            for inst in self.instruments:
                inst.detach()
            self._attached = False
            self._quiet_until = 0  # the next step_begin attaches again

    def __enter__(self) -> Monitor:
        return self.attach()

    def __exit__(self, *exc: object) -> None:
        self.detach()

    # -- the three calls a training loop makes ---------------------------------------------
    def step_begin(self, step: int | None = None) -> None:
        self.step = step = self.step + 1 if step is None else step
        if self._quiet_from <= step < self._quiet_until:  # most steps: nothing samples them
            self._sampled = False
            if self._active:
                self._active = []  # a step whose after_update never came
            return
        if not self._attached:
            self.attach()  # a loop that never entered `with monitor:` still gets measured
        if self.sample_all:
            self._active = list(self.instruments)
            self._sampled = True
        else:
            self._sampled = sampled = self.sampler.due(step)
            if sampled or not self._groups_at < step < self._groups_next:
                self._active = self._due(step, sampled)
            elif self._active:
                self._active = []
            # the steps after this one that neither the sampler nor a group can pick, until
            # the next read of the signal (which can trigger dense sampling)
            self._quiet_from = step + 1
            self._quiet_until = min(self.sampler.next_possible(step), self._groups_next)
        for inst in self._active:
            inst.on_step_begin(step)

    def _due(self, step: int, sampled: bool) -> list[Instrument]:
        """The instruments measuring `step`."""
        active = list(self._follow) if sampled else []
        upcoming = math.inf
        for due, group in self._groups:
            if due(step):
                active += group
            after = due.next_due(step + 1) if isinstance(due, Schedule) else step + 1
            upcoming = min(upcoming, after)
        self._groups_at, self._groups_next = step, upcoming
        if sampled and self._follow:
            self.recorder.add(self.run, step, "sample_triggered", float(self.sampler.dense(step)))
        return active

    def after_backward(self) -> None:
        for inst in self._active:
            inst.on_backward(self.step)
        if self.every_step:
            self.signal.record(self.step, self._sampled)

    def after_update(self, loss: torch.Tensor | float | None = None) -> float | None:
        """Record the step's training loss. Returns it as a float (NaN/Inf included); on an
        accelerator, the latest loss read from the device (see the module docstring)."""
        if self._active:
            for inst in self._active:
                inst.on_update(self.step)
            self._active = []
        if self._sampled:
            self.signal.after_update()
        if loss is not None:
            if type(loss) is not torch.Tensor and not isinstance(loss, torch.Tensor):
                value = float(loss)
            elif self._read_loss_now:
                value = loss.item()
            else:
                value = loss.detach()
            self._losses.append((self.step, value))
            if type(value) is float:
                self._last_loss = value
                if not math.isfinite(value) and self.nonfinite_step is None:
                    self.nonfinite_step = self.step
        self._waiting += 1
        if self._waiting >= self.read_every or (self._sampled and not self._read_loss_now):
            self.flush()
        return None if loss is None else self._last_loss

    def flush(self) -> None:
        """Read the waiting every-step values from the device (one copy) and record them."""
        losses, self._losses = self._losses, []
        self._waiting = 0
        self._quiet_until = 0  # the sampler may see a jump: step_begin asks it again
        if not losses and not len(self.signal):
            return
        # on a CPU every loss was read at once
        on_device = [] if self._read_loss_now else [v for _, v in losses if type(v) is not float]
        steps, norms, finish = self.signal.take(self._stack)
        if not on_device:
            totals = finish(norms.tolist() if norms is not None else [])
        else:
            parts = [self._stack(on_device)] + ([norms] if norms is not None else [])
            values = (torch.cat(parts) if len(parts) > 1 else parts[0]).tolist()  # the one copy
            totals = finish(values[len(on_device) :])
            read = iter(values)
            losses = [(s, v if type(v) is float else next(read)) for s, v in losses]
            bad = [(s, v) for s, v in losses if not math.isfinite(v)]
            if bad and self.nonfinite_step is None:
                self.nonfinite_step = bad[0][0]
            # the first non-finite loss of the batch, if any, is what the loop's NaN stop sees
            self._last_loss = bad[0][1] if bad else losses[-1][1]
        run = self.run
        rows = [(run, s, "train_loss", "", v) for s, v in losses]
        rows += zip(repeat(run), steps, repeat("grad_norm"), repeat(""), totals)
        if not self.sample_all and steps:
            self.sampler.observe(steps, totals, self.step)
            for step, ratio in self.sampler.jumps[self._jumps_logged :]:
                rows.append((run, step, "grad_norm_jump", "", ratio))
            self._jumps_logged = len(self.sampler.jumps)
        self.recorder.extend(rows)

    def _stack(self, tensors: list[torch.Tensor]) -> torch.Tensor:
        if not self._one_device:  # a model spread over devices: gather on the first one
            tensors = [t.to(tensors[0].device) for t in tensors]
        return torch.stack(tensors).float()

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
