"""Loss, optimizer and device from the spec (names or the user's `_target_`)."""

from __future__ import annotations

import torch
from torch import nn

from nnlearn.errors import ProbeFailed, SpecError
from nnlearn.spec.schema import Spec

_LOSSES = {
    "cross_entropy": nn.CrossEntropyLoss,
    "nll": nn.NLLLoss,
    "bce": nn.BCELoss,
    "bce_with_logits": nn.BCEWithLogitsLoss,
    "mse": nn.MSELoss,
    "l1": nn.L1Loss,
    "huber": nn.HuberLoss,
}
_AUTO_LOSS = {
    "classification": "cross_entropy",
    "binary": "bce_with_logits",
    "regression": "mse",
    "multilabel": "bce_with_logits",
    "language_modeling": "cross_entropy",
    "token_classification": "cross_entropy",
}
# tasks whose targets are class indices
INDEX_TASKS = ("classification", "language_modeling", "token_classification")


class LossFn:
    """The criterion plus the one conversion every loop does: targets in the dtype the task
    needs (class indices as int64, binary and regression targets as float). Shapes are left
    alone: a mismatch is the user's bug to see, not ours to hide."""

    def __init__(self, criterion: nn.Module, task: str, name: str, auto: bool = False):
        self.criterion = criterion
        self.task = task
        self.name = name
        # `loss: auto`: a model that computes its own loss (a Hugging Face model given
        # `labels`) is trained on that loss; this criterion is used otherwise
        self.auto = auto

    def targets(self, y: torch.Tensor) -> torch.Tensor:
        if self.task in INDEX_TASKS:
            return y.long() if y.dtype != torch.long else y
        return y.float() if not y.is_floating_point() else y

    def __call__(self, output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.criterion(output, self.targets(y))


def build_loss(spec: Spec, task: str, file: str | None = None) -> LossFn:
    if isinstance(spec.loss, str):
        name = _AUTO_LOSS[task] if spec.loss == "auto" else spec.loss
        return LossFn(_LOSSES[name](), task, name, auto=spec.loss == "auto")
    from nnlearn.targets import call_user, check_signature, import_target

    fn = import_target(spec.loss.factory or "", "loss._target_", file, spec._base_dir)
    check_signature(fn, spec.loss.kwargs, "loss", file)
    criterion = call_user(fn, f"loss._target_ {spec.loss.factory}", kwargs=spec.loss.kwargs)
    if not callable(criterion):
        raise SpecError(file, [("loss._target_", "must return a callable loss")])
    return LossFn(criterion, task, spec.loss.factory or "user")


def build_optimizer(
    spec: Spec, model: nn.Module, file: str | None = None, lr: float | None = None
) -> torch.optim.Optimizer:
    """`lr` overrides the configured rate (the lr-range experiment sweeps it)."""
    o = spec.optimizer
    params = [p for p in model.parameters() if p.requires_grad]
    if o.factory:
        from nnlearn.targets import call_user, check_signature, import_target

        fn = import_target(o.factory, "optimizer._target_", file, spec._base_dir)
        check_signature(fn, o.kwargs, "optimizer", file, positional=1)
        kwargs = dict(o.kwargs, **({"lr": lr} if lr is not None else {}))
        return call_user(fn, f"optimizer._target_ {o.factory}", (params,), kwargs)
    lr = o.lr if lr is None else lr
    wd = o.weight_decay
    if o.name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=o.momentum, weight_decay=wd)
    if o.name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    if o.name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    if o.name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, momentum=o.momentum, weight_decay=wd)
    return torch.optim.Adagrad(params, lr=lr, weight_decay=wd)


def build_scheduler(spec: Spec, optimizer: torch.optim.Optimizer, file: str | None = None):
    """The spec's learning-rate schedule on `optimizer` (something with `.step()`), or None.
    Builtins are LambdaLR multipliers of the optimizer's own rate, whatever set it."""
    import math

    s = spec.scheduler
    if s is None:
        return None
    if s.factory:
        from nnlearn.targets import call_user, check_signature, import_target

        fn = import_target(s.factory, "scheduler._target_", file, spec._base_dir)
        check_signature(fn, s.kwargs, "scheduler", file, positional=1)
        sched = call_user(fn, f"scheduler._target_ {s.factory}", (optimizer,), s.kwargs)
        if not callable(getattr(sched, "step", None)):
            raise SpecError(file, [("scheduler._target_", "must return an object with .step()")])
        return sched
    if s.name == "constant":
        return None
    warmup, total = s.warmup_steps, s.total_steps or spec.probe.steps

    def factor(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        if s.name == "cosine":
            t = min(max(step - warmup, 0) / max(total - warmup, 1), 1.0)
            return s.min_lr_ratio + (1 - s.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t))
        if s.name == "step":
            return s.gamma ** (step // s.step_size)
        return 1.0

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def resolve_device(requested: str) -> torch.device:
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ProbeFailed(
                f"device {requested} asked for, but CUDA is not available on this machine "
                "(torch sees no GPU); use --device cpu or --device auto"
            )
        index = int(requested.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise ProbeFailed(
                f"device {requested} asked for, but only {torch.cuda.device_count()} GPU(s) exist"
            )
    return torch.device(requested)


def seed_everything(seed: int) -> None:
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
