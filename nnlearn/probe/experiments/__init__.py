"""Active experiments: each runs on a fresh copy of the model from the same initial weights.

An experiment is a module here named as in `probe.experiments`, with `run(ctx) -> dict`. What it
measures over time goes into the metrics table under its own run name; its result dict goes to
the findings JSON under `experiments.<name>` and to the rules as `facts:experiments.<name>`.
"""

from __future__ import annotations

import copy
import importlib
import pkgutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from nnlearn.data.bundle import DataBundle
from nnlearn.measurements import MetricsRecorder
from nnlearn.probe.setup import LossFn, build_optimizer, build_scheduler
from nnlearn.probe.step import Step
from nnlearn.spec.schema import Spec


@dataclass
class ExperimentContext:
    spec: Spec
    file: str | None
    bundle: DataBundle
    initial_model: nn.Module  # never trained; copy it with `fresh_model()`
    loss_fn: LossFn
    device: torch.device
    recorder: MetricsRecorder
    facts: dict[str, Any]
    deadline: float  # perf_counter() time by which the experiment must stop
    seed: int
    on_step: Callable[[int], None] | None = None
    notes: list[str] = field(default_factory=list)
    # the step the main run used (the user's train_step, or the builtin one as the setup
    # check configured it); None: the builtin step over `loss_fn`
    step_fn: Step | None = None

    @property
    def step(self) -> Step:
        return self.step_fn if self.step_fn is not None else Step(self.loss_fn)

    def scheduler(self, optimizer: torch.optim.Optimizer):
        """A fresh copy of the spec's schedule on `optimizer`, or None."""
        return build_scheduler(self.spec, optimizer, self.file)

    def fresh_model(self) -> nn.Module:
        return copy.deepcopy(self.initial_model).to(self.device)

    def optimizer(self, model: nn.Module, lr: float | None = None) -> torch.optim.Optimizer:
        return build_optimizer(self.spec, model, self.file, lr=lr)

    def time_left(self) -> float:
        return self.deadline - time.perf_counter()


def available() -> list[str]:
    return sorted(i.name for i in pkgutil.iter_modules(__path__) if not i.name.startswith("_"))


def run_experiment(name: str, ctx: ExperimentContext) -> dict[str, Any]:
    module = importlib.import_module(f"{__name__}.{name}")
    return module.run(ctx)
