"""The every-step global gradient norm: the L2 norm of all gradients together, before any
clipping (what `clip_grad_norm_` returns), on every optimizer step, at the cost of a bare loop.

What a step costs depends on where the model lives and how large its tensors are:

- On a CPU, a model of at most `NATIVE_MAX_NUMEL` float32/float64 parameters: one call of the C
  helper `_native.sumsq` (built at install where a C compiler is found, see `_native.c`) sums
  the squares of every gradient in place, at once, in about 1 us per tensor plus 0.1 ns per
  value. A gradient that is not a plain dense block (sparse, strided, another dtype, a tensor
  subclass) makes that step take torch's route below instead.
- On an accelerator: one fused `_foreach_norm` per step, kept on the device until the monitor
  reads its batch (no synchronisation per step).
- On a CPU without the helper, a model whose gradients are small (`DEFER_BYTES` for a whole read
  batch): the step only keeps a reference to its gradient tensors, and the batch's norms are
  computed when the monitor reads them (the batch's gradients joined into one tensor per
  parameter shape and one reduction per join, instead of a reduction launch per tensor per step:
  in the middle of a training step, with the caches full of the step's own work, each launch
  costs 10-30 us, the size of the whole overhead budget of a small model). A loop that zeroes
  the gradient tensors in place (`zero_grad(set_to_none=False)`) or changes them after
  `after_backward` (clipping, AMP unscaling) would make kept references read wrong values: the
  sampled first steps, which are computed at once, check for either (the same tensor objects
  again, a changed version counter) and such a loop gets immediate norms for the rest of the
  run; a later change is caught when the batch is read, its steps are dropped rather than
  recorded wrong, and the run goes on with immediate norms. Changes made through `.data` escape
  the version counter.
- On a CPU, larger gradients: the norm at once, one `_foreach_norm` (a reduction per tensor)
  or, when the tensors are small on average, one copy into a vector and one reduction.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from itertools import chain, repeat
from operator import attrgetter, is_not

import torch

# On a CPU, `_foreach_norm` costs one reduction launch per tensor (about 2.5 us each in a tight
# loop); copying the gradients into one vector and taking its norm costs two (about 0.6 us a
# tensor plus the copy). Measured on this project's 2-core machine: equal at 6 tensors of 1.4k
# elements, flattening 1.7x cheaper at 26 tensors of 2k, 1.6x dearer at 6 tensors of 22k.
# Flattened when the mean tensor holds at most this many elements.
FLATTEN_MEAN_NUMEL = 4096
# Gradients kept for a deferred read: at most this many bytes per read batch (8 MB: 2% of the
# ~370 MB a process holds once torch is imported, against a 10% peak-RSS budget).
DEFER_BYTES = 8 * 2**20

# The helper sums on one core, torch's reductions on all of its threads. Up to this many values
# (about 25 us on one core, hot in cache right after the backward pass: the cost of two or three
# torch launches) the helper is the cheaper whatever the thread count. Measured on one thread in
# a training step (`bench/overhead.py`'s scaling models): 0.1M parameters 0.09 ms a step against
# torch's 0.12; at 1M the helper's 0.1 ms was within noise of nothing, but on 8 or more threads
# torch's norm of 1M values takes a fraction of that.
NATIVE_MAX_NUMEL = 2**18

try:  # the C helper of `nnlearn/monitor/_native.c`; absent where no compiler was found
    from nnlearn.monitor import _native
except ImportError:  # pragma: no cover - depends on the install
    _native = None

_GRAD = attrgetter("grad")


def helper_for(parameters: list[torch.Tensor], helper):
    """`helper` (the C helper module, or None where it was not built) if it reads these
    parameters' tensors: all on a CPU, float32/float64, `NATIVE_MAX_NUMEL` values at most;
    otherwise None."""
    if helper is None or sum(p.numel() for p in parameters) > NATIVE_MAX_NUMEL:
        return None
    if all(p.is_cpu and p.dtype in (torch.float32, torch.float64) for p in parameters):
        return helper
    return None


class GradNormSignal:
    def __init__(self, parameters: list[torch.nn.Parameter], on_cpu: bool, read_every: int):
        self.parameters = parameters
        numel = sum(p.numel() for p in parameters)
        size = sum(p.numel() * p.element_size() for p in parameters)
        self.native = helper_for(parameters, _native) is not None
        # the helper's arguments, bound once: the plain tensor type and the dtypes it reads
        self._sumsq_args = (parameters, torch.Tensor, torch.float32, torch.float64)
        self.flatten = on_cpu and numel <= FLATTEN_MEAN_NUMEL * max(1, len(parameters))
        self.defer = (
            not self.native and bool(parameters) and on_cpu and size * read_every <= DEFER_BYTES
        )
        # the join of kept steps needs tensors of one dtype and at least one dimension; the
        # parameters whose shapes agree but for the first dimension are joined together
        self._columns = len({p.dtype for p in parameters}) == 1 and all(p.dim() for p in parameters)
        joins: dict[tuple[int, ...], list[int]] = {}
        for i, p in enumerate(parameters):
            joins.setdefault(tuple(p.shape[1:]), []).append(i)
        self._joins = list(joins.values())  # parameter indices, one list per shape
        self.dropped = 0  # steps whose kept gradients changed before they were read
        # the helper's steps: (step, squared norm); kept steps: (step, its gradient tensors (all
        # parameters', None where a parameter got none), the version counter of the first);
        # computed steps: their norm parts
        self._totals: list[tuple[int, float]] = []
        self._kept: list[tuple[int, list[torch.Tensor | None], int]] = []
        self._computed: list[tuple[int, list[torch.Tensor]]] = []
        self._last = -1  # the last step recorded
        self._first: torch.Tensor | None = None  # the first gradient tensor of the last step
        self._watch: tuple[torch.Tensor, int] | None = None  # a sampled step's, checked later

    def __len__(self) -> int:
        return len(self._totals) + len(self._kept) + len(self._computed)

    def record(self, step: int, sampled: bool) -> None:
        """After the backward pass of `step`; `sampled` steps compute their norm at once."""
        if step == self._last:  # called twice in a step: the last counts
            self._forget_last()
        self._last = step
        if self.native:
            total = _native.sumsq(*self._sumsq_args)
            if total is None:  # a gradient that is not a plain dense block: torch, read at once
                grads = [p.grad for p in self.parameters if p.grad is not None]
                total = sum(float(t) ** 2 for t in self._parts(grads))
            self._totals.append((step, total))
            return
        if self.defer:
            grads = list(map(_GRAD, self.parameters))
            first = grads[0]
            if first is not None:
                if first is self._first:
                    self.defer = False  # the loop reuses its gradient tensors (zeroed in place)
                elif not sampled:
                    self._first = first
                    self._kept.append((step, grads, first._version))
                    return
                elif any(g is not None and g.layout != torch.strided for g in grads):
                    self.defer = False  # sparse gradients (a sparse embedding): not joined
                else:
                    self._first = first
                    self._watch = (first, first._version)
        grads = [p.grad for p in self.parameters if p.grad is not None]
        self._computed.append((step, self._parts(grads) if grads else []))

    def _forget_last(self) -> None:
        if self._totals and self._totals[-1][0] == self._last:
            del self._totals[-1]
        elif self._kept and self._kept[-1][0] == self._last:
            del self._kept[-1]
        elif self._computed and self._computed[-1][0] == self._last:
            del self._computed[-1]

    def after_update(self) -> None:
        """After the optimizer step of a sampled step: a loop that changed its gradients
        after `after_backward` gets immediate norms from now on."""
        if self._watch is not None:
            tensor, version = self._watch
            if tensor._version != version:
                self.defer = False
            self._watch = None

    def _parts(self, grads: list[torch.Tensor]) -> list[torch.Tensor]:
        """Tensors whose squares sum to the squared global norm of `grads`."""
        try:
            if self.flatten and len(grads) > 1:
                return [torch.linalg.vector_norm(torch._C._nn.flatten_dense_tensors(grads))]
            return list(torch._foreach_norm(grads))
        except (NotImplementedError, RuntimeError):
            if all(g.layout == torch.strided for g in grads):
                raise
        # a sparse gradient (a sparse embedding's): the norm of its values
        return [
            torch.linalg.vector_norm(g.coalesce().values() if g.is_sparse else g.to_dense())
            for g in grads
        ]

    def take(
        self, stack: Callable[[list[torch.Tensor]], torch.Tensor]
    ) -> tuple[list[int], torch.Tensor | None, Callable[[list[float]], list[float]]]:
        """The waiting steps, one tensor holding what their norms are read from (None if it
        needs no values), and the function turning that tensor's values into the norms."""
        if self.native:
            totals, self._totals = self._totals, []
            steps, squares = zip(*totals) if totals else ((), ())
            norms = list(map(math.sqrt, squares))
            return list(steps), None, lambda _: norms
        entries, computed = self._kept, self._computed
        self._kept, self._computed = [], []
        intact = [e for e in entries if e[1][0]._version == e[2]]
        if len(intact) < len(entries):
            self.dropped += len(entries) - len(intact)
            self.defer = False  # the loop changes its gradients after after_backward
        kept_steps = [e[0] for e in intact]
        kept = [e[1] for e in intact]
        if not computed:  # the usual case: every step kept
            return kept_steps, self._kept_norms(kept) if kept else None, list
        counts = {len(p) for _, p in computed}
        flat = [t for _, p in computed for t in p]
        tensors = []
        if kept:
            tensors.append(self._kept_norms(kept))
        if flat:
            squares = stack(flat)
            if len(counts) == 1:  # the usual case: the totals are summed on the device
                squares = torch.linalg.vector_norm(squares.view(len(computed), -1), dim=1)
            else:
                squares = squares.square()
            tensors.append(squares)
        values = (torch.cat(tensors) if len(tensors) > 1 else tensors[0]) if tensors else None

        def finish(read: list[float]) -> list[float]:
            rest = iter(read[len(kept) :])
            totals = list(zip(kept_steps, read[: len(kept)]))
            for step, parts in computed:
                if not parts:
                    totals.append((step, 0.0))
                elif len(counts) == 1:
                    totals.append((step, next(rest)))
                else:
                    totals.append((step, math.sqrt(sum(next(rest) for _ in parts))))
            if kept and computed:
                totals.sort()
            return [v for _, v in totals]

        steps = sorted(kept_steps + [s for s, _ in computed])
        return steps, values, finish

    def _kept_norms(self, kept: list[list[torch.Tensor | None]]) -> torch.Tensor:
        """The norms of kept steps. Every step has every gradient (the usual case): the
        gradients over the steps of the parameters whose shapes agree but for the first
        dimension are joined into one tensor, each step's a block of its rows (no copy into
        views, two launches per shape per batch of steps, not per parameter per step);
        otherwise a copy into a vector and a reduction per step."""
        if self._columns and all(map(is_not, chain.from_iterable(kept), repeat(None))):
            n = len(kept)
            per = [
                torch.linalg.vector_norm(
                    torch.cat([grads[i] for grads in kept for i in join]).reshape(n, -1), dim=1
                )
                for join in self._joins
            ]
            return torch.linalg.vector_norm(torch.stack(per), dim=0).float()
        norms = []
        for grads in kept:
            present = [g for g in grads if g is not None]
            vector = torch._C._nn.flatten_dense_tensors(present) if present else torch.zeros(1)
            norms.append(torch.linalg.vector_norm(vector).float())
        return torch.stack(norms)
