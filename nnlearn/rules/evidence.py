"""Per-layer evidence the training-dynamics rules share (pure pandas/numpy, torch-free).

The instruments log per-layer quantities on sampled steps: `layer_grad_norm`, `update_ratio`,
`act_rms`, `dead_frac`, `saturated_frac`, `weight_row_spread`. Layers come in the order they
were first recorded: registration order for parameter quantities (`named_modules()`), forward
order for activation quantities. "First" and "last" layer mean the first and last of that
order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pandas costs 0.25s to import: `nnlearn rules` and `explain` skip it
    import pandas as pd

    from nnlearn.measurements import Measurements


def table(m: Measurements, name: str, run: str = "main") -> pd.DataFrame:
    """step x layer, finite values only (NaN where a layer was not measured)."""
    t = m.layers(name, run)
    if t.empty:
        return t
    return t.where(np.isfinite(t.to_numpy(float)))


def first_half(t: pd.DataFrame) -> pd.DataFrame:
    """The sampled steps in the first half of the run (at least three of them)."""
    if t.empty:
        return t
    last = t.index.max()
    head = t[t.index <= last / 2]
    return head if len(head) >= 3 else t.iloc[:3]


def gradient_flow(m: Measurements, run: str = "main") -> pd.DataFrame:
    """Per sampled step: the first and the last layer's gradient norm and their ratio.

    Steps where the first layer's gradient is exactly 0 are left out: that is no gradient at
    all (a dead path or a detached layer), not a small one."""
    t = table(m, "layer_grad_norm", run)
    if t.empty or t.shape[1] < 2:
        import pandas as pd

        return pd.DataFrame(columns=["first", "last", "ratio"])
    first, last = t.iloc[:, 0], t.iloc[:, -1]
    keep = (first > 0) & (last > 0)
    import pandas as pd

    out = pd.DataFrame({"first": first[keep], "last": last[keep]})
    out["ratio"] = out["first"] / out["last"]
    out.attrs["layers"] = (str(t.columns[0]), str(t.columns[-1]))
    return out


def learnt_most(m: Measurements, fraction: float, head: int = 5) -> bool:
    """The main run's training loss ended (median of its last tenth) at or below `fraction` of
    where it began (median of its first `head` steps), both finite and positive."""
    loss = m.series("train_loss").dropna()
    if len(loss) < 2 * head:
        return False
    start = float(loss.iloc[:head].median())
    end = float(loss.iloc[-max(head, len(loss) // 10) :].median())
    finite = np.isfinite(start) and np.isfinite(end)
    return bool(finite and start > 0 and end <= fraction * start)


def largest_update(m: Measurements, before: int | None = None) -> tuple[float, int] | None:
    """The largest median-over-layers update ratio of the main run (before step `before`),
    with its step: how far one optimizer step moved the weights, relative to their size."""
    t = table(m, "update_ratio")
    if before is not None and not t.empty:
        t = t[t.index < before]
    if t.empty:
        return None
    per_step = t.median(axis=1, skipna=True).dropna()
    if per_step.empty:
        return None
    step = int(per_step.idxmax())
    return float(per_step[step]), step


def layer_medians(m: Measurements, name: str, run: str = "main") -> pd.Series:
    """Per layer, the median over the sampled steps of the run. Instruments sample the first
    three steps, then on a regular schedule, and densely after a gradient-norm jump; when at
    least two samples follow those first three, only they count, so a run is judged on its
    course rather than on its first steps, and the triggered ones are left out."""
    t = table(m, name, run)
    if t.empty:
        import pandas as pd

        return pd.Series(dtype=float)
    # steps sampled densely after a gradient-norm jump describe the jump, not the run's course
    triggered = m.series("sample_triggered", run)
    if len(triggered):
        regular = t[~t.index.isin(triggered.index[triggered.to_numpy() > 0])]
        if len(regular):
            t = regular
    later = t[t.index >= 3]
    if len(later) >= 2:
        t = later
    return t.median(axis=0, skipna=True).dropna()


def flagged_layers(m: Measurements, name: str, threshold: float):
    """Layers whose `layer_medians` of `name` reach `threshold`, the same quantity at init, and
    the evidence dict both show (A501 dead units, A502 saturation)."""
    values = layer_medians(m, name)
    flagged = values[values >= threshold]
    at_init = layer_medians(m, name, "init")
    evidence = {
        "layers": {str(k): float(v) for k, v in flagged.items()},
        "at_init": {str(k): float(at_init[k]) for k in flagged.index if k in at_init.index},
    }
    return flagged, at_init, evidence


def burst_after_healthy_init(
    m: Measurements, flagged, at_init, threshold: float, burst_ratio: float
) -> tuple[float, int] | None:
    """(ratio, step) of the update that broke layers which were below `threshold` at init, when
    that update moved the weights by `burst_ratio` of their size or more; else None."""
    healthy = not at_init.empty and all(at_init.get(k, 0.0) < threshold for k in flagged.index)
    burst = largest_update(m)
    return burst if healthy and burst and burst[0] >= burst_ratio else None
