"""`nnlearn check`: the rules over an existing training log, and its reports.

The same renderers as `nnlearn probe` where the shape allows: the findings JSON, JUnit (one
test case per rule; rules the log gives no evidence to are skipped, never passed), Markdown,
GitHub annotations and step summary, TensorBoard. `CheckResult` carries what they read.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from nnlearn import __version__


@dataclass
class LogSource:
    """What the renderers read as `result.spec` for a log: its name (the file's stem)."""

    name: str
    seed: str = "-"


@dataclass
class CheckResult:
    spec: LogSource
    spec_path: str
    measurements: Any
    outcomes: list
    findings: list
    verdict: str
    columns: dict[str, str]
    duration_s: float = 0.0
    device: str = "-"
    artifacts: dict[str, str] = field(default_factory=dict)
    partial: Any = None  # a log is never stopped part-way: the reports read it as a probe's

    @property
    def name(self) -> str:  # the reports name a run as a probe result does
        return self.spec.name

    @property
    def seed(self) -> int | None:
        return None


def run_check(
    path: Path,
    *,
    mapping: dict[str, str] | None = None,
    classes: int | None = None,
    disable=(),
    thresholds=None,
) -> CheckResult:
    from nnlearn.logs import read_log
    from nnlearn.rules import evaluate_rules
    from nnlearn.verdict import diagnose

    started = time.perf_counter()
    m, used = read_log(path, mapping, classes)
    outcomes = evaluate_rules(m, disable, thresholds)
    verdict, findings = diagnose(outcomes, m)
    name = path.parent.name if path.stem in ("metrics", "trainer_state") else path.stem
    return CheckResult(
        spec=LogSource(name or path.stem),
        spec_path=str(path),
        measurements=m,
        outcomes=outcomes,
        findings=findings,
        verdict=verdict,
        columns=used,
        duration_s=time.perf_counter() - started,
    )


def check_log(path: Path, fail_on: str, disable=(), thresholds=None, **kw) -> tuple[dict, Any]:
    """-> (report dict in the findings-JSON shape, the ordered findings)."""
    result = run_check(path, disable=disable, thresholds=thresholds, **kw)
    return report_dict(result, fail_on), result.findings


def report_dict(result: CheckResult, fail_on: str) -> dict[str, Any]:
    from nnlearn.report.json_report import rule_statuses
    from nnlearn.report.summary import counts
    from nnlearn.verdict import exit_code_for

    m = result.measurements
    report = {
        "nnlearn": __version__,
        "metrics": result.spec_path,
        "verdict": result.verdict,
        "fail_on": fail_on,
        "exit_code": exit_code_for(result.findings, fail_on),
        "columns": result.columns,
        "steps": int(m.fact("run.steps_done", 0)),
        "summary": counts(result.findings),
        "findings": [f.to_dict() for f in result.findings],
        "rules": rule_statuses(result.outcomes),
    }
    if m.fact("init.chance_loss") is not None:
        report["chance_loss"] = {
            "value": m.fact("init.chance_loss"),
            "from": m.fact("run.chance_source"),
        }
    if result.artifacts:
        report["artifacts"] = dict(result.artifacts)
    return report


def check_markdown(result: CheckResult, fail_on: str, exit_code: int) -> str:
    """The Markdown report of a check: verdict, findings by root cause, what was read, curves."""
    from nnlearn.report.markdown import _curves, cell, verdict_and_findings

    out = [f"# nnlearn check: {result.spec.name} is {result.verdict}", ""]
    out += verdict_and_findings(result, fail_on, exit_code)
    m = result.measurements
    out += ["## Log", "", "| | |", "|---|---|", f"| file | `{cell(result.spec_path)}` |"]
    out += [f"| steps | {m.fact('run.steps_done', 0)} ({m.fact('run.logged_rows', '?')} rows) |"]
    out += [f"| {cell(k)} | `{cell(v)}` |" for k, v in result.columns.items()]
    ran = [o.code for o in result.outcomes if o.status in ("passed", "failed")]
    skipped = [o.code for o in result.outcomes if o.status == "skipped"]
    out += [f"| rules with evidence | {', '.join(ran) or '-'} |"]
    out += [f"| skipped (no evidence in a log) | {len(skipped)} |", ""]
    out += _curves(result, {}, None)
    out += [f"_Made by nnlearn {__version__}: `nnlearn explain RULE` explains a finding._"]
    return "\n".join(out) + "\n"


def render_check(report: dict, findings, console: Console, quiet: bool = False) -> None:
    from nnlearn.report.summary import counts_text
    from nnlearn.report.terminal import VERDICT_STYLE, finding_block

    head = Text()
    head.append(report["verdict"].upper(), style=VERDICT_STYLE[report["verdict"]])
    head.append(f"  {report['metrics']}: {counts_text(findings)}")
    console.print(head)
    if quiet:
        return
    cols = ", ".join(f"{k} <- {v}" for k, v in report["columns"].items())
    console.print(Text(f"read {report['steps']} training steps; columns: {cols}", style="dim"))
    if "chance_loss" in report:
        chance = report["chance_loss"]
        console.print(
            Text(f"chance-level loss {chance['value']:.4g} from {chance['from']}", style="dim")
        )
    ran = [r["rule"] for r in report["rules"] if r["status"] in ("passed", "failed")]
    skipped = [r for r in report["rules"] if r["status"] == "skipped"]
    console.print(
        Text(
            f"rules with evidence in this log: {', '.join(ran) or 'none'}; "
            f"{len(skipped)} skipped for lack of evidence (--format json lists why)",
            style="dim",
        )
    )
    for f in findings:
        console.print(finding_block(f, fixes=True))
