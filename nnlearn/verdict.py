"""From rule outcomes to a diagnosis: the verdict and the findings in the order to read them."""

from __future__ import annotations

from nnlearn.measurements import Measurements
from nnlearn.rules import Finding, RuleOutcome, Severity

# fewer main-run steps than this are too few to call a run healthy
MIN_STEPS_FOR_VERDICT = 20


def diagnose(outcomes: list[RuleOutcome], m: Measurements) -> tuple[str, list[Finding]]:
    findings = [f for o in outcomes for f in o.findings]
    findings.sort(key=lambda f: -f.severity.rank)
    if any(f.severity in (Severity.ERROR, Severity.WARNING) for f in findings):
        return "unhealthy", findings
    steps = m.fact("run.steps_done", 0) or 0
    stopped = m.fact("run.stopped")
    if steps < MIN_STEPS_FOR_VERDICT and stopped != "nonfinite":
        return "inconclusive", findings
    return "healthy", findings


def exit_code_for(findings: list[Finding], fail_on: str) -> int:
    if fail_on == "never":
        return 0
    floor = Severity(fail_on).rank
    return 1 if any(f.severity.rank >= floor for f in findings) else 0
