"""GitHub Actions: `::error` / `::warning` / `::notice` annotations and the step summary.

Workflow commands are lines on stdout; their message must escape `%`, CR and LF, and their
properties (`file`, `title`) also `:` and `,` (the escaping of actions/toolkit's command.ts).
GitHub shows at most 10 annotations of each level per step, so nnlearn writes the first 10 of
each (in diagnosis order) and one notice saying how many were left out. The job summary
accepts up to 1 MiB per step; a longer Markdown report is cut with a note.
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


def annotations(findings, spec_path: str | None) -> list[str]:
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
            props.insert(0, f"file={escape_property(str(spec_path))}")
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
