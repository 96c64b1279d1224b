"""D3xx and B7xx rules on hand-built facts: each fires on its case and stays quiet on a healthy
one. Facts are shaped as `audit_data` and `check_setup` record them."""

from __future__ import annotations

import pytest
from conftest import measurements

from nnlearn.rules import Severity, registry

CLEAN = {"nan": 0, "inf": 0, "rows": 0, "where": {}}


def nonfinite(train_inputs=CLEAN, val_targets=CLEAN):
    return {
        "train": {"inputs": train_inputs, "targets": CLEAN},
        "val": {"inputs": CLEAN, "targets": val_targets},
    }


def inputs(means, stds, layout="features"):
    return {
        "layout": layout,
        "n": len(means),
        "names": [f"f{i}" for i in range(len(means))],
        "abs_mean": means,
        "std": stds,
    }


HEALTHY_LABELS = {
    "dtype": "int64",
    "floating": False,
    "integer_valued": True,
    "min": 0,
    "max": 2,
    "n_distinct": 3,
    "outside_unit_interval": 300,
}
# setup.output_reach of a ReLU head on zero-mean regression targets
REACH = {
    "range": [0.0, float("inf")],
    "loss": "mse",
    "regression": True,
    "chance_loss": 0.51,
    "free_loss": 0.0,
    "bounded_loss": 0.25,
}
BINARY_LABELS = {**HEALTHY_LABELS, "max": 1, "n_distinct": 2, "outside_unit_interval": 0}
FLOAT_LABELS = {
    "dtype": "float32",
    "floating": True,
    "integer_valued": False,
    "min": -3.2,
    "max": 4.1,
    "n_distinct": None,
    "outside_unit_interval": 900,
}
OUTPUT = {"min": -0.5, "max": 0.6, "in_unit_interval": False, "stress_checked": True}

# (rule, facts that make it fire, expected severity, facts of a healthy case)
CASES = [
    (
        "D301",
        {"data": {"nonfinite": nonfinite({"nan": 5, "inf": 0, "rows": 5, "where": {"age": 5}})}},
        "error",
        {"data": {"nonfinite": nonfinite()}},
    ),
    (
        "D301",
        {"data": {"nonfinite": nonfinite(val_targets={"nan": 0, "inf": 2, "rows": 2})}},
        "error",
        {"data": {"nonfinite": nonfinite()}},
    ),
    (
        "D302",
        {"data": {"inputs": inputs([0.1, 5000.0], [1.0, 400.0])}},
        "warning",
        {"data": {"inputs": inputs([0.1, 0.5, 0.99], [1.0, 0.3, 0.1])}},  # incl. a rare flag
    ),
    (
        "D302",
        {"data": {"inputs": inputs([10.0], [0.4])}},  # offset of 25 std
        "warning",
        {"data": {"inputs": inputs([3.0, 2.0], [4.0, 0.0])}},  # mild offset; a constant
    ),
    (
        "D303",
        {"data": {"targets": {"mean": 2e5, "std": 1e4, "min": 1.7e5, "max": 2.3e5}}},
        "warning",
        {"data": {"targets": {"mean": 0.3, "std": 3.2, "min": -9.0, "max": 10.0}}},
    ),
    (
        "D303",
        {"data": {"targets": {"mean": 0.0, "std": 5e3, "min": -2e4, "max": 2e4}}},
        "warning",
        {"data": {"targets": {"mean": 40.0, "std": 100.0, "min": -200.0, "max": 300.0}}},
    ),
    (
        "D304",
        {"data": {"class_counts": [940, 48]}},
        "warning",
        {"data": {"class_counts": [700, 300]}},  # 70:30 stays quiet
    ),
    (
        "D305",
        {"data": {"task": "classification", "duplicates": {"rows": 1000, "conflicting_rows": 40}}},
        "warning",
        {"data": {"task": "classification", "duplicates": {"rows": 1000, "conflicting_rows": 0}}},
    ),
    (
        "D305",
        {"data": {"task": "classification", "duplicates": {"rows": 10000, "conflicting_rows": 2}}},
        "info",
        {"data": {"task": "regression", "duplicates": {"rows": 1000, "conflicting_rows": 40}}},
    ),
    (
        "D306",
        {"data": {"overlap": {"val_rows": 400, "val_in_train": 120}}},
        "warning",
        {"data": {"overlap": {"val_rows": 400, "val_in_train": 0}}},
    ),
    (
        "D306",  # a discrete input space: overlap is expected, info only
        {
            "data": {
                "overlap": {"val_rows": 400, "val_in_train": 400},
                "duplicates": {"rows": 1600, "distinct_inputs": 4},
            }
        },
        "info",
        {"data": {"overlap": {"val_rows": 400, "val_in_train": 0}}},
    ),
    (
        "D307",
        {
            "data": {"labels": {**HEALTHY_LABELS, "min": 1, "max": 3}},
            "setup": {
                "loss_kind": "cross_entropy",
                "labels": {
                    "n_outputs": 3,
                    "min": 1,
                    "max": 3,
                    "one_based": True,
                    "out_of_range": True,
                },
            },
        },
        "error",
        {
            "data": {"labels": HEALTHY_LABELS},
            "setup": {
                "loss_kind": "cross_entropy",
                "labels": {"n_outputs": 3, "min": 0, "max": 2, "out_of_range": False},
            },
        },
    ),
    (
        "D307",
        {
            "data": {"labels": {**BINARY_LABELS, "min": -1, "outside_unit_interval": 500}},
            "setup": {"loss_kind": "bce_with_logits"},
        },
        "error",
        {"data": {"labels": BINARY_LABELS}, "setup": {"loss_kind": "bce_with_logits"}},
    ),
    (
        "D308",
        {"data": {"n_train": 24, "class_counts": [6, 9, 9]}, "setup": {"n_trainable": 4547}},
        "warning",
        {
            "data": {"n_train": 1600, "class_counts": [530, 540, 530]},
            "setup": {"n_trainable": 4547},
        },
    ),
    (
        "D308",
        {"data": {"n_train": 500}, "setup": {"n_trainable": 5_000_000}},
        "warning",
        {"data": {"n_train": 50_000}, "setup": {"n_trainable": 11_000_000}},  # ResNet-18/CIFAR
    ),
    (
        "B701",
        {"setup": {"n_trainable": 0, "n_parameters": 100, "frozen": ["w", "b"]}},
        "error",
        {"setup": {"n_trainable": 100, "n_parameters": 100, "frozen": []}},
    ),
    (
        "B702",
        {"init": {"params_without_grad": ["encoder.0.weight", "encoder.0.bias"]}},
        "error",
        {"init": {"params_without_grad": []}},
    ),
    (
        "B702",
        {"setup": {"updates": {"no_grad": ["aux.weight"]}}},
        "error",
        {"setup": {"updates": {"no_grad": []}}},
    ),
    (
        "B703",
        {
            "setup": {
                "updates": {"not_in_optimizer": ["head.weight"], "zero_lr": [], "unchanged": []}
            }
        },
        "error",
        {"setup": {"updates": {"not_in_optimizer": [], "zero_lr": [], "unchanged": []}}},
    ),
    (
        "B703",
        {
            "setup": {
                "updates": {
                    "not_in_optimizer": [],
                    "zero_lr": [],
                    "unchanged": [{"name": "w", "grad_norm": 0.3}],
                }
            }
        },
        "error",
        {  # unchanged with a vanishing gradient: the gradient rules' finding, not this one
            "setup": {
                "updates": {
                    "not_in_optimizer": [],
                    "zero_lr": [],
                    "unchanged": [{"name": "w", "grad_norm": 1e-9}],
                }
            }
        },
    ),
    (
        "B704",
        {"setup": {"loss_kind": "cross_entropy", "output": {**OUTPUT, "rows_sum_to_one": True}}},
        "error",
        {"setup": {"loss_kind": "cross_entropy", "output": {**OUTPUT, "rows_sum_to_one": False}}},
    ),
    (
        "B704",
        {"setup": {"loss_kind": "bce_with_logits", "output": {**OUTPUT, "in_unit_interval": True}}},
        "error",
        {"setup": {"loss_kind": "bce", "output": {**OUTPUT, "in_unit_interval": True}}},
    ),
    (
        "B704",
        {
            "setup": {
                "loss_kind": "nll",
                "output": {**OUTPUT, "rows_sum_to_one": False, "log_probabilities": False},
            }
        },
        "error",
        {
            "setup": {
                "loss_kind": "nll",
                "output": {**OUTPUT, "rows_sum_to_one": False, "log_probabilities": True},
            }
        },
    ),
    (
        "B705",
        {"setup": {"shapes": {"output": [64, 1], "target": [64], "broadcast": [64, 64]}}},
        "error",
        {"setup": {"loss_kind": "mse"}},
    ),
    (
        "B706",
        {"setup": {"loss_kind": "cross_entropy"}, "data": {"labels": FLOAT_LABELS}},
        "error",
        {"setup": {"loss_kind": "mse"}, "data": {"labels": FLOAT_LABELS}},
    ),
    (
        "B706",
        {"setup": {"loss_kind": "mse"}, "data": {"labels": HEALTHY_LABELS}},
        "warning",
        {"setup": {"loss_kind": "cross_entropy"}, "data": {"labels": HEALTHY_LABELS}},
    ),
    (
        "B706",
        {"setup": {"loss_kind": "bce_with_logits"}, "data": {"labels": HEALTHY_LABELS}},
        "error",
        {"setup": {"loss_kind": "bce_with_logits"}, "data": {"labels": BINARY_LABELS}},
    ),
    (
        "B707",
        {"init": {"loss": 16.5, "chance_loss": 1.1}, "setup": {"loss_kind": "cross_entropy"}},
        "warning",
        {"init": {"loss": 1.08, "chance_loss": 1.1}, "setup": {"loss_kind": "cross_entropy"}},
    ),
    (
        "B707",  # imbalanced prior: a uniform prediction (ln 2) is not a bug
        {"init": {"loss": 9.0, "chance_loss": 0.2}, "setup": {"loss_kind": "bce_with_logits"}},
        "warning",
        {"init": {"loss": 0.69, "chance_loss": 0.2}, "setup": {"loss_kind": "bce_with_logits"}},
    ),
    (
        "B707",  # targets far from zero explain a high MSE at init (D303's finding)
        {"init": {"loss": 50.0, "chance_loss": 1.0}, "setup": {"loss_kind": "mse"}},
        "warning",
        {
            "init": {"loss": 100.0, "chance_loss": 1.0},
            "setup": {"loss_kind": "mse"},
            "data": {"targets": {"mean": 10.0, "std": 1.0}},
        },
    ),
    (
        "B711",
        {"setup": {"output_reach": {**REACH, "forbidden": 0.47}}},
        "error",
        {"setup": {"output_reach": {**REACH, "forbidden": 0.001}}},
    ),
    (
        "B711",
        {"setup": {"output_reach": {**REACH, "forbidden": 0.07}}},
        "warning",
        {"setup": {"output_reach": {**REACH, "forbidden": 0.04}}},
    ),
    (  # class scores under a bound still rank the classes: a warning, however much
        "B711",
        {
            "setup": {
                "output_reach": {
                    **REACH,
                    "loss": "cross_entropy",
                    "regression": False,
                    "forbidden": 0.5,
                }
            }
        },
        "warning",
        {"setup": {"output_reach": {**REACH, "loss": "cross_entropy", "forbidden": None}}},
    ),
    (
        "B708",
        {"setup": {"fatal": {"reason": "loss_raised", "message": "RuntimeError: boom"}}},
        "error",
        {"setup": {"fatal": {"reason": "labels_out_of_range", "message": "..."}}},
    ),
]


def run_rule(code: str, facts: dict):
    from nnlearn.rules import evaluate_rules

    outcome = next(o for o in evaluate_rules(measurements(facts=facts)) if o.code == code)
    return outcome.findings


@pytest.mark.parametrize("code,bad,severity,good", CASES, ids=[c[0] for c in CASES])
def test_rule_fires_on_its_case_and_not_on_a_healthy_one(code, bad, severity, good):
    findings = run_rule(code, bad)
    assert [f.rule for f in findings] == [code]
    assert findings[0].severity == Severity(severity)
    assert findings[0].cause == registry()[code].cause or code in ("D305", "D306")
    assert findings[0].message and findings[0].fixes
    assert run_rule(code, good) == []


@pytest.mark.parametrize("code", [c for c in registry() if c[0] in "BD"])
def test_rules_return_nothing_without_evidence(code):
    assert run_rule(code, {}) == []


@pytest.mark.parametrize("code", [c for c in registry() if c[0] in "BD"])
def test_rule_docstrings_have_the_sections_and_an_example(code):
    doc = registry()[code].doc()
    for section in ("What it detects:", "Why it matters:", "Evidence:", "Example:", "Fix:"):
        assert section in doc, f"{code} lacks {section}"
    assert "configs/examples/" in doc


def test_thresholds_are_overridable():
    from nnlearn.rules import evaluate_rules

    facts = {"data": {"class_counts": [700, 300]}}
    outcomes = evaluate_rules(measurements(facts=facts), thresholds={"D304": {"max_ratio": 2.0}})
    assert next(o for o in outcomes if o.code == "D304").findings


def test_init_loss_cause_follows_the_layers():
    base = {"init": {"loss": 12.0, "chance_loss": 1.1}, "setup": {"loss_kind": "cross_entropy"}}
    deep = [{"name": f"net.{i}", "rms": 0.6 * 5.5**i} for i in range(5)]
    (f,) = run_rule("B707", {**base, "setup": {**base["setup"], "layer_rms": deep}})
    assert f.cause.value == "poor_initialization" and f.evidence["layer_gain"] > 5
    head = [
        {"name": "net.0", "rms": 0.48},
        {"name": "net.2", "rms": 0.19},
        {"name": "net.4", "rms": 34},
    ]
    (f,) = run_rule("B707", {**base, "setup": {**base["setup"], "layer_rms": head}})
    assert f.cause.value == "implementation_bug" and "net.4" in f.message
