"""Findings, severities, causes, and the `Rule` base class (torch-free)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from nnlearn.measurements import Measurements


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return {"error": 2, "warning": 1, "info": 0}[self.value]


class Cause(str, Enum):
    """The fixed cause vocabulary of SPEC.md section 3."""

    INVALID_DATA = "invalid_data"
    UNNORMALIZED_INPUT = "unnormalized_input"
    BIASED_DATA = "biased_data"
    INCONSISTENT_DATA = "inconsistent_data"
    INSUFFICIENT_DATA = "insufficient_data"
    IMPLEMENTATION_BUG = "implementation_bug"
    LR_TOO_HIGH = "lr_too_high"
    LR_TOO_LOW = "lr_too_low"
    VANISHING_GRADIENTS = "vanishing_gradients"
    EXPLODING_GRADIENTS = "exploding_gradients"
    POOR_INITIALIZATION = "poor_initialization"
    DEAD_UNITS = "dead_units"
    SATURATED_ACTIVATIONS = "saturated_activations"
    LOW_CAPACITY = "low_capacity"
    OVERFITTING = "overfitting"


@dataclass
class Finding:
    rule: str
    name: str
    severity: Severity
    cause: Cause
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)
    fixes: list[str] = field(default_factory=list)
    # set by the diagnosis (nnlearn.verdict): the root finding's rule that explains this one,
    # and on a root finding the rules of the consequences it explains
    explained_by: str | None = None
    explains: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "name": self.name,
            "severity": self.severity.value,
            "cause": self.cause.value,
            "message": self.message,
            "evidence": _jsonable(self.evidence),
            "fixes": list(self.fixes),
            "explained_by": self.explained_by,
            "explains": list(self.explains),
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        value = value.item()
    if isinstance(value, float) and value != value:
        return "nan"
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return "inf" if value > 0 else "-inf"
    return value


@dataclass
class Rule:
    """One check over the measurements. Subclasses are dataclasses whose fields are thresholds.

    Class attributes: `code` (family letter + 3 digits), `name` (kebab, names the problem),
    `cause`, `severity` (default), `requires` (metric names or fact paths such as
    "facts:init.loss" that must be present for the rule to have evidence), `fixes`.
    The docstring is the rule's documentation, with the sections What it detects / Why it
    matters / Evidence / Example / Fix.
    """

    code: ClassVar[str] = ""
    name: ClassVar[str] = ""
    cause: ClassVar[Cause]
    severity: ClassVar[Severity] = Severity.WARNING
    requires: ClassVar[tuple[str, ...]] = ()
    fixes: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def parameters(cls) -> dict[str, Any]:
        """Threshold name -> default value."""
        return {f.name: f.default for f in dataclasses.fields(cls)}

    @classmethod
    def configured(cls, overrides: dict[str, float] | None = None) -> Rule:
        return cls(**(overrides or {}))

    # set by `no_evidence`; the engine reports the rule as skipped with it
    no_evidence_reason: ClassVar[str] = ""

    def evaluate(self, m: Measurements) -> list[Finding] | None:
        """The findings; [] when the evidence says all is well; None (`no_evidence`) when the
        measurements hold nothing to judge by, which is reported as skipped, not passed."""
        raise NotImplementedError

    def no_evidence(self, reason: str) -> None:
        self.no_evidence_reason = reason  # an instance attribute, shadowing the default
        return None

    def finding(
        self,
        message: str,
        evidence: dict[str, Any] | None = None,
        *,
        severity: Severity | None = None,
        cause: Cause | None = None,
        fixes: list[str] | tuple[str, ...] | None = None,
    ) -> Finding:
        return Finding(
            rule=self.code,
            name=self.name,
            severity=severity or self.severity,
            cause=cause or self.cause,
            message=message,
            evidence=evidence or {},
            fixes=list(fixes if fixes is not None else self.fixes),
        )

    @classmethod
    def doc(cls) -> str:
        import inspect

        return inspect.cleandoc(cls.__doc__ or "")

    @classmethod
    def summary(cls) -> str:
        return cls.doc().splitlines()[0] if cls.__doc__ else cls.name
