"""Unit tests of the sequence-model rules (B709, B710, D310, D311, F805, G403, E904) on
synthetic metrics tables and facts: each fires on its case, stays quiet on the healthy twin,
and returns [] when its evidence is missing."""

from __future__ import annotations

import math

import pytest
from conftest import measurements, series

from nnlearn.rules import Cause, Severity, registry


def rule(code: str, **thresholds):
    return registry()[code](**thresholds)


def flat_loss(n: int = 200, level: float = 0.693, run: str = "main"):
    return series("train_loss", [level + 0.01 * math.sin(i) for i in range(n)], run=run)


def falling_loss(n: int = 200, start: float = 0.693, run: str = "main"):
    return series("train_loss", [start * 0.97**i for i in range(n)], run=run)


def update_rows(value: float, steps=(0, 1, 2, 50, 100, 150)):
    return [("main", s, "update_ratio", layer, value) for s in steps for layer in ("a", "b")]


# -- B709 frozen majority -----------------------------------------------------------------


def frozen_facts(n_trainable: int, n: int = 38_000) -> dict:
    return {
        "setup": {"n_parameters": n, "n_trainable": n_trainable, "frozen": ["embed.weight"]},
        "init": {"chance_loss": 0.693},
    }


def test_b709_fires_on_frozen_majority_with_stalled_loss():
    m = measurements(flat_loss(), frozen_facts(6_300))
    (f,) = rule("B709").evaluate(m)
    assert f.cause == Cause.IMPLEMENTATION_BUG and f.severity == Severity.ERROR
    assert f.evidence["frozen_share"] == pytest.approx(1 - 6300 / 38000)
    assert "embed.weight" in f.message


def test_b709_quiet_when_the_loss_falls_or_little_is_frozen():
    assert rule("B709").evaluate(measurements(falling_loss(), frozen_facts(6_300))) == []
    assert rule("B709").evaluate(measurements(flat_loss(), frozen_facts(30_000))) == []
    assert rule("B709").evaluate(measurements(flat_loss(), frozen_facts(0))) == []  # B701's


# -- B710 output blind to the labels --------------------------------------------------------


def blind_facts(final_ratio: float = 1.0) -> dict:
    return {
        "init": {"chance_loss": 0.693},
        "setup": {"n_parameters": 20_000, "n_trainable": 20_000},
        "experiments": {
            "overfit_batch": {
                "final_ratio": final_ratio,
                "final_loss": 0.69,
                "steps": 300,
                "batch_size": 16,
            },
            "shuffled_labels": {"steps": 200},
        },
    }


def blind_rows(update: float = 1e-2, real=None):
    return (
        (real if real is not None else flat_loss())
        + flat_loss(run="shuffled_labels")
        + series("grad_norm", [0.1] * 200)
        + update_rows(update)
    )


def test_b710_fires_when_nothing_is_learnt_with_healthy_updates():
    (f,) = rule("B710").evaluate(measurements(blind_rows(), blind_facts()))
    assert f.cause == Cause.IMPLEMENTATION_BUG and f.severity == Severity.ERROR
    assert f.evidence["batch_ratio"] == 1.0


def test_b710_quiet_on_a_tiny_learning_rate_a_memorised_batch_or_real_learning():
    assert rule("B710").evaluate(measurements(blind_rows(update=1e-6), blind_facts())) == []
    assert rule("B710").evaluate(measurements(blind_rows(), blind_facts(0.01))) == []
    learnt = blind_rows(real=falling_loss())
    assert rule("B710").evaluate(measurements(learnt, blind_facts())) == []
    assert rule("B710").evaluate(measurements(blind_rows(), {})) == []


def test_b710_defers_to_a_warmup_that_learns():
    facts = blind_facts()
    facts["experiments"]["warmup"] = {
        "steps": 100,
        "main_start": 0.69,
        "warm_end": 0.05,
        "main_end": 0.69,
    }
    assert rule("B710").evaluate(measurements(blind_rows(), facts)) == []


# -- D310 / D311 padding ----------------------------------------------------------------------


def test_d310_fires_on_pad_targets_counted():
    facts = {
        "data": {
            "pad_in_loss": {
                "pad_id": 0,
                "share": 0.41,
                "pad_targets": 410,
                "targets": 1000,
                "ignore_index": -100,
            }
        }
    }
    (f,) = rule("D310").evaluate(measurements([], facts))
    assert f.cause == Cause.IMPLEMENTATION_BUG and "41%" in f.message
    facts["data"]["pad_in_loss"]["share"] = 0.0
    assert rule("D310").evaluate(measurements([], facts)) == []


def test_d311_is_a_remark_on_heavy_padding():
    facts = {"data": {"padding": {"pad_id": 0, "share": 0.4, "source": "ids"}}}
    (f,) = rule("D311").evaluate(measurements([], facts))
    assert f.severity == Severity.INFO
    facts["data"]["padding"]["share"] = 0.1
    assert rule("D311").evaluate(measurements([], facts)) == []


# -- F805 too good to be true ---------------------------------------------------------------


def leak_facts(kind: str) -> dict:
    leak = (
        {"kind": "copy", "share_equal": 1.0, "positions": 1000, "copied": True}
        if kind == "copy"
        else {"kind": "label_column", "position": 1, "purity": 1.0, "rows": 1600}
    )
    return {"data": {"leak": leak}, "init": {"chance_loss": 3.0}}


def test_f805_missing_shift_is_an_implementation_bug():
    rows = series("val_loss", [1.0, 0.01, 0.001]) + series("val_acc", [0.5, 0.99, 1.0])
    (f,) = rule("F805").evaluate(measurements(rows, leak_facts("copy")))
    assert f.cause == Cause.IMPLEMENTATION_BUG and "shift" in f.message


def test_f805_leaked_label_is_inconsistent_data():
    rows = series("val_loss", [0.3, 0.5]) + series("val_acc", [1.0, 1.0])
    (f,) = rule("F805").evaluate(measurements(rows, leak_facts("column")))
    assert f.cause == Cause.INCONSISTENT_DATA and "position 1" in f.message


def test_f805_quiet_when_the_model_does_not_exploit_it_or_nothing_leaks():
    honest = series("val_loss", [2.0, 0.9]) + series("val_acc", [0.4, 0.58])
    assert rule("F805").evaluate(measurements(honest, leak_facts("copy"))) == []
    perfect = series("val_loss", [0.01, 0.001])
    assert rule("F805").evaluate(measurements(perfect, {"init": {"chance_loss": 3.0}})) == []


# -- G403 gradient-norm bursts ----------------------------------------------------------------


BURSTS = (13, 14, 30, 45)


def burst_rows(clipped: bool = False, hard_batches: bool = False):
    """Every-step gradient norm ~0.3 with bursts at steps 13-45 (as an unclipped LSTM shows);
    the loss jumps on the steps after each burst (the update threw the weights) unless it was
    clipped. `hard_batches`: the loss is high on the burst steps themselves and normal after
    (a hard sample at batch size 1 made the large gradient; the update did no harm)."""
    grad, loss = [], []
    for i in range(200):
        grad.append(30.0 if i in BURSTS else 0.3 + 0.02 * math.sin(i))
        if hard_batches:
            jump = i in BURSTS
        else:
            jump = not clipped and any(0 < i - b <= 2 for b in BURSTS)
        loss.append((3.4 - 0.01 * i) + (4.0 if jump else 0.0))
    return series("grad_norm", grad) + series("train_loss", loss)


def test_g403_fires_on_unclipped_bursts():
    (f,) = rule("G403").evaluate(measurements(burst_rows(), {"init": {"chance_loss": 3.47}}))
    assert f.cause == Cause.EXPLODING_GRADIENTS
    assert f.evidence["step"] == 13 and f.evidence["n_bursts"] == 3  # 13-14 is one


def test_g403_quiet_when_the_loss_does_not_follow_or_norm_is_steady():
    facts = {"init": {"chance_loss": 3.47}}
    assert rule("G403").evaluate(measurements(burst_rows(clipped=True), facts)) == []
    # the burst steps' own losses are high (hard batches), the steps after them are not
    assert rule("G403").evaluate(measurements(burst_rows(hard_batches=True), facts)) == []
    steady = series("grad_norm", [0.3] * 200) + falling_loss(start=3.4)
    assert rule("G403").evaluate(measurements(steady, facts)) == []
    sparse = series("grad_norm", [0.3, 30.0, 0.3]) + falling_loss(start=3.4)
    assert rule("G403").evaluate(measurements(sparse, facts)) == []


# -- E904 lr needs warm-up ----------------------------------------------------------------------


def warm_facts(**kw) -> dict:
    result = {
        "steps": 100,
        "warmup_steps": 50,
        "lr": 0.03,
        "main_start": 0.67,
        "main_end": 0.69,
        "main_rise": 0.6,
        "warm_end": 0.05,
        "warm_rise": 0.02,
    }
    result.update(kw)
    return {"experiments": {"warmup": result}}


def test_e904_fires_when_the_warmed_run_learns_and_the_main_spiked():
    (f,) = rule("E904").evaluate(measurements([], warm_facts()))
    assert f.cause == Cause.LR_TOO_HIGH and f.severity == Severity.ERROR
    assert "warm-up" in f.message


def test_e904_quiet_when_the_main_run_recovers_by_itself():
    # the main run spiked in its first 100 steps, then went on to end below the warmed run's end
    recovered = falling_loss(n=500, start=0.67)
    assert rule("E904").evaluate(measurements(recovered, warm_facts())) == []
    # ending above it (stuck, as the post-LN Transformer without warm-up): the finding stands
    assert rule("E904").evaluate(measurements(flat_loss(n=500), warm_facts()))
    # no steps past the experiment's: nothing to tell recovery from
    assert rule("E904").evaluate(measurements(falling_loss(n=100), warm_facts()))


def test_e904_quiet_when_warmup_does_not_help_or_nothing_went_wrong():
    assert rule("E904").evaluate(measurements([], warm_facts(warm_end=0.6))) == []
    # both runs diverge, the warmed one less (the quickstart at Adam 50): no warm-up fix
    diverged = warm_facts(main_start=1.06, main_end=9.3, main_rise=7e7, warm_end=7.2)
    assert rule("E904").evaluate(measurements([], diverged)) == []
    calm = warm_facts(main_rise=0.01, main_end=0.3)  # fell steadily, no spike
    assert rule("E904").evaluate(measurements([], calm)) == []
    skipped = {"experiments": {"warmup": {"skipped": "no spike"}}}
    assert rule("E904").evaluate(measurements([], skipped)) == []
