"""The Markdown report: self-contained, to paste into an issue or a forum question.

Spec, environment, verdict, findings by root cause, the run, curves as small tables, and the
PNG plots when they were made (linked relative to where the report is written).
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import yaml

from nnlearn import __version__
from nnlearn.knowledge import cause_meaning
from nnlearn.report.json_report import run_summary
from nnlearn.report.summary import (
    counts_text,
    data_text,
    evidence_text,
    fmt,
    pct,
    top_cause,
    verdict_reason,
)

# rows of the curve table: enough to see the shape, short enough to paste
CURVE_ROWS = 12


def cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(
    result, fail_on: str, exit_code: int, *, plots: dict[str, str] | None = None, at=None
) -> str:
    """`plots` maps a plot's name to its file; `at` is the folder the report is written to."""
    out = [f"# nnlearn: {result.name} is {result.verdict}", ""]
    if getattr(result, "partial", None):
        out += [f"> **Partial report.** {result.notes[0] if result.notes else ''}", ""]
    out += verdict_and_findings(result, fail_on, exit_code, verdict_reason(result))
    out += ["## Run", ""] + _run_table(result) + [""]
    out += _curves(result, plots or {}, at)
    if result.experiments:
        out += ["## Experiments", "", "```json"]
        out += [json.dumps(_compact(result.experiments), indent=1, default=str), "```", ""]
    if result.notes:
        out += ["## Notes", ""] + [f"- {n}" for n in result.notes] + [""]
    if result.spec is not None:  # None: the user's own loop (nnlearn.Probe), no spec
        out += ["## Spec", "", "```yaml"]
        out += [yaml.safe_dump(result.spec.to_mapping(), sort_keys=False).rstrip(), "```", ""]
    out += ["## Environment", "", "| | |", "|---|---|"]
    out += [f"| {k} | {cell(v)} |" for k, v in environment(result).items()]
    out += ["", f"_Made by nnlearn {__version__}: `nnlearn explain RULE` explains a finding._"]
    return "\n".join(out) + "\n"


def verdict_and_findings(result, fail_on: str, exit_code: int, reason: str = "") -> list[str]:
    """The verdict, the counts and the gate, then the findings grouped by root cause: what
    the probe's and the check's reports share."""
    from nnlearn.verdict import diagnosis

    top = top_cause(result)
    cause = f" Most likely cause: {top}." if top else ""
    out = [f"**Verdict: {result.verdict}**.{cause}" + (f" {reason}." if reason else ""), ""]
    out += [
        f"{counts_text(result.findings)}; `--fail-on {fail_on}` gives exit code {exit_code}.",
        "",
    ]
    if result.findings:
        out += ["## Findings, most likely root cause first", ""]
        for i, group in enumerate(diagnosis(result.findings).groups, 1):
            out += [f"### {i}. `{group.cause.value}`: {cause_meaning(group.cause.value)}", ""]
            lead, consequences = group.split()
            for f in lead:
                out += _finding(f, fixes=True)
            if consequences:
                out += ["**Also explains:**", ""]
                for f in consequences:
                    out += _finding(f, fixes=False)
    return out


def _finding(f, *, fixes: bool) -> list[str]:
    head = f"- **{f.severity.value.upper()} {f.rule} `{f.name}`**"
    if f.explained_by:
        head += f" ({f.cause.value})"
    lines = [f"{head}: {f.message}"]
    if f.evidence:
        lines.append(f"  - evidence: {evidence_text(f.evidence)}")
    if fixes and f.fixes:
        lines.append(
            "  - fixes, in order: " + "; ".join(f"({i}) {x}" for i, x in enumerate(f.fixes, 1))
        )
    return lines + [""]


def _run_table(result) -> list[str]:
    m, s = result.measurements, run_summary(result.measurements)
    rows = [("spec", f"`{result.spec_path or '-'}`")] if result.spec is not None else []
    rows += [
        ("data", data_text(m)),
        (
            "model",
            f"{m.fact('model.class', '?')}, {m.fact('model.n_parameters', '?')} parameters, "
            f"{m.fact('model.loss', '?')}, {m.fact('model.optimizer', '?')}",
        ),
        (
            "steps",
            f"{s.get('steps_done', 0)}/{s.get('steps_planned', 0)} "
            f"({s.get('stopped', '-')}) in {result.duration_s:.1f}s on {result.device}",
        ),
        ("train loss", f"{fmt(s.get('first_train_loss'))} → {fmt(s.get('final_train_loss'))}"),
    ]
    for key, label in (
        ("final_val_loss", "val loss"),
        ("final_val_acc", "val accuracy"),
        ("final_train_eval_acc", "train accuracy"),
    ):
        if key in s:
            rows.append((label, pct(s[key]) if key.endswith("_acc") else fmt(s[key])))
    sweep = result.experiments.get("lr_range") or {}
    lr = sweep.get("suggested_lr")
    if lr:
        rows.append(("suggested lr", fmt(lr)))
    elif sweep.get("unreliable"):  # the sweep is not stood by: say so, never a number
        rows.append(("suggested lr", f"none: the sweep is unreliable ({sweep['unreliable']})"))
    return ["| | |", "|---|---|"] + [f"| {k} | {cell(v)} |" for k, v in rows]


def _curves(result, plots: dict[str, str], at) -> list[str]:
    m = result.measurements
    loss = m.series("train_loss")
    if not len(loss):
        return []
    names = [n for n in ("val_loss", "val_acc", "train_eval_acc") if len(m.series(n))]
    steps = list(m.series(names[0]).index) if names else list(loss.index)
    if len(steps) > CURVE_ROWS:
        pick = {round(i * (len(steps) - 1) / (CURVE_ROWS - 1)) for i in range(CURVE_ROWS)}
        steps = [steps[i] for i in sorted(pick)]
    header = ["step", "train loss", *(n.replace("_", " ") for n in names)]
    out = ["## Curves", ""]
    out += ["| " + " | ".join(header) + " |", "|" + "---:|" * len(header)]
    series = {n: m.series(n) for n in names}
    previous = None
    for step in steps:
        # train loss: the mean since the previous row, so one noisy batch does not mislead
        window = loss[
            (loss.index > (previous if previous is not None else -1)) & (loss.index <= step)
        ]
        row = [str(step), fmt(float(window.mean())) if len(window) else "-"]
        row += [fmt(float(series[n].get(step, float("nan")))) for n in names]
        out.append("| " + " | ".join(row) + " |")
        previous = step
    out += ["", "_train loss: the mean over the steps since the previous row._", ""]
    for name, path in plots.items():
        out += [f"![{name}]({_link(path, at)})", ""]
    return out


def _link(path: str, at) -> str:
    if at is None:
        return Path(path).as_posix()
    try:
        return Path(os.path.relpath(path, at)).as_posix()
    except ValueError:  # another drive on Windows
        return Path(path).resolve().as_posix()


def _compact(value, depth: int = 0):
    """Experiment results without long lists (a sweep's every point belongs in the metrics)."""
    if isinstance(value, dict):
        return {k: _compact(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)) and len(value) > 8:
        return f"[{len(value)} values]"
    if isinstance(value, float):
        return float(f"{value:.4g}")
    return value


def environment(result) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    env = {"nnlearn": __version__, "python": platform.python_version()}
    for package in ("torch", "numpy", "pandas"):
        try:
            env[package] = version(package)
        except PackageNotFoundError:
            pass
    env["platform"] = platform.platform()
    env["device"] = result.device
    env["seed"] = str(result.seed)
    return env
