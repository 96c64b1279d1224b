"""The Rich report: summary, run table with a loss sparkline, findings coloured by severity."""

from __future__ import annotations

import math

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from nnlearn.report.json_report import run_summary

SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "blue"}
VERDICT_STYLE = {"healthy": "bold green", "unhealthy": "bold red", "inconclusive": "bold yellow"}
_BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float], width: int = 40) -> str:
    vals = [v for v in values if math.isfinite(v)]
    if not vals:
        return ""
    if len(vals) > width:  # bucket means, so one noisy step does not dominate
        size = len(vals) / width
        vals = [
            sum(chunk) / len(chunk)
            for i in range(width)
            if (chunk := vals[int(i * size) : max(int((i + 1) * size), int(i * size) + 1)])
        ]
    lo, hi = min(vals), max(vals)
    span = hi - lo or 1.0
    return "".join(
        _BARS[min(int((v - lo) / span * (len(_BARS) - 1)), len(_BARS) - 1)] for v in vals
    )


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        return f"{v:.4g}"
    return str(v)


def render(result, console: Console, *, quiet: bool = False, exit_code: int = 0) -> None:
    counts = {s: sum(f.severity.value == s for f in result.findings) for s in SEVERITY_STYLE}
    head = Text()
    head.append(f"{result.verdict.upper()}", style=VERDICT_STYLE[result.verdict])
    head.append(f"  {result.spec.name}: ")
    if result.findings:
        top = result.findings[0]
        head.append(f"{top.cause.value} ", style=SEVERITY_STYLE[top.severity.value])
        head.append(f"({top.rule} {top.name}) — ")
    head.append(
        f"{counts['error']} error(s), {counts['warning']} warning(s), {counts['info']} info"
    )
    if quiet:
        console.print(head)
        return
    console.print(Panel(head, title="nnlearn probe", title_align="left", expand=False))
    console.print(run_table(result))
    for f in result.findings:
        console.print(finding_block(f))
    for note in result.notes:
        console.print(Text(f"note: {note}", style="dim"))
    if result.run_dir:
        console.print(Text(f"run folder: {result.run_dir}", style="dim"))


def run_table(result) -> Table:
    m = result.measurements
    s = run_summary(m)
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("spec", str(result.spec_path or "-"))
    table.add_row(
        "data",
        f"{m.fact('data.source', '-')} ({m.fact('data.task', '?')}, "
        f"{m.fact('data.n_train', '?')} train / {m.fact('data.n_val', '?')} val)",
    )
    table.add_row(
        "model",
        f"{m.fact('model.class', '?')}, {m.fact('model.n_parameters', 0):,} "
        f"parameters, {m.fact('model.loss', '?')}, {m.fact('model.optimizer', '?')}",
    )
    table.add_row("device", f"{result.device}, seed {result.spec.seed}")
    steps = f"{s.get('steps_done', 0)}/{s.get('steps_planned', 0)}"
    if s.get("stopped") and s["stopped"] != "completed":
        steps += f" (stopped: {s['stopped']})"
    table.add_row("steps", f"{steps} in {result.duration_s:.1f}s")
    loss = m.series("train_loss")
    table.add_row(
        "train loss",
        f"{_fmt(s.get('first_train_loss'))} → "
        f"{_fmt(s.get('final_train_loss'))}  {sparkline(loss.tolist())}",
    )
    for key, label in (
        ("final_val_loss", "val loss"),
        ("final_val_acc", "val accuracy"),
        ("final_train_eval_acc", "train accuracy"),
    ):
        if key in s:
            table.add_row(label, _fmt(s[key]))
    lr = (result.experiments.get("lr_range") or {}).get("suggested_lr")
    if lr:
        table.add_row("suggested lr", _fmt(lr))
    return table


def finding_block(f) -> Group:
    style = SEVERITY_STYLE[f.severity.value]
    title = Text()
    title.append(f"{f.severity.value.upper():8}", style=style)
    title.append(f"{f.rule} {f.name}", style="bold")
    title.append(f"  [{f.cause.value}]", style="dim")
    parts = [Text(""), title, Text(f"  {f.message}")]
    if f.evidence:
        ev = ", ".join(f"{k}={_fmt(v)}" for k, v in f.evidence.items())
        parts.append(Text(f"  evidence: {ev}", style="dim"))
    for i, fix in enumerate(f.fixes, 1):
        parts.append(Text(f"  fix {i}: {fix}"))
    return Group(*parts)
