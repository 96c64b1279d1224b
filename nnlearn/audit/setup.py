"""Implementation-bug checks: the built model, its loss and one batch, before anything trains.

`check_setup` runs one forward pass (eval mode, no gradient, the model untouched) on a sampled
training batch and records `facts["setup"]`: what kind of loss the criterion is (from the object
itself, so a user's `_target_` loss is read the same way), what the outputs look like
(probabilities? log-probabilities?), output and target shapes and what they broadcast to, the
label range against the number of outputs, the loss value.

A problem the loss cannot survive (labels beyond the outputs, logits into BCELoss, shapes it
rejects, NaN labels into an index loss, nothing to train) is `facts["setup"]["fatal"]`: the runner then skips
training and goes to the rules, which report it. The label range is checked before the loss is
ever called, because on a GPU an out-of-range label is a device-side assert that kills the CUDA
context, not an exception.

After the main run, `nnlearn.audit.updates.parameter_updates` checks which parameters moved.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from nnlearn.audit.output_range import BOUND_SCALE, WIDE_ROWS, output_reach
from nnlearn.data.batch import inputs_and_target, sample_batch, to_device, view_of
from nnlearn.data.bundle import DataBundle

# one batch of this size shows the output range and shapes; more would only cost time
SETUP_BATCH = 256
# "sums to one" / "log-sum-exp is zero" within this absolute tolerance (float32 softmax rows
# sum to 1 within ~1e-6; raw logits essentially never land this close on every row)
PROB_TOL = 1e-3
# spread of the random inputs of the stress pass: a bounded output (softmax, sigmoid) stays in
# [0, 1] for any input, a linear head does not
STRESS_SCALE = 10.0

INDEX_LOSSES = ("cross_entropy", "nll")
ELEMENTWISE_LOSSES = ("bce", "bce_with_logits", "mse", "l1", "huber")

_LOSS_CLASSES = (
    (nn.CrossEntropyLoss, "cross_entropy"),
    (nn.NLLLoss, "nll"),
    (nn.BCEWithLogitsLoss, "bce_with_logits"),
    (nn.BCELoss, "bce"),
    (nn.MSELoss, "mse"),
    (nn.L1Loss, "l1"),
    (nn.HuberLoss, "huber"),
    (nn.SmoothL1Loss, "huber"),
)
_LOSS_FUNCTIONS = {
    F.cross_entropy: "cross_entropy",
    F.nll_loss: "nll",
    F.binary_cross_entropy_with_logits: "bce_with_logits",
    F.binary_cross_entropy: "bce",
    F.mse_loss: "mse",
    F.l1_loss: "l1",
    F.huber_loss: "huber",
    F.smooth_l1_loss: "huber",
}


def loss_kind(criterion: Any) -> str | None:
    """What the criterion object is (a torch loss module or functional), or None if unknown."""
    for cls, kind in _LOSS_CLASSES:
        if isinstance(criterion, cls):
            return kind
    try:
        return _LOSS_FUNCTIONS.get(criterion)
    except TypeError:  # unhashable callable
        return None


def check_setup(
    model: nn.Module,
    loss_fn,
    bundle: DataBundle,
    device: torch.device,
    data: dict[str, Any] | None = None,
    seed: int = 0,
    step=None,
) -> dict[str, Any]:
    """`data` is the audit's `facts["data"]` (label range over both splits); `step` the probe's
    `Step` (default: the builtin one over `loss_fn`)."""
    from nnlearn.probe.step import Step

    step = step if step is not None else Step(loss_fn)
    kind = loss_kind(loss_fn.criterion)
    params = list(model.named_parameters())
    facts: dict[str, Any] = {
        "loss_kind": kind,
        "n_parameters": sum(p.numel() for _, p in params),
        "n_trainable": sum(p.numel() for _, p in params if p.requires_grad),
        "frozen": [n for n, p in params if not p.requires_grad],
    }
    if facts["n_trainable"] == 0:
        facts["fatal"] = _fatal(
            "no_trainable",
            f"the model has no trainable parameter ({facts['n_parameters']:,} parameters, "
            "all with requires_grad=False)",
        )
    batch = to_device(sample_batch(bundle.train, SETUP_BATCH, seed=seed), device)
    view = view_of(batch, bundle.task)
    x, y = view.inputs, view.targets
    if step.user_step is not None:  # the user's train_step: only its loss and outputs are seen
        return _check_user_step(facts, model, step, batch)
    fwd, facts["layer_rms"] = _forward(model, step, batch)
    out = fwd.prediction
    if not isinstance(out, torch.Tensor) or fwd.target is None:
        facts["output"] = {"type": type(fwd.raw).__name__}
        if "fatal" not in facts:
            _try_loss(facts, step, fwd)
        return facts
    if fwd.own_loss is not None:
        facts["model_loss"] = True  # the model computes its own loss (loss: auto)
    stress = _stress_forward(model, step, batch)
    target = loss_fn.targets(fwd.target)
    facts["output"] = describe_output(out, stress)
    wide = None
    if stress is not None and fwd.own_loss is None:
        wide = _stress_forward(model, step, batch, BOUND_SCALE, WIDE_ROWS)
    if wide is not None:
        reach = output_reach(kind, step.loss_fn, [out, stress], wide, fwd.target)
        if reach is not None:
            facts["output_reach"] = reach
    facts["target_shape"] = list(target.shape)
    facts["output_shape"] = list(out.shape)
    facts["batch_nonfinite_rows"] = _nonfinite_rows(x, y)
    checks = (
        _label_range(kind, out, loss_fn.criterion, (data or {}).get("labels") or {}),
        _shapes(kind, out, target),
    )
    for name, result, fatal in checks:
        if result is not None:
            facts[name] = result
        if fatal and "fatal" not in facts:
            facts["fatal"] = fatal
    # NaN inputs stop training only where the loss raises on them (BCELoss checks its input
    # range). Elsewhere the loss turns NaN at the first step, the loop stops cleanly, and the
    # report shows that NaN loss under the data finding that explains it.
    nan_out = facts["batch_nonfinite_rows"] and not facts["output"]["finite"]
    if "fatal" not in facts and nan_out and kind == "bce":
        facts["fatal"] = _nonfinite_fatal(facts["batch_nonfinite_rows"], len(x))
    if kind == "bce" and not facts["output"]["in_unit_interval_batch"] and "fatal" not in facts:
        facts["fatal"] = _fatal(
            "logits_into_bce",
            f"BCELoss needs probabilities in [0, 1]; the model outputs range over "
            f"[{facts['output']['min']:.3g}, {facts['output']['max']:.3g}]",
        )
    if "fatal" not in facts and facts["batch_nonfinite_rows"] and kind in INDEX_LOSSES:
        if y is not None and y.is_floating_point() and not bool(torch.isfinite(y).all()):
            facts["fatal"] = _nonfinite_fatal(facts["batch_nonfinite_rows"], len(x))
    if "fatal" not in facts:
        _try_loss(facts, step, fwd)
    return facts


def output_probabilities(setup: dict[str, Any]) -> bool | None:
    """Whether binary/multilabel outputs are probabilities, as measured (bounded in [0, 1] on
    the batch and on the stress pass), or None when the measurement cannot tell."""
    out = setup.get("output") or {}
    if not out.get("stress_checked"):
        return None
    return bool(out.get("in_unit_interval"))


def _check_user_step(facts: dict[str, Any], model: nn.Module, step, batch) -> dict[str, Any]:
    from nnlearn.probe.loop import guarded

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = guarded(step, "train_step on a sample batch", model, batch)
    finally:
        model.train(was_training)
    facts["train_step"] = True
    if isinstance(out.prediction, torch.Tensor):
        facts["output"] = describe_output(out.prediction, None)
        facts["output_shape"] = list(out.prediction.shape)
    value = float(out.loss.detach())
    facts["loss"] = value if math.isfinite(value) else str(value)
    return facts


def describe_output(out: torch.Tensor, stress: torch.Tensor | None) -> dict[str, Any]:
    """Range of the outputs and whether they look like probabilities or log-probabilities.
    `in_unit_interval` and `rows_sum_to_one` must hold on the stress pass too, when there is
    one, so that a linear head whose small init outputs happen to sit in [0, 1] is not taken
    for a sigmoid."""
    o = out.detach().float()
    finite = o[torch.isfinite(o)]
    d: dict[str, Any] = {
        "finite": bool(finite.numel() == o.numel()),
        "min": float(finite.min()) if finite.numel() else math.nan,
        "max": float(finite.max()) if finite.numel() else math.nan,
        "in_unit_interval_batch": _unit(o),
        "stress_checked": stress is not None,
    }
    d["in_unit_interval"] = d["in_unit_interval_batch"] and (stress is None or _unit(stress))
    rows = _class_rows(o)
    if rows is not None:
        d["rows_sum_to_one"] = _sums_to_one(rows) and (
            stress is None
            or (_class_rows(stress) is not None and _sums_to_one(_class_rows(stress)))
        )
        d["log_probabilities"] = bool((rows <= PROB_TOL).all()) and bool(
            (torch.logsumexp(rows, 1).abs() < PROB_TOL).all()
        )
    return d


def _class_rows(o: torch.Tensor) -> torch.Tensor | None:
    """(N, C, ...) outputs as (N*..., C) rows over the class dimension (dim 1), C >= 2."""
    if o.dim() < 2 or o.shape[1] < 2:
        return None
    return o.float().movedim(1, -1).reshape(-1, o.shape[1])


def _unit(o: torch.Tensor) -> bool:
    return bool(((o >= 0) & (o <= 1)).all())


def _sums_to_one(rows: torch.Tensor) -> bool:
    return _unit(rows) and bool(((rows.sum(1) - 1).abs() < PROB_TOL).all())


def _forward(model: nn.Module, step, batch) -> tuple[Any, list[dict[str, Any]]]:
    """The builtin step's forward half in eval mode (BatchNorm statistics and dropout
    untouched), no gradient; the user's model raising is their code's error (exit 3), as in
    training. Also returns the root-mean-square output of every Linear/Conv layer in execution
    order: whether a loss far from chance comes from the output layer alone or from a scale
    that grows with depth."""
    from nnlearn.probe.loop import guarded

    layer_rms: list[dict[str, Any]] = []

    def record(name: str):
        def hook(module, inputs, output):
            if isinstance(output, torch.Tensor) and output.numel():
                rms = float(output.detach().float().pow(2).mean().sqrt())
                layer_rms.append({"name": name, "rms": rms})

        return hook

    handles = [
        m.register_forward_hook(record(n))
        for n, m in model.named_modules()
        if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d))
    ]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            fwd = guarded(step.forward, "the model's forward pass on a sample batch", model, batch)
        return fwd, layer_rms
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()


def _stress_forward(
    model: nn.Module, step, batch, scale: float = STRESS_SCALE, rows: int | None = None
) -> torch.Tensor | None:
    """The model's outputs on random inputs `scale` times the data's (standard normal noise of
    the batch's shape, its first `rows` rows), in eval mode; None for non-float inputs or a
    model that rejects them."""
    inputs, target = inputs_and_target(batch)
    if not isinstance(inputs, torch.Tensor) or not inputs.is_floating_point():
        return None  # token ids, mappings and other integer inputs cannot be perturbed
    if rows is not None:
        inputs = inputs[:rows]
        target = target[:rows] if isinstance(target, torch.Tensor) else target
    was_training = model.training
    model.eval()
    try:
        gen = torch.Generator(device="cpu").manual_seed(0)
        noise = torch.randn(inputs.shape, generator=gen).to(inputs.device, inputs.dtype)
        with torch.no_grad():
            out = step.forward(model, (noise * scale, target)).prediction
        return out.detach().float() if isinstance(out, torch.Tensor) else None
    except Exception:  # a model that rejects such inputs simply gets no stress check
        return None
    finally:
        model.train(was_training)


def _label_range(kind, out: torch.Tensor, criterion, labels: dict[str, Any]):
    """Class indices against the outputs' class dimension, over both splits' labels."""
    if kind not in INDEX_LOSSES or out.dim() < 2 or "min" not in labels:
        return "labels", None, None
    n_outputs = int(out.shape[1])
    ignore = getattr(criterion, "ignore_index", -100)
    # what the loss sees: float labels are truncated to int64 by the targets conversion
    lo, hi = math.trunc(labels["min"]), math.trunc(labels["max"])
    negatives = [v for v in labels.get("negative_values", []) if math.trunc(v) != ignore]
    result = {
        "n_outputs": n_outputs,
        "min": lo,
        "max": hi,
        "negative": negatives,
        "ignore_index": ignore,
        "one_based": lo == 1 and hi == n_outputs,
    }
    out_of_range = hi >= n_outputs or bool(negatives)
    result["out_of_range"] = out_of_range
    fatal = None
    if out_of_range:
        fatal = _fatal(
            "labels_out_of_range",
            f"class labels span {lo}..{hi} but the model has {n_outputs} outputs "
            f"(valid labels 0..{n_outputs - 1})",
        )
    return "labels", result, fatal


def _shapes(kind, out: torch.Tensor, target: torch.Tensor):
    """Elementwise losses compare output and target element by element; a different shape is
    broadcast (MSE warns and averages an N x N matrix) or rejected (BCE raises)."""
    if kind not in ELEMENTWISE_LOSSES or tuple(out.shape) == tuple(target.shape):
        return "shapes", None, None
    try:
        broadcast = list(torch.broadcast_shapes(out.shape, target.shape))
    except RuntimeError:
        broadcast = None
    result = {
        "output": list(out.shape),
        "target": list(target.shape),
        "broadcast": broadcast,
        "same_numel": out.numel() == target.numel(),
    }
    fatal = None
    if broadcast is None or kind in ("bce", "bce_with_logits"):
        fatal = _fatal(
            "shape_mismatch",
            f"the loss rejects output shape {list(out.shape)} against target shape "
            f"{list(target.shape)}",
        )
    return "shapes", result, fatal


def _try_loss(facts: dict[str, Any], step, fwd) -> None:
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # MSE's broadcasting warning: `shapes` reports it
            value = float(step.loss_of(fwd))
    except Exception as exc:  # the user's loss, or torch's checks: reported, not raised
        facts["fatal"] = _fatal("loss_raised", f"{type(exc).__name__}: {exc}".strip())
        return
    facts["loss"] = value if math.isfinite(value) else str(value)


def _nonfinite_rows(x: torch.Tensor, y: torch.Tensor | None) -> int:
    bad = torch.zeros(len(x), dtype=torch.bool, device=x.device)
    for t in (x, y):
        if t is not None and t.is_floating_point() and len(t) == len(x):
            bad |= ~torch.isfinite(t.reshape(len(t), -1)).all(1)
    return int(bad.sum())


def _nonfinite_fatal(rows: int, n: int) -> dict[str, str]:
    return _fatal(
        "nonfinite_batch",
        f"{rows} of {n} sampled training rows hold NaN/Inf; the loss on them is not finite",
    )


def _fatal(reason: str, message: str) -> dict[str, str]:
    return {"reason": reason, "message": message}


def skip_training(*args: Any, **kwargs: Any):
    """Stands in for the training loop when the setup is fatal: nothing trains, the rules
    report why. Same result type as `nnlearn.probe.loop.train`."""
    from nnlearn.probe.loop import RunResult

    return RunResult(steps_done=0, stopped="skipped", nonfinite_step=None, duration_s=0.0)
