"""The command line. It parses options, calls the library and maps outcomes to exit codes;
deep code raises `NnlearnError`, caught once here. Torch is imported only by commands that train.
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from nnlearn.entry import main
from nnlearn.entry import silence_stdout as _silence_stdout
from nnlearn.errors import ExitCode, InputError, NnlearnError

app = typer.Typer(
    name="nnlearn",
    help="Why is my neural network not learning? Probe a training run and diagnose it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        from nnlearn import __version__

        typer.echo(f"nnlearn {__version__}")
        raise typer.Exit(0)


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", "-V", callback=_print_version, is_eager=True, help="print the version"
        ),
    ] = False,
) -> None:
    """Why is my neural network not learning? Probe a training run and diagnose it."""


class FailOn(str, Enum):
    error = "error"
    warning = "warning"
    never = "never"


class Format(str, Enum):
    rich = "rich"
    json = "json"
    markdown = "markdown"


class LogFormat(str, Enum):
    rich = "rich"
    json = "json"


# options `probe` and `check` share
JsonPath = Annotated[Path | None, typer.Option("--json", help="write the findings JSON")]
FailOnOption = Annotated[FailOn, typer.Option(help="lowest severity that makes the exit code 1")]
Quiet = Annotated[bool, typer.Option(help="print only the verdict line")]
TensorBoardDir = Annotated[
    Path | None,
    typer.Option(help="write the measured series and findings as TensorBoard event files here"),
]


def _fail(exc: NnlearnError) -> None:
    """One clear message on stderr, no traceback, the error's exit code."""
    from rich.console import Console
    from rich.text import Text

    text = Text("error: ", style="bold red")
    text.append(exc.render())
    hint = getattr(exc, "likely_cause", "")
    if hint:
        text.append("\n" + hint, style="yellow")
    try:
        Console(stderr=True, highlight=False, soft_wrap=True).print(text)
    except OSError:  # stderr closed: the exit code still says it
        pass
    raise typer.Exit(int(exc.exit_code))


class _Edge:
    """What the edge knows while a command runs: the gate's exit code once it is decided
    (a closed stdout ends with it) and the run folder (an internal error's traceback goes
    there)."""

    def __init__(self) -> None:
        self.code: int | None = None
        self.run_dir: Path | None = None


def _at_edge(body, edge: _Edge | None = None, on_error=None):
    """Run a command's body; every way it can end maps to a documented exit code here, and
    only here: NnlearnError -> its code; a closed stdout -> the gate's code, quietly; the
    user's code raising anywhere (SystemExit included) -> 3 with its frames; nnlearn's own
    bug -> 3, the traceback saved to a file. KeyboardInterrupt goes on to `main` (130)."""
    import click

    from nnlearn.errors import classify

    edge = edge or _Edge()
    try:
        return body(edge)
    except BrokenPipeError:
        _silence_stdout()
        raise typer.Exit(edge.code if edge.code is not None else int(ExitCode.OK)) from None
    except (click.exceptions.Exit, click.exceptions.Abort, KeyboardInterrupt):
        raise
    except (Exception, SystemExit) as exc:
        if _broken_pipe(exc):
            _silence_stdout()
            raise typer.Exit(edge.code if edge.code is not None else int(ExitCode.OK)) from None
        error = classify(exc, str(edge.run_dir) if edge.run_dir else None)
        if on_error is not None:
            on_error(error)
        _fail(error)


def _broken_pipe(exc: BaseException) -> bool:
    """Rich meets a closed stdout by pointing it at /dev/null and raising SystemExit(1)."""
    import traceback

    if not isinstance(exc, SystemExit):
        return False
    frames = traceback.extract_tb(exc.__traceback__)
    return bool(frames) and frames[-1].name == "on_broken_pipe"


@app.command()
def probe(
    spec: Annotated[Path, typer.Argument(help="the experiment spec (YAML)")],
    device: Annotated[str | None, typer.Option(help="auto | cpu | cuda | cuda:N")] = None,
    seed: Annotated[int | None, typer.Option(help="random seed (spec: seed)")] = None,
    steps: Annotated[int | None, typer.Option(help="main-run steps (spec: probe.steps)")] = None,
    budget: Annotated[
        float | None, typer.Option(help="wall-clock cap in seconds (spec: probe.budget_s)")
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="override a spec field: dotted.key=value (repeatable)"),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="run folder (default runs/<name>-<time>/)")
    ] = None,
    json_path: JsonPath = None,
    markdown: Annotated[
        Path | None, typer.Option(help="write the Markdown report (to paste into an issue)")
    ] = None,
    junit: Annotated[
        Path | None, typer.Option(help="write JUnit XML for CI (one test case per rule)")
    ] = None,
    tensorboard: TensorBoardDir = None,
    format: Annotated[Format, typer.Option(help="what goes to stdout")] = Format.rich,
    fail_on: FailOnOption = FailOn.error,
    quiet: Quiet = False,
    force: Annotated[
        bool, typer.Option(help="let --out write into a non-empty folder nnlearn did not create")
    ] = False,
    nproc: Annotated[
        int,
        typer.Option(
            min=1, help="run the probe as N processes under torch.distributed (DDP; gloo/NCCL)"
        ),
    ] = 1,
) -> None:
    """Run a short instrumented training probe and diagnose it."""

    def junit_error(exc: NnlearnError) -> None:
        if junit and exc.exit_code == ExitCode.PROBE_FAILED:
            from nnlearn.report.artifacts import write_text
            from nnlearn.report.junit import error_xml

            message = exc.render() + "\n" + getattr(exc, "likely_cause", "")
            try:
                write_text(junit, error_xml(spec.stem, str(spec), message.strip()), "--junit")
            except NnlearnError:
                pass

    code = _at_edge(
        lambda edge: _probe(
            spec,
            device,
            seed,
            steps,
            budget,
            set_ or [],
            out,
            json_path,
            format,
            fail_on.value,
            quiet,
            markdown,
            junit,
            force,
            edge,
            tensorboard,
            nproc,
        ),
        on_error=junit_error,
    )
    raise typer.Exit(code)


def _probe(
    spec_file,
    device,
    seed,
    steps,
    budget,
    sets,
    out,
    json_path,
    fmt,
    fail_on,
    quiet,
    md,
    junit,
    force,
    edge: _Edge | None = None,
    tb=None,
    nproc=1,
):
    from nnlearn.errors import ProbeFailed, classify
    from nnlearn.spec import load_spec, parse_overrides

    overrides = parse_overrides(sets)
    for key, value in (
        ("device", device),
        ("seed", seed),
        ("probe.steps", steps),
        ("probe.budget_s", budget),
    ):
        if value is not None:
            overrides.append((key, value))
    spec = load_spec(spec_file, overrides)
    from nnlearn.report.artifacts import (
        check_output_path,
        create_run_dir,
        discard_if_unused,
        prepare_out_dir,
        write_reports,
        write_text,
    )

    # every path the run will write is checked before anything trains (exit 2 now, not a
    # traceback after the training)
    for option, path in (("--json", json_path), ("--markdown", md), ("--junit", junit)):
        if path is not None:
            check_output_path(path, option)
    if tb:
        from nnlearn.report.tensorboard import require_tensorboard

        require_tensorboard()  # before training, not after it
    if nproc > 1:  # the same command on every rank; rank 0 reports and its exit code is ours
        from nnlearn.distributed.launch import launch_probe

        args = (spec_file, device, seed, steps, budget, sets, out, json_path, fmt, fail_on)
        args = (*args, quiet, md, junit, force, None, tb)
        return launch_probe(nproc, spec.device, spec.probe.budget_s, args)
    from nnlearn.distributed import is_main_process

    edge = edge or _Edge()
    main = is_main_process()  # in a distributed probe only rank 0 shows, writes and reports
    if main:
        edge.run_dir = prepare_out_dir(out, force) if out else create_run_dir(spec.name)

    from rich.console import Console

    from nnlearn.probe.runner import run_probe
    from nnlearn.report.json_report import dumps
    from nnlearn.report.progress import RichProgress
    from nnlearn.verdict import exit_code_for

    console = Console(highlight=False, markup=False)
    show = fmt == Format.rich and not quiet and console.is_terminal
    try:
        with RichProgress(console, enabled=show) as progress:
            result = run_probe(spec, str(spec_file), out_dir=edge.run_dir, progress=progress)
    except (Exception, SystemExit) as exc:
        error = classify(exc, str(edge.run_dir) if edge.run_dir else None)
        if isinstance(error, ProbeFailed):
            from nnlearn.report.crash import hint_text, likely_causes

            error.likely_cause = hint_text(likely_causes(spec, str(spec_file)))
        if edge.run_dir is not None:
            discard_if_unused(edge.run_dir)  # a folder holding only the marker says nothing
        raise error from None
    if not main:
        return int(ExitCode.OK)
    code = exit_code_for(result.findings, fail_on)
    if result.partial is not None and result.partial.exit_code is not None:
        code = result.partial.exit_code  # 130 after Ctrl-C, 3 when the user's code hung
    edge.code = code
    if tb:
        from nnlearn.report.tensorboard import write_tensorboard

        result.artifacts["tensorboard"] = str(write_tensorboard(result, tb))
    data, markdown = write_reports(result, fail_on, code, markdown_path=md, junit_path=junit)
    if json_path:
        write_text(json_path, dumps(data) + "\n", "--json")
    # workflow commands are read from stdout; keep stdout clean when it carries a document
    _github(result.findings, str(spec_file), markdown, spec.key_lines, fmt != Format.rich)
    if fmt == Format.json:
        sys.stdout.write(dumps(data) + "\n")
    elif fmt == Format.markdown:
        sys.stdout.write(markdown)
    else:
        from nnlearn.report.terminal import render

        render(result, console, quiet=quiet, exit_code=code)
    return code


@app.command()
def check(
    metrics: Annotated[
        Path,
        typer.Argument(
            help="a training log: csv, jsonl, parquet, Lightning metrics.csv, "
            "Hugging Face trainer_state.json"
        ),
    ],
    map_: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            help="COLUMN=quantity: read a column as train_loss, val_loss, val_acc, "
            "train_eval_loss, train_eval_acc, grad_norm or step (repeatable)",
        ),
    ] = None,
    classes: Annotated[
        int | None,
        typer.Option(help="number of classes: the chance-level loss is ln(classes)"),
    ] = None,
    json_path: JsonPath = None,
    markdown: Annotated[Path | None, typer.Option(help="write the Markdown report")] = None,
    junit: Annotated[
        Path | None, typer.Option(help="write JUnit XML for CI (one test case per rule)")
    ] = None,
    tensorboard: TensorBoardDir = None,
    format: Annotated[LogFormat, typer.Option(help="what goes to stdout")] = LogFormat.rich,
    fail_on: FailOnOption = FailOn.error,
    quiet: Quiet = False,
) -> None:
    """Run the loss-curve rules on an existing training log (no training, no torch)."""
    from rich.console import Console

    from nnlearn.report.check import check_markdown, render_check, report_dict, run_check
    from nnlearn.report.json_report import dumps

    def body(edge: _Edge) -> int:
        from nnlearn.report.artifacts import check_output_path, write_text

        for option, path in (("--json", json_path), ("--markdown", markdown), ("--junit", junit)):
            if path is not None:
                check_output_path(path, option)
        mapping = _column_map(map_ or [])
        if tensorboard:
            from nnlearn.report.tensorboard import require_tensorboard, write_tensorboard

            require_tensorboard()
        result = run_check(metrics, mapping=mapping, classes=classes)
        if tensorboard:
            result.artifacts["tensorboard"] = str(write_tensorboard(result, tensorboard))
        report = report_dict(result, fail_on.value)
        edge.code = code = report["exit_code"]
        text = check_markdown(result, fail_on.value, code)
        if json_path:
            write_text(json_path, dumps(report) + "\n", "--json")
        if markdown:
            write_text(markdown, text, "--markdown")
        if junit:
            from nnlearn.report.junit import junit_xml

            write_text(junit, junit_xml(result, fail_on.value), "--junit")
        _github(result.findings, str(metrics), text, None, format != LogFormat.rich)
        if format == LogFormat.json:
            sys.stdout.write(dumps(report) + "\n")
        else:
            render_check(report, result.findings, Console(highlight=False), quiet=quiet)
        return code

    raise typer.Exit(_at_edge(body))


def _column_map(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        column, sep, quantity = item.partition("=")
        if not sep or not column.strip() or not quantity.strip():
            raise InputError(
                f"--map {item!r}: expected COLUMN=quantity, e.g. --map loss=train_loss"
            )
        out[column.strip()] = quantity.strip()
    return out


def _github(findings, path: str, markdown: str, lines, document_on_stdout: bool) -> None:
    """Under GitHub Actions: annotations (on stderr when stdout carries a document) and the
    step summary."""
    from nnlearn.report import github

    if not github.in_github_actions():
        return
    stream = sys.stderr if document_on_stdout else sys.stdout
    for line in github.annotations(findings, path, lines):
        stream.write(line + "\n")
    stream.flush()
    github.append_step_summary(markdown)


@app.command()
def validate(
    spec: Annotated[Path, typer.Argument(help="the experiment spec (YAML)")],
    set_: Annotated[list[str] | None, typer.Option("--set", help="dotted.key=value")] = None,
) -> None:
    """Check a spec (fields, paths, the user's `_target_` signatures) without training."""

    def body(edge: _Edge) -> None:
        from nnlearn.spec import load_spec, parse_overrides
        from nnlearn.spec.check import check_spec

        loaded = load_spec(spec, parse_overrides(set_ or []))
        summary = check_spec(loaded, str(spec))
        edge.code = 0
        typer.echo(f"{spec}: valid ({summary})")

    _at_edge(body)


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="where to write the starter spec")] = Path(
        "nnlearn.yaml"
    ),
    force: Annotated[bool, typer.Option(help="overwrite an existing file")] = False,
) -> None:
    """Write a commented starter spec."""
    from importlib.resources import files

    def body(edge: _Edge) -> None:
        from nnlearn.report.artifacts import write_text

        if path.is_dir():
            raise NnlearnError(f"{path} is a folder; give the spec file's name")
        if path.exists() and not force:
            raise NnlearnError(f"{path} exists; use --force to overwrite it")
        write_text(path, files("nnlearn.spec").joinpath("starter.yaml").read_text())
        edge.code = 0
        typer.echo(f"wrote {path}; next: nnlearn validate {path} && nnlearn probe {path}")

    _at_edge(body)


@app.command()
def explain(
    query: Annotated[
        list[str] | None,
        typer.Argument(
            help='a rule id (G401), a cause (overfitting) or a question ("loss is nan")'
        ),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Explain a rule, a cause or a symptom; with no query, list the topics."""
    from nnlearn.knowledge.render import explain_command

    _at_edge(lambda edge: explain_command(query, json_out))  # `explain | head` ends quietly


@app.command()
def rules(
    json_out: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """The rule catalogue: id, name, severity, cause, thresholds."""
    from nnlearn.knowledge.render import rules_command

    _at_edge(lambda edge: rules_command(json_out))


@app.command()
def version() -> None:
    """Print the version."""
    from nnlearn import __version__

    typer.echo(__version__)


__all__ = ["ExitCode", "app", "main"]
