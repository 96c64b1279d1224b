"""L101-L103 on hand-made loss curves: each fires on its case and stays quiet on healthy ones."""

import math

import numpy as np
import pytest
from conftest import measurements, series

from nnlearn.rules import evaluate_rules, registry
from nnlearn.rules.L101 import L101
from nnlearn.rules.L102 import L102
from nnlearn.rules.L103 import L103

STEPS = np.arange(300)
HEALTHY = 1.1 * np.exp(-STEPS / 60) + 0.05 + 0.01 * np.sin(STEPS)


def m_of(values, **facts):
    return measurements(series("train_loss", values), facts)


@pytest.mark.parametrize("rule", [L101(), L102(), L103()])
def test_healthy_curve_is_quiet(rule):
    assert rule.evaluate(m_of(HEALTHY)) == []


def test_l101_nan_after_training_points_at_the_learning_rate():
    values = list(HEALTHY[:50]) + [math.nan]
    [f] = L101().evaluate(m_of(values, run={"stopped": "nonfinite"}))
    assert f.cause.value == "lr_too_high" and f.evidence["step"] == 50


def test_l101_nan_from_the_first_step_points_at_init_or_data():
    [f] = L101().evaluate(m_of([math.inf], init={"loss": math.inf}))
    assert f.cause.value == "poor_initialization"


def test_l102_flat_loss():
    flat = 1.0986 - 0.0001 * STEPS / 300 + 0.002 * np.sin(STEPS)
    [f] = L102().evaluate(m_of(flat))
    assert f.cause.value == "lr_too_low" and f.evidence["relative_drop"] < 0.05


def test_l102_needs_enough_steps():
    assert L102().evaluate(m_of([1.0] * 20)) == []


def test_l102_threshold_is_overridable():
    slow = 1.0 - 0.1 * STEPS / 300  # ~8% drop
    assert L102().evaluate(m_of(slow)) == []
    assert L102(min_relative_drop=0.2).evaluate(m_of(slow))


def test_l103_rising_loss():
    rising = 1.0 + STEPS / 50
    [f] = L103().evaluate(m_of(rising))
    assert f.cause.value == "lr_too_high" and f.evidence["final_loss"] > 1.5


def test_l103_spike_above_start():
    values = list(HEALTHY[:100]) + [40.0] * 5 + list(HEALTHY[100:200])
    [f] = L103().evaluate(m_of(values))
    assert f.evidence["worst_over_best"] > 5


def test_l103_noise_near_zero_is_not_divergence():
    values = (
        1e-3 * (1 + np.abs(np.sin(STEPS * 7.0)) * 8) + np.r_[np.linspace(1, 0, 50), np.zeros(250)]
    )
    assert L103().evaluate(m_of(values)) == []


def test_engine_skips_rules_without_evidence_and_honours_disable():
    outcomes = {o.code: o for o in evaluate_rules(measurements(), disable=["L102"])}
    assert set(outcomes) == set(registry())
    assert outcomes["L101"].status == "skipped" and "train_loss" in outcomes["L101"].reason
    assert outcomes["L102"].status == "disabled"


def test_every_rule_documents_itself():
    for code, cls in registry().items():
        doc = cls.doc()
        for section in ("What it detects:", "Why it matters:", "Evidence:", "Example:", "Fix:"):
            assert section in doc, f"{code} docstring lacks {section}"
        assert cls.code == code and cls.name and cls.cause


def test_rule_names_are_unique():
    names = [cls.name for cls in registry().values()]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)


def test_l101_nan_from_the_first_step_with_nan_data_points_at_the_data():
    data = {"nonfinite": {"train": {"inputs": {"nan": 7, "rows": 5}, "targets": {"rows": 0}}}}
    [f] = L101().evaluate(m_of([math.nan], init={"loss": math.nan}, data=data))
    assert f.cause.value == "invalid_data" and f.evidence["nonfinite_training_rows"] == 5
