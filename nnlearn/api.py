"""`nnlearn.Probe`: the probe's measurements, rules, verdict and reports over the user's own loop.

    with nnlearn.Probe(model, optimizer, name="my-run") as probe:
        for epoch in range(epochs):
            for x, y in loader:
                loss = loss_fn(model(x), y)
                optimizer.zero_grad(); loss.backward(); optimizer.step()
                probe.log(loss=loss)
            probe.log(val_loss=v, val_acc=a)
    probe.result.verdict, probe.result.exit_code()
    probe.print_report(); probe.save("runs/my-run", junit="r.xml")

Steps are the optimizer's own steps: its step pre-hook reads the gradients (after the user's
clipping and GradScaler's `unscale_`; a step GradScaler skips never calls `optimizer.step`, so
it is not counted), its post-hook closes the step. The instruments are `nnlearn.Monitor`'s,
driven through its public calls, so the metrics table is the one `nnlearn probe` builds, and
the rules, verdict and reports are the same code. Nothing here touches the training: no random
numbers are drawn, no gradient or weight is written.

Under `torch.distributed` (more than one rank) every rank measures, and `stop()` gathers every
rank's rows to rank 0, which diagnoses them: `result` is then the same on every rank, and
`print_report()` / `save()` act on rank 0 only (`nnlearn.distributed.user`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nnlearn.distributed import current as current_rank
from nnlearn.distributed import is_main_process
from nnlearn.monitor import Monitor

# the names a user's metrics are recorded under, where nnlearn's rules read them by another
# name (`train_acc` is the training accuracy the report shows beside the validation one)
_METRIC_NAMES = {
    "train_acc": "train_eval_acc",
    "train_accuracy": "train_eval_acc",
    "acc": "train_eval_acc",
    "val_accuracy": "val_acc",
}
# keywords that are the training loss of the step
_LOSS_NAMES = ("loss", "train_loss")
# what the run table says about the loss, which the probe never sees being built
DEFAULT_LOSS_LABEL = "loss logged by your loop"

FixHints = Callable[[Any, Any], list[str]]


def innermost_optimizer(optimizer: Any) -> torch.optim.Optimizer:
    """The torch optimizer behind a framework's wrapper (Lightning's `LightningOptimizer`,
    accelerate's `AcceleratedOptimizer`): the step hooks only fire on the one that steps."""
    seen = 0
    while not _has_step_hooks(optimizer) and seen < 5:
        inner = getattr(optimizer, "optimizer", None) or getattr(optimizer, "_optimizer", None)
        if inner is None:
            break
        optimizer, seen = inner, seen + 1
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(
            f"nnlearn.Probe needs a torch.optim.Optimizer, got {type(optimizer).__name__}"
        )
    return optimizer


def _has_step_hooks(optimizer: Any) -> bool:
    # a wrapper that subclasses Optimizer without calling its __init__ has no hook dicts
    return isinstance(optimizer, torch.optim.Optimizer) and hasattr(
        optimizer, "_optimizer_step_pre_hooks"
    )


class Probe:
    """Measure a training run that the user drives; diagnose it on exit.

    `name` is shown in the reports; `fail_on` is the default gate of `result.exit_code()`,
    `save()` and `print_report()`; `steps` the number of optimizer steps planned, when known
    (only the run table shows it); `disable` / `thresholds` as `probe.rules` in a spec.

    Framework adapters pass `gradients="caller"` when the optimizer's pre-hook fires before the
    gradients exist (Lightning runs forward and backward inside `optimizer.step(closure)`) and
    call `read_gradients()` themselves, and `arm="caller"` to call `begin_step()` right before
    the training forward instead of right after the previous step (so validation forwards in
    between are not measured as training activations). `fixes(finding, result)` adds
    framework-specific fix texts to each finding.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        name: str = "probe",
        *,
        fail_on: str = "error",
        steps: int | None = None,
        disable: Iterable[str] = (),
        thresholds: dict[str, dict[str, float]] | None = None,
        loss_label: str = DEFAULT_LOSS_LABEL,
        gradients: str = "optimizer",
        arm: str = "optimizer",
        fixes: FixHints | None = None,
        seed: int | None = None,
    ):
        if gradients not in ("optimizer", "caller") or arm not in ("optimizer", "caller"):
            raise ValueError("gradients and arm are 'optimizer' or 'caller'")
        # under torch.distributed every rank measures; stop() diagnoses on rank 0
        self._rank = current_rank()
        if self._rank is not None:
            from nnlearn.distributed.instrument import RankStats
            from nnlearn.distributed.user import unwrap
            from nnlearn.monitor.instruments import default_instruments

            model, instruments = unwrap(model), default_instruments() + [RankStats()]
        self.model = model
        self.optimizer = innermost_optimizer(optimizer)
        self.name = name
        self.fail_on = fail_on
        self.steps_planned = steps
        self.disable = list(disable)
        self.thresholds = thresholds or {}
        self.loss_label = loss_label
        self.seed = seed
        self._gradients, self._arm_mode, self._fixes = gradients, arm, fixes
        self.facts: dict[str, Any] = {}
        self.notes: list[str] = []
        self.monitor = Monitor(
            model,
            self.optimizer,
            facts=self.facts,
            run="main",
            instruments=instruments if self._rank is not None else None,
        )
        self.steps_done = 0  # optimizer steps taken since the probe was entered
        self._armed: int | None = None  # the step the instruments are armed for
        self._measured = False  # gradients of the armed step were read
        self._losses: dict[int, list[float]] = {}
        self._metrics: dict[tuple[str, int], float] = {}
        self._lrs: list[float] = []
        self._handles: list = []
        self._started: float | None = None
        self._ended: float | None = None
        self._stopped = "completed"
        self._result = None

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> Probe:
        return self.start()

    def __exit__(self, exc_type, exc, tb) -> None:
        self.stop(error=exc)

    def start(self) -> Probe:
        """Attach the instruments and the optimizer's step hooks (what `with` does)."""
        if self._handles:
            return self
        self._describe_model()
        self.monitor.attach()
        self._handles = [
            self.optimizer.register_step_pre_hook(self._pre_step),
            self.optimizer.register_step_post_hook(self._post_step),
        ]
        self._started = time.perf_counter()
        if self._arm_mode == "optimizer":
            self.begin_step()
        return self

    def stop(self, error: BaseException | None = None) -> None:
        """Remove every hook and diagnose what was measured; runs on an exception too."""
        for handle in self._handles:
            handle.remove()
        self._handles = []
        self.monitor.detach()
        if self._ended is None:
            self._ended = time.perf_counter()
        if error is not None:
            self._stopped = "exception"
            self.notes.append(
                f"training raised {type(error).__name__} after {self.steps_done} optimizer "
                "steps; the diagnosis covers the steps before it"
            )
        self._result = None
        if self._rank is not None and error is None:
            from nnlearn.distributed.user import diagnose_across_ranks

            self._result = diagnose_across_ranks(self, self._rank)
        else:
            self._result = self._diagnose()

    # -- the optimizer's hooks -------------------------------------------------------------
    def _pre_step(self, optimizer, args, kwargs) -> None:
        if self._gradients == "optimizer":
            self.read_gradients()

    def _post_step(self, optimizer, args, kwargs) -> None:
        if self._armed is None:
            self.begin_step()  # arm="caller" and the caller did not: close the step anyway
        self.monitor.after_update(None)  # the loss comes through log(), after the step
        self._lrs.append(float(self.optimizer.param_groups[0].get("lr", math.nan)))
        self.steps_done += 1
        self._armed, self._measured = None, False
        if self._arm_mode == "optimizer":
            self.begin_step()

    def begin_step(self) -> None:
        """Arm the instruments for the next optimizer step, before its forward pass."""
        if self._armed == self.steps_done or not self._handles:
            return
        self.monitor.step_begin(self.steps_done)
        self._armed, self._measured = self.steps_done, False

    def read_gradients(self) -> None:
        """Read the gradients of the step about to be taken (the pre-hook calls this)."""
        if self._measured or not self._handles:
            return  # once per step: the first reading is the step's
        if self._armed is None:
            self.begin_step()
        if self.steps_done == 0:
            self.facts.setdefault("init", {})["params_without_grad"] = [
                name
                for name, p in self.model.named_parameters()
                if p.requires_grad and id(p) in self._held and p.grad is None
            ]
        self.monitor.after_backward()
        self._measured = True

    # -- what the user reports -------------------------------------------------------------
    def log(
        self,
        loss: Any = None,
        val_loss: Any = None,
        val_acc: Any = None,
        **metrics: Any,
    ) -> None:
        """Record the training loss of the last optimizer step (call it after
        `optimizer.step()`; several calls for one step are averaged), and validation or any
        other metrics at the current step."""
        self.log_at(self.current_step, loss=loss, val_loss=val_loss, val_acc=val_acc, **metrics)

    @property
    def current_step(self) -> int:
        """The step a value logged now belongs to: the last optimizer step taken."""
        return max(self.steps_done - 1, 0)

    def log_at(self, step: int, **metrics: Any) -> None:
        """`log` at an explicit optimizer step (for adapters that know which step a loss
        belongs to, e.g. a micro-batch of gradient accumulation before its step)."""
        for key, value in metrics.items():
            if value is None:
                continue
            number = _number(value, key)
            if key in _LOSS_NAMES:
                self._losses.setdefault(int(step), []).append(number)
            else:
                self._metrics[(_METRIC_NAMES.get(key, key), int(step))] = number

    def audit(self, train_data: Any, val_data: Any = None, *, seed: int = 0) -> dict[str, Any]:
        """The data audits of `nnlearn probe` (NaN/Inf, scale, balance, conflicting labels,
        train/val overlap) on datasets, (X, y) pairs, lists of items (Hugging Face-style
        mappings `{input_ids, attention_mask, labels}` too) or DataLoaders (their collate_fn
        builds the rows read; unequal-length token ids are padded as `nnlearn probe` does);
        returns the facts they found."""
        from nnlearn.audit import audit_data
        from nnlearn.data import _as_dataset, _describe, loader_dataset
        from nnlearn.data.batch import empty_like

        train = _as_dataset(loader_dataset(train_data), "train_data", None)
        if val_data is None:  # no validation split: an empty one of the same shapes
            val = empty_like(train)
        else:
            val = _as_dataset(loader_dataset(val_data), "val_data", None)
        inner = getattr(train_data, "dataset", None)  # a DataLoader: name what it loads
        source = type(train_data).__name__ + (f"({type(inner).__name__})" if inner else "")
        bundle = _describe(train, val, "auto", None, f"probe.audit:{source}")
        self.facts["data"] = audit_data(bundle, seed=seed)
        if self._result is not None:  # audited after the run: diagnose again
            self._result = self._diagnose()
        return self.facts["data"]

    # -- the diagnosis ---------------------------------------------------------------------
    @property
    def result(self):
        """The `ProbeResult` (`.verdict`, `.findings`, `.exit_code(fail_on)`); inside the
        `with` block, a diagnosis of the steps so far."""
        if self._result is not None:
            return self._result
        return self._diagnose()

    def print_report(
        self, *, fail_on: str | None = None, quiet: bool = False, console=None
    ) -> None:
        """The terminal report of `nnlearn probe`."""
        from rich.console import Console

        from nnlearn.report.terminal import render

        if not is_main_process():
            return  # a distributed run reports once, from rank 0
        result = self.result
        console = console or Console(highlight=False, markup=False)
        render(result, console, quiet=quiet, exit_code=result.exit_code(fail_on or self.fail_on))

    def save(
        self,
        directory: str | Path,
        *,
        junit: str | Path | None = None,
        markdown: str | Path | None = None,
        json: str | Path | None = None,
        fail_on: str | None = None,
        plots: bool = True,
    ) -> dict[str, str]:
        """The run folder of `nnlearn probe` (metrics table, findings.json, report.md, plots)
        and, when asked, JUnit, Markdown and JSON reports elsewhere; returns the artefacts."""
        from nnlearn.report.artifacts import write_reports, write_run_folder
        from nnlearn.report.json_report import dumps

        if not is_main_process():
            return {}  # rank 0 writes the run folder
        result = self.result
        gate = fail_on or self.fail_on
        code = result.exit_code(gate)
        write_run_folder(result, Path(directory))
        data, _ = write_reports(
            result,
            gate,
            code,
            markdown_path=Path(markdown) if markdown else None,
            junit_path=Path(junit) if junit else None,
            plots=plots,
        )
        if json:
            Path(json).parent.mkdir(parents=True, exist_ok=True)
            Path(json).write_text(dumps(data) + "\n")
            result.artifacts["json"] = str(json)
        return dict(result.artifacts)

    def _describe_model(self) -> None:
        params = list(self.model.parameters())
        trainable = [p for p in params if p.requires_grad]
        self._held = {id(p) for g in self.optimizer.param_groups for p in g["params"]}
        self.device = str(params[0].device) if params else "cpu"
        self.facts["model"] = {
            "class": type(self.model).__name__,
            "n_parameters": sum(p.numel() for p in params),
            "n_trainable": sum(p.numel() for p in trainable),
            "loss": self.loss_label,
            "optimizer": type(self.optimizer).__name__,
        }
        self.facts["setup"] = {
            "n_parameters": self.facts["model"]["n_parameters"],
            "n_trainable": self.facts["model"]["n_trainable"],
            "frozen": [n for n, p in self.model.named_parameters() if not p.requires_grad],
        }
        not_held = [
            n
            for n, p in self.model.named_parameters()
            if p.requires_grad and id(p) not in self._held
        ]
        # B703's evidence, what can be known without a copy of the weights: trainable
        # parameters the optimizer does not hold
        self.facts["setup"]["updates"] = {
            "not_in_optimizer": not_held,
            "zero_lr": [],
            "unchanged": [],
            "no_grad": [],
        }

    def _diagnose(self, metrics=None):
        import pandas as pd

        from nnlearn.measurements import Measurements
        from nnlearn.probe.runner import ProbeResult
        from nnlearn.rules import evaluate_rules
        from nnlearn.verdict import diagnose

        if self._started is None:
            raise RuntimeError("the probe never started: use `with nnlearn.Probe(...)`")
        if metrics is None:  # else: the rows of every rank, merged (nnlearn.distributed.user)
            metrics = pd.concat(
                [self.monitor.recorder.frame(), self._user_rows()], ignore_index=True
            )
        metrics = pd.concat([metrics, _init_rows(metrics)], ignore_index=True)
        facts = dict(self.facts)
        facts["run"] = self._run_facts()
        first = self._losses.get(0)
        if first:
            facts["init"] = dict(facts.get("init", {}), loss=first[0])
        measurements = Measurements(metrics.astype({"step": "int64"}), facts)
        outcomes = evaluate_rules(measurements, self.disable, self.thresholds)
        notes = list(self.notes) + self._missing_notes()
        notes += [
            f"rule {o.code} could not run ({o.reason}): please report it"
            for o in outcomes
            if o.status == "error"
        ]
        verdict, findings = diagnose(outcomes, measurements)
        result = ProbeResult(
            spec=None,
            spec_path=None,
            device=self.device,
            duration_s=(self._ended or time.perf_counter()) - self._started,
            measurements=measurements,
            outcomes=outcomes,
            findings=findings,
            verdict=verdict,
            notes=notes,
            name=self.name,
            seed=self.seed,
        )
        if self._fixes is not None:
            for f in findings:
                f.fixes = list(dict.fromkeys(f.fixes + list(self._fixes(f, result))))
        return result

    def _user_rows(self):
        """The logged losses and metrics as metric rows; each evaluation also gets the mean
        training loss since the previous one as `train_eval_loss` (the epoch's training loss,
        what Lightning logs as `train_loss_epoch`) unless the user logged that themselves."""
        import pandas as pd

        from nnlearn.measurements import COLUMNS

        rows = [("main", s, "train_loss", "", sum(v) / len(v)) for s, v in self._losses.items()]
        rows += [("main", s, name, "", v) for (name, s), v in self._metrics.items()]
        rows += [("main", i, "lr", "", lr) for i, lr in enumerate(self._lrs)]
        if not any(name == "train_eval_loss" for name, _ in self._metrics):
            previous = -1
            for step in sorted({s for (name, s) in self._metrics if name == "val_loss"}):
                window = [v for s, vs in self._losses.items() if previous < s <= step for v in vs]
                if window:
                    rows.append(("main", step, "train_eval_loss", "", sum(window) / len(window)))
                previous = step
        return pd.DataFrame(sorted(rows, key=lambda r: (r[2], r[1])), columns=COLUMNS)

    def _run_facts(self) -> dict[str, Any]:
        losses = [v for s in sorted(self._losses) for v in self._losses[s]]
        bad = [s for s in sorted(self._losses) if not all(map(math.isfinite, self._losses[s]))]
        stopped = self._stopped if self._stopped != "completed" or not bad else "nonfinite"
        end = self._ended or time.perf_counter()
        return {
            "steps_planned": self.steps_planned or self.steps_done,
            "steps_done": self.steps_done,
            "stopped": stopped,
            "nonfinite_step": bad[0] if bad else None,
            "duration_s": round(end - (self._started or end), 3),
            "losses_logged": len(losses),
            # the peak rate the optimizer had: a schedule's warm-up and decay end near 0
            "lr": max((lr for lr in self._lrs if math.isfinite(lr)), default=None),
            "source": "nnlearn.Probe",
        }

    def _missing_notes(self) -> list[str]:
        notes = []
        if not self.steps_done:
            notes.append("no optimizer step was taken while the probe was attached")
        elif not self._losses:
            notes.append(
                "no training loss was logged: call probe.log(loss=loss) after optimizer.step()"
            )
        return notes


def _number(value: Any, key: str) -> float:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(f"probe.log({key}=...) takes a number, got a tensor of {value.shape}")
        return float(value.detach().item())
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(
            f"probe.log({key}=...) takes a number, got {type(value).__name__}"
        ) from None


# what the instruments measured on the first optimizer step, before any update, is the
# model at init: the init-time rules (I601 activation scale, I602 symmetric weights, the
# at-init comparisons of A501/G401/G402) read it under run "init", as the init check records it
_INIT_NAMES = (
    "act_mean",
    "act_std",
    "act_rms",
    "dead_frac",
    "saturated_frac",
    "weight_row_spread",
    "grad_norm",
    "layer_grad_norm",
)


def _init_rows(metrics):
    main = metrics[(metrics["run"] == "main") & (metrics["step"] == 0)]
    rows = main[main["name"].isin(_INIT_NAMES)].copy()
    rows["run"] = "init"
    return rows
