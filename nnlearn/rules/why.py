"""Why a run does not learn: the cause the rest of the evidence gives (torch-free).

Failing to memorise one batch (E901), a model no better than an input-independent predictor
(F804), a flat loss (L102) and a training loss stuck high (F802) are symptoms with many causes.
Each of those rules asks `explain(m)` which other rule, run with its default thresholds, has the
evidence for a cause, and takes that rule's cause; only what nothing else explains is left to
the rule's own fallback (a capacity bound, memorised noise, a broken setup).

The order is upstream first, as in `nnlearn.verdict.ROOT_ORDER`: the data (every later
measurement is computed on it), then the learning rate measured by lr_range (E902's verdict),
then how far one update moves the weights, then the initialisation, then what the units and
gradients do during training. Karpathy's "A Recipe for Training Neural Networks" debugs in that
order; DeepDiagnosis (Wardat et al., ICSE 2022) and AUTOTRAINER (Zhang et al., ICSE 2021) map the
same symptoms to these root causes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nnlearn.rules.base import Cause, Finding

# the data audits, most fundamental first: values that break the loss, a target with nothing to
# learn, splits that disagree, scale, then the label distribution and the data size
DATA_RULES = ("D301", "D307", "D313", "D314", "D303", "D302", "D304", "D305", "D308")
# an output range that rules the targets out (measured at setup: nothing in training gets past
# it); then what training showed: the measured rate, the update size, the loss blowing up, then
# the init, then the units and the gradient flow
# (issue 9: a frozen majority, a rate that needs a warm-up, unclipped gradient bursts; the
# bursts before L103, whose diverging loss they cause)
TRAINING_RULES = (
    "B711",
    "B709",
    "E904",
    "U201",
    "L101",
    "G403",
    "L103",
    "U202",
    "I602",
    "I601",
    "A501",
    "A502",
    "G401",
    "G402",
)


# Dead units explain a run that does not learn only when a layer is nearly all dead: a partly
# dead layer still passes signal through its live units, a narrower network that learns.
# Measured: configs/examples/dead_units.yaml learns (loss 1.09 -> 0.53) with 61% of a layer dead;
# bench/accuracy.py's label_noise at seed 1 reaches its noise ceiling (66% validation accuracy,
# 67% possible) with 52% of a layer dead; dead_bias (biases at -4) has 99-100% dead and learns
# nothing. A501's own finding stays what it is, a warning from 50%.
DEAD_EXPLAINS = 0.9


@dataclass
class Why:
    """The explaining rule's code and name (or the experiment's name, with `rule` ""), the
    cause, its message and fixes."""

    rule: str
    name: str
    cause: Cause
    message: str
    fixes: list[str] = field(default_factory=list)

    def clause(self) -> str:
        if not self.rule:
            return f"{self.name}: {self.message}"
        return f"{self.rule} ({self.name}) explains it"


def explain(
    m, *, data: bool = True, training: bool = True, skip: tuple[str, ...] = ()
) -> Why | None:
    """The first rule in `DATA_RULES` then `TRAINING_RULES` (each part when asked) whose default
    thresholds find something (a warning or an error), as a `Why`; None when none does."""
    from nnlearn.rules.fit import lr_outside_range

    codes: list[str] = list(DATA_RULES) if data else []
    if training:
        lr = lr_outside_range(m)
        if lr:
            cause = Cause.LR_TOO_LOW if lr == "low" else Cause.LR_TOO_HIGH
            where = "below" if lr == "low" else "above"
            return Why(
                "E902",
                "lr-outside-good-range",
                cause,
                f"the learning rate is far {where} the range where the loss falls",
                ["use the learning rate lr_range suggests (optimizer.lr)"],
            )
        codes += TRAINING_RULES
    for code in codes:
        if code in skip:
            continue
        found = _first_finding(m, code)
        if found is not None:
            return Why(found.rule, found.name, found.cause, found.message, list(found.fixes))
    return None


def _first_finding(m, code: str) -> Finding | None:
    from nnlearn.rules import registry
    from nnlearn.rules.base import Severity

    cls = registry().get(code)
    if cls is None or not all(m.has(r) for r in cls.requires):
        return None
    for f in cls().evaluate(m):
        if f.severity != Severity.INFO and _explains(f):
            return f
    return None


def _explains(f: Finding) -> bool:
    if f.rule == "A501":
        layers = f.evidence.get("layers") or {}
        return bool(layers) and max(layers.values()) >= DEAD_EXPLAINS
    return True
