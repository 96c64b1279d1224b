"""Unit tests of the training-dynamics rules (L101-L104, U2xx, G4xx, A5xx, I6xx) on synthetic
metrics tables: each fires on its case, stays quiet on a healthy one, and says "not enough
evidence" (returns []) rather than crash when a quantity is missing."""

from __future__ import annotations

import math

import pytest
from conftest import measurements, series

from nnlearn.rules import Cause, registry

OURS = [
    "L101",
    "L102",
    "L103",
    "L104",
    "U201",
    "U202",
    "G401",
    "G402",
    "A501",
    "A502",
    "I601",
    "I602",
]


def layered(name: str, per_layer: dict[str, list[float]], run: str = "main", steps=None):
    """Rows of a per-layer quantity; `steps` defaults to the default schedule's 0, 1, 2, 10, ..."""
    n = len(next(iter(per_layer.values())))
    steps = steps or ([0, 1, 2] + [10 * i for i in range(1, n - 2)])[:n]
    return [
        (run, step, name, layer, float(v))
        for layer, values in per_layer.items()
        for step, v in zip(steps, values, strict=True)
    ]


def rule(code: str, **thresholds):
    return registry()[code](**thresholds)


def healthy_rows() -> list[tuple]:
    """Numbers measured on the quickstart (spirals, MLP 64-64, Adam 3e-3)."""
    n = 8
    return (
        series("train_loss", [1.06 * 0.995**i for i in range(500)])
        + series("train_eval_loss", [0.73 * 0.8**i for i in range(20)])
        + series("grad_norm", [0.3] * n)
        + layered("layer_grad_norm", {"net.0": [0.04] * n, "net.2": [0.2] * n, "net.4": [0.2] * n})
        + layered("update_ratio", {"net.0": [6e-3] * n, "net.2": [3e-2] * n, "net.4": [3e-2] * n})
        + layered("dead_frac", {"net.2": [0.17] * n, "net.4": [0.3] * n})
        + layered("act_rms", {"net.2": [0.33], "net.4": [0.13]}, run="init")
        + layered("dead_frac", {"net.2": [0.2], "net.4": [0.15]}, run="init")
        + layered("layer_grad_norm", {"net.0": [0.03], "net.2": [0.18], "net.4": [0.15]}, "init")
        + layered("weight_row_spread", {"net.0": [1.0], "net.2": [0.99], "net.4": [0.8]}, "init")
    )


def test_healthy_measurements_give_no_finding():
    m = measurements(healthy_rows(), {"run": {"stopped": "completed"}})
    for code in OURS:
        assert rule(code).evaluate(m) == [], code


@pytest.mark.parametrize("code", OURS)
def test_missing_evidence_is_no_finding(code):
    assert not rule(code).evaluate(measurements())  # no finding: [] or None (no evidence)


@pytest.mark.parametrize("code", OURS)
def test_docstring_has_the_sections(code):
    doc = registry()[code].doc()
    positions = [
        doc.find(s)
        for s in ("What it detects:", "Why it matters:", "Evidence:", "Example:", "Fix:")
    ]
    assert all(p > 0 for p in positions) and positions == sorted(positions), code


def test_U201_fires_on_an_update_as_large_as_the_weights():
    m = measurements(
        layered("update_ratio", {"a": [5.0, 0.7, 0.5], "b": [4.0, 0.6, 0.4], "c": [9.0, 1, 1]})
    )
    (f,) = rule("U201").evaluate(m)
    assert f.cause is Cause.LR_TOO_HIGH and f.evidence["step"] == 0
    assert f.evidence["median_update_ratio"] == pytest.approx(5.0)
    assert rule("U201", max_ratio=10.0).evaluate(m) == []


def test_U201_ignores_one_zero_initialised_layer():
    # a zero-initialised head moves by ~its own size early on; the median over layers does not
    m = measurements(layered("update_ratio", {"a": [1e-3] * 4, "b": [1e-3] * 4, "head": [3.0] * 4}))
    assert rule("U201").evaluate(m) == []


def test_U202_fires_when_even_the_fastest_layer_barely_moves():
    m = measurements(layered("update_ratio", {"a": [2e-7] * 6, "b": [1e-6] * 6}))
    (f,) = rule("U202").evaluate(m)
    assert f.cause is Cause.LR_TOO_LOW and f.evidence["typical_max_update_ratio"] == pytest.approx(
        1e-6
    )


def test_U202_leaves_vanishing_gradients_and_converged_runs_alone():
    vanishing = layered("update_ratio", {"first": [1e-9] * 6, "last": [1e-3] * 6})
    converged = layered(
        "update_ratio",
        {"a": [1e-2, 1e-2, 1e-2, 1e-8, 1e-8, 1e-8, 1e-8]},
        steps=[0, 1, 2, 400, 450, 480, 490],
    )
    assert rule("U202").evaluate(measurements(vanishing)) == []
    assert rule("U202").evaluate(measurements(converged)) == []


def test_G401_fires_on_a_tiny_first_to_last_gradient_ratio():
    m = measurements(
        layered("layer_grad_norm", {"net.0": [1e-9] * 5, "net.10": [1e-5] * 5, "net.20": [0.5] * 5})
    )
    (f,) = rule("G401").evaluate(m)
    assert f.cause is Cause.VANISHING_GRADIENTS
    assert f.evidence["first_layer"] == "net.0" and f.evidence["ratio"] == pytest.approx(2e-9)


def test_G401_leaves_a_run_that_learnt_through_its_first_layers_alone():
    grads = layered("layer_grad_norm", {"emb": [1e-7] * 5, "head": [1e-2] * 5})
    stuck = series("train_loss", [1.1] * 5 + [1.0] * 45)  # the sigmoid stack: loss stays
    learnt = series("train_loss", [2.3] * 5 + [0.01] * 45)  # a converged Transformer
    assert rule("G401").evaluate(measurements(grads + stuck))
    assert rule("G401").evaluate(measurements(grads + learnt)) == []


def test_G401_does_not_call_an_exactly_zero_gradient_vanishing():
    m = measurements(layered("layer_grad_norm", {"fc1": [0.0] * 5, "out": [0.1] * 5}))
    assert rule("G401").evaluate(m) == []


def test_G402_fires_at_init_or_over_the_run():
    at_init = layered("layer_grad_norm", {"rnn": [258.0], "head": [0.54]}, run="init")
    main = layered("layer_grad_norm", {"rnn": [0.5] * 5, "head": [0.5] * 5})
    (f,) = rule("G402").evaluate(measurements(at_init + main + series("grad_norm", [1.0])))
    assert f.cause is Cause.EXPLODING_GRADIENTS and f.evidence["when"] == "at init"
    later = layered("layer_grad_norm", {"first": [100.0] * 5, "last": [1.0] * 5})
    (g,) = rule("G402").evaluate(measurements(later + series("grad_norm", [1.0])))
    assert g.evidence["ratio"] == pytest.approx(100.0)
    assert rule("G402").evaluate(measurements(main + series("grad_norm", [1.0]))) == []


def test_G402_fires_on_a_gradient_overflow_with_a_finite_loss():
    rows = series("grad_norm", [1.0, math.inf]) + series("train_loss", [1.0, 1.1])
    (f,) = rule("G402").evaluate(measurements(rows))
    assert f.evidence["step"] == 1


def test_A501_dead_units_and_its_causes():
    dead = layered("dead_frac", {"fc2": [0.6] * 5, "out": [0.7] * 5})
    init = layered("dead_frac", {"fc2": [0.6], "out": [0.9]}, run="init")
    (f,) = rule("A501").evaluate(measurements(dead + init))
    assert f.cause is Cause.DEAD_UNITS and f.severity.value == "warning"
    # alive at init, dead after an update as large as the weights: the learning rate
    alive = layered("dead_frac", {"fc2": [0.2], "out": [0.2]}, run="init")
    burst = layered("update_ratio", {"fc2": [5.0, 0.1, 0.1], "out": [6.0, 0.1, 0.1]})
    (g,) = rule("A501").evaluate(measurements(dead + alive + burst))
    assert g.cause is Cause.LR_TOO_HIGH
    # dead behind symmetric (zero) weights: the initialisation
    all_dead = layered("dead_frac", {"net.2": [1.0] * 5})
    zeros = layered("weight_row_spread", {"net.0": [0.0], "net.2": [0.0], "net.4": [0.0]}, "init")
    (h,) = rule("A501").evaluate(measurements(all_dead + zeros))
    assert h.cause is Cause.POOR_INITIALIZATION and h.severity.value == "error"


def test_A502_saturated_activations():
    rows = layered("saturated_frac", {"hidden.2": [0.4] * 5, "head": [0.75] * 5})
    (f,) = rule("A502").evaluate(measurements(rows))
    assert f.cause is Cause.SATURATED_ACTIVATIONS and "head" in f.evidence["layers"]
    assert rule("A502").evaluate(measurements(layered("saturated_frac", {"h": [0.01] * 5}))) == []


def test_I601_activation_scale_through_depth():
    collapse = layered("act_rms", {"net.2": [5e-3], "net.4": [1e-4], "net.6": [2e-9]}, run="init")
    (f,) = rule("I601").evaluate(measurements(collapse))
    assert f.cause is Cause.POOR_INITIALIZATION and "collapses" in f.message
    explode = layered("act_rms", {"a": [1.0], "b": [30.0], "c": [900.0]}, run="init")
    assert "explodes" in rule("I601").evaluate(measurements(explode))[0].message
    kept = layered("act_rms", {"a": [1.0], "b": [0.5], "c": [0.3]}, run="init")
    assert rule("I601").evaluate(measurements(kept)) == []


def test_I602_symmetric_weights_except_the_last_layer():
    rows = layered("weight_row_spread", {"fc1": [1.0], "fc2": [0.0], "head": [0.0]}, run="init")
    (f,) = rule("I602").evaluate(measurements(rows))
    assert list(f.evidence["layers"]) == ["fc2"] and f.cause is Cause.POOR_INITIALIZATION
    zero_head = layered("weight_row_spread", {"fc1": [1.0], "head": [0.0]}, run="init")
    assert rule("I602").evaluate(measurements(zero_head)) == []


def test_L101_cause_follows_the_evidence():
    nan_at = series("train_loss", [1.0, 1.2, 5.0, math.nan])
    burst = layered("update_ratio", {"a": [8.0, 2.0, 1.5], "b": [9.0, 2.0, 1.0]})
    (f,) = rule("L101").evaluate(measurements(nan_at + burst))
    assert f.cause is Cause.LR_TOO_HIGH and f.evidence["update_step"] == 0
    calm = layered("update_ratio", {"a": [1e-3] * 3, "b": [1e-3] * 3})
    grads = series("grad_norm", [1.0, 50.0, 5e3])
    (g,) = rule("L101").evaluate(measurements(nan_at + calm + grads))
    assert g.cause is Cause.EXPLODING_GRADIENTS
    at_init = series("train_loss", [math.nan]) + layered(
        "act_rms", {"a": [1e2], "b": [1e6]}, "init"
    )
    (h,) = rule("L101").evaluate(measurements(at_init, {"init": {"loss": math.nan}}))
    assert h.cause is Cause.POOR_INITIALIZATION and "RMS" in h.message


def test_L102_takes_its_cause_from_the_evidence():
    flat = series("train_loss", [1.1] * 200)
    (plain,) = rule("L102").evaluate(measurements(flat))
    assert plain.cause is Cause.LR_TOO_LOW
    vanishing = layered("layer_grad_norm", {"net.0": [1e-10] * 5, "net.20": [0.2] * 5})
    (f,) = rule("L102").evaluate(measurements(flat + vanishing))
    assert f.cause is Cause.VANISHING_GRADIENTS and f.evidence["explained_by"] == "G401"
    dead = layered("dead_frac", {"fc3": [0.9] * 5})
    assert rule("L102").evaluate(measurements(flat + dead))[0].cause is Cause.DEAD_UNITS


def test_L104_oscillating_loss():
    bouncing = [0.96, 1.04, 0.79, 0.75, 0.8, 0.7, 0.72, 0.66, 0.63, 0.59, 0.61, 0.58, 0.82, 0.65]
    (f,) = rule("L104").evaluate(measurements(series("train_eval_loss", bouncing)))
    assert f.cause is Cause.LR_TOO_HIGH and f.evidence["upward_share"] > 0.3
    converged = [0.7, 0.3, 0.1, 0.02, 0.011, 0.012, 0.010, 0.011, 0.0105, 0.0108]
    assert rule("L104").evaluate(measurements(series("train_eval_loss", converged))) == []
