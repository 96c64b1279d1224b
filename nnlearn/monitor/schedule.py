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

    def next_due(self, step: int) -> int:
        """The first step at or after `step` that this schedule picks."""
        if step < self.first:
            return step
        return -(-step // self.every) * self.every


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
            self.period = max(1, round((self.planned_steps - FIRST) / TARGET_SAMPLES))
            self._next = max(FIRST, self.period)
        else:
            self.period = None
            self._next = FIRST
        self._dense_until = -1
        self._history: deque[float] = deque(maxlen=HISTORY)
        self._frozen: tuple[float, float] | None = None  # the baseline while a burst lasts
        # the median and threshold of the history, recomputed once HISTORY // 2 new values
        # came in (two sorts per 16 steps, not per batch read)
        self._baseline: tuple[float, float] | None = None
        self._fresh = 0
        self.triggered = 0  # steps sampled because of a jump
        self.jumps: list[tuple[int, float]] = []  # (step, norm / median) of each jump
        self._last_triggered = -1  # the last step above the threshold

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

    def next_possible(self, step: int) -> int:
        """The first step after `step` that `due` can pick, as long as no `observe` comes in
        between (the monitor skips asking for the steps before it)."""
        after = step + 1
        if after < FIRST or (after <= self._dense_until and self.triggered < MAX_TRIGGERED):
            return after
        return max(after, self._next)

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
        before this batch (refreshed every HISTORY // 2 values); during a burst they stay
        those from before it, so the dense samples last as long as the burst (up to the
        MAX_TRIGGERED budget), not only until the history has absorbed it."""
        baseline = self._frozen
        if baseline is None and len(self._history) >= MIN_HISTORY:
            if self._baseline is None or self._fresh >= HISTORY // 2:
                self._baseline = self._median_and_threshold()
            baseline = self._baseline
        if baseline is not None and norms:
            low, high = min(norms), max(norms)
            if low > 0 and math.isfinite(high) and math.log(high) - baseline[0] < baseline[1]:
                self._history.extend(map(math.log, norms))  # no jump in the batch
                self._fresh += len(norms)
                self._frozen = None
                return
        jumped = False
        for step, norm in zip(steps, norms, strict=True):
            if not math.isfinite(norm):
                self._trigger(step, math.inf, now)
                jumped = True
            elif norm > 0:
                value = math.log(norm)
                if baseline is not None and value - baseline[0] >= baseline[1]:
                    self._trigger(step, math.exp(value - baseline[0]), now)
                    jumped = True
                else:
                    self._history.append(value)
                    self._fresh += 1
                    if baseline is None and len(self._history) >= MIN_HISTORY:
                        # the run's first baseline, as soon as there is one (mid-batch)
                        baseline = self._baseline = self._median_and_threshold()
        self._frozen = baseline if jumped and self.triggered < MAX_TRIGGERED else None

    def _median_and_threshold(self) -> tuple[float, float]:
        ordered = sorted(self._history)
        median = ordered[len(ordered) // 2]
        mad = sorted([abs(v - median) for v in ordered])[len(ordered) // 2]
        self._fresh = 0
        return median, max(math.log(JUMP_RATIO), Z * 1.4826 * mad)

    def _trigger(self, step: int, ratio: float, now: int) -> None:
        if not self.jumps or step > self._last_triggered + DENSE:
            self.jumps.append((step, ratio))  # a new jump; the steps of a burst extend it
        self._last_triggered = step
        self._dense_until = max(self._dense_until, now + DENSE)
