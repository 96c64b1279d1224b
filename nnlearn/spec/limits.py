"""Sizes checked against memory before anything is allocated.

`n_samples: 1000000000000` or `hidden: [100000000]` would otherwise end in a MemoryError (or
the kernel's OOM killer) minutes in, or a numpy ValueError with a traceback. The estimate
counts what the probe keeps alive at its peak, for the parts the spec determines (builtin
synthetic data and builtin models; a CSV's width and the user's own data and models are only
known once loaded): generated data in float64 plus its float32 train/val copies; the model's
parameters times the copies the probe holds (the weights, their gradients, two Adam moments,
the initial copy every experiment restarts from, and an experiment's model with its optimizer);
the activations of one batch (forward, backward and the instruments' captures). It errs high:
a spec it accepts fits; a spec it refuses would need at least a large share of the machine.
"""

from __future__ import annotations

import os
from collections.abc import Callable

# bytes per generated value: numpy float64 features and noise (8 + 8), float32 train/val
# tensors (4), a standardised copy (4), slack for the generators' temporaries
DATA_BYTES_PER_VALUE = 40
LABEL_BYTES = 32  # int64 labels, their split copies and the audits' views
# float32 copies of every parameter alive at the peak: weights, grads, 2 Adam moments, the
# initial model, an experiment's model with its grads and moments, a deepcopy in flight
PARAMETER_COPIES = 12
ACTIVATION_COPIES = 3  # forward value, its gradient, an instrument's capture
EVAL_BATCH = 512  # evaluation batch of probe.loop
IMAGE_SIDE = 16  # the `images` generator's 1x16x16 samples
MEMORY_SHARE = 0.5  # of this machine's memory the probe may plan to use


def memory_limit() -> int:
    """Bytes the probe may plan for: MEMORY_SHARE of physical memory or of the cgroup's cap."""
    total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    for cap in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(cap) as f:
                value = f.read().strip()
        except OSError:
            continue
        if value.isdigit() and 0 < int(value) < total:
            total = int(value)
    return int(total * MEMORY_SHARE)


def _features(name: str, n_features: int | None) -> int:
    if name == "images":
        return IMAGE_SIDE * IMAGE_SIDE
    if name == "blobs":
        return n_features or 2
    if name == "linear":
        return n_features or 10
    return 2


def _outputs(name: str, n_classes: int) -> int:
    if name in ("blobs", "spirals", "images"):
        return n_classes  # labels drawn from range(n_classes): the output layer is that wide
    if name in ("circles", "moons", "xor"):
        return 2
    return 1


def sizes_of(spec) -> dict[str, int]:
    """The spec's size fields that the estimate depends on, by field path."""
    d, m = spec.data, spec.model
    sizes: dict[str, int] = {"data.batch_size": d.batch_size}
    synthetic = d.factory is None and d.kind == "synthetic"
    if synthetic:
        sizes["data.n_samples"] = d.n_samples
        if d.name in ("blobs", "linear"):
            sizes["data.n_features"] = _features(d.name, d.n_features)
        if d.name in ("blobs", "spirals", "images"):
            sizes["data.n_classes"] = d.n_classes
    if m.factory is None:
        for i, h in enumerate(m.hidden):
            sizes[f"model.hidden[{i}]"] = h
    return sizes


def estimate(spec, sizes: dict[str, int]) -> dict[str, int]:
    """Bytes by part (data, model, activations) for the spec with `sizes` substituted."""
    d, m = spec.data, spec.model
    synthetic = d.factory is None and d.kind == "synthetic"
    parts = {"data": 0, "model": 0, "activations": 0}
    n = sizes.get("data.n_samples", 0)
    n_features = _features(d.name, sizes.get("data.n_features", d.n_features))
    n_classes = sizes.get("data.n_classes", d.n_classes)
    if synthetic:
        parts["data"] = n * (n_features * DATA_BYTES_PER_VALUE + LABEL_BYTES)
        if d.name == "blobs":
            parts["data"] += n_classes * n_features * 8
        elif d.name == "images":
            parts["data"] += n_classes * (16 + 2 * IMAGE_SIDE * IMAGE_SIDE) * 8
    if m.factory is None:
        hidden = [sizes.get(f"model.hidden[{i}]", h) for i, h in enumerate(m.hidden)]
        if synthetic:
            fan_in, outputs = n_features, _outputs(d.name, n_classes)
        else:  # a CSV's width is known once it is read: count the hidden layers alone
            fan_in, outputs = (hidden[0] if hidden else 1), (hidden[-1] if hidden else 1)
        batch = max(min(sizes["data.batch_size"], n) if n else sizes["data.batch_size"], 1)
        batch = max(batch, min(EVAL_BATCH, n) if n else EVAL_BATCH)
        if m.kind == "cnn":
            channels = [1 if synthetic else fan_in, *hidden]
            params = sum(9 * a * b + b for a, b in zip(channels, channels[1:]))
            params += (channels[-1] + 1) * outputs
            per_sample = sum(hidden) * IMAGE_SIDE * IMAGE_SIDE
        else:
            widths = [fan_in, *hidden, outputs]
            params = sum((a + 1) * b for a, b in zip(widths, widths[1:]))
            per_sample = sum(widths)
        parts["model"] = params * 4 * PARAMETER_COPIES
        parts["activations"] = batch * per_sample * 4 * ACTIVATION_COPIES
    return parts


def largest_fitting(fits: Callable[[int], bool], low: int, high: int) -> int | None:
    """The largest x in [low, high] with fits(x) (fits is monotone), None if none fits."""
    if not fits(low):
        return None
    while low < high:
        mid = (low + high + 1) // 2
        if fits(mid):
            low = mid
        else:
            high = mid - 1
    return low


# the smallest value each field may take (the schema's own bounds)
_MINIMUM = {"data.n_samples": 8, "data.n_classes": 2}


def size_problems(spec, limit: int | None = None) -> list[tuple[str, str]]:
    """[(field path, message)] when the spec would not fit in memory, naming the field that is
    most out of scale and the largest value of it that fits with the rest of the spec."""
    limit = memory_limit() if limit is None else limit
    sizes = sizes_of(spec)
    parts = estimate(spec, sizes)
    total = sum(parts.values())
    if total <= limit:
        return []
    best: tuple[float, str, int] | None = None
    for field, value in sizes.items():
        low = _MINIMUM.get(field, 1)
        if value <= low:
            continue
        fit = largest_fitting(
            lambda x, f=field: sum(estimate(spec, {**sizes, f: x}).values()) <= limit, low, value
        )
        if fit is not None and (best is None or value / fit > best[0]):
            best = (value / fit, field, fit)
    breakdown = ", ".join(f"{k} {_bytes(v)}" for k, v in parts.items() if v)
    head = (
        f"needs about {_bytes(total)} of memory ({breakdown}); the probe plans for at most "
        f"{_bytes(limit)} here ({MEMORY_SHARE:.0%} of this machine's memory)"
    )
    if best is None:
        return [("data", head + "; lower data.n_samples, the model's widths or data.batch_size")]
    _, field, fit = best
    return [(field, f"{sizes[field]:,} {head}; at most {fit:,} fit with the rest of the spec")]


def _bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.3g} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1000
    return f"{n:.3g} PB"


# labels are class indices 0..K-1: a largest label far beyond the labels present (ids such as
# {0, 10**9}) would size the output layer, the class counts and the audits' tables from it
SPARSE_CLASSES = 10_000
SPARSE_RATIO = 100


def label_problem(largest: int, distinct: int, field: str) -> tuple[str, str] | None:
    """A message when the classes implied by the largest label are too many to be meant."""
    n_classes = largest + 1
    if n_classes <= max(SPARSE_CLASSES, SPARSE_RATIO * max(distinct, 1)):
        return None
    return (
        field,
        f"the largest class label is {largest:,} but only {distinct:,} distinct labels appear: "
        f"labels are class indices 0..K-1, and this one would give the model {n_classes:,} "
        "outputs; map the labels to 0..K-1 first (e.g. pandas.factorize) or set data.task: "
        "regression if the target is a number",
    )


def model_problem(widths: list[int], limit: int | None = None) -> tuple[str, str] | None:
    """A message when a builtin MLP of these layer widths (inputs first, outputs last) would
    not fit in memory; the width comes from the data, known only once it is loaded."""
    limit = memory_limit() if limit is None else limit
    params = sum((a + 1) * b for a, b in zip(widths, widths[1:]))
    need = params * 4 * PARAMETER_COPIES
    if need <= limit:
        return None
    return (
        "model.hidden",
        f"a builtin model of widths {widths} has {params:,} parameters and needs about "
        f"{_bytes(need)} of memory; the probe plans for at most {_bytes(limit)} here; "
        "use fewer or narrower layers (or fewer input features / classes)",
    )
