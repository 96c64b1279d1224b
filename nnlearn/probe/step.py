"""One training step, the only place nnlearn calls the model: `step(model, batch) -> StepOutput`.

The builtin step is `loss(model(x), y)`: the batch's inputs go to the model (a mapping as
keyword arguments), the output is unwrapped here and nowhere else (a tensor; the first element
of a tuple/list; `logits` of a mapping or a Hugging Face `ModelOutput`), and with `loss: auto`
a model that computes its own loss (a Hugging Face model given `labels`) is trained on it. The
user's `train_step` (Lightning's `training_step` shape: `step(model, batch) -> loss` or
`-> (loss, outputs)`) replaces it. The main run, every experiment and the setup check call the
same `Step`, so a model family is supported everywhere or nowhere.

Sequence tasks are aligned here too: for `language_modeling` the targets are the inputs
shifted by one when the batch has no labels (and shifted as Hugging Face does when the model
gets `labels` and computes its own loss); (N, T, V) outputs are flattened to one row per
position, so the loss, the accuracy and the setup checks see (N*T, V) against (N*T,).
Accuracy is decided in the same place, from the task and what the outputs are.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from nnlearn.data.batch import (
    IGNORE_INDEX,
    TOKEN_TASKS,
    call_model,
    inputs_and_target,
    is_mapping,
    main_input,
    target_key,
)

INDEX_TASKS = ("classification", *TOKEN_TASKS)


@dataclass
class StepOutput:
    loss: torch.Tensor
    prediction: torch.Tensor | None = None  # the unwrapped output, aligned with `target`
    target: torch.Tensor | None = None


@dataclass
class Forward:
    """The builtin step before its loss: what the model returned and its aligned pieces."""

    raw: Any
    prediction: torch.Tensor | None
    target: torch.Tensor | None
    own_loss: torch.Tensor | None


def unwrap(output: Any) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """-> (prediction, the model's own loss or None) of whatever a model returns."""
    if isinstance(output, torch.Tensor):
        return output, None
    if isinstance(output, Mapping):  # dicts and ModelOutput (an OrderedDict)
        loss = output.get("loss")
        pred = output.get("logits")
        if pred is None:
            pred = next(
                (v for k, v in output.items() if k != "loss" and isinstance(v, torch.Tensor)),
                None,
            )
        return pred, loss if isinstance(loss, torch.Tensor) else None
    if isinstance(output, (tuple, list)):
        return (unwrap(output[0])[0] if output else None), None
    logits = getattr(output, "logits", None)
    if isinstance(logits, torch.Tensor):
        loss = getattr(output, "loss", None)
        return logits, loss if isinstance(loss, torch.Tensor) else None
    return None, None


@functools.lru_cache(maxsize=64)
def _forward_takes_labels(cls: type) -> bool:
    try:
        params = inspect.signature(cls.forward).parameters
    except (TypeError, ValueError):
        return False
    return "labels" in params


class Step:
    """`step(model, batch) -> StepOutput` for a batch already on the device.

    `probabilities` says whether binary/multilabel outputs are probabilities (thresholded at
    0.5) or logits (at 0); None decides from the loss (BCELoss takes probabilities). The
    runner sets it from the setup check, which measures the output range."""

    def __init__(
        self,
        loss_fn,
        user_step: Callable | None = None,
        *,
        name: str | None = None,
        probabilities: bool | None = None,
    ):
        self.loss_fn = loss_fn
        self.user_step = user_step
        self.name = name
        self.probabilities = probabilities
        self.used_model_loss: bool | None = None  # known after the first builtin step

    @property
    def task(self) -> str:
        return self.loss_fn.task

    @property
    def ignore_index(self) -> int:
        return int(getattr(getattr(self.loss_fn, "criterion", None), "ignore_index", IGNORE_INDEX))

    def __call__(self, model: nn.Module, batch: Any) -> StepOutput:
        if self.user_step is not None:
            return self._user(model, batch)
        f = self.forward(model, batch)
        return StepOutput(self.loss_of(f), f.prediction, f.target)

    # -- the builtin step, in two halves (the setup check looks between them) ---------------
    def passes_labels(self, model: nn.Module, batch: Any) -> bool:
        """A mapping batch's labels go to the model when it may compute its own loss."""
        return (
            bool(getattr(self.loss_fn, "auto", False))
            and is_mapping(batch)
            and target_key(batch) is not None
            # a DistributedDataParallel wrapper forwards **kwargs to the model it holds
            and _forward_takes_labels(type(getattr(model, "module", model)))
        )

    def forward(self, model: nn.Module, batch: Any) -> Forward:
        inputs, target = inputs_and_target(batch)
        labels = self.passes_labels(model, batch)
        extra = {"labels": target} if labels else None
        raw = call_model(model, inputs, extra)
        pred, own = unwrap(raw)
        if not getattr(self.loss_fn, "auto", False):
            own = None
        pred, target = self.align(pred, target, inputs, hf_shift=labels)
        return Forward(raw, pred, target, own)

    def loss_of(self, f: Forward) -> torch.Tensor:
        self.used_model_loss = f.own_loss is not None
        if f.own_loss is not None:
            return f.own_loss
        if f.prediction is None:
            raise TypeError(
                f"the model returned {type(f.raw).__name__}, which holds no prediction tensor "
                "(expected a tensor, a tuple/list whose first element is one, or a mapping with "
                "'logits')"
            )
        if f.target is None:
            raise TypeError("the batch holds no targets and the model returned no loss")
        return self.loss_fn(f.prediction, f.target)

    def align(self, pred, target, inputs, hf_shift: bool = False):
        """Token tasks: next-token shift where needed, then one row per position."""
        if self.task not in TOKEN_TASKS or pred is None:
            return pred, target
        if self.task == "language_modeling":
            x = main_input(inputs)
            if target is None and x is not None and x.dim() >= 2 and pred.dim() >= 3:
                pred, target = pred[:, :-1], x[:, 1:]
            elif hf_shift and target is not None and pred.dim() >= 3:
                pred, target = pred[:, :-1], target[:, 1:]  # Hugging Face's causal-LM shift
        if target is not None and pred.dim() >= 3 and tuple(pred.shape[:-1]) == tuple(target.shape):
            pred, target = pred.reshape(-1, pred.shape[-1]), target.reshape(-1)
        return pred, target

    # -- the user's train_step -----------------------------------------------------------------
    def _user(self, model: nn.Module, batch: Any) -> StepOutput:
        result = self.user_step(model, batch)
        outputs = None
        if isinstance(result, Mapping) and "loss" in result:  # Lightning also allows a dict
            loss, outputs = result["loss"], result
        elif isinstance(result, (tuple, list)) and result:
            loss, outputs = result[0], (result[1] if len(result) > 1 else None)
        else:
            loss = result
        if not isinstance(loss, torch.Tensor):
            raise TypeError(
                f"train_step returned {type(loss).__name__}; it must return the loss tensor "
                "or (loss, outputs)"
            )
        pred = None
        if outputs is not None:
            pred, _ = unwrap(
                {k: v for k, v in outputs.items() if k != "loss"}
                if isinstance(outputs, Mapping)
                else outputs
            )
        inputs, target = inputs_and_target(batch)
        pred, target = self.align(pred, target, inputs)
        return StepOutput(loss, pred, target)

    # -- accuracy --------------------------------------------------------------------------------
    def hits(self, out: StepOutput) -> tuple[int, int] | None:
        """(correct, counted) of a step's predictions, or None when accuracy does not apply:
        class indices by argmax (positions at the ignore index not counted); binary and
        multilabel by threshold, every label of every sample counted once, so multilabel
        accuracy is the mean per-label accuracy, a fraction."""
        pred, target = out.prediction, out.target
        if pred is None or target is None:
            return None
        pred = pred.detach()
        t = self.loss_fn.targets(target)
        if self.task in INDEX_TASKS:
            if pred.dim() != 2 or t.dim() != 1 or pred.shape[0] != t.shape[0]:
                return None
            keep = t != self.ignore_index
            return int(((pred.argmax(1) == t) & keep).sum()), int(keep.sum())
        if self.task in ("binary", "multilabel"):
            if pred.numel() != t.numel() or not t.numel():
                return None
            threshold = 0.5 if self.outputs_probabilities() else 0.0
            predicted = (pred.reshape(t.shape) > threshold).to(t.dtype)
            return int((predicted == t).sum()), int(t.numel())
        return None

    def outputs_probabilities(self) -> bool:
        if self.probabilities is not None:
            return self.probabilities
        return getattr(self.loss_fn, "name", None) == "bce"


def build_step(spec, loss_fn, file: str | None = None) -> Step:
    """The builtin step, or the spec's `train_step` with its keyword arguments bound."""
    if spec.train_step is None:
        return Step(loss_fn)
    from nnlearn.targets import check_signature, import_target

    t = spec.train_step
    fn = import_target(t.factory or "", "train_step._target_", file, spec._base_dir)
    check_signature(fn, t.kwargs, "train_step", file, positional=2)
    user = functools.partial(fn, **t.kwargs) if t.kwargs else fn
    return Step(loss_fn, user, name=t.factory)
