"""When the probe crashes (exit 3), name a likely upstream cause from the data alone.

Labels out of range crash the loss (`IndexError: Target 5 is out of bounds`) before any
rule runs. The data audit does not train anything, so it can be rerun after the crash: the
data and setup findings it supports are shown under the error as its likely cause.
"""

from __future__ import annotations

from nnlearn.rules import Cause, Finding, Severity

# causes that can make the user's code raise, rather than only train badly
UPSTREAM = {
    Cause.INVALID_DATA,
    Cause.IMPLEMENTATION_BUG,
    Cause.UNNORMALIZED_INPUT,
    Cause.INCONSISTENT_DATA,
    Cause.BIASED_DATA,
}


def likely_causes(spec, spec_path: str | None) -> list[Finding]:
    """Data and setup findings of the data audit, in diagnosis order; [] when the data
    itself cannot be loaded (then the error already says why) or nothing is found."""
    try:
        from nnlearn.audit import audit_data
        from nnlearn.data import build_data
        from nnlearn.measurements import Measurements
        from nnlearn.rules import evaluate_rules
        from nnlearn.verdict import diagnosis

        bundle = build_data(spec, spec_path)
        m = Measurements(facts={"data": audit_data(bundle, seed=spec.seed)})
        outcomes = evaluate_rules(m, spec.probe.rules.disable, spec.probe.rules.thresholds)
    except Exception:  # a hint is best effort: never hide the original error behind another
        return []
    found = [
        f
        for o in outcomes
        for f in o.findings
        if f.cause in UPSTREAM and f.severity.rank >= Severity.WARNING.rank
    ]
    return diagnosis(found).findings


def hint_text(findings: list[Finding]) -> str:
    if not findings:
        return ""
    lines = ["the data audit points at a likely cause:"]
    for f in findings:
        lines.append(
            f"  {f.severity.value.upper()} {f.rule} {f.name} [{f.cause.value}]: {f.message}"
        )
        if f.fixes:
            lines.append(f"    fix: {f.fixes[0]}")
    return "\n".join(lines)
