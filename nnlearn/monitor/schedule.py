"""When the per-layer instruments compute.

`Sampler` is the monitor's own schedule: the first steps, then a regular schedule sized to the
run, plus dense sampling triggered by a jump in the every-step gradient norm. `Schedule` is a
fixed schedule an instrument can be given instead (as in Cockpit: cheap quantities often,
expensive ones rarely).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class Schedule:
    """The first `first` steps, then every `every`-th step."""

    every: int = 10
    first: int = 3

    def __call__(self, step: int) -> bool:
        return step < self.first or step % self.every == 0


ALWAYS = Schedule(every=1, first=0)

# The first steps are always sampled: the first update is where a too-high learning rate kills
# units or throws the weights out of range (the lr-50 quickstart breaks at step 0).
FIRST = 3
# Regular samples per run when its length is known: 24 keeps a per-layer median stable to a few
# percent on the healthy examples, and puts a sample in every ~4% of the run.
TARGET_SAMPLES = 24
# Unknown length (a user's own loop): the gap between samples grows by this factor, up to
# MAX_GAP steps, so a run of n steps gets about log(n)/log(GROWTH) samples (26 by step 1000).
GROWTH = 1.25
MAX_GAP = 1000
# Triggered sampling. A step's gradient norm is a jump when it is JUMP_RATIO times the median of
# the last HISTORY steps or more, and also Z robust standard deviations (1.4826 MAD of the log
# norms) above it. Minibatch noise of the healthy examples keeps log norms within about 0.3 of
# their median; the unclipped LSTM of tests/test_monitor.py jumps ~100x (log 4.6).
HISTORY = 32
MIN_HISTORY = 8
JUMP_RATIO = 3.0
Z = 5.0
# a jump samples the next DENSE steps (extended by every further jump), at most MAX_TRIGGERED
# steps per run so that a noisy run cannot make every step expensive
DENSE = 16
MAX_TRIGGERED = 64


class Sampler:
    """Decides, once per step, whether the per-layer instruments sample it."""

    def __init__(self, planned_steps: int | None = None):
        self.planned_steps = planned_steps if planned_steps and planned_steps > 0 else None
        if self.planned_steps:
            self.period = max(1, (self.planned_steps - FIRST) // TARGET_SAMPLES)
            self._next = max(FIRST, self.period)
        else:
            self.period = None
            self._next = FIRST
        self._dense_until = -1
        self._history: deque[float] = deque(maxlen=HISTORY)
        self.triggered = 0  # steps sampled because of a jump
        self.jumps: list[tuple[int, float]] = []  # (step, norm / median) of each jump

    def due(self, step: int) -> bool:
        """Whether `step` is sampled; None of this changes state except the regular schedule's
        next step, so calling it once per step (in order) is what the monitor does."""
        if step < FIRST:
            return True
        if step >= self._next:
            self._advance(step)
            return True
        if step <= self._dense_until and self.triggered < MAX_TRIGGERED:
            self.triggered += 1
            return True
        return False

    def dense(self, step: int) -> bool:
        """Whether a sampled `step` was sampled because of a jump (not on the regular schedule)."""
        return step <= self._dense_until and step >= FIRST

    def _advance(self, step: int) -> None:
        if self.period:
            self._next = (step // self.period + 1) * self.period
        else:
            gap = min(MAX_GAP, max(1, math.ceil(step * (GROWTH - 1))))
            self._next = step + gap

    def observe(self, steps: list[int], norms: list[float], now: int) -> None:
        """Feed the gradient norms read for `steps`; a jump among them samples the steps after
        `now` (the step being finished) densely. The median and MAD are those of the history
        before this batch: one sort per batch read, not per step."""
        baseline = None
        if len(self._history) >= MIN_HISTORY:
            ordered = sorted(self._history)
            median = ordered[len(ordered) // 2]
            mad = sorted(abs(v - median) for v in ordered)[len(ordered) // 2]
            baseline = median, max(math.log(JUMP_RATIO), Z * 1.4826 * mad)
        for step, norm in zip(steps, norms, strict=True):
            if not math.isfinite(norm):
                self._trigger(step, math.inf, now)
            elif norm > 0:
                value = math.log(norm)
                if baseline is not None and value - baseline[0] >= baseline[1]:
                    self._trigger(step, math.exp(value - baseline[0]), now)
                self._history.append(value)

    def _trigger(self, step: int, ratio: float, now: int) -> None:
        self.jumps.append((step, ratio))
        self._dense_until = max(self._dense_until, now + DENSE)
