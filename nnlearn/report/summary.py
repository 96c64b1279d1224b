"""What every renderer says the same way: the headline, counts, evidence as text, numbers."""

from __future__ import annotations

import math
from typing import Any


def fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return f"{v:.4g}" if math.isfinite(v) else str(v)
    if isinstance(v, (list, tuple)):
        shown = ", ".join(fmt(x) for x in v[:6])
        return f"[{shown}{', ...' if len(v) > 6 else ''}]"
    if isinstance(v, dict):
        shown = ", ".join(f"{k}: {fmt(x)}" for k, x in list(v.items())[:6])
        return f"{{{shown}{', ...' if len(v) > 6 else ''}}}"
    return str(v)


def pct(v: Any) -> str:
    """An accuracy as a percentage (`fmt` for anything that is not a number in [0, 1])."""
    if isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1:
        return f"{v:.1%}"
    return fmt(v)


def evidence_text(evidence: dict[str, Any]) -> str:
    """`layer net.0, step 120, ratio 1.2e-06`: layer and step first, they say where to look."""
    keys = sorted(evidence, key=lambda k: (k not in ("layer", "step"), k != "layer"))
    return ", ".join(f"{k} {fmt(evidence[k])}" for k in keys)


def data_text(m) -> str:
    """`synthetic:spirals (classification, 1600 train / 400 val)`; a run whose data nobody
    audited (`nnlearn.Probe` without `probe.audit(...)`) says so."""
    if m.fact("data") is None:
        return "not audited (probe.audit(train, val) adds the data audits)"
    return (
        f"{m.fact('data.source', '-')} ({m.fact('data.task', '?')}, "
        f"{m.fact('data.n_train', '?')} train / {m.fact('data.n_val', '?')} val)"
    )


def counts(findings) -> dict[str, int]:
    out = {"error": 0, "warning": 0, "info": 0}
    for f in findings:
        out[f.severity.value] += 1
    return out


def counts_text(findings) -> str:
    c = counts(findings)
    parts = [
        f"{c['error']} error{'s' * (c['error'] != 1)}",
        f"{c['warning']} warning{'s' * (c['warning'] != 1)}",
        f"{c['info']} info",
    ]
    return ", ".join(parts)


def top_cause(result) -> str | None:
    """`invalid_data (D301 nan-inputs)`, or None when the run is healthy."""
    if not result.findings or result.verdict != "unhealthy":
        return None
    top = result.findings[0]
    return f"{top.cause.value} ({top.rule} {top.name})"


def verdict_reason(result) -> str:
    """One line after the verdict: the most likely cause, or why there is none."""
    m = result.measurements
    steps = m.fact("run.steps_done", 0) or 0
    if result.verdict == "unhealthy":
        top = result.findings[0]
        line = top.message
        if top.explains:
            names = {f.rule: f.name for f in result.findings}
            line += "; also explains " + ", ".join(f"{r} {names[r]}" for r in top.explains)
        return line
    if result.verdict == "inconclusive":
        n = m.fact("data.n_train")
        if steps < 20:
            return f"not enough evidence to judge: only {steps} training steps ran"
        return f"not enough evidence to judge ({n} training samples)"
    passed = sum(o.status == "passed" for o in result.outcomes)
    return f"no problem found in {steps} steps ({passed} rules passed)"


def quiet_line(result, exit_code: int) -> str:
    head = f"{result.verdict.upper()} {result.name}"
    top = top_cause(result)
    if top:
        head += f": {top}"
    return f"{head} — {counts_text(result.findings)} (exit {exit_code})"
