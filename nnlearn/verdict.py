"""From rule outcomes to a diagnosis: the verdict, and the findings in the order to read them.

Rules fire independently, so one root problem shows up as several findings: NaN inputs give a
NaN loss, a far too high learning rate kills ReLU units and makes the loss oscillate. The
diagnosis groups findings by cause and hangs each group under the cause that explains it, so
the first finding is the most likely root cause and the rest say "explained by ...".

The order works from causes and evidence only, never from rule codes, so rules added later are
placed without touching this module:

- `ROOT_ORDER` lists causes from upstream (the data and the setup) to downstream (optimisation
  symptoms, then fit verdicts). Data problems come first because every later measurement is
  computed on the data; an implementation bug next because it invalidates what training shows.
- `EXPLAINS` says which causes can produce findings of which others (the textbook causal links:
  Karpathy's "A Recipe for Training Neural Networks", Goodfellow et al. ch. 8 and 11, Glorot &
  Bengio 2010 on saturation and initialisation). A consequence is attached to the most upstream
  present cause that explains it, transitively, so NaN inputs -> NaN loss -> dead units all sit
  under the data finding.
- Only warnings and errors explain anything: an `info` finding is a remark, not a root cause.
- Within a cause, a finding whose evidence names the rule that explains it
  (`evidence["explained_by"]`: the symptom rules that ask `rules.why` and borrow its cause)
  goes under that rule's finding when it fired, whatever the stages.
- Contradictions are resolved from the evidence, not printed side by side: a report with
  both `lr_too_high` and `lr_too_low` findings keeps the side lr_range measured (E902), else
  the more severe side, else the one the update ratios support (U201 / U202), else
  `lr_too_high` (a diverging or oscillating loss is the more specific symptom); the other
  side's findings move under it, marked with `evidence["cause_was"]`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nnlearn.measurements import Measurements
from nnlearn.rules import Cause, Finding, RuleOutcome, Severity

# fewer main-run steps than this are too few to call a run healthy
MIN_STEPS_FOR_VERDICT = 20
# fewer training samples than this are too few to call a run healthy (under one small batch)
MIN_SAMPLES_FOR_VERDICT = 8

C = Cause
ROOT_ORDER: tuple[Cause, ...] = (
    C.INVALID_DATA,
    C.IMPLEMENTATION_BUG,
    C.UNNORMALIZED_INPUT,
    C.INCONSISTENT_DATA,
    C.BIASED_DATA,
    C.POOR_INITIALIZATION,
    C.LR_TOO_HIGH,
    C.EXPLODING_GRADIENTS,
    C.SATURATED_ACTIVATIONS,
    C.DEAD_UNITS,
    C.VANISHING_GRADIENTS,
    C.LR_TOO_LOW,
    C.INSUFFICIENT_DATA,
    C.LOW_CAPACITY,
    C.OVERFITTING,
)

_OPTIMISATION = {
    C.LR_TOO_HIGH,  # non-finite / diverging / oscillating loss
    C.LR_TOO_LOW,  # a loss that barely moves
    C.EXPLODING_GRADIENTS,
    C.VANISHING_GRADIENTS,
    C.DEAD_UNITS,
    C.SATURATED_ACTIVATIONS,
    C.POOR_INITIALIZATION,  # a non-finite loss or activations already at init
}

# cause -> the causes whose findings it can produce
EXPLAINS: dict[Cause, frozenset[Cause]] = {
    # NaN/Inf inputs give a NaN loss from the first step; out-of-range labels break the loss
    C.INVALID_DATA: frozenset(_OPTIMISATION | {C.IMPLEMENTATION_BUG, C.LOW_CAPACITY}),
    # no gradient, a double softmax, a loss that does not match the output: nothing below can
    # be trusted, the loss stalls or blows up
    C.IMPLEMENTATION_BUG: frozenset(_OPTIMISATION | {C.LOW_CAPACITY}),
    # large raw features scale the pre-activations: saturation, dead units, exploding gradients,
    # a learning rate that is too high for them (and too low for the small ones)
    C.UNNORMALIZED_INPUT: frozenset(_OPTIMISATION | {C.LOW_CAPACITY}),
    # conflicting labels cap how low the training loss goes and reward memorising
    C.INCONSISTENT_DATA: frozenset({C.LR_TOO_LOW, C.LOW_CAPACITY, C.OVERFITTING}),
    # a dominant class is a loss plateau at the prior's entropy: predicting the majority
    C.BIASED_DATA: frozenset({C.LR_TOO_LOW, C.LOW_CAPACITY, C.OVERFITTING}),
    C.POOR_INITIALIZATION: frozenset(
        {
            C.VANISHING_GRADIENTS,
            C.EXPLODING_GRADIENTS,
            C.DEAD_UNITS,
            C.SATURATED_ACTIVATIONS,
            C.LR_TOO_HIGH,
            C.LR_TOO_LOW,
        }
    ),
    # overshooting updates push ReLU units into their dead region, make the loss oscillate,
    # grow the gradients and saturate tanh/sigmoid units
    C.LR_TOO_HIGH: frozenset({C.DEAD_UNITS, C.EXPLODING_GRADIENTS, C.SATURATED_ACTIVATIONS}),
    # too small steps look like a model that cannot fit
    C.LR_TOO_LOW: frozenset({C.LOW_CAPACITY}),
    # exploding gradients are what a diverging loss is made of
    C.EXPLODING_GRADIENTS: frozenset({C.LR_TOO_HIGH, C.DEAD_UNITS}),
    # no gradient reaches the first layers: the loss stalls
    C.VANISHING_GRADIENTS: frozenset({C.LR_TOO_LOW, C.LOW_CAPACITY}),
    # saturated units pass no gradient
    C.SATURATED_ACTIVATIONS: frozenset({C.VANISHING_GRADIENTS, C.LR_TOO_LOW, C.LOW_CAPACITY}),
    # dead units take capacity away and stall the loss
    C.DEAD_UNITS: frozenset({C.LR_TOO_LOW, C.LOW_CAPACITY, C.VANISHING_GRADIENTS}),
    C.INSUFFICIENT_DATA: frozenset({C.OVERFITTING}),
    C.LOW_CAPACITY: frozenset(),
    C.OVERFITTING: frozenset(),
}


@dataclass
class CauseGroup:
    """The findings of one cause, and the cause groups it explains."""

    cause: Cause
    findings: list[Finding]
    consequences: list[CauseGroup] = field(default_factory=list)

    @property
    def head(self) -> Finding:
        return self.findings[0]

    @property
    def severity(self) -> Severity:
        return max((f.severity for f in self.findings), key=lambda s: s.rank)

    def tree_severity(self) -> Severity:
        sev = [self.severity] + [g.tree_severity() for g in self.consequences]
        return max(sev, key=lambda s: s.rank)

    def split(self) -> tuple[list[Finding], list[Finding]]:
        """(the findings that lead, the ones they explain), for the renderers."""
        lead = [f for f in self.findings if f.explained_by is None]
        rest = [f for f in self.findings if f.explained_by is not None]
        return lead, rest + [f for g in self.consequences for f in g.all_findings()]

    def all_findings(self) -> list[Finding]:
        out = list(self.findings)
        for g in self.consequences:
            out.extend(g.all_findings())
        return out


@dataclass
class Diagnosis:
    verdict: str
    groups: list[CauseGroup]  # root causes, most likely first

    @property
    def findings(self) -> list[Finding]:
        return [f for g in self.groups for f in g.all_findings()]


def diagnose(outcomes: list[RuleOutcome], m: Measurements) -> tuple[str, list[Finding]]:
    """The verdict and the findings in diagnosis order, each consequence right after its root
    cause, with `explained_by` / `explains` filled in."""
    d = diagnosis([f for o in outcomes for f in o.findings], m)
    return d.verdict, d.findings


def diagnosis(findings: list[Finding], m: Measurements | None = None) -> Diagnosis:
    resolve_lr_contradiction(findings)
    groups = order_by_root_cause(findings)
    return Diagnosis(verdict_for(findings, m), groups)


def resolve_lr_contradiction(findings: list[Finding]) -> None:
    """One learning-rate direction per report (see the module docstring); in place."""
    sides = {C.LR_TOO_HIGH: [], C.LR_TOO_LOW: []}
    for f in findings:
        if f.cause in sides and f.severity != Severity.INFO:
            sides[f.cause].append(f)
    if not all(sides.values()):
        return

    def weight(cause: Cause) -> tuple:
        fs = sides[cause]
        return (
            any(f.rule == "E902" for f in fs),
            max(f.severity.rank for f in fs),
            any(f.rule in ("U201", "U202") for f in fs),
            cause == C.LR_TOO_HIGH,
        )

    winner = max(sides, key=weight)
    for f in findings:
        if f.cause in sides and f.cause != winner:
            f.evidence = {**f.evidence, "cause_was": f.cause.value}
            f.cause = winner


def verdict_for(findings: list[Finding], m: Measurements | None) -> str:
    if any(f.severity in (Severity.ERROR, Severity.WARNING) for f in findings):
        return "unhealthy"
    if m is None:
        return "healthy"
    steps = m.fact("run.steps_done", 0) or 0
    n_train = m.fact("data.n_train")
    if steps < MIN_STEPS_FOR_VERDICT or not m.has("train_loss"):
        return "inconclusive"
    if n_train is not None and n_train < MIN_SAMPLES_FOR_VERDICT:
        return "inconclusive"
    return "healthy"


def order_by_root_cause(findings: list[Finding]) -> list[CauseGroup]:
    """Group findings by cause; attach each group under the most upstream cause explaining it;
    order the roots most severe first (a root counts its consequences), then upstream first."""
    for f in findings:
        f.explained_by, f.explains = None, []
    by_cause: dict[Cause, list[Finding]] = {}
    for f in findings:
        by_cause.setdefault(f.cause, []).append(f)
    groups = {
        c: CauseGroup(c, _named_explainers_first(sorted(fs, key=_within_cause)))
        for c, fs in by_cause.items()
    }
    order = sorted(groups, key=lambda c: _upstream_rank(c, groups))
    root_of: dict[Cause, Cause] = {}
    roots: list[CauseGroup] = []
    for cause in order:
        parent = _explainer(cause, order, groups, root_of)
        if parent is None:
            root_of[cause] = cause
            roots.append(groups[cause])
        else:
            root_of[cause] = root_of[parent]
            groups[root_of[parent]].consequences.append(groups[cause])
    roots.sort(key=lambda g: (-g.tree_severity().rank, order.index(g.cause)))
    for root in roots:
        head = root.head
        # same cause, later stage: the data audit's NaN column explains the NaN loss even when
        # both rules name invalid_data; lr_range's verdict explains the oscillating loss
        named = _named(root.findings)
        later = head.severity != Severity.INFO
        explained = [
            f for f in root.findings[1:] if (later and _stage(f) > _stage(head)) or f in named
        ]
        explained += [f for g in root.consequences for f in g.findings]
        for f in explained:
            f.explained_by = head.rule
        head.explains = list(dict.fromkeys(f.rule for f in explained if f.rule != head.rule))
    return roots


def _named(findings: list[Finding]) -> list[Finding]:
    """The findings whose own evidence names another present finding's rule as what explains
    them (E901, F804, L102 and F802 ask `rules.why` and borrow that rule's cause); only a
    warning or an error explains anything."""
    present = {f.rule for f in findings if f.severity != Severity.INFO}
    return [
        f
        for f in findings
        if f.evidence.get("explained_by") in present and f.evidence["explained_by"] != f.rule
    ]


def _named_explainers_first(findings: list[Finding]) -> list[Finding]:
    """Within a cause, a finding that names its explainer goes after the others, so the rule
    it names leads (a frozen backbone, not the batch it could not memorise). All naming each
    other: left as they are."""
    named = _named(findings)
    if len(named) == len(findings):
        return findings
    return [f for f in findings if f not in named] + named


def _explainer(
    cause: Cause, order: list[Cause], groups: dict[Cause, CauseGroup], root_of: dict
) -> Cause | None:
    """The most upstream cause placed before `cause` that can explain it."""
    for earlier in order:
        if earlier == cause:
            return None
        group = groups[earlier]
        if group.severity.rank < Severity.WARNING.rank:
            continue
        if cause in EXPLAINS.get(earlier, frozenset()):
            return earlier
    return None


def _upstream_rank(cause: Cause, groups: dict[Cause, CauseGroup]) -> float:
    """ROOT_ORDER position, moved by the evidence: a learning rate that an experiment measured
    to be off (lr_range) goes before every optimisation symptom; exploding gradients seen
    before the loss diverged go before the learning-rate group they then explain."""
    rank = float(ROOT_ORDER.index(cause))
    if cause in (C.LR_TOO_HIGH, C.LR_TOO_LOW) and _measured(groups[cause]):
        return ROOT_ORDER.index(C.POOR_INITIALIZATION) + 0.5
    lr = groups.get(C.LR_TOO_HIGH)
    if cause == C.EXPLODING_GRADIENTS and lr is not None and not _range_measured(lr):
        if _first_step(groups[cause]) < _first_step(lr):
            return _upstream_rank(C.LR_TOO_HIGH, groups) - 0.25
    return rank


def _measured(group: CauseGroup) -> bool:
    return any(_from_experiment(f) for f in group.findings)


def _range_measured(group: CauseGroup) -> bool:
    """Whether lr_range measured the rate to be off (E902, or a finding carrying its
    suggested rate). Other experiments do not count here: the warm-up experiment (E904)
    shrinks the first updates, which cures gradient bursts as well as a rate too high for
    the first steps, and E901 only borrows another rule's cause. Measured on
    `configs/examples/seq_lstm_lm_no_clip.yaml` (unclipped LSTM, SGD lr 20): at seed 1 the
    norm burst 3e5x at step 4, before the updates (step 8) and the loss (step 24) blew up,
    and E904 fired too; at seeds 0 and 2 it did not. Exploding gradients lead at all three."""
    return any(f.rule == "E902" or "suggested_lr" in f.evidence for f in group.findings)


def _first_step(group: CauseGroup) -> float:
    return min((_step(f) for f in group.findings), default=float("inf"))


def _step(f: Finding) -> float:
    """The step a finding was first seen at, when its evidence says."""
    for key in ("step", "first_step"):
        value = f.evidence.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return float("inf")


def _from_experiment(f: Finding) -> bool:
    """E9xx is the family of experiment-derived evidence (e.g. lr_range's suggested rate)."""
    return f.rule.startswith("E") or "suggested_lr" in f.evidence


def _stage(f: Finding) -> int:
    """Where the evidence comes from, upstream first: 0 the data (audited before training),
    1 an experiment that tests the cause directly, 2 what the training run showed."""
    if f.rule.startswith("D") or _reads_only_data(f.rule):
        return 0
    return 1 if _from_experiment(f) else 2


def _reads_only_data(code: str) -> bool:
    from nnlearn.rules import registry

    cls = registry().get(code)
    requires = cls.requires if cls else ()
    return bool(requires) and all(r.startswith("facts:data") for r in requires)


def _within_cause(f: Finding) -> tuple:
    """Warnings and errors before remarks; among them the most upstream evidence first; then
    the most severe; then the earliest step."""
    remark = f.severity == Severity.INFO
    return (remark, _stage(f), -f.severity.rank, _step(f), f.rule)


def exit_code_for(findings: list[Finding], fail_on: str) -> int:
    return 1 if gate_failures(findings, fail_on) else 0


def gate_failures(findings: list[Finding], fail_on: str) -> list[Finding]:
    """The findings at or above `--fail-on` (none when it is `never`)."""
    if fail_on == "never":
        return []
    floor = Severity(fail_on).rank
    return [f for f in findings if f.severity.rank >= floor]
