"""The measuring layer. It attaches to any training loop, the builtin one included:

    with nnlearn.Monitor(model, optimizer) as mon:
        for step, (x, y) in enumerate(loader):
            mon.step_begin(step)
            loss = loss_fn(model(x), y)
            optimizer.zero_grad(); loss.backward()
            mon.after_backward()
            optimizer.step()
            mon.after_update(loss)
    mon.measurements  # -> metrics table + facts, torch-free, for the rules

Every step costs one `loss.item()`; instruments cost only on the steps their schedule picks.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from nnlearn.measurements import Measurements, MetricsRecorder
from nnlearn.monitor.instruments import Instrument, default_instruments


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
    ):
        self.model = model
        self.optimizer = optimizer
        self.instruments = default_instruments() if instruments is None else instruments
        self.recorder = recorder if recorder is not None else MetricsRecorder()
        self.facts = facts if facts is not None else {}
        self.run = run
        self.sample_all = sample_all  # the init check samples everything on its one step
        self.parameters = [p for p in model.parameters() if p.requires_grad]
        self.step = -1
        self._active: list[Instrument] = []
        self.nonfinite_step: int | None = None
        self._attached = False

    # -- lifecycle -------------------------------------------------------------------------
    def attach(self) -> Monitor:
        if not self._attached:
            for inst in self.instruments:
                inst.attach(self)
            # instruments sharing a schedule are checked once per step: this runs every step
            groups: dict = {}
            for inst in self.instruments:
                key = inst.schedule if _hashable(inst.schedule) else id(inst.schedule)
                groups.setdefault(key, (inst.schedule, []))[1].append(inst)
            self._groups = list(groups.values())
            self._attached = True
        return self

    def detach(self) -> None:
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
        else:
            self._active = [i for due, group in self._groups if due(step) for i in group]
        for inst in self._active:
            inst.on_step_begin(step)

    def after_backward(self) -> None:
        for inst in self._active:
            inst.on_backward(self.step)

    def after_update(self, loss: torch.Tensor | float | None = None) -> float | None:
        """Record the step's training loss; returns it as a float (NaN/Inf included)."""
        for inst in self._active:
            inst.on_update(self.step)
        self._active = []
        if loss is None:
            return None
        value = loss.item() if isinstance(loss, torch.Tensor) else float(loss)
        self.recorder.add(self.run, self.step, "train_loss", value)
        if not math.isfinite(value) and self.nonfinite_step is None:
            self.nonfinite_step = self.step
        return value

    # -- recording -------------------------------------------------------------------------
    def log(self, name: str, value: float, layer: str = "", step: int | None = None) -> None:
        self.recorder.add(self.run, self.step if step is None else step, name, value, layer)

    @property
    def measurements(self) -> Measurements:
        return Measurements(self.recorder.frame(), self.facts)


def _hashable(value: object) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True
