"""The every-step gradient norm on a CPU: kept gradients read in batches give the norms
`clip_grad_norm_` reports, and loops that change their gradients after `after_backward` get
immediate norms instead of wrong ones."""

import pytest
import torch
from torch import nn

from nnlearn.monitor import Monitor


def run(steps=70, *, set_to_none=True, clip_from=None, sampled_every=None, bias=True):
    """A small model trained `steps` steps; returns the monitor and, per step, the gradient
    norm before any clipping computed by hand."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16, bias=bias), nn.Tanh(), nn.Linear(16, 3, bias=bias))
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    planned = None if sampled_every is None else 3 + 24 * sampled_every
    mon = Monitor(model, opt, instruments=[], planned_steps=planned)
    expected = {}
    with mon:
        for step in range(steps):
            mon.step_begin(step)
            x, y = torch.randn(32, 6), torch.randint(0, 3, (32,))
            opt.zero_grad(set_to_none=set_to_none)
            nn.functional.cross_entropy(model(x), y).backward()
            grads = [p.grad for p in model.parameters()]
            expected[step] = float(
                torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
            )
            mon.after_backward()
            if clip_from is not None and step >= clip_from:
                nn.utils.clip_grad_norm_(model.parameters(), 1e-3)
            opt.step()
            mon.after_update(0.0)
    return mon, expected


def test_kept_gradients_give_clip_grad_norms_on_every_step():
    mon, expected = run()
    assert mon.signal.defer  # the small model's gradients were kept and read in batches
    got = mon.measurements.series("grad_norm")
    assert list(got.index) == list(range(70))
    assert got.to_numpy() == pytest.approx([expected[s] for s in range(70)], rel=1e-5)


def test_a_loop_zeroing_in_place_gets_immediate_norms():
    mon, expected = run(set_to_none=False)
    assert not mon.signal.defer and mon.signal.dropped == 0
    got = mon.measurements.series("grad_norm")
    assert got.to_numpy() == pytest.approx([expected[s] for s in range(70)], rel=1e-5)


def test_a_loop_clipping_from_the_start_keeps_the_norm_before_clipping():
    mon, expected = run(clip_from=0)
    assert not mon.signal.defer and mon.signal.dropped == 0
    got = mon.measurements.series("grad_norm")
    assert got.to_numpy() == pytest.approx([expected[s] for s in range(70)], rel=1e-5)


def test_clipping_that_starts_later_drops_steps_rather_than_record_them_wrong():
    mon, expected = run(clip_from=20)
    got = mon.measurements.series("grad_norm")
    assert not mon.signal.defer and mon.signal.dropped > 0
    assert len(got) == 70 - mon.signal.dropped
    for step, value in got.items():  # what is recorded is the norm before clipping
        assert value == pytest.approx(expected[step], rel=1e-5)


def test_parameters_without_gradients_and_sampled_steps_mix():
    torch.manual_seed(0)
    model = nn.ModuleDict({"used": nn.Linear(4, 3), "unused": nn.Linear(4, 3)})
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    mon = Monitor(model, opt, instruments=[], planned_steps=3 + 24 * 5)
    expected = []
    with mon:
        for step in range(40):
            mon.step_begin(step)
            opt.zero_grad()
            model["used"](torch.randn(8, 4)).pow(2).mean().backward()
            expected.append(
                float(nn.utils.get_total_norm([p.grad for p in model["used"].parameters()]))
            )
            mon.after_backward()
            opt.step()
            mon.after_update(0.0)
    got = mon.measurements.series("grad_norm")
    assert mon.signal.defer  # kept, with None for the unused layer's parameters
    assert list(got.index) == list(range(40))
    assert got.to_numpy() == pytest.approx(expected, rel=1e-5)


def test_kept_gradients_of_layers_sharing_a_shape_are_read_together_exactly():
    """Weights whose shapes agree but for the first dimension (and all biases) are joined into
    one tensor per shape when a batch is read; a convolution's 4-d weight among them."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1),
        nn.Conv2d(4, 4, 3, padding=1),
        nn.Flatten(),
        nn.Linear(64, 8),
        nn.Tanh(),
        nn.Linear(8, 8),
        nn.Tanh(),
        nn.Linear(8, 3),
    )
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    mon = Monitor(model, opt, instruments=[])
    assert len(mon.signal._joins) < len(mon.signal.parameters)
    expected = []
    with mon:
        for step in range(40):
            mon.step_begin(step)
            opt.zero_grad()
            x, y = torch.randn(8, 2, 4, 4), torch.randint(0, 3, (8,))
            nn.functional.cross_entropy(model(x), y).backward()
            expected.append(float(nn.utils.get_total_norm([p.grad for p in model.parameters()])))
            mon.after_backward()
            opt.step()
            mon.after_update(0.0)
    assert mon.signal.defer
    got = mon.measurements.series("grad_norm")
    assert list(got.index) == list(range(40))
    assert got.to_numpy() == pytest.approx(expected, rel=1e-5)
