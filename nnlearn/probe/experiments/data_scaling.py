"""data_scaling: validation after training on 25, 50 and 100% of the training data.

The learning-curve diagnostic (Ng, Machine Learning Yearning, ch. 28-30; Banko and Brill,
2001): train the same model for the same number of steps on growing subsets and read
validation loss against the data size. Still falling steeply at 100% while the model fits its
training data far better than validation means more data would help (rule F803); flat means
the data is not what limits the model.

The 25% and 50% points are fresh copies of the model trained with the configured optimizer
for as many steps as the main run made, recorded as runs "data_scaling_25" and
"data_scaling_50"; the 100% point is the main run itself (same init, same steps), so the
experiment costs two main runs, not three. Each point goes into the metrics table as run
"data_scaling", step = number of training samples, names val_loss, val_acc, train_eval_loss.
"""

from __future__ import annotations

import math
from typing import Any

from nnlearn.data.bundle import infinite_batches
from nnlearn.probe.experiments._training import subset, train_steps
from nnlearn.probe.loop import evaluate, guarded

FRACTIONS = (0.25, 0.5)


def planned_steps(ctx) -> int:
    return len(FRACTIONS) * main_steps(ctx)


def main_steps(ctx) -> int:
    return int((ctx.facts.get("run") or {}).get("steps_done") or ctx.spec.probe.steps)


def run(ctx) -> dict[str, Any]:
    run_facts = ctx.facts.get("run") or {}
    if run_facts.get("stopped") == "nonfinite":
        return {"skipped": "the main run diverged: its validation loss is no reference"}
    full = main_run_point(ctx)
    if full is None:
        return {"skipped": "the main run recorded no validation loss"}
    points = []
    for i, fraction in enumerate(FRACTIONS):
        data = subset(ctx.bundle.train, fraction, ctx.seed)
        model = ctx.fresh_model()
        name = f"data_scaling_{round(fraction * 100)}"
        stream = infinite_batches(data, ctx.spec.data.batch_size, seed=ctx.seed)
        steps = main_steps(ctx)
        curve = train_steps(
            ctx, model, ctx.optimizer(model), stream, steps, name, progress_offset=i * steps
        )
        if curve.stopped == "budget":
            return {
                "skipped": f"the budget ran out during the {fraction:.0%} run",
                "points": points,
            }
        val_loss, val_acc = guarded(
            evaluate, f"{name} evaluation", model, ctx.step, ctx.bundle.val, ctx.device
        )
        train_loss, _ = guarded(evaluate, f"{name} evaluation", model, ctx.step, data, ctx.device)
        points.append(
            {
                "fraction": fraction,
                "n_train": len(data),
                "val_loss": val_loss,
                "val_acc": val_acc,
                "train_eval_loss": train_loss,
                "stopped": curve.stopped,
            }
        )
    points.append(full)
    for p in points:
        for key in ("val_loss", "val_acc", "train_eval_loss"):
            if p.get(key) is not None and math.isfinite(p[key]):
                ctx.recorder.add("data_scaling", p["n_train"], key, p[key])
    return {"steps": main_steps(ctx), "points": points}


def main_run_point(ctx) -> dict[str, Any] | None:
    """The 100% point: the main run's last evaluation, read back from the metrics table."""
    df = ctx.recorder.frame()
    df = df[(df["run"] == "main") & (df["layer"] == "")]
    last = {}
    for key in ("val_loss", "val_acc", "train_eval_loss"):
        values = df[df["name"] == key]["value"]
        if len(values):
            last[key] = float(values.iloc[-1])
    if "val_loss" not in last:
        return None
    n_train = len(ctx.bundle.train)  # type: ignore[arg-type]
    return {"fraction": 1.0, "n_train": n_train, "stopped": "completed", **last}
