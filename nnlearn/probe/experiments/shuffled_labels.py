"""shuffled_labels: the same training with the labels permuted across the training set.

Permuted labels keep the inputs and the label frequencies but carry no signal. A network fits
them only by memorising (Zhang et al., Understanding deep learning requires rethinking
generalization, 2017), which takes far longer than learning real labels. So when the real
labels are learnt no faster than permuted ones, the labels carry little signal, or the model
is memorising the real ones too (rule E903 compares the two curves).

A fresh copy of the model, the configured optimizer and learning rate, the same batch size,
the same order of inputs and as many steps as the main run made, recorded as run
"shuffled_labels". The training tensors are never modified: the permuted labels are a copy.
"""

from __future__ import annotations

from typing import Any

import torch

from nnlearn.data.batch import batch_size, from_batch, inputs_and_target, with_target
from nnlearn.data.bundle import infinite_batches
from nnlearn.probe.experiments._training import tail_mean, train_batch, train_steps
from nnlearn.probe.loop import evaluate, guarded


def planned_steps(ctx) -> int:
    return int((ctx.facts.get("run") or {}).get("steps_done") or ctx.spec.probe.steps)


def run(ctx) -> dict[str, Any]:
    full = train_batch(ctx.bundle.train, ctx.seed)
    _, y = inputs_and_target(full)
    if y is None:
        return {"skipped": "the samples carry no labels to permute (targets come from inputs)"}
    n = batch_size(full)
    permutation = torch.randperm(n, generator=torch.Generator().manual_seed(ctx.seed + 1))
    shuffled = from_batch(with_target(full, y[permutation]))
    model = ctx.fresh_model()
    optimizer = ctx.optimizer(model)
    stream = infinite_batches(shuffled, ctx.spec.data.batch_size, seed=ctx.seed)
    curve = train_steps(ctx, model, optimizer, stream, planned_steps(ctx), "shuffled_labels")
    # how well it memorised the permuted labels it trained on
    loss, acc = guarded(
        evaluate, "shuffled_labels evaluation", model, ctx.step, shuffled, ctx.device
    )
    return {
        "steps": curve.steps,
        "stopped": curve.stopped,
        "initial_loss": curve.losses[0] if curve.losses else None,
        "final_loss": tail_mean(curve.losses) if curve.losses else None,
        "train_eval_loss": loss,
        "train_eval_acc": acc,
    }
