"""`NnlearnCallback` for PyTorch Lightning: `Trainer(callbacks=[NnlearnCallback()])`.

A thin adapter over `nnlearn.Probe`. Lightning runs forward and backward inside
`optimizer.step(closure)`, so the optimizer's pre-hook fires before the gradients exist: the
gradients are read in `on_before_optimizer_step` instead (after AMP's unscaling; a step the
GradScaler will skip is not read, and since the optimizer then never steps, not counted). The
steps themselves are still the optimizer's. The training loss is the `training_step` output
(undone from Lightning's division by `accumulate_grad_batches`), else what the module logs
as `train_loss`/`loss`; validation metrics are read from `trainer.callback_metrics` at
`on_validation_end` (`val_loss`, `val_acc` and their usual spellings). Works with `lightning`
and, as `PLNnlearnCallback`, with the older `pytorch_lightning` package.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

try:
    from lightning.pytorch import Callback as _Callback
except ImportError:  # only the older package is installed
    from pytorch_lightning import Callback as _Callback

from nnlearn.api import Probe
from nnlearn.integrations._common import ProbeCallback, audit_note, first_number, hints

# the framework's words for the usual fixes, added after nnlearn's own (by rule, then cause)
FIXES: dict[str, tuple[str, ...]] = {
    "lr_too_high": (
        "in configure_optimizers(), lower the learning rate (it peaked at {lr}; try {lr_low})",
        "Trainer(gradient_clip_val=1.0) bounds each step while you search for the rate; "
        "Tuner(trainer).lr_find(model) suggests one",
    ),
    "lr_too_low": (
        "in configure_optimizers(), raise the learning rate (it peaked at {lr}); "
        "Tuner(trainer).lr_find(model) suggests one",
    ),
    "exploding_gradients": ("Trainer(gradient_clip_val=1.0, gradient_clip_algorithm='norm')",),
    "overfitting": (
        "Trainer(callbacks=[EarlyStopping(monitor='val_loss')]) stops at the validation minimum",
        "weight_decay in the optimizer you return from configure_optimizers()",
    ),
    "insufficient_data": ("Trainer(limit_train_batches=...) below 1.0 would make it worse",),
}

VAL_LOSS = ("val_loss", "val/loss", "valid_loss", "validation_loss", "val_loss_epoch")
VAL_ACC = ("val_acc", "val_accuracy", "val/acc", "valid_acc", "val_acc_epoch")
TRAIN_LOSS = ("train_loss", "train_loss_step", "loss", "train/loss")


class _Adapter(ProbeCallback):
    """The callback's logic, shared by the `lightning` and `pytorch_lightning` classes."""

    probe: Probe | None

    def _init_state(self) -> None:
        self._steps_before = 0

    def on_train_start(self, trainer, pl_module) -> None:
        self.result = None  # a second fit is a new run
        if not trainer.optimizers:
            return
        planned = trainer.estimated_stepping_batches
        self.probe = Probe(
            pl_module,
            trainer.optimizers[0],
            name=self.name or type(pl_module).__name__,
            fail_on=self.fail_on,
            steps=int(planned) if planned not in (None, float("inf")) else None,
            disable=self.disable,
            thresholds=self.thresholds,
            loss_label="training_step loss",
            gradients="caller",
            arm="caller",
            fixes=lambda f, r: hints(FIXES, f, r),
        ).start()
        if len(trainer.optimizers) > 1:
            self.probe.notes.append(
                f"{len(trainer.optimizers)} optimizers: only the first one's steps are probed"
            )
        if self.audit:
            self._audit(trainer)

    def _audit(self, trainer) -> None:
        train = getattr(trainer.train_dataloader, "dataset", None)
        val = trainer.val_dataloaders
        val = getattr(val[0] if isinstance(val, (list, tuple)) and val else val, "dataset", None)
        if train is None:
            return
        try:
            self.probe.audit(train, val)
        except Exception as exc:  # a dataset the audits cannot read yet: say so, train on
            self.probe.notes.append(audit_note(exc))

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self.probe is not None:
            self._steps_before = self.probe.steps_done
            self.probe.begin_step()

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        if self.probe is not None and not _scaler_will_skip(trainer, optimizer):
            self.probe.read_gradients()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.probe is None:
            return
        loss = None
        if isinstance(outputs, Mapping) and outputs.get("loss") is not None:
            loss = first_number(outputs, ("loss",))
            if loss is not None:  # Lightning divides it by accumulate_grad_batches
                loss *= trainer.accumulate_grad_batches
        if loss is None:
            loss = first_number(trainer.callback_metrics, TRAIN_LOSS)
        if loss is None:
            return
        # the batch that ended an accumulation belongs to the step just taken, the others to
        # the step still being accumulated
        stepped = self.probe.steps_done > self._steps_before
        self.probe.log_at(
            self.probe.steps_done - 1 if stepped else self.probe.steps_done, loss=loss
        )

    def on_validation_end(self, trainer, pl_module) -> None:
        if self.probe is None or trainer.sanity_checking:
            return
        metrics = trainer.callback_metrics
        self.probe.log(
            val_loss=first_number(metrics, VAL_LOSS), val_acc=first_number(metrics, VAL_ACC)
        )

    def on_train_end(self, trainer, pl_module) -> None:
        if self.probe is not None and self.result is None:
            self.result = self.output.finish(self.probe)

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        if self.probe is not None and self.result is None:
            self.result = self.output.finish(self.probe, error=exception)


def _scaler_will_skip(trainer, optimizer) -> bool:
    """Whether AMP's GradScaler found inf/NaN in the unscaled gradients: it then skips the
    optimizer's step, and the probe neither reads nor counts it."""
    scaler = getattr(getattr(trainer, "precision_plugin", None), "scaler", None)
    if scaler is None:
        return False
    inner = getattr(optimizer, "optimizer", optimizer)
    state: Any = getattr(scaler, "_per_optimizer_states", {}).get(id(inner)) or {}
    found = state.get("found_inf_per_device") or {}
    return any(float(v.item()) for v in found.values())


class NnlearnCallback(_Adapter, _Callback):
    """Probe a Lightning fit: `Trainer(callbacks=[NnlearnCallback()])`; `.result` after `fit`.

    `name` (default: the module's class), `fail_on` (the gate of `result.exit_code()`),
    `print_report` / `quiet` (the report at the end of fit), `save_dir` (the run folder),
    `junit` / `markdown` / `json` (report files), `audit` (data audits on the train and val
    dataloaders' datasets), `disable` / `thresholds` (rules, as in a spec)."""


def __getattr__(name: str):
    if name == "PLNnlearnCallback":  # the same callback for the `pytorch_lightning` package
        import pytorch_lightning

        cls = type("PLNnlearnCallback", (_Adapter, pytorch_lightning.Callback), {})
        globals()[name] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
