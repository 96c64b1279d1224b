"""`nnlearn check`: the rules over an existing training log, and its report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from nnlearn import __version__


def check_log(path: Path, fail_on: str, disable=(), thresholds=None) -> tuple[dict[str, Any], Any]:
    """-> (report dict in the findings-JSON shape, the ordered findings)."""
    from nnlearn.logs import read_log
    from nnlearn.report.json_report import rule_statuses
    from nnlearn.report.summary import counts
    from nnlearn.rules import evaluate_rules
    from nnlearn.verdict import diagnose, exit_code_for

    m, used = read_log(path)
    outcomes = evaluate_rules(m, disable, thresholds)
    verdict, findings = diagnose(outcomes, m)
    code = exit_code_for(findings, fail_on)
    report = {
        "nnlearn": __version__,
        "metrics": str(path),
        "verdict": verdict,
        "fail_on": fail_on,
        "exit_code": code,
        "columns": used,
        "steps": int(m.fact("run.steps_done", 0)),
        "summary": counts(findings),
        "findings": [f.to_dict() for f in findings],
        "rules": rule_statuses(outcomes),
    }
    return report, findings


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
    console.print(Text(f"read {report['steps']} training-loss steps; columns: {cols}", style="dim"))
    ran = [r for r in report["rules"] if r["status"] in ("passed", "failed")]
    console.print(
        Text(f"rules with evidence in this log: {', '.join(r['rule'] for r in ran)}", style="dim")
    )
    for f in findings:
        console.print(finding_block(f, fixes=True))
