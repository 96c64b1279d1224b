"""Run every enabled rule over the measurements."""

from __future__ import annotations

from dataclasses import dataclass, field

from nnlearn.measurements import Measurements
from nnlearn.rules.base import Finding


@dataclass
class RuleOutcome:
    """What one rule did: its findings, or why it had nothing to say."""

    code: str
    name: str
    status: str  # "passed" | "failed" | "skipped" | "disabled" | "error" (the rule itself broke)
    findings: list[Finding] = field(default_factory=list)
    reason: str = ""


def evaluate_rules(
    m: Measurements,
    disable: list[str] | tuple[str, ...] = (),
    thresholds: dict[str, dict[str, float]] | None = None,
) -> list[RuleOutcome]:
    from nnlearn.rules import registry

    outcomes = []
    for code, cls in registry().items():
        if code in disable:
            outcomes.append(RuleOutcome(code, cls.name, "disabled", reason="disabled in the spec"))
            continue
        missing = [r for r in cls.requires if not m.has(r)]
        if missing:
            reason = "not enough evidence: no " + ", ".join(missing)
            outcomes.append(RuleOutcome(code, cls.name, "skipped", reason=reason))
            continue
        rule = cls.configured((thresholds or {}).get(code))
        try:
            findings = rule.evaluate(m)
        except Exception as exc:  # a bug in one rule must not cost the user the whole report
            reason = f"rule raised {type(exc).__name__}: {exc}"
            outcomes.append(RuleOutcome(code, cls.name, "error", reason=reason))
            continue
        if findings is None:  # the rule looked and found no evidence to judge by
            reason = "not enough evidence: " + (rule.no_evidence_reason or "nothing to judge")
            outcomes.append(RuleOutcome(code, cls.name, "skipped", reason=reason))
            continue
        outcomes.append(RuleOutcome(code, cls.name, "failed" if findings else "passed", findings))
    return outcomes
