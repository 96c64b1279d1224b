"""Plots: zeros drawn at the floor, the every-step gradient norm with the spike region of a
gradient finding, the activation plot; every plot a real PNG."""

import numpy as np
import pytest

from nnlearn.measurements import Measurements, MetricsRecorder
from nnlearn.report.plots import log_floor, spike_regions, write_plots
from nnlearn.rules.base import Cause, Finding, Severity


def measured() -> Measurements:
    rec = MetricsRecorder()
    for step in range(60):
        burst = 100.0 if 13 <= step <= 45 else 1.0
        rec.add("main", step, "train_loss", 2.0 / (1 + step))
        rec.add("main", step, "grad_norm", burst * (1 + 0.1 * np.sin(step)))
    for step in (0, 1, 2, 20, 21, 22, 40):
        rec.add("main", step, "sample_triggered", 1.0 if step in (20, 21, 22) else 0.0)
        for layer, g in (("net.0", 0.0), ("net.2", 0.5)):  # net.0: a dead path, exactly 0
            rec.add("main", step, "layer_grad_norm", g, layer)
            rec.add("main", step, "update_ratio", g * 1e-3, layer)
            rec.add("main", step, "dead_frac", 1.0 if g == 0 else 0.1, layer)
    for step in (24, 49):
        rec.add("main", step, "val_loss", 1.0 / (1 + step))
    return Measurements(rec.frame(), {})


def burst_finding() -> Finding:
    return Finding(
        rule="E904",
        name="gradient-bursts",
        severity=Severity.ERROR,
        cause=Cause.EXPLODING_GRADIENTS,
        message="bursts",
        evidence={"first_step": 13, "last_step": 45, "peak_ratio": 100.0},
    )


def test_zeros_go_a_decade_below_the_smallest_positive_value():
    assert log_floor(np.array([0.0, 0.5, 2.0, np.nan])) == pytest.approx(0.05)
    assert log_floor(np.array([0.0, np.nan])) is None


def test_spike_region_comes_from_the_findings_evidence():
    other = Finding("L101", "x", Severity.ERROR, Cause.LR_TOO_HIGH, "m", {"step": 3})
    assert spike_regions([burst_finding(), other]) == [(13, 45, "E904")]
    g403 = {
        "cause": "exploding_gradients",
        "rule": "G403",
        "evidence": {"step": 13, "bursts": [{"step": 13, "last_step": 45}, {"step": 60}]},
    }
    assert spike_regions([g403]) == [(13, 45, "G403"), (60, 60, "G403")]
    assert spike_regions(
        [{"cause": "exploding_gradients", "rule": "G402", "evidence": {"step": 7}}]
    ) == [(7, 7, "G402")]


def test_every_plot_is_written(tmp_path):
    pytest.importorskip("matplotlib")
    made = write_plots(measured(), tmp_path, [burst_finding()])
    assert set(made) == {"loss", "grad_norm", "grad_norms", "update_ratios", "activations"}
    for path in made.values():
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
