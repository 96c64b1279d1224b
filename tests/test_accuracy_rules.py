"""Issues 12 and 15 on hand-built measurements: E901's cause comes from the other evidence, a
flat loss is an error with the cause the experiments give, contradictory learning-rate
findings are resolved, and the new data audits (D313 single class, D314 train/val shift, D303
against the fresh output) fire on their reproduction and stay quiet on the healthy twin."""

from __future__ import annotations

import pytest
from conftest import EXAMPLES, codes, measurements, probe, series

from nnlearn.rules import Cause, Finding, Severity, registry
from nnlearn.verdict import diagnosis, exit_code_for


def run(code, rows=(), facts=None):
    return registry()[code]().evaluate(measurements(list(rows), facts or {}))


def failed_batch(**extra):
    """overfit_batch whose loss barely moved: 1.10 -> 1.05 on 16 samples, 300 steps."""
    return {
        "batch_size": 16,
        "steps": 300,
        "initial_loss": 1.10,
        "final_loss": 1.05,
        "final_ratio": 0.95,
        "lr": 1e-3,
        **extra,
    }


def facts(n_trainable=5000, **more):
    base = {
        "experiments": {"overfit_batch": failed_batch()},
        "model": {"n_trainable": n_trainable},
        "data": {"input_shape": [2], "n_train": 1600},
    }
    for key, value in more.items():
        base.setdefault(key, {}).update(value) if isinstance(value, dict) else None
    return base


# ---- E901: the cause of a batch that cannot be memorised


def test_e901_with_nothing_else_is_an_implementation_bug():
    (f,) = run("E901", facts=facts())
    assert f.cause == Cause.IMPLEMENTATION_BUG and f.severity == Severity.ERROR


def test_e901_takes_dead_units_from_a501():
    dead = series("dead_frac", [0.1, 0.95, 0.97, 0.98, 0.97], layer="fc2")
    dead += series("dead_frac", [0.1], run="init", layer="fc2")
    (f,) = run("E901", dead, facts())
    assert f.cause == Cause.DEAD_UNITS and f.evidence["explained_by"] == "A501"


def test_a_partly_dead_layer_does_not_explain_a_run_that_does_not_learn():
    # label_noise at seed 1: 52% of a layer dead, the loss at the noise floor; A501 still warns
    half = series("dead_frac", [0.1, 0.5, 0.52, 0.52, 0.53], layer="net.4")
    half += series("dead_frac", [0.19], run="init", layer="net.4")
    (f,) = run("E901", half, facts())
    assert f.cause != Cause.DEAD_UNITS and f.evidence["explained_by"] != "A501"
    assert [g.rule for g in run("A501", half)] == ["A501"]


def test_e901_takes_vanishing_gradients_from_g401():
    rows = []
    for step in range(0, 300, 25):
        rows += series("layer_grad_norm", [1e-9], layer="net.0", start=step)
        rows += series("layer_grad_norm", [1e-1], layer="net.18", start=step)
    (f,) = run("E901", rows, facts())
    assert f.cause == Cause.VANISHING_GRADIENTS


def test_e901_takes_the_target_scale_from_d303():
    targets = {"mean": 1e10, "std": 1e9, "min": 0.0, "max": 2e10}
    (f,) = run("E901", facts=facts(data={"targets": targets, "task": "regression"}))
    assert f.cause == Cause.UNNORMALIZED_INPUT and f.evidence["explained_by"] == "D303"


def test_e901_on_a_model_too_small_to_memorise_the_batch_is_low_capacity():
    # a linear model on XOR: 2 inputs, 2 classes, 6 parameters < 2 * 16 + 2
    (f,) = run("E901", facts=facts(n_trainable=6))
    assert f.cause == Cause.LOW_CAPACITY


def test_e901_does_not_outrank_the_cause_it_adopts():
    dead = Finding("A501", "dead-units", Severity.ERROR, Cause.DEAD_UNITS, "dead")
    batch = Finding("E901", "cannot-overfit-batch", Severity.ERROR, Cause.DEAD_UNITS, "batch")
    flat = Finding("L102", "loss-not-decreasing", Severity.ERROR, Cause.DEAD_UNITS, "flat")
    d = diagnosis([batch, flat, dead])
    assert [g.cause for g in d.groups] == [Cause.DEAD_UNITS]


# ---- L102: a loss that does not fall is an error, its cause from the evidence


def flat_loss(n=300, start=1.10, end=1.095):
    return series("train_loss", [start + (end - start) * i / n for i in range(n)])


def test_a_loss_that_does_not_fall_fails_the_gate():
    (f,) = run("L102", flat_loss())
    assert f.severity == Severity.ERROR
    assert exit_code_for([f], "error") == 1


def test_a_falling_loss_is_quiet():
    assert run("L102", flat_loss(end=0.2)) == []


def test_flat_loss_that_memorises_a_batch_is_label_noise():
    batch = failed_batch(final_loss=0.09, final_ratio=0.13, accuracy=1.0)
    (f,) = run("L102", flat_loss(), {"experiments": {"overfit_batch": batch}})
    assert f.cause == Cause.INCONSISTENT_DATA


def test_flat_loss_of_a_model_too_small_for_the_batch_is_low_capacity():
    f_ = {"experiments": {"overfit_batch": failed_batch(final_ratio=0.6)}}
    f_["model"], f_["data"] = {"n_trainable": 6}, {"input_shape": [2]}
    (f,) = run("L102", flat_loss(), f_)
    assert f.cause == Cause.LOW_CAPACITY


def test_f802_on_noisy_labels_with_capacity_to_spare_is_inconsistent_data():
    loss = series("train_eval_loss", [0.69, 0.6, 0.56, 0.55, 0.548, 0.547, 0.547, 0.547])
    loss += series("train_loss", [0.69] * 50)
    batch = failed_batch(final_loss=0.05, final_ratio=0.07)
    base = {"experiments": {"overfit_batch": batch}, "init": {"chance_loss": 0.69}}
    big = {**base, "model": {"n_trainable": 4500}, "data": {"n_train": 1500, "input_shape": [2]}}
    small = {**base, "model": {"n_trainable": 40}, "data": {"n_train": 1500, "input_shape": [2]}}
    (noisy,) = run("F802", loss, big)
    (weak,) = run("F802", loss, small)
    assert noisy.cause == Cause.INCONSISTENT_DATA and noisy.severity == Severity.WARNING
    assert weak.cause == Cause.LOW_CAPACITY and weak.severity == Severity.ERROR


# ---- the verdict resolves lr_too_high against lr_too_low


def lr_finding(rule, cause, severity=Severity.WARNING):
    return Finding(rule, rule.lower(), severity, cause, rule)


def test_measured_learning_rate_side_wins_the_contradiction():
    low = lr_finding("E902", Cause.LR_TOO_LOW)
    high = lr_finding("L104", Cause.LR_TOO_HIGH)
    d = diagnosis([high, low])
    assert {f.cause for f in d.findings} == {Cause.LR_TOO_LOW}
    assert high.evidence["cause_was"] == "lr_too_high"


def test_more_severe_learning_rate_side_wins_without_a_measurement():
    diverging = lr_finding("L103", Cause.LR_TOO_HIGH, Severity.ERROR)
    flat = lr_finding("L102", Cause.LR_TOO_LOW)
    d = diagnosis([flat, diverging])
    assert [g.cause for g in d.groups] == [Cause.LR_TOO_HIGH]


def test_one_sided_learning_rate_findings_are_untouched():
    flat = lr_finding("L102", Cause.LR_TOO_LOW)
    diagnosis([flat])
    assert flat.cause == Cause.LR_TOO_LOW and "cause_was" not in flat.evidence


# ---- D313 single-class target


def test_d313_fires_on_one_training_class_and_names_the_validation_classes():
    (f,) = run("D313", facts={"data": {"class_counts": [900], "val_class_counts": [80, 70, 90]}})
    assert f.severity == Severity.ERROR and f.cause == Cause.INVALID_DATA
    assert "validation holds 3 classes" in f.message


def test_d313_quiet_on_two_classes():
    assert run("D313", facts={"data": {"class_counts": [900, 3]}}) == []


# ---- D314 train/val input shift


def scale(means, stds):
    n = len(means)
    return {
        "layout": "features",
        "n": n,
        "names": [f"x[{i}]" for i in range(n)],
        "mean": means,
        "abs_mean": [abs(v) for v in means],
        "std": stds,
    }


def test_d314_fires_when_only_the_training_split_was_divided_by_255():
    data = {"inputs": scale([0.5, 0.4], [0.2, 0.2]), "val_inputs": scale([127.0, 100], [51, 50])}
    (f,) = run("D314", facts={"data": data})
    assert f.severity == Severity.ERROR and f.cause == Cause.UNNORMALIZED_INPUT
    assert f.evidence["n_flagged"] == 2


def test_d314_warns_on_a_shifted_mean():
    data = {"inputs": scale([0.0], [1.0]), "val_inputs": scale([2.5], [1.0])}
    (f,) = run("D314", facts={"data": data})
    assert f.severity == Severity.WARNING


def test_d314_quiet_on_a_random_split():
    data = {
        "inputs": scale([0.5, -0.1], [0.2, 1.0]),
        "val_inputs": scale([0.51, -0.05], [0.21, 0.97]),
    }
    assert run("D314", facts={"data": data}) == []


# ---- D303 against what a fresh network outputs


def regression(std, mean=0.0, out_rms=0.2, train_over_chance=None):
    data = {"targets": {"mean": mean, "std": std, "min": mean - 3 * std, "max": mean + 3 * std}}
    f = {
        "data": data,
        "setup": {"layer_rms": [{"name": "net.0", "rms": 1.0}, {"name": "net.4", "rms": out_rms}]},
    }
    rows = []
    if train_over_chance is not None:
        f["init"] = {"chance_loss": std**2}
        rows = series("train_eval_loss", [std**2] + [train_over_chance * std**2] * 3)
    return rows, f


def test_d303_flags_a_target_std_of_650_against_the_fresh_output():
    rows, f = regression(650.0, mean=1300.0, out_rms=6.0, train_over_chance=0.6)
    (found,) = run("D303", rows, f)
    assert found.evidence["target_over_output"] > 100
    assert found.severity == Severity.ERROR  # and the run did not learn


def test_d303_warns_when_the_run_learnt_despite_the_scale():
    rows, f = regression(650.0, mean=1300.0, out_rms=6.0, train_over_chance=0.05)
    (found,) = run("D303", rows, f)
    assert found.severity == Severity.WARNING


def test_d303_quiet_on_standardised_targets():
    rows, f = regression(1.0, out_rms=0.05)
    assert run("D303", rows, f) == []


# ---- end to end: issue 15's reproductions and their fixed twins


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, rule, cause",
    [
        ("data_single_class", "D313", "invalid_data"),
        ("data_val_shift", "D314", "unnormalized_input"),
        ("data_sensor_targets", "D303", "unnormalized_input"),
    ],
)
def test_issue15_reproduction_is_found_and_its_fixed_twin_is_quiet(name, rule, cause):
    short = {"probe.steps": 150, "probe.budget_s": 30}
    result = probe(EXAMPLES / f"{name}.yaml", None, short)
    assert rule in codes(result), [f.message for f in result.findings]
    lead = next(f for f in result.findings if f.severity != Severity.INFO)
    assert lead.cause.value == cause
    if rule != "D303":  # the scale is a warning when the run still learns
        assert exit_code_for(result.findings, "error") == 1
    fixed = probe(EXAMPLES / f"{name}_fixed.yaml", None, short)
    assert [f.rule for f in fixed.findings if f.severity != Severity.INFO] == []


# ---- healthy runs stay quiet: batch size 1, BatchNorm eval-mode rises, a small stable gap


def per_sample_losses(n=600, spike_every=37):
    """Batch size 1 on a task the model has learnt: losses ~1e-3, one misclassified sample
    (8.3) now and then, after a first stretch at chance."""
    values = [0.7] * 20 + [8.3 if i % spike_every == 0 else 1e-3 for i in range(n - 20)]
    return series("train_loss", values)


def test_l103_ignores_single_sample_spikes_at_batch_size_1():
    f_ = {"run": {"batch_size": 1}, "init": {"chance_loss": 0.69}}
    assert run("L103", per_sample_losses(), f_) == []


def test_l103_still_sees_a_loss_that_climbs_at_batch_size_1():
    values = [0.7] * 20 + [0.7 * 1.02**i for i in range(300)]
    (f,) = run("L103", series("train_loss", values), {"run": {"batch_size": 1}})
    assert f.cause == Cause.LR_TOO_HIGH


def half_dead(batch_size):
    rows = []
    for layer in ("net.2", "net.4"):
        rows += series("dead_frac", [0.1], run="init", layer=layer)
        rows += series("dead_frac", [0.6, 0.58, 0.61, 0.6, 0.59], layer=layer)
    return rows, {"run": {"batch_size": batch_size}}


def test_a501_needs_enough_samples_per_measurement():
    assert run("A501", *half_dead(1)) == []
    (f,) = run("A501", *half_dead(64))
    assert f.cause == Cause.DEAD_UNITS


def bouncing_eval_loss(update_ratio):
    rows = series("train_eval_loss", [0.3, 0.6, 0.25, 0.7, 0.2, 0.65, 0.2, 0.6], start=0)
    for step in range(0, 400, 50):
        rows += series("update_ratio", [update_ratio], layer="net.0", start=step)
        rows += series("update_ratio", [update_ratio], layer="net.2", start=step)
    return rows


def test_l104_needs_large_updates_to_blame_the_learning_rate():
    assert run("L104", bouncing_eval_loss(0.004)) == []  # BatchNorm eval-mode noise
    (f,) = run("L104", bouncing_eval_loss(0.4))
    assert f.evidence["median_update_ratio"] == 0.4


def gap(train, val):
    rows = series("train_eval_loss", [0.7, 0.3, 0.15] + [train] * 3)
    rows += series("val_loss", [0.7, 0.32, 0.18] + [val] * 3)
    return rows, {"init": {"chance_loss": 0.69}}


def test_f801_quiet_on_a_small_stable_gap_and_firing_on_a_large_one():
    assert run("F801", *gap(0.096, 0.167)) == []  # h_credit_scaled at seed 2
    (f,) = run("F801", *gap(0.08, 0.61))  # 80 rows, 2x512 units
    assert f.cause == Cause.OVERFITTING


def test_f804_on_a_linear_model_that_cannot_even_fit_a_batch_is_low_capacity():
    rows = series("val_loss", [0.69, 0.69, 0.69]) + series("val_acc", [0.5, 0.51, 0.5])
    rows += series("train_loss", [0.69] * 30)
    batch = failed_batch(initial_loss=0.70, final_loss=0.68, final_ratio=0.98)
    f_ = {
        "experiments": {"overfit_batch": batch, "baseline": {"val_acc": 0.5, "n_val": 400}},
        "init": {"chance_loss": 0.69},
        "run": {"steps_done": 300},
    }
    (weak,) = run("F804", rows, {**f_, "model": {"n_trainable": 6}, "data": {"input_shape": [2]}})
    (big,) = run("F804", rows, {**f_, "model": {"n_trainable": 5000}, "data": {"input_shape": [2]}})
    assert weak.cause == Cause.LOW_CAPACITY and weak.severity == Severity.ERROR
    assert big.cause == Cause.IMPLEMENTATION_BUG


def test_flat_loss_of_a_big_model_that_learns_its_batch_is_label_noise():
    batch = failed_batch(initial_loss=0.68, final_loss=0.11, final_ratio=0.18, accuracy=0.875)
    f_ = {"experiments": {"overfit_batch": batch}}
    big = {**f_, "model": {"n_trainable": 4500}, "data": {"n_train": 1500, "input_shape": [2]}}
    small = {**f_, "model": {"n_trainable": 500}, "data": {"n_train": 1500, "input_shape": [2]}}
    (noisy,) = run("L102", flat_loss(), big)
    (other,) = run("L102", flat_loss(), small)
    assert noisy.cause == Cause.INCONSISTENT_DATA
    assert other.cause != Cause.INCONSISTENT_DATA
