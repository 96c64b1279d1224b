"""The command line. It parses options, calls the library and maps outcomes to exit codes;
deep code raises `NnlearnError`, caught once here. Torch is imported only by commands that train.
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from nnlearn.errors import ExitCode, NnlearnError, ProbeFailed

app = typer.Typer(
    name="nnlearn",
    help="Why is my neural network not learning? Probe a training run and diagnose it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


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


def _fail(exc: NnlearnError) -> None:
    """One clear message on stderr, no traceback, the error's exit code."""
    from rich.console import Console
    from rich.text import Text

    text = Text("error: ", style="bold red")
    text.append(exc.render())
    hint = getattr(exc, "likely_cause", "")
    if hint:
        text.append("\n" + hint, style="yellow")
    Console(stderr=True, highlight=False, soft_wrap=True).print(text)
    raise typer.Exit(int(exc.exit_code))


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
    format: Annotated[Format, typer.Option(help="what goes to stdout")] = Format.rich,
    fail_on: FailOnOption = FailOn.error,
    quiet: Quiet = False,
    nproc: Annotated[
        int,
        typer.Option(
            min=1, help="run the probe as N processes under torch.distributed (DDP; gloo/NCCL)"
        ),
    ] = 1,
) -> None:
    """Run a short instrumented training probe and diagnose it."""
    try:
        code = _probe(
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
            nproc,
        )
    except NnlearnError as exc:
        if junit and exc.exit_code == ExitCode.PROBE_FAILED:
            from nnlearn.report.junit import error_xml

            junit.parent.mkdir(parents=True, exist_ok=True)
            message = exc.render() + "\n" + getattr(exc, "likely_cause", "")
            junit.write_text(error_xml(spec.stem, str(spec), message.strip()))
        _fail(exc)
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
    nproc=1,
):
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
    if nproc > 1:  # the same command on every rank; rank 0 reports and its exit code is ours
        from nnlearn.distributed.launch import launch_probe

        args = (spec_file, device, seed, steps, budget, sets, out, json_path, fmt, fail_on)
        return launch_probe(nproc, spec.device, spec.probe.budget_s, (*args, quiet, md, junit))

    from rich.console import Console

    from nnlearn.distributed import is_main_process
    from nnlearn.probe.runner import default_run_dir, run_probe
    from nnlearn.report import github
    from nnlearn.report.artifacts import write_reports
    from nnlearn.report.json_report import dumps
    from nnlearn.report.progress import RichProgress
    from nnlearn.verdict import exit_code_for

    main = is_main_process()  # in a distributed probe only rank 0 shows, writes and reports
    console = Console(highlight=False, markup=False)
    show = fmt == Format.rich and not quiet and console.is_terminal and main
    run_dir = (out or default_run_dir(spec.name)) if main else None
    try:
        with RichProgress(console, enabled=show) as progress:
            result = run_probe(spec, str(spec_file), out_dir=run_dir, progress=progress)
    except ProbeFailed as exc:
        from nnlearn.report.crash import hint_text, likely_causes

        exc.likely_cause = hint_text(likely_causes(spec, str(spec_file)))
        raise
    if not main:
        return int(ExitCode.OK)
    code = exit_code_for(result.findings, fail_on)
    data, markdown = write_reports(result, fail_on, code, markdown_path=md, junit_path=junit)
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(dumps(data) + "\n")
    if github.in_github_actions():
        # workflow commands are read from stdout; keep stdout clean when it carries a document
        stream = sys.stdout if fmt == Format.rich else sys.stderr
        for line in github.annotations(result.findings, str(spec_file)):
            stream.write(line + "\n")
        stream.flush()
        github.append_step_summary(markdown)
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
    json_path: JsonPath = None,
    format: Annotated[LogFormat, typer.Option(help="what goes to stdout")] = LogFormat.rich,
    fail_on: FailOnOption = FailOn.error,
    quiet: Quiet = False,
) -> None:
    """Run the loss-curve rules on an existing training log (no training, no torch)."""
    from rich.console import Console

    from nnlearn.report.check import check_log, render_check
    from nnlearn.report.json_report import dumps

    try:
        report, findings = check_log(metrics, fail_on.value)
    except NnlearnError as exc:
        _fail(exc)
    if json_path:
        json_path.write_text(dumps(report) + "\n")
    if format == LogFormat.json:
        sys.stdout.write(dumps(report) + "\n")
    else:
        render_check(report, findings, Console(highlight=False), quiet=quiet)
    raise typer.Exit(report["exit_code"])


@app.command()
def validate(
    spec: Annotated[Path, typer.Argument(help="the experiment spec (YAML)")],
    set_: Annotated[list[str] | None, typer.Option("--set", help="dotted.key=value")] = None,
) -> None:
    """Check a spec (fields, paths, the user's `_target_` signatures) without training."""
    try:
        from nnlearn.spec import load_spec, parse_overrides
        from nnlearn.spec.check import check_spec

        loaded = load_spec(spec, parse_overrides(set_ or []))
        summary = check_spec(loaded, str(spec))
    except NnlearnError as exc:
        _fail(exc)
    typer.echo(f"{spec}: valid ({summary})")


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="where to write the starter spec")] = Path(
        "nnlearn.yaml"
    ),
    force: Annotated[bool, typer.Option(help="overwrite an existing file")] = False,
) -> None:
    """Write a commented starter spec."""
    from importlib.resources import files

    if path.exists() and not force:
        _fail(NnlearnError(f"{path} exists; use --force to overwrite it"))
    text = files("nnlearn.spec").joinpath("starter.yaml").read_text()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    typer.echo(f"wrote {path}; next: nnlearn validate {path} && nnlearn probe {path}")


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
    import json

    from rich.console import Console

    from nnlearn.knowledge.render import explain_data, print_explain

    data = explain_data(" ".join(query or []) or None)
    if json_out:
        typer.echo(json.dumps(data, indent=2, default=str))
        return
    print_explain(data, Console(highlight=False, markup=False))


@app.command()
def rules(
    json_out: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """The rule catalogue: id, name, severity, cause, thresholds."""
    import json

    from rich.console import Console

    from nnlearn.knowledge.render import rules_data, rules_table

    rows = rules_data()
    if json_out:
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    console = Console(highlight=False, markup=False)
    console.print(rules_table(rows))
    console.print("details: nnlearn explain RULE_ID")


@app.command()
def version() -> None:
    """Print the version."""
    from nnlearn import __version__

    typer.echo(__version__)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)


__all__ = ["ExitCode", "app", "main"]
