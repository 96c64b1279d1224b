"""The diagnosis: root causes first, consequences under them, the verdict, the gate."""

from __future__ import annotations

import pytest

from nnlearn.rules import Cause, Finding, Severity
from nnlearn.verdict import EXPLAINS, ROOT_ORDER, diagnosis, exit_code_for, verdict_for
from tests.conftest import measurements, series

E, W, INFO = Severity.ERROR, Severity.WARNING, Severity.INFO


def finding(rule: str, cause: Cause, severity: Severity = W, **evidence) -> Finding:
    return Finding(rule, rule.lower(), severity, cause, f"{rule} message", evidence, ["fix it"])


def order(findings):
    return [f.rule for f in diagnosis(findings).findings]


def test_nan_inputs_explain_the_nan_loss_and_come_first():
    nan_loss = finding("L101", Cause.POOR_INITIALIZATION, E, step=0)
    diverging = finding("L103", Cause.LR_TOO_HIGH, E)
    nan_inputs = finding("D301", Cause.INVALID_DATA, E, column="x3", n_nan=40)
    d = diagnosis([nan_loss, diverging, nan_inputs])
    assert [f.rule for f in d.findings] == ["D301", "L101", "L103"]
    assert len(d.groups) == 1 and d.groups[0].cause == Cause.INVALID_DATA
    assert nan_inputs.explains == ["L101", "L103"]
    assert nan_loss.explained_by == "D301" and diverging.explained_by == "D301"
    assert nan_loss.to_dict()["explained_by"] == "D301"


def test_a_data_warning_that_explains_an_error_still_leads():
    d = diagnosis(
        [finding("G402", Cause.EXPLODING_GRADIENTS, E), finding("D302", Cause.UNNORMALIZED_INPUT)]
    )
    assert [f.rule for f in d.findings] == ["D302", "G402"]


def test_out_of_range_labels_explain_an_implementation_symptom():
    d = diagnosis(
        [finding("B701", Cause.IMPLEMENTATION_BUG, E), finding("D305", Cause.INVALID_DATA, E)]
    )
    assert [f.rule for f in d.findings] == ["D305", "B701"]


def test_lr_range_evidence_explains_dead_units_and_oscillation():
    dead = finding("A501", Cause.DEAD_UNITS, E, layer="net.0", step=40)
    oscillating = finding("L104", Cause.LR_TOO_HIGH, W)
    measured = finding("E902", Cause.LR_TOO_HIGH, W, lr=1.0, suggested_lr=3e-3)
    d = diagnosis([dead, oscillating, measured])
    assert [f.rule for f in d.findings] == ["E902", "L104", "A501"]
    assert measured.explains == ["L104", "A501"]
    assert dead.explained_by == "E902" and oscillating.explained_by == "E902"


def test_data_evidence_leads_its_own_cause_group():
    # a NaN-loss rule that itself blames the data still reads as the audit's consequence
    nan_loss = finding("L101", Cause.INVALID_DATA, E, step=0)
    audit = finding("D301", Cause.INVALID_DATA, W, column="x3")
    d = diagnosis([nan_loss, audit])
    assert [f.rule for f in d.findings] == ["D301", "L101"]
    assert audit.explains == ["L101"] and nan_loss.explained_by == "D301"
    lead, explained = d.groups[0].split()  # what the renderers show, and under "also explains"
    assert lead == [audit] and explained == [nan_loss]


def test_measured_learning_rate_goes_before_exploding_gradients():
    d = diagnosis(
        [
            finding("G402", Cause.EXPLODING_GRADIENTS, E, step=3),
            finding("E902", Cause.LR_TOO_HIGH, W, suggested_lr=1e-3),
        ]
    )
    assert [f.rule for f in d.findings] == ["E902", "G402"]


def test_gradients_that_explode_before_the_loss_diverges_come_first():
    d = diagnosis(
        [
            finding("L101", Cause.LR_TOO_HIGH, E, step=80),
            finding("G402", Cause.EXPLODING_GRADIENTS, E, step=12),
        ]
    )
    assert [f.rule for f in d.findings] == ["G402", "L101"]
    assert d.groups[0].cause == Cause.EXPLODING_GRADIENTS


def test_a_warm_up_that_helps_does_not_put_the_rate_before_earlier_gradient_bursts():
    # the unclipped LSTM at seed 1: bursts from step 4, the updates blow up at step 8, and the
    # warm-up experiment (which also shrinks the burst steps) helps: the bursts still lead
    def rate():
        return [
            finding("E901", Cause.LR_TOO_HIGH, E),
            finding("E904", Cause.LR_TOO_HIGH, E, steps=100),
            finding("U201", Cause.LR_TOO_HIGH, W, step=8),
            finding("L103", Cause.LR_TOO_HIGH, E, step=24),
        ]

    bursts = finding("G403", Cause.EXPLODING_GRADIENTS, E, step=4)
    rated = rate()
    d = diagnosis([*rated, bursts])
    assert d.findings[0] is bursts and d.groups[0].cause == Cause.EXPLODING_GRADIENTS
    assert all(f.explained_by == "G403" for f in rated)
    # lr_range's measurement still puts the rate first
    measured = finding("E902", Cause.LR_TOO_HIGH, W, suggested_lr=1e-3)
    early = finding("G403", Cause.EXPLODING_GRADIENTS, E, step=4)
    d = diagnosis([*rate(), early, measured])
    assert d.groups[0].cause == Cause.LR_TOO_HIGH and early.explained_by is not None
    # and bursts that come after the updates blew up are their consequence
    late = finding("G403", Cause.EXPLODING_GRADIENTS, E, step=30)
    assert diagnosis([*rate(), late]).groups[0].cause == Cause.LR_TOO_HIGH


def test_vanishing_gradients_explain_a_flat_loss():
    d = diagnosis(
        [finding("L102", Cause.LR_TOO_LOW), finding("G401", Cause.VANISHING_GRADIENTS, E)]
    )
    assert [f.rule for f in d.findings] == ["G401", "L102"]
    assert d.groups[0].consequences[0].cause == Cause.LR_TOO_LOW


def test_chains_collapse_to_the_root():
    # saturated units -> vanishing gradients -> a flat loss: all under saturation
    d = diagnosis(
        [
            finding("L102", Cause.LR_TOO_LOW),
            finding("G401", Cause.VANISHING_GRADIENTS),
            finding("A502", Cause.SATURATED_ACTIVATIONS),
        ]
    )
    assert len(d.groups) == 1
    assert d.groups[0].head.explains == ["G401", "L102"]


def test_unrelated_causes_stay_separate_most_severe_first():
    d = diagnosis([finding("F801", Cause.OVERFITTING, W), finding("A501", Cause.DEAD_UNITS, E)])
    assert [g.cause for g in d.groups] == [Cause.DEAD_UNITS, Cause.OVERFITTING]
    assert all(f.explained_by is None for f in d.findings)


def test_a_data_remark_does_not_lead_a_training_warning():
    remark = finding("D303", Cause.BIASED_DATA, INFO)
    plateau = finding("F805", Cause.BIASED_DATA, W)
    d = diagnosis([remark, plateau])
    assert [f.rule for f in d.findings] == ["F805", "D303"]
    assert remark.explained_by is None and plateau.explained_by is None


def test_info_findings_explain_nothing():
    d = diagnosis([finding("L102", Cause.LR_TOO_LOW, W), finding("D303", Cause.BIASED_DATA, INFO)])
    assert [g.cause for g in d.groups] == [Cause.LR_TOO_LOW, Cause.BIASED_DATA]


def test_within_a_cause_most_severe_then_earliest():
    # all from the training run: same stage, so severity then step decide, nothing explained
    d = diagnosis(
        [
            finding("G401", Cause.VANISHING_GRADIENTS, W, step=5),
            finding("G403", Cause.VANISHING_GRADIENTS, E, step=50),
            finding("G404", Cause.VANISHING_GRADIENTS, E, step=10),
        ]
    )
    assert order(d.findings) == ["G404", "G403", "G401"]
    assert all(f.explained_by is None for f in d.findings)


def test_every_cause_is_placed():
    assert set(ROOT_ORDER) == set(Cause) and set(EXPLAINS) == set(Cause)
    for cause, consequences in EXPLAINS.items():
        for c in consequences:
            # a cause is placed before what it explains, except the evidence-broken pair
            if {cause, c} != {Cause.EXPLODING_GRADIENTS, Cause.LR_TOO_HIGH}:
                assert ROOT_ORDER.index(cause) < ROOT_ORDER.index(c), (cause, c)


def test_diagnosis_is_stable_when_repeated():
    fs = [finding("L101", Cause.LR_TOO_HIGH, E), finding("D301", Cause.INVALID_DATA, E)]
    first = order(fs)
    assert order(list(reversed(fs))) == first == ["D301", "L101"]


def _m(steps: int, n_train: int = 1000):
    return measurements(
        series("train_loss", [1.0] * steps),
        {"run": {"steps_done": steps, "stopped": "completed"}, "data": {"n_train": n_train}},
    )


def test_verdicts():
    assert verdict_for([], _m(200)) == "healthy"
    assert verdict_for([finding("F801", Cause.OVERFITTING, INFO)], _m(200)) == "healthy"
    assert verdict_for([finding("F801", Cause.OVERFITTING, W)], _m(5)) == "unhealthy"
    assert verdict_for([], _m(5)) == "inconclusive"
    assert verdict_for([], _m(200, n_train=4)) == "inconclusive"
    assert verdict_for([], measurements()) == "inconclusive"


@pytest.mark.parametrize(
    "severities, fail_on, code",
    [
        ([E], "error", 1),
        ([W], "error", 0),
        ([W], "warning", 1),
        ([INFO], "warning", 0),
        ([E, W], "never", 0),
        ([], "error", 0),
    ],
)
def test_exit_code_per_fail_on(severities, fail_on, code):
    fs = [finding(f"X10{i}", Cause.LR_TOO_LOW, s) for i, s in enumerate(severities)]
    assert exit_code_for(fs, fail_on) == code


def test_a_finding_that_names_its_explainer_goes_under_it():
    # seq_hf_bert_frozen.yaml: the overfit-batch experiment (E901, an experiment: stage 1) and
    # the flat loss borrow the frozen backbone's cause and say so in their evidence; the
    # frozen backbone (B709, what training showed: stage 2) leads, not the experiment
    batch = finding("E901", Cause.IMPLEMENTATION_BUG, E, explained_by="B709")
    frozen = finding("B709", Cause.IMPLEMENTATION_BUG, E, frozen_share=0.997)
    flat = finding("L102", Cause.IMPLEMENTATION_BUG, E, explained_by="B709")
    d = diagnosis([batch, frozen, flat])
    assert [f.rule for f in d.findings] == ["B709", "E901", "L102"]
    assert batch.explained_by == "B709" and flat.explained_by == "B709"
    assert frozen.explained_by is None and frozen.explains == ["E901", "L102"]
    # a named explainer that did not fire, or the finding itself, changes nothing
    alone = finding("E901", Cause.IMPLEMENTATION_BUG, E, explained_by="B709")
    own = finding("F804", Cause.IMPLEMENTATION_BUG, E, explained_by="F804")
    assert order([own, alone]) == ["E901", "F804"]
    assert alone.explained_by is None
