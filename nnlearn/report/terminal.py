"""The Rich report: headline, run table with loss sparklines, findings grouped by root cause.

Rich drops colour by itself when stdout is not a terminal or NO_COLOR is set; the layout uses
no boxes, so piped output reads as plain text.
"""

from __future__ import annotations

import math

from rich.console import Console, Group
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from nnlearn.knowledge import cause_meaning
from nnlearn.report.json_report import run_summary
from nnlearn.report.summary import (
    counts_text,
    evidence_text,
    fmt,
    pct,
    quiet_line,
    verdict_reason,
)

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


def render(result, console: Console, *, quiet: bool = False, exit_code: int = 0) -> None:
    if quiet:
        line = Text(quiet_line(result, exit_code), style=VERDICT_STYLE[result.verdict])
        console.print(line, soft_wrap=True)  # one line, whatever the width: scripts grep it
        return
    console.print(headline(result, exit_code))
    console.print()
    console.print(run_table(result))
    if result.findings:
        from nnlearn.verdict import diagnosis

        console.print()
        console.print(Text("Findings, most likely root cause first", style="bold underline"))
        for i, group in enumerate(diagnosis(result.findings).groups, 1):
            console.print(cause_block(i, group))
    for note in result.notes:
        console.print(Text(f"note: {note}", style="dim"))
    console.print()
    if result.run_dir:
        console.print(Text(f"run folder: {result.run_dir}", style="dim"))
    if result.findings:
        codes = " ".join(dict.fromkeys(f.rule for f in result.findings))
        console.print(Text(f"more: nnlearn explain {codes.split()[0]}  (rules: {codes})", "dim"))


def headline(result, exit_code: int) -> Group:
    head = Text()
    head.append(f"{result.verdict.upper()}", style=VERDICT_STYLE[result.verdict])
    head.append(f"  {result.spec.name}", style="bold")
    if result.findings and result.verdict == "unhealthy":
        top = result.findings[0]
        head.append(": ")
        head.append(top.cause.value, style=SEVERITY_STYLE[top.severity.value])
        head.append(f" ({top.rule} {top.name})")
    reason = Text(verdict_reason(result))
    tally = Text(f"{counts_text(result.findings)}; exit code {exit_code}", style="dim")
    return Group(head, Padding(Group(reason, tally), (0, 0, 0, 2), expand=False))


def run_table(result) -> Table:
    m = result.measurements
    s = run_summary(m)
    rows = [
        ("spec", str(result.spec_path or "-")),
        (
            "data",
            f"{m.fact('data.source', '-')} ({m.fact('data.task', '?')}, "
            f"{m.fact('data.n_train', '?')} train / {m.fact('data.n_val', '?')} val)",
        ),
        (
            "model",
            f"{m.fact('model.class', '?')}, {m.fact('model.n_parameters', 0):,} "
            f"parameters, {m.fact('model.loss', '?')}, {m.fact('model.optimizer', '?')}",
        ),
    ]
    steps = f"{s.get('steps_done', 0)}/{s.get('steps_planned', 0)}"
    if s.get("stopped") and s["stopped"] != "completed":
        steps += f" (stopped: {s['stopped']})"
    main_s = s.get("duration_s")
    took = f" in {main_s:.1f}s" if isinstance(main_s, (int, float)) else ""
    rows.append(
        ("steps", f"{steps}{took} on {result.device}; whole probe {result.duration_s:.1f}s")
    )
    loss = m.series("train_loss")
    first, final = fmt(s.get("first_train_loss")), fmt(s.get("final_train_loss"))
    rows.append(("train loss", f"{first} → {final}  {sparkline(loss.tolist())}"))
    val = m.series("val_loss")
    if len(val):
        rows.append(("val loss", f"{fmt(s.get('final_val_loss'))}  {sparkline(val.tolist())}"))
    for key, label in (("final_val_acc", "val accuracy"), ("final_train_eval_acc", "train acc")):
        if key in s:
            rows.append((label, pct(s[key])))
    sweep = result.experiments.get("lr_range") or {}
    lr = sweep.get("suggested_lr")
    if lr:
        rows.append(("suggested lr", fmt(lr)))
    elif sweep.get("unreliable"):  # the sweep is not stood by: say so, never a number
        rows.append(("suggested lr", f"none: the sweep is unreliable ({sweep['unreliable']})"))
    status = [o.status for o in result.outcomes]
    kinds = ("failed", "passed", "skipped", "disabled") + (("error",) if "error" in status else ())
    rows.append(("rules", ", ".join(f"{status.count(k)} {k}" for k in kinds) if status else "-"))
    table = Table(show_header=False, box=None, pad_edge=False, padding=(0, 2, 0, 0))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for label, value in rows:
        table.add_row(label, Text(value))  # Text: a [bracket] in a path is not Rich markup
    return table


def cause_block(index: int, group) -> Group:
    title = Text()
    title.append(f"\n{index}. ", style="bold")
    title.append(group.cause.value, style=SEVERITY_STYLE[group.severity.value] + " underline")
    title.append(f"  {cause_meaning(group.cause.value)}", style="dim")
    lead, consequences = group.split()
    parts = [title]
    parts += [finding_block(f, fixes=True) for f in lead]
    if consequences:
        parts.append(Padding(Text("also explains:", style="bold"), (0, 0, 0, 3), expand=False))
        parts += [
            Padding(finding_block(f, fixes=False), (0, 0, 0, 2), expand=False) for f in consequences
        ]
    return Group(*parts)


def finding_block(f, *, fixes: bool) -> Padding:
    style = SEVERITY_STYLE[f.severity.value]
    title = Text()
    title.append(f"{f.severity.value.upper():8}", style=style)
    title.append(f"{f.rule} {f.name}", style="bold")
    if f.explained_by:
        title.append(f"  [{f.cause.value}]", style="dim")
    lines = [title, Padding(Text(f.message), (0, 0, 0, 8), expand=False)]
    if f.evidence:
        lines.append(
            Padding(
                Text(f"evidence: {evidence_text(f.evidence)}", "dim"), (0, 0, 0, 8), expand=False
            )
        )
    if fixes:
        for i, fix in enumerate(f.fixes, 1):
            lines.append(Padding(Text(f"fix {i}: {fix}"), (0, 0, 0, 8), expand=False))
    return Padding(Group(*lines), (0, 0, 0, 3), expand=False)
