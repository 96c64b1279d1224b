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
    partial: Any = None  # nnlearn.probe.guard.Partial when the probe was stopped early

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


@dataclass
class Budget:
    """The probe's wall-clock budget: `probe.budget_s` from the start of the probe."""

    seconds: float
    start: float = field(default_factory=time.perf_counter)

    @property
    def end(self) -> float:
        return self.start + self.seconds

    def left(self) -> float:
        return self.end - time.perf_counter()

    def deadline(self, share: float = 1.0) -> float:
        """A deadline `share` of the time left from now."""
        return time.perf_counter() + share * max(self.left(), 0.0)


@dataclass
class ProbeState:
    """What the phases hand each other: each phase reads what earlier ones set."""

    spec: Spec
    spec_path: str | None
    budget: Budget
    progress: Progress
    device: Any = None
    recorder: MetricsRecorder = field(default_factory=MetricsRecorder)
    facts: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    bundle: Any = None
    model: Any = None
    initial_model: Any = None
    loss_fn: Any = None
    step: Any = None  # nnlearn.probe.step.Step: the user's train_step or the builtin one
    optimizer: Any = None
    scheduler: Any = None
    fatal: dict[str, str] | None = None
    wanted: list[str] = field(default_factory=list)
    experiments: dict[str, Any] = field(default_factory=dict)
    seconds_per_step: float = 0.0
    phase: str = ""  # the phase running now (a partial report names it)
    experiment: str | None = None  # the experiment running now

    def current_phase(self) -> str:
        if self.phase == "the experiments" and self.experiment:
            return f"experiment {self.experiment}"
        return self.phase

    # under `--nproc` (nnlearn.distributed.role): every rank trains and measures, rank 0 alone
    # audits, checks the setup, runs the experiments and the rules; None in one process
    role: Any = None

    @property
    def main_rank(self) -> bool:
        return self.role is None or self.role.is_main


def _run_probe(
    spec: Spec,
    spec_path: str | None = None,
    *,
    out_dir: Path | None = None,
    progress: Progress | None = None,
) -> ProbeResult:
    from nnlearn.distributed.role import RankRole
    from nnlearn.probe.guard import Guard, Stopped, partial_from
    from nnlearn.probe.setup import resolve_device

    state = ProbeState(spec, spec_path, Budget(spec.probe.budget_s), progress or Progress())
    state.role = RankRole.current()
    state.device = (
        resolve_device(spec.device) if state.role is None else state.role.device(spec.device)
    )
    phases = [
        ("loading the data", load_phase),
        ("the data audit", audit_phase),
        ("building the model", build_phase),
        ("the init check", init_check_phase),
        ("the main run", main_run_phase),
        ("the experiments", experiments_phase),
    ]
    # issue 11: the user's code runs under a hard budget and Ctrl-C; either stops it with
    # the rules still run on what was measured, in a report marked partial
    partial = None
    with Guard(spec.probe.budget_s) as guard:
        try:
            for name, phase in phases:
                state.phase = name
                phase(state)
                if name == "the main run" and not state.main_rank:
                    guard.finish()  # its rows went to rank 0, which diagnoses and reports
                    return rank_result(state)
        except Stopped as stop:
            guard.finish()
            partial = partial_from(stop, state.current_phase())
            stopped_run_facts(state, stop.reason)
        guard.finish()
        measurements, outcomes = rules_phase(state)
        probe = verdict_phase(state, measurements, outcomes)
        if partial is not None:
            probe.partial = partial
            probe.notes.insert(0, partial.message(spec.probe.budget_s))
            if probe.verdict == "healthy":  # nothing found in a part of the probe proves nothing
                probe.verdict = "inconclusive"
        if out_dir is not None:
            write_phase(probe, out_dir)
    return probe


def stopped_run_facts(state: ProbeState, reason: str) -> None:
    """What a stopped main run measured, as the facts a finished one leaves: the rules read
    the steps done from them."""
    from nnlearn.probe.loop import current_lr

    if state.phase == "the experiments" and state.experiment:
        state.experiments[state.experiment] = {"skipped": f"stopped ({reason})"}
        state.facts["experiments"] = state.experiments
    if "run" in state.facts or state.phase != "the main run":
        return
    frame = state.recorder.frame()
    losses = frame[(frame["run"] == "main") & (frame["name"] == "train_loss")]
    state.facts["run"] = {
        "steps_planned": state.spec.probe.steps,
        "steps_done": int(losses["step"].nunique()) if len(losses) else 0,
        "stopped": reason,
        "nonfinite_step": None,
        "batch_size": state.spec.data.batch_size,
        "lr": current_lr(state.optimizer),
        "lr_final": current_lr(state.optimizer),
    }


def load_phase(state: ProbeState) -> None:
    from nnlearn.data import build_data
    from nnlearn.probe.setup import seed_everything

    state.progress.phase("loading data")
    seed_everything(state.spec.seed)
    state.bundle = build_data(state.spec, state.spec_path)
    state.notes += state.bundle.notes


def audit_phase(state: ProbeState) -> None:
    from nnlearn.audit import audit_data

    state.facts["data"] = audit_data(state.bundle, seed=state.spec.seed) if state.main_rank else {}


def build_phase(state: ProbeState) -> None:
    """Model, loss, step, the setup check (issue 4: one forward pass checks model, loss and
    data together before anything trains; a fatal setup skips training), optimizer."""
    import torch

    from nnlearn.audit.embeddings import embedding_check, out_of_range_setup
    from nnlearn.audit.setup import check_setup, output_probabilities
    from nnlearn.models import build_model
    from nnlearn.probe.setup import build_loss, build_optimizer, build_scheduler, seed_everything
    from nnlearn.probe.step import build_step

    spec, file = state.spec, state.spec_path
    state.progress.phase("building model")
    seed_everything(spec.seed)
    state.model = model = build_model(spec, state.bundle, file).to(state.device)
    n_parameters = sum(p.numel() for p in model.parameters())
    if state.device.type == "cpu" and n_parameters < SMALL_MODEL_PARAMETERS:
        torch.set_num_threads(1)
    fit_collate(state.bundle, model)
    state.initial_model = copy.deepcopy(model)
    state.loss_fn = build_loss(spec, state.bundle.task, file)
    state.step = build_step(spec, state.loss_fn, file)
    if not state.main_rank:  # rank 0's check decides for every rank
        setup = {"n_trainable": sum(p.numel() for p in model.parameters() if p.requires_grad)}
    elif (emb := embedding_check(model, state.bundle, state.device, spec.seed)) and emb.get(
        "out_of_range"
    ):  # issue 9: ids beyond an embedding table are a finding (D309), not a crash
        setup = out_of_range_setup(model, emb)
    else:
        setup = check_setup(
            model,
            state.loss_fn,
            state.bundle,
            state.device,
            state.facts["data"],
            spec.seed,
            state.step,
        )
        if emb:
            setup["embeddings"] = emb
    state.facts["setup"] = setup
    state.step.probabilities = output_probabilities(setup)
    state.fatal = setup.get("fatal")
    if state.role is not None:
        state.fatal = state.role.agree_fatal(state.fatal)
    if not state.fatal:
        state.optimizer = build_optimizer(spec, model, file)
        state.scheduler = build_scheduler(spec, state.optimizer, file)
    loss_name = state.loss_fn.name
    if state.step.user_step is not None:
        loss_name = f"train_step {state.step.name}"
    elif state.step.used_model_loss:
        loss_name = "the model's own loss"
    state.facts["model"] = {
        "class": type(model).__name__,
        "n_parameters": n_parameters,
        "n_trainable": setup["n_trainable"],
        "loss": loss_name,
        "optimizer": type(state.optimizer).__name__ if state.optimizer is not None else "not built",
    }
    state.wanted = list(dict.fromkeys(spec.probe.experiments)) if state.main_rank else []
    if state.fatal:  # issue 4: no init check, main run or experiments; the rules report it
        state.notes.append(f"training skipped: {state.fatal['message']}")
        state.wanted = []


def fit_collate(bundle, model) -> None:
    """The padding default learns from the model what the dataset did not say: the pad token
    of its config, and whether its forward takes an attention_mask (one is built only then)."""
    import inspect

    from nnlearn.data.batch import PadCollate, pad_token_id_of

    collate = bundle.collate
    if not isinstance(collate, PadCollate):
        return
    if collate.pad_token_id is None:
        collate.pad_token_id = pad_token_id_of(model)
    try:
        params = inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return
    collate.build_mask = "attention_mask" in params or any(
        p.kind is p.VAR_KEYWORD for p in params.values()
    )


def init_check_phase(state: ProbeState) -> None:
    if "init_check" in state.wanted:
        run_one_experiment(state, "init_check")
        state.facts["init"] = state.experiments["init_check"]


def main_run_phase(state: ProbeState) -> None:
    """`probe.steps` optimizer steps of the step under the Monitor; MAIN_RUN_SHARE of the time
    left when experiments follow."""
    from nnlearn.audit.setup import skip_training
    from nnlearn.audit.updates import parameter_updates
    from nnlearn.monitor import Monitor
    from nnlearn.probe.loop import current_lr, train
    from nnlearn.probe.setup import seed_everything

    spec = state.spec
    state.progress.phase("main run", total=spec.probe.steps)
    seed_everything(spec.seed)
    later = [n for n in state.wanted if n != "init_check"]
    deadline = state.budget.deadline(MAIN_RUN_SHARE if later else 1.0)
    role = state.role if not state.fatal else None
    instruments, model, bundle = None, state.model, state.bundle
    if role is not None:  # DDP around the model, each rank its shard, the DDP instruments
        from nnlearn.monitor.instruments import default_instruments

        instruments = default_instruments() + role.instruments()
        model = role.train_model(state.model, state.device)
        bundle = role.train_data(state.bundle, spec.seed)
    monitor = Monitor(
        state.model,
        state.optimizer,
        recorder=state.recorder,
        facts=state.facts,
        run="main",
        planned_steps=spec.probe.steps,
        instruments=instruments,
    )
    run = skip_training if state.fatal else train
    extra = {"agree": role.agree} if role is not None else {}
    with monitor:
        result = run(
            model,
            state.step,
            state.optimizer,
            bundle,
            monitor,
            steps=spec.probe.steps,
            batch_size=spec.data.batch_size,
            eval_every=spec.probe.eval_every,
            device=state.device,
            seed=spec.seed,
            deadline=deadline,
            grad_clip=spec.optimizer.grad_clip,
            on_step=state.progress.advance,
            scheduler=state.scheduler,
            **extra,
        )
    state.facts["run"] = {
        "steps_planned": spec.probe.steps,
        "steps_done": result.steps_done,
        "stopped": result.stopped,
        "nonfinite_step": result.nonfinite_step,
        "duration_s": round(result.duration_s, 3),
        "batch_size": spec.data.batch_size,
        # the rate the optimizer actually ran at, whatever set it (spec, user code, a
        # scheduler: its peak), read from the optimizer, never from the spec
        "lr": result.lr_peak if result.lr_peak is not None else current_lr(state.optimizer),
        "lr_final": current_lr(state.optimizer),
    }
    if result.steps_done:  # issue 4: parameters the optimizer never moved
        state.facts["setup"]["updates"] = parameter_updates(
            state.initial_model, state.model, state.optimizer, result.lr_peaks
        )
    if state.role is not None:  # rank 0 gets every rank's rows, merged
        state.role.reduce(state.recorder, state.facts, len(bundle.train), spec.data.batch_size)
        state.notes += state.role.notes
    state.seconds_per_step = result.duration_s / max(result.steps_done, 1)
    if result.stopped == "budget":
        state.notes.append(
            f"main run stopped by the {spec.probe.budget_s:g}s budget after "
            f"{result.steps_done} of {spec.probe.steps} steps"
        )


def rank_result(state: ProbeState) -> ProbeResult:
    """What a rank other than 0 returns: its own measurements, no diagnosis."""
    return ProbeResult(
        spec=state.spec,
        spec_path=state.spec_path,
        device=str(state.device),
        duration_s=time.perf_counter() - state.budget.start,
        measurements=Measurements(state.recorder.frame(), state.facts),
        outcomes=[],
        findings=[],
        verdict="inconclusive",
        notes=state.notes,
    )


def experiments_phase(state: ProbeState) -> None:
    # cheapest first, so that a short budget loses the expensive experiments, not all of them
    later = [n for n in state.wanted if n != "init_check"]
    for name in sorted(later, key=experiment_cost):
        run_one_experiment(state, name)
    state.experiments = {n: state.experiments[n] for n in state.wanted if n in state.experiments}
    state.facts["experiments"] = state.experiments


def experiment_context(state: ProbeState, deadline: float):
    from nnlearn.probe.experiments import ExperimentContext

    return ExperimentContext(
        spec=state.spec,
        file=state.spec_path,
        bundle=state.bundle,
        initial_model=state.initial_model,
        loss_fn=state.loss_fn,
        device=state.device,
        recorder=state.recorder,
        facts=state.facts,
        deadline=deadline,
        seed=state.spec.seed,
        on_step=state.progress.advance,
        step_fn=state.step,
    )


def run_one_experiment(state: ProbeState, name: str) -> None:
    """One experiment within what is left of the budget; the user's code failing in it is a
    note (the main run went through), not an abort."""
    from nnlearn.probe.experiments import available, run_experiment

    spec, notes, results = state.spec, state.notes, state.experiments
    if name not in available():
        notes.append(f"experiment {name} is not available in this version; skipped")
        return
    ctx = experiment_context(state, state.budget.end)
    skip = budget_skip(name, ctx, state.seconds_per_step, spec.probe.budget_s)
    if skip:
        notes.append(skip)
        results[name] = {"skipped": "budget"}
        return
    state.progress.phase(name, total=planned_steps(name, ctx) or None)
    state.experiment = name
    began = time.perf_counter()
    try:
        results[name] = run_experiment(name, ctx)
        results[name]["duration_s"] = round(time.perf_counter() - began, 3)
    except UserCodeError as exc:
        notes.append(f"experiment {name} skipped: {exc}")
        results[name] = {"skipped": str(exc)}
        return
    if "skipped" in results[name]:
        notes.append(f"experiment {name} skipped: {results[name]['skipped']}")
    elif results[name].get("stopped") == "budget":
        notes.append(
            f"experiment {name} cut short by the {spec.probe.budget_s:g}s budget after "
            f"{results[name].get('steps')} of {planned_steps(name, ctx)} steps"
        )


def rules_phase(state: ProbeState) -> tuple[Measurements, list[RuleOutcome]]:
    from nnlearn.rules import evaluate_rules

    state.progress.phase("rules")
    measurements = Measurements(state.recorder.frame(), state.facts)
    rules = state.spec.probe.rules
    outcomes = evaluate_rules(measurements, rules.disable, rules.thresholds)
    state.notes += [
        f"rule {o.code} could not run ({o.reason}): please report it"
        for o in outcomes
        if o.status == "error"
    ]
    return measurements, outcomes


def verdict_phase(
    state: ProbeState, measurements: Measurements, outcomes: list[RuleOutcome]
) -> ProbeResult:
    from nnlearn.verdict import diagnose

    verdict, findings = diagnose(outcomes, measurements)
    return ProbeResult(
        spec=state.spec,
        spec_path=state.spec_path,
        device=str(state.device),
        duration_s=time.perf_counter() - state.budget.start,
        measurements=measurements,
        outcomes=outcomes,
        findings=findings,
        verdict=verdict,
        experiments=state.experiments,
        notes=state.notes,
    )


def write_phase(probe: ProbeResult, out_dir: Path) -> None:
    from nnlearn.report.artifacts import write_run_folder

    write_run_folder(probe, out_dir)


def planned_steps(name: str, ctx) -> int:
    """Optimizer steps an experiment plans (its module's `planned_steps(ctx)`), 0 if unknown."""
    import importlib

    module = importlib.import_module(f"nnlearn.probe.experiments.{name}")
    return int(module.planned_steps(ctx)) if hasattr(module, "planned_steps") else 0


# relative cost, for the order in which the experiments run
_COST_ORDER = ("baseline", "overfit_batch", "warmup", "lr_range", "shuffled_labels", "data_scaling")


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
    """A new, unique run folder `runs/<sanitised name>-<time>[-N]`, created atomically."""
    from nnlearn.report.artifacts import create_run_dir

    return create_run_dir(name)
