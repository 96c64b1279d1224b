"""The measuring layer on a user's own loop, and the builtin loop's NaN handling."""

import math

import pytest
import torch
from conftest import CONFIGS
from torch import nn

from nnlearn.monitor import Monitor, Schedule
from nnlearn.monitor.instruments import GlobalGradNorm, LayerGradNorm


def user_loop(monitor, model, opt, steps=12, lr_blowup_at=None):
    torch.manual_seed(0)
    x, y = torch.randn(64, 4), torch.randint(0, 3, (64,))
    with monitor:
        for step in range(steps):
            monitor.step_begin(step)
            loss = nn.functional.cross_entropy(model(x), y)
            if lr_blowup_at is not None and step >= lr_blowup_at:
                loss = loss * float("nan")
            opt.zero_grad()
            loss.backward()
            monitor.after_backward()
            opt.step()
            monitor.after_update(loss)


def test_monitor_records_loss_and_grad_norm_every_step_and_instruments_on_schedule():
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    mon = Monitor(model, opt, instruments=[LayerGradNorm(Schedule(every=5, first=2))])
    user_loop(mon, model, opt)
    m = mon.measurements
    assert list(m.series("train_loss").index) == list(range(12))
    assert list(m.series("grad_norm").index) == list(range(12))
    assert all(v > 0 for v in m.series("grad_norm"))
    assert list(m.layers("layer_grad_norm").index) == [0, 1, 5, 10]


def test_grad_norm_matches_clip_grad_norm():
    model = nn.Linear(5, 2)
    x = torch.randn(8, 5)
    mon = Monitor(model, instruments=[], sample_all=True)
    with mon:
        mon.step_begin(0)
        model(x).pow(2).sum().backward()
        mon.after_backward()
        mon.after_update(0.0)
    expected = torch.nn.utils.clip_grad_norm_(model.parameters(), 1e9)
    assert mon.measurements.series("grad_norm").iloc[0] == pytest.approx(float(expected))


def test_nonfinite_loss_is_recorded_not_raised():
    model = nn.Linear(4, 3)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    mon = Monitor(model, opt)
    user_loop(mon, model, opt, steps=6, lr_blowup_at=3)
    assert mon.nonfinite_step == 3
    assert math.isnan(mon.measurements.series("train_loss").iloc[3])


def test_monitor_detaches_its_instruments():
    model = nn.Linear(2, 2)
    inst = GlobalGradNorm()
    with Monitor(model, instruments=[inst]):
        assert inst.monitor is not None
    assert inst.monitor is None


@pytest.mark.slow
def test_builtin_loop_stops_cleanly_on_nan(tmp_path):
    from conftest import probe

    result = probe(
        CONFIGS / "quickstart.yaml",
        tmp_path,
        {
            "data.name": "linear",
            "optimizer.name": "sgd",
            "optimizer.lr": 1.0,
            "probe.experiments": [],
        },
    )
    run = result.measurements.fact("run")
    assert run["stopped"] == "nonfinite" and run["steps_done"] == run["nonfinite_step"] + 1
    assert "L101" in {f.rule for f in result.findings}
    assert result.verdict == "unhealthy"
