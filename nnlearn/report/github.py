"""GitHub Actions: `::error` / `::warning` / `::notice` annotations and the step summary.

Workflow commands are lines on stdout; their message must escape `%`, CR and LF, and their
properties (`file`, `title`) also `:` and `,` (the escaping of actions/toolkit's command.ts).
GitHub shows at most 10 annotations of each level per step, so nnlearn writes the first 10 of
each (in diagnosis order) and one notice saying how many were left out. The job summary
accepts up to 1 MiB per step; a longer Markdown report is cut with a note.

`file=` is relative to the workspace (`$GITHUB_WORKSPACE`, else the current folder), as GitHub
needs to place it on the diff; `line=` is the line of the spec key a finding concerns (an
`lr_too_high` finding sits on `optimizer.lr`), from the key -> line map the loader keeps.
"""

from __future__ import annotations

import os
from pathlib import Path

from nnlearn.report.summary import evidence_text

LEVEL = {"error": "error", "warning": "warning", "info": "notice"}
MAX_PER_LEVEL = 10
MAX_MESSAGE = 4000  # characters; GitHub truncates long annotation messages anyway
SUMMARY_LIMIT = 1024 * 1024  # bytes, GitHub's per-step limit for $GITHUB_STEP_SUMMARY


def in_github_actions() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true"


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


# the spec keys a cause concerns, most specific first; the first one the spec has is annotated
CAUSE_KEYS: dict[str, tuple[str, ...]] = {
    "lr_too_high": ("optimizer.lr", "optimizer"),
    "lr_too_low": ("optimizer.lr", "optimizer"),
    "exploding_gradients": ("optimizer.grad_clip", "optimizer.lr", "optimizer"),
    "vanishing_gradients": ("model.activation", "model.init", "model"),
    "saturated_activations": ("model.activation", "model"),
    "dead_units": ("model.activation", "model.init", "model"),
    "poor_initialization": ("model.init", "model"),
    "low_capacity": ("model.hidden", "model"),
    "overfitting": ("optimizer.weight_decay", "model.dropout", "model"),
    "implementation_bug": ("model", "loss"),
    "invalid_data": ("data",),
    "unnormalized_input": ("data.standardize", "data"),
    "biased_data": ("data",),
    "inconsistent_data": ("data",),
    "insufficient_data": ("data.n_samples", "data"),
}


def line_of(finding, key_lines: dict[str, int] | None) -> int | None:
    if not key_lines:
        return None
    for key in CAUSE_KEYS.get(finding.cause.value, ()):
        if key in key_lines:
            return key_lines[key]
    return None


def relative(path: str) -> str:
    """The path relative to the workspace, '/'-separated; unchanged when it lies outside."""
    root = os.environ.get("GITHUB_WORKSPACE") or os.getcwd()
    try:
        rel = os.path.relpath(os.path.abspath(path), os.path.abspath(root))
    except ValueError:  # another drive on Windows
        return Path(path).as_posix()
    return Path(path).as_posix() if rel.startswith("..") else Path(rel).as_posix()


def annotations(
    findings, spec_path: str | None, key_lines: dict[str, int] | None = None
) -> list[str]:
    lines, shown, left = [], {"error": 0, "warning": 0, "notice": 0}, 0
    for f in findings:
        level = LEVEL[f.severity.value]
        if shown[level] >= MAX_PER_LEVEL:
            left += 1
            continue
        shown[level] += 1
        body = f.message
        if f.explained_by:
            body += f" (explained by {f.explained_by})"
        if f.evidence:
            body += f"\nevidence: {evidence_text(f.evidence)}"
        if f.fixes:
            body += f"\nfix: {f.fixes[0]}"
        if len(body) > MAX_MESSAGE:
            body = body[: MAX_MESSAGE - 1] + "…"
        props = [f"title={escape_property(f'nnlearn {f.rule} {f.name} ({f.cause.value})')}"]
        if spec_path:
            where = [f"file={escape_property(relative(str(spec_path)))}"]
            line = line_of(f, key_lines)
            if line is not None:
                where.append(f"line={line}")
            props[:0] = where
        lines.append(f"::{level} {','.join(props)}::{escape_data(body)}")
    if left:
        lines.append(f"::notice title=nnlearn::{left} more findings; see the job summary")
    return lines


def append_step_summary(markdown: str, path: str | None = None) -> Path | None:
    """Append the report to $GITHUB_STEP_SUMMARY (when set), within GitHub's size limit."""
    target = path or os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return None
    data = markdown.encode()
    if len(data) > SUMMARY_LIMIT - 200:
        note = "\n\n_(report cut to fit GitHub's 1 MiB step-summary limit)_\n"
        data = data[: SUMMARY_LIMIT - 200].decode(errors="ignore").encode() + note.encode()
    with open(target, "ab") as fh:
        fh.write(data + b"\n")
    return Path(target)
