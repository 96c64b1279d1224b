"""`NnlearnCallback` for the Hugging Face Trainer: `Trainer(..., callbacks=[NnlearnCallback()])`.

A thin adapter over `nnlearn.Probe` on the Trainer's model and optimizer (`on_train_begin`;
the torch optimizer inside accelerate's wrapper, whose step hooks read the gradients after the
Trainer's clipping and AMP's unscaling). Instruments are armed at `on_step_begin`, so the
Trainer's evaluation forwards are not measured as training. The training loss is the model's
own `loss` output, read by a forward hook on every training micro-batch (the Trainer logs only
an average every `logging_steps`; that logged `loss` is the fallback when the model returns no
loss); `on_evaluate` gives `eval_loss` and `eval_accuracy` as the validation metrics.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from transformers import TrainerCallback

from nnlearn.api import Probe
from nnlearn.integrations._common import ProbeCallback, audit_note, first_number, hints

# the framework's words for the usual fixes, added after nnlearn's own (by rule, then cause)
FIXES: dict[str, tuple[str, ...]] = {
    "lr_too_high": (
        "TrainingArguments(learning_rate=...): lower it (it peaked at {lr}; try {lr_low}, "
        "fine-tuning usually takes 1e-5 to 5e-5)",
        "TrainingArguments(warmup_steps=...) of about 5% of the steps, and max_grad_norm=1.0",
    ),
    "lr_too_low": ("TrainingArguments(learning_rate=...): raise it (it peaked at {lr})",),
    "exploding_gradients": ("TrainingArguments(max_grad_norm=1.0) clips the gradient norm",),
    "overfitting": (
        "TrainingArguments(eval_strategy='steps', load_best_model_at_end=True, "
        "metric_for_best_model='eval_loss') with EarlyStoppingCallback(early_stopping_patience=3)",
        "TrainingArguments(weight_decay=0.01), or fewer num_train_epochs",
    ),
}

EVAL_LOSS = ("eval_loss", "eval_val_loss")
EVAL_ACC = ("eval_accuracy", "eval_acc", "eval_val_acc")


class NnlearnCallback(ProbeCallback, TrainerCallback):
    """Probe a Trainer run; `.result` after `trainer.train()`.

    `name` (default: the model's class), `fail_on` (the gate of `result.exit_code()`),
    `print_report` / `quiet` (the report at the end of training), `save_dir` (the run
    folder), `junit` / `markdown` / `json` (report files), `audit` (data audits on the
    training and evaluation datasets, where they yield (x, y) pairs), `disable` / `thresholds`
    (rules, as in a spec)."""

    probe: Probe | None

    def _init_state(self) -> None:
        self._losses: list[torch.Tensor] = []  # the model's losses since the last step
        self._seen_model_loss = False
        self._flushed = 0  # optimizer steps whose losses were handed to the probe
        self._hook = None

    def on_train_begin(self, args, state, control, model=None, optimizer=None, **kwargs):
        self.result, self._losses, self._seen_model_loss, self._flushed = None, [], False, 0
        if model is None or optimizer is None:
            return
        self.probe = Probe(
            model,
            optimizer,
            name=self.name or type(model).__name__,
            fail_on=self.fail_on,
            steps=state.max_steps or None,
            disable=self.disable,
            thresholds=self.thresholds,
            loss_label="the model's loss",
            arm="caller",
            fixes=lambda f, r: hints(FIXES, f, r),
            seed=args.seed,
        ).start()
        self._hook = model.register_forward_hook(self._model_output)
        if self.audit:
            self._audit(kwargs.get("train_dataloader"), kwargs.get("eval_dataloader"))

    def _audit(self, train_loader, eval_loader) -> None:
        if getattr(train_loader, "dataset", None) is None:
            return
        try:  # the loaders themselves: their collator pads the mapping items the audits read
            self.probe.audit(train_loader, eval_loader)
        except Exception as exc:  # items no collate can stack (the report says so)
            self.probe.notes.append(audit_note(exc))

    def _model_output(self, module, args, output) -> None:
        if not (module.training and torch.is_grad_enabled()) or not isinstance(output, Mapping):
            return
        loss = output.get("loss")
        if isinstance(loss, torch.Tensor) and loss.numel() == 1:
            self._losses.append(loss.detach())
            self._seen_model_loss = True

    def on_step_begin(self, args, state, control, **kwargs):
        if self.probe is not None:
            self.probe.begin_step()

    def on_step_end(self, args, state, control, **kwargs):
        if self.probe is None or self.probe.steps_done == self._flushed:
            return  # no optimizer step since the last flush (AMP skipped it): losses wait
        self._flushed = self.probe.steps_done
        if self._losses:
            values = torch.stack(self._losses).float().tolist()  # one copy per step
            self._losses = []
            for value in values:
                self.probe.log(loss=value)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.probe is None or not logs or self._seen_model_loss:
            return
        loss = first_number(logs, ("loss",))  # the mean since the previous log
        if loss is not None:
            self.probe.log(loss=loss)

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if self.probe is None or not metrics or not self.probe.steps_done:
            return
        self.probe.log(
            val_loss=first_number(metrics, EVAL_LOSS), val_acc=first_number(metrics, EVAL_ACC)
        )

    def on_train_end(self, args, state, control, **kwargs):
        if self.probe is None or self.result is not None:
            return
        if self._hook is not None:
            self._hook.remove()
            self._hook = None
        self.result = self.output.finish(self.probe)
