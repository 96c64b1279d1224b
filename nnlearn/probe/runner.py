"""Orchestrate one probe: data -> audits -> model -> init check -> main run -> experiments ->
rules -> verdict -> run folder. The CLI and tests call `run_probe`."""

from __future__ import annotations

import copy
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nnlearn.errors import UserCodeError
from nnlearn.measurements import Measurements, MetricsRecorder
from nnlearn.rules import Finding, RuleOutcome
from nnlearn.spec.schema import Spec

_PACKAGE_DIR = str(Path(__file__).resolve().parent.parent)

# below this many parameters a CPU step is a few microseconds of arithmetic: a second intra-op
# thread only adds synchronisation, and on a busy 2-core machine its spin-waits made the
# quickstart's main run 5-20x slower (measured: 0.3s on one thread, 1.5-23s on two)
SMALL_MODEL_PARAMETERS = 1_000_000

# share of the budget the main run may use when experiments follow it: the default set costs
# about 1.5 main runs of optimizer steps (overfit_batch <= 300, lr_range 100, shuffled_labels
# as many as the main run), so a main run cut by the budget still leaves them room
MAIN_RUN_SHARE = 0.4
# an experiment runs when the time left covers at least this share of its estimated cost; a
# shorter run is cut at the deadline and noted, a longer shortfall skips it with a note
MIN_COST_SHARE = 0.5


@dataclass
class ProbeResult:
    """One diagnosed run. `spec` is None for a run nnlearn did not start itself (`nnlearn.Probe`
    over the user's loop, the framework callbacks); `name` and `seed` then say what it was."""

    spec: Spec | None
    spec_path: str | None
    device: str
    duration_s: float
    measurements: Measurements
    outcomes: list[RuleOutcome]
    findings: list[Finding]
    verdict: str
    experiments: dict[str, Any] = field(default_factory=dict)
    run_dir: Path | None = None
    artifacts: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    name: str = ""
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.spec is not None:
            self.name = self.name or self.spec.name
            self.seed = self.spec.seed if self.seed is None else self.seed

    def exit_code(self, fail_on: str = "error") -> int:
        """1 when a finding is at or above `fail_on` (error | warning | never), else 0."""
        from nnlearn.verdict import exit_code_for

        return exit_code_for(self.findings, fail_on)


class Progress:
    """What the runner reports while it works; the CLI renders it (or not)."""

    def phase(self, name: str, total: int | None = None) -> None: ...

    def advance(self, step: int) -> None: ...


def run_probe(
    spec: Spec,
    spec_path: str | None = None,
    *,
    out_dir: Path | None = None,
    progress: Progress | None = None,
) -> ProbeResult:
    """Run the whole probe. Torch's CPU thread count is restored afterwards (a small model is
    probed on one thread, see `SMALL_MODEL_PARAMETERS`)."""
    import torch

    threads = torch.get_num_threads()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("default")  # each warning once per place, not once per step
            result = _run_probe(spec, spec_path, out_dir=out_dir, progress=progress)
    finally:
        torch.set_num_threads(threads)
    result.notes += warning_notes(caught)
    return result


def warning_notes(caught: list[warnings.WarningMessage], limit: int = 5) -> list[str]:
    """Warnings the user's code and torch raised while probing, as report notes: printed
    between the progress bar and the report they would be lost, and they are often the clue
    (torch's broadcasting warning names the shape bug). nnlearn's own warnings stay warnings."""
    notes: dict[tuple, str] = {}  # one note per place: the same warning with other shapes
    for w in caught:
        if w.filename.startswith(_PACKAGE_DIR):
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
            continue
        text = str(w.message).strip()
        place = (w.category, w.filename, w.lineno)
        notes.setdefault(
            place,
            f"{w.category.__name__} while probing ({Path(w.filename).name}:{w.lineno}): "
            + (text.splitlines()[0] if text else ""),
        )
    return list(notes.values())[:limit]


def _run_probe(
    spec: Spec,
    spec_path: str | None = None,
    *,
    out_dir: Path | None = None,
    progress: Progress | None = None,
) -> ProbeResult:
    from nnlearn.audit import audit_data
    from nnlearn.audit.setup import check_setup, skip_training
    from nnlearn.audit.updates import parameter_updates
    from nnlearn.data import build_data
    from nnlearn.distributed.role import RankRole
    from nnlearn.models import build_model
    from nnlearn.monitor import Monitor
    from nnlearn.probe.experiments import ExperimentContext, available, run_experiment
    from nnlearn.probe.loop import train
    from nnlearn.probe.setup import build_loss, build_optimizer, resolve_device, seed_everything
    from nnlearn.rules import evaluate_rules
    from nnlearn.verdict import diagnose

    progress = progress or Progress()
    start = time.perf_counter()
    budget_end = start + spec.probe.budget_s
    # under `--nproc`: every rank trains and measures, rank 0 alone audits, experiments, reports
    role = RankRole.current()
    main_rank = role is None or role.is_main
    device = resolve_device(spec.device) if role is None else role.device(spec.device)
    seed_everything(spec.seed)
    recorder = MetricsRecorder()
    facts: dict[str, Any] = {}
    notes: list[str] = []

    progress.phase("loading data")
    bundle = build_data(spec, spec_path)
    notes += bundle.notes
    facts["data"] = audit_data(bundle, seed=spec.seed) if main_rank else {}

    progress.phase("building model")
    seed_everything(spec.seed)
    model = build_model(spec, bundle, spec_path).to(device)
    n_parameters = sum(p.numel() for p in model.parameters())
    if device.type == "cpu" and n_parameters < SMALL_MODEL_PARAMETERS:
        import torch

        torch.set_num_threads(1)
    initial_model = copy.deepcopy(model)
    loss_fn = build_loss(spec, bundle.task, spec_path)
    # issue 4: one forward pass checks model, loss and data together before anything trains; a
    # fatal setup (labels beyond the outputs, a loss that cannot run, nothing trainable) skips training
    if main_rank:
        facts["setup"] = check_setup(model, loss_fn, bundle, device, facts["data"], seed=spec.seed)
    else:
        facts["setup"] = {
            "n_trainable": sum(p.numel() for p in model.parameters() if p.requires_grad)
        }
    fatal = (
        facts["setup"].get("fatal")
        if role is None
        else role.agree_fatal(facts["setup"].get("fatal"))
    )
    optimizer = None if fatal else build_optimizer(spec, model, spec_path)
    facts["model"] = {
        "class": type(model).__name__,
        "n_parameters": n_parameters,
        "n_trainable": facts["setup"]["n_trainable"],
        "loss": loss_fn.name,
        "optimizer": type(optimizer).__name__ if optimizer is not None else "not built",
    }

    wanted = list(dict.fromkeys(spec.probe.experiments)) if main_rank else []
    if fatal:  # issue 4: no init check, main run or experiments; the rules report the setup
        notes.append(f"training skipped: {fatal['message']}")
        wanted, train = [], skip_training
    have = set(available())
    experiments: dict[str, Any] = {}

    def context(deadline: float) -> ExperimentContext:
        return ExperimentContext(
            spec=spec,
            file=spec_path,
            bundle=bundle,
            initial_model=initial_model,
            loss_fn=loss_fn,
            device=device,
            recorder=recorder,
            facts=facts,
            deadline=deadline,
            seed=spec.seed,
            on_step=progress.advance,
        )

    def experiment(name: str, deadline: float) -> None:
        if name not in have:
            notes.append(f"experiment {name} is not available in this version; skipped")
            return
        ctx = context(deadline)
        skip = budget_skip(name, ctx, seconds_per_step, spec.probe.budget_s)
        if skip:
            notes.append(skip)
            experiments[name] = {"skipped": "budget"}
            return
        progress.phase(name, total=planned_steps(name, ctx) or None)
        began = time.perf_counter()
        try:
            experiments[name] = run_experiment(name, ctx)
            experiments[name]["duration_s"] = round(time.perf_counter() - began, 3)
        except UserCodeError as exc:  # the main run went through: report, do not abort
            notes.append(f"experiment {name} skipped: {exc}")
            experiments[name] = {"skipped": str(exc)}
            return
        if "skipped" in experiments[name]:
            notes.append(f"experiment {name} skipped: {experiments[name]['skipped']}")
        elif experiments[name].get("stopped") == "budget":
            notes.append(
                f"experiment {name} cut short by the {spec.probe.budget_s:g}s budget after "
                f"{experiments[name].get('steps')} of {planned_steps(name, ctx)} steps"
            )

    seconds_per_step = 0.0
    if "init_check" in wanted:
        experiment("init_check", budget_end)
        facts["init"] = experiments["init_check"]
    later = [n for n in wanted if n != "init_check"]

    progress.phase("main run", total=spec.probe.steps)
    seed_everything(spec.seed)
    share = MAIN_RUN_SHARE if later else 1.0
    main_deadline = time.perf_counter() + share * max(budget_end - time.perf_counter(), 0.0)
    instruments = None
    train_model, train_bundle = model, bundle
    if role is not None and not fatal:
        from nnlearn.monitor.instruments import default_instruments

        instruments = default_instruments() + role.instruments()
        train_model = role.train_model(model, device)
        train_bundle = role.train_data(bundle, spec.seed)
    monitor = Monitor(
        model, optimizer, recorder=recorder, facts=facts, run="main", instruments=instruments
    )
    with monitor:
        result = train(
            train_model,
            loss_fn,
            optimizer,
            train_bundle,
            monitor,
            steps=spec.probe.steps,
            batch_size=spec.data.batch_size,
            eval_every=spec.probe.eval_every,
            device=device,
            seed=spec.seed,
            deadline=main_deadline,
            grad_clip=spec.optimizer.grad_clip,
            on_step=progress.advance,
            agree=role.agree if role is not None and not fatal else None,
        )
    facts["run"] = {
        "steps_planned": spec.probe.steps,
        "steps_done": result.steps_done,
        "stopped": result.stopped,
        "nonfinite_step": result.nonfinite_step,
        "duration_s": round(result.duration_s, 3),
        "batch_size": spec.data.batch_size,
        # the rate the optimizer actually has, whatever set it (spec, user code, a scheduler)
        "lr": optimizer.param_groups[0].get("lr") if optimizer is not None else None,
    }
    if result.steps_done:  # issue 4: parameters the optimizer never moved
        facts["setup"]["updates"] = parameter_updates(initial_model, model, optimizer)
    if role is not None:  # rank 0 gets the merged table; the other ranks are done
        role.reduce(recorder, facts, len(train_bundle.train), spec.data.batch_size)
        notes += role.notes
        if not role.is_main:
            return ProbeResult(
                spec,
                spec_path,
                str(device),
                time.perf_counter() - start,
                Measurements(recorder.frame(), facts),
                [],
                [],
                "inconclusive",
            )
    seconds_per_step = result.duration_s / max(result.steps_done, 1)
    if result.stopped == "budget":
        notes.append(
            f"main run stopped by the {spec.probe.budget_s:g}s budget after "
            f"{result.steps_done} of {spec.probe.steps} steps"
        )

    # cheapest first, so that a short budget loses the expensive experiments, not all of them
    for name in sorted(later, key=lambda n: experiment_cost(n)):
        experiment(name, budget_end)
    facts["experiments"] = experiments = {n: experiments[n] for n in wanted if n in experiments}

    progress.phase("rules")
    measurements = Measurements(recorder.frame(), facts)
    outcomes = evaluate_rules(measurements, spec.probe.rules.disable, spec.probe.rules.thresholds)
    notes += [
        f"rule {o.code} could not run ({o.reason}): please report it"
        for o in outcomes
        if o.status == "error"
    ]
    verdict, findings = diagnose(outcomes, measurements)
    probe = ProbeResult(
        spec=spec,
        spec_path=spec_path,
        device=str(device),
        duration_s=time.perf_counter() - start,
        measurements=measurements,
        outcomes=outcomes,
        findings=findings,
        verdict=verdict,
        experiments=experiments,
        notes=notes,
    )
    if out_dir is not None:
        from nnlearn.report.artifacts import write_run_folder

        write_run_folder(probe, out_dir)
    return probe


def planned_steps(name: str, ctx) -> int:
    """Optimizer steps an experiment plans (its module's `planned_steps(ctx)`), 0 if unknown."""
    import importlib

    module = importlib.import_module(f"nnlearn.probe.experiments.{name}")
    return int(module.planned_steps(ctx)) if hasattr(module, "planned_steps") else 0


# relative cost, for the order in which the experiments run
_COST_ORDER = ("baseline", "overfit_batch", "lr_range", "shuffled_labels", "data_scaling")


def experiment_cost(name: str) -> int:
    return _COST_ORDER.index(name) if name in _COST_ORDER else len(_COST_ORDER)


def budget_skip(name: str, ctx, seconds_per_step: float, budget_s: float) -> str | None:
    """A note when the time left cannot cover MIN_COST_SHARE of the experiment's estimated
    cost (its planned steps at the main run's pace, which includes evaluation and
    instruments, so the estimate errs on the safe side)."""
    left = ctx.time_left()
    estimate = planned_steps(name, ctx) * seconds_per_step
    if left > 0 and left >= MIN_COST_SHARE * estimate:
        return None
    return (
        f"experiment {name} skipped: the {budget_s:g}s budget had {max(left, 0):.1f}s left, "
        f"it needs about {estimate:.1f}s (raise probe.budget_s to run it)"
    )


def default_run_dir(name: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{name}-{stamp}"
