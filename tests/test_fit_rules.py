"""The fit (F8xx) and experiment-evidence (E9xx) rules on hand-made measurements: each fires
on the pattern it names, stays quiet on a healthy one, and has nothing to say without its
evidence. The numbers are those measured on configs/examples (see each rule's docstring)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import measurements, series

from nnlearn.rules import registry

CHANCE = 1.0986  # ln 3, the quickstart's three balanced classes

HEALTHY_BATCH = {
    "batch_size": 16,
    "steps": 113,
    "initial_loss": 1.1,
    "final_loss": 0.0102,
    "final_ratio": 0.0098,
}


def evaluate(code: str, m, **thresholds):
    return registry()[code].configured(thresholds).evaluate(m)


def evals(name: str, values, every: int = 25, run: str = "main") -> list[tuple]:
    return [(run, (i + 1) * every - 1, name, "", float(v)) for i, v in enumerate(values)]


def decaying(start: float, end: float, n: int = 500, noise: float = 0.0, seed: int = 0):
    rng = np.random.default_rng(seed)
    curve = end + (start - end) * np.exp(-np.arange(n) / (n / 8))
    return curve * (1 + noise * rng.standard_normal(n))


# -- F801 overfitting ----------------------------------------------------------------------
def overfit_rows(val, train):
    return evals("val_loss", val) + evals("train_eval_loss", train)


def test_F801_fires_when_validation_rises_while_training_falls():
    m = measurements(
        overfit_rows([0.55, 0.99, 1.99, 2.33, 3.14, 3.34], [0.15, 0.08, 0.04, 0.013, 0.005, 0.003]),
        {"init": {"chance_loss": 0.684}},
    )
    [f] = evaluate("F801", m)
    assert f.cause.value == "overfitting" and "rose from 0.55" in f.message
    assert f.evidence["best_val_step"] == 24


def test_F801_fires_on_a_large_final_gap():
    m = measurements(
        overfit_rows([1.56, 1.61, 1.64, 1.66, 1.69], [0.011, 0.001, 0.0005, 0.0003, 0.0002]),
        {"init": {"chance_loss": 2.30}},
    )
    [f] = evaluate("F801", m)
    assert "far above" in f.message and f.evidence["gap_over_chance"] == pytest.approx(0.73, 0.01)


def test_F801_quiet_on_the_quickstart_where_a_tiny_gap_is_a_large_ratio():
    # 0.0093 train vs 0.0132 val: SageMaker's ratio alone (0.4 > 0.1) would fire
    m = measurements(
        overfit_rows(
            [0.72, 0.23, 0.074, 0.034, 0.023, 0.0132], [0.73, 0.21, 0.061, 0.026, 0.015, 0.0093]
        ),
        {"init": {"chance_loss": CHANCE}},
    )
    assert evaluate("F801", m) == []
    assert evaluate("F801", m, min_gap=0.001) != []  # the threshold is what keeps it quiet


def test_F801_without_evaluations_has_no_evidence():
    assert evaluate("F801", measurements(series("train_loss", [1.0] * 50))) == []


# -- F802 underfitting -----------------------------------------------------------------------
def underfit(batch, train=(1.02, 0.83, 0.79, 0.77, 0.76, 0.755, 0.75, 0.748), n_params=9):
    return measurements(
        series("train_loss", decaying(1.1, 0.75)) + evals("train_eval_loss", train),
        {
            "init": {"chance_loss": CHANCE},
            "model": {"n_trainable": n_params},
            "data": {"input_shape": [2]},
            "experiments": {"overfit_batch": batch},
        },
    )


def test_F802_fires_when_the_model_memorises_a_batch_but_not_the_training_set():
    [f] = evaluate("F802", underfit(HEALTHY_BATCH))
    assert f.cause.value == "low_capacity" and "memorises one batch" in f.message


def test_F802_fires_when_even_a_batch_is_only_partly_fitted():
    # the linear model on the spiral: the batch loss falls 53% and stops at 49% of chance
    batch = {
        "batch_size": 16,
        "steps": 300,
        "initial_loss": 1.0955,
        "final_loss": 0.511,
        "final_ratio": 0.49,
    }
    [f] = evaluate("F802", underfit(batch))
    assert "far too small" in f.message
    # 30k parameters could memorise 16 samples (Zhang et al.'s 2n + d = 34): failing to is
    # slow optimisation (a deep sigmoid stack), not size
    assert evaluate("F802", underfit(batch, n_params=30_000)) == []


def test_F802_leaves_a_batch_that_does_not_move_to_E901():
    batch = {
        "batch_size": 16,
        "steps": 300,
        "initial_loss": 1.1,
        "final_loss": 1.1,
        "final_ratio": 1.05,
    }
    assert evaluate("F802", underfit(batch)) == []


def test_F802_quiet_when_training_loss_is_low_or_still_falling():
    assert evaluate("F802", underfit(HEALTHY_BATCH, train=[0.7, 0.2, 0.06, 0.03, 0.02, 0.01])) == []
    assert evaluate("F802", underfit(HEALTHY_BATCH, train=[1.05, 1.0, 0.95, 0.9, 0.8, 0.7])) == []


def test_F802_quiet_when_nothing_was_learnt_at_all():
    # no-signal data: loss at chance, batch memorised; F804 tells the cause
    assert evaluate("F802", underfit(HEALTHY_BATCH, train=[1.09, 1.085, 1.084, 1.084, 1.084])) == []


def test_F802_without_overfit_batch_has_no_evidence():
    m = measurements(
        evals("train_eval_loss", [1.0, 0.9, 0.85, 0.85]), {"init": {"chance_loss": CHANCE}}
    )
    assert evaluate("F802", m) == []


# -- F803 insufficient data ------------------------------------------------------------------
def scaling(losses, train_full=0.0002, chance=2.303):
    points = [
        {"n_train": n, "val_loss": v, "val_acc": None, "train_eval_loss": train_full}
        for n, v in zip((75, 150, 300), losses, strict=True)
    ]
    return measurements(
        [],
        {
            "init": {"chance_loss": chance},
            "data": {"task": "classification", "n_classes": 10},
            "experiments": {"data_scaling": {"steps": 500, "points": points}},
        },
    )


def test_F803_fires_on_a_learning_curve_still_falling_with_a_gap():
    [f] = evaluate("F803", scaling([2.80, 2.17, 1.69]))
    assert f.cause.value == "insufficient_data"
    assert f.evidence["train_samples_per_class"] == 30


def test_F803_quiet_on_a_flat_curve_or_a_near_zero_loss():
    assert evaluate("F803", scaling([0.0245, 0.0244, 0.0231], train_full=0.02, chance=0.693)) == []
    # the quickstart: 30% better on the first doubling, 0.7% on the last
    assert (
        evaluate("F803", scaling([0.019, 0.01325, 0.01315], train_full=0.009, chance=CHANCE)) == []
    )


def test_F803_quiet_without_a_gap_or_when_skipped():
    assert evaluate("F803", scaling([2.80, 2.17, 1.69], train_full=1.68)) == []
    skipped = measurements([], {"experiments": {"data_scaling": {"skipped": "budget"}}})
    assert evaluate("F803", skipped) == []


# -- F804 no better than baseline ------------------------------------------------------------
def baseline_case(val_acc, train, extra=None):
    facts = {
        "init": {"chance_loss": CHANCE},
        "run": {"steps_done": 400},
        "experiments": {"baseline": {"val_loss": 1.098, "val_acc": 0.345}, **(extra or {})},
    }
    rows = (
        evals("val_loss", [1.1] * 4)
        + evals("val_acc", val_acc)
        + evals("train_eval_loss", train)
        + series("train_loss", [train[-1]] * 100)
    )
    return measurements(rows, facts)


def test_F804_blames_the_data_when_a_batch_is_memorised_but_nothing_generalises():
    m = baseline_case([0.35, 0.36, 0.36, 0.365], [1.09] * 4, {"overfit_batch": HEALTHY_BATCH})
    [f] = evaluate("F804", m)
    assert f.cause.value == "inconsistent_data"


def test_F804_blames_capacity_when_nothing_is_learnt_and_no_batch_is_memorised():
    batch = {"initial_loss": 0.70, "final_loss": 0.45, "final_ratio": 0.65}
    [f] = evaluate("F804", baseline_case([0.35] * 4, [1.09] * 4, {"overfit_batch": batch}))
    assert f.cause.value == "low_capacity"


def test_F804_names_the_rule_it_borrows_its_cause_from():
    # the verdict puts a finding that names its explainer under it (tests/test_verdict.py)
    stuck = {"initial_loss": 1.1, "final_loss": 1.09, "final_ratio": 0.99}
    [f] = evaluate("F804", baseline_case([0.35] * 4, [1.09] * 4, {"overfit_batch": stuck}))
    assert f.cause.value == "implementation_bug" and f.evidence["explained_by"] == "E901"
    [own] = evaluate("F804", baseline_case([0.35] * 4, [0.2, 0.05, 0.01, 0.005]))
    assert own.evidence["explained_by"] is None


def test_F804_blames_memorisation_when_training_loss_fell():
    [f] = evaluate("F804", baseline_case([0.35] * 4, [0.2, 0.05, 0.01, 0.005]))
    assert f.cause.value == "overfitting"


def test_F804_quiet_when_the_model_beats_the_majority_class():
    assert evaluate("F804", baseline_case([0.6, 0.9, 0.99, 1.0], [0.7, 0.1, 0.02, 0.01])) == []


def test_F804_fires_when_an_accuracy_past_the_majority_comes_with_losses_above_chance():
    # raw_credit at seed 1: 0.558 accuracy against 0.345 here, losses ~4x the chance level
    m = baseline_case([0.5, 0.55, 0.56, 0.56], [5.0, 4.0, 3.5, 3.0])
    [f] = evaluate("F804", m)
    assert "end above" in f.message and f.severity.value == "error"
    # the healthy twin: the same accuracy with a training loss below chance is learning
    assert evaluate("F804", baseline_case([0.5, 0.55, 0.56, 0.56], [1.0, 0.8, 0.7, 0.6])) == []


def test_F804_regression_compares_losses():
    facts = {"experiments": {"baseline": {"val_loss": 4.0}}, "run": {"steps_done": 500}}
    worse = measurements(evals("val_loss", [4.2, 4.0, 3.9, 3.95]), facts)
    better = measurements(evals("val_loss", [3.0, 1.0, 0.2, 0.1]), facts)
    assert len(evaluate("F804", worse)) == 1 and evaluate("F804", better) == []


# -- E901 cannot overfit a batch -------------------------------------------------------------
def batch_only(batch, facts=None):
    return measurements([], {"experiments": {"overfit_batch": batch}, **(facts or {})})


def test_E901_fires_when_the_batch_loss_does_not_move():
    batch = {
        "batch_size": 16,
        "steps": 300,
        "initial_loss": 1.1,
        "final_loss": 1.1,
        "final_ratio": 1.05,
    }
    [f] = evaluate("E901", batch_only(batch))
    assert f.cause.value == "implementation_bug" and f.severity.value == "error"


def test_E901_quiet_when_the_batch_is_memorised_or_partly_fitted():
    assert evaluate("E901", batch_only(HEALTHY_BATCH)) == []
    partly = {
        "batch_size": 16,
        "steps": 300,
        "initial_loss": 1.0955,
        "final_loss": 0.511,
        "final_ratio": 0.49,
    }
    assert evaluate("E901", batch_only(partly)) == []


def test_E901_defers_to_the_learning_rate_when_lr_range_explains_it():
    batch = {
        "batch_size": 16,
        "steps": 300,
        "initial_loss": 1.1,
        "final_loss": 1.1,
        "final_ratio": 1.05,
    }
    facts = {
        "run": {"lr": 1e-9},
        "experiments": {"overfit_batch": batch, "lr_range": {"good_range": [1.6e-3, 0.079]}},
    }
    assert evaluate("E901", measurements([], facts)) == []


# -- E902 learning rate outside the good range -----------------------------------------------
def lr_case(lr):
    sweep = {"good_range": [1.6e-3, 0.079], "suggested_lr": 0.045}
    return measurements([], {"run": {"lr": lr}, "experiments": {"lr_range": sweep}})


@pytest.mark.parametrize(
    ("lr", "cause"),
    [(1e-5, "lr_too_low"), (1e-4, "lr_too_low"), (0.3, "lr_too_high"), (1.0, "lr_too_high")],
)
def test_E902_fires_far_outside_the_range(lr, cause):
    [f] = evaluate("E902", lr_case(lr))
    assert f.cause.value == cause and "0.045" in f.fixes[0]


@pytest.mark.parametrize("lr", [3e-4, 3e-3, 0.03, 0.2])
def test_E902_quiet_inside_or_near_the_range(lr):
    assert evaluate("E902", lr_case(lr)) == []


def test_E902_quiet_when_the_main_run_converged_at_that_rate():
    sweep = {"good_range": [1.6e-3, 0.079], "suggested_lr": 0.045}
    facts = {"run": {"lr": 0.5}, "experiments": {"lr_range": sweep}}
    converged = series("train_loss", [1.2 * 0.98**i for i in range(200)])  # 97% lower
    assert evaluate("E902", measurements(converged, facts)) == []
    halfway = series("train_loss", [1.2 - 0.003 * i for i in range(200)])  # 50% lower
    [f] = evaluate("E902", measurements(halfway, facts))
    assert f.cause.value == "lr_too_high"


def test_E902_quiet_when_the_sweep_found_no_descent():
    facts = {
        "run": {"lr": 1e-6},
        "experiments": {"lr_range": {"good_range": None, "suggested_lr": None}},
    }
    assert evaluate("E902", measurements([], facts)) == []


# -- E903 shuffled labels learnt like the real ones ------------------------------------------
def shuffled_case(real_end, fake_end, val_acc=0.77, chance=0.684):
    rows = series("train_loss", decaying(0.7, real_end, 400, 0.02)) + series(
        "train_loss", decaying(0.7, fake_end, 400, 0.02, seed=1), run="shuffled_labels"
    )
    rows += evals("val_acc", [val_acc] * 4)
    facts = {
        "init": {"chance_loss": chance},
        "experiments": {
            "shuffled_labels": {"steps": 400},
            "baseline": {"val_acc": 0.567, "val_loss": chance},
        },
    }
    return measurements(rows, facts)


def test_E903_fires_when_permuted_labels_are_memorised_as_well():
    [f] = evaluate("E903", shuffled_case(0.004, 0.0035))
    assert f.cause.value == "overfitting"


def test_E903_points_at_the_labels_when_validation_is_at_baseline():
    [f] = evaluate("E903", shuffled_case(0.004, 0.0035, val_acc=0.56))
    assert f.cause.value == "inconsistent_data"


def test_E903_quiet_when_real_labels_are_learnt_far_better():
    assert evaluate("E903", shuffled_case(0.01, 0.68)) == []


def test_E903_quiet_when_a_drop_to_chance_is_only_the_label_prior():
    # fit_no_signal: both curves fall from an over-confident init to chance, no further
    rows = series("train_loss", decaying(3.2, 1.09, 400)) + series(
        "train_loss", decaying(3.2, 1.10, 400), run="shuffled_labels"
    )
    facts = {"init": {"chance_loss": CHANCE}, "experiments": {"shuffled_labels": {"steps": 400}}}
    assert evaluate("E903", measurements(rows, facts)) == []


# -- all of them ------------------------------------------------------------------------------
@pytest.mark.parametrize("code", ["F801", "F802", "F803", "F804", "E901", "E902", "E903"])
def test_rules_have_nothing_to_say_without_evidence(code):
    assert evaluate(code, measurements()) == []
    odd = {
        "experiments": {"overfit_batch": {"final_ratio": None}, "lr_range": {}, "data_scaling": {}}
    }
    assert evaluate(code, measurements(series("train_loss", [float("nan")] * 30), odd)) == []


@pytest.mark.parametrize("code", ["F801", "F802", "F803", "F804", "E901", "E902", "E903"])
def test_rule_docstrings_have_the_sections_and_a_source(code):
    doc = registry()[code].doc()
    for section in ("What it detects:", "Why it matters:", "Evidence:", "Example:", "Fix:"):
        assert section in doc, f"{code} lacks {section}"
    assert "measured" in doc.lower()


def audit_case(n_train, gap_val, n_classes=2, features=2):
    rows = evals("val_loss", [0.55, gap_val, gap_val, gap_val]) + evals(
        "train_eval_loss", [0.1, 0.02, 0.005, 0.003]
    )
    facts = {
        "init": {"chance_loss": 0.684},
        "data": {
            "task": "classification",
            "n_train": n_train,
            "n_classes": n_classes,
            "input_shape": [features],
        },
    }
    return measurements(rows, facts)


def test_F803_without_data_scaling_hints_from_the_audit_at_info():
    [f] = evaluate("F803", audit_case(30, 3.28))
    assert f.severity.value == "info" and "data_scaling" in f.message
    assert f.evidence["train_samples_per_class"] == 15


def test_F803_audit_hint_needs_both_few_samples_and_a_gap():
    assert evaluate("F803", audit_case(1600, 3.28)) == []  # plenty of samples
    assert evaluate("F803", audit_case(30, 0.01)) == []  # no overfitting


def test_the_fit_and_experiment_rules_never_import_torch():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from nnlearn.rules import registry\n"
        "rules = registry()\n"
        "assert {'F801', 'F802', 'F803', 'F804', 'E901', 'E902', 'E903'} <= set(rules)\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
