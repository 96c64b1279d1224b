"""The instruments against brute-force references, on models a user might write (functional
activations, in-place ReLU), and their hygiene: values leave torch, hooks go away."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nnlearn.monitor import ALWAYS, Monitor, Schedule
from nnlearn.monitor.instruments import (
    ActivationStats,
    LayerGradNorm,
    UpdateRatio,
    WeightSymmetry,
    default_instruments,
)


class Functional(nn.Module):
    """Activations called in forward, one ReLU in place, one sigmoid: no activation modules."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(4, 16), nn.Linear(16, 16), nn.Linear(16, 3)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        h1 = self.relu(self.fc1(x))
        h2 = torch.sigmoid(self.fc2(h1))
        return self.fc3(h2)


def one_step(model, instruments, optimizer=None, x=None):
    torch.manual_seed(0)
    x = torch.randn(32, 4) if x is None else x
    y = torch.randint(0, 3, (32,))
    optimizer = optimizer or torch.optim.SGD(model.parameters(), lr=0.1)
    with Monitor(model, optimizer, instruments=instruments) as mon:
        mon.step_begin(0)
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        mon.after_backward()
        optimizer.step()
        mon.after_update(loss)
    return mon.measurements


def value(m, name, layer):
    s = m.series(name, layer=layer)
    assert len(s) == 1, (name, layer)
    return float(s.iloc[0])


def test_layer_grad_norm_matches_autograd():
    torch.manual_seed(0)
    model = Functional()
    reference = Functional()
    reference.load_state_dict(model.state_dict())
    m = one_step(model, [LayerGradNorm(ALWAYS)])
    torch.manual_seed(0)
    x, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
    F.cross_entropy(reference(x), y).backward()
    for name in ("fc1", "fc2", "fc3"):
        layer = getattr(reference, name)
        expected = torch.cat([layer.weight.grad.flatten(), layer.bias.grad.flatten()]).norm()
        assert value(m, "layer_grad_norm", name) == pytest.approx(float(expected), rel=1e-5)


def test_update_ratio_matches_the_weights_before_and_after():
    torch.manual_seed(0)
    model = Functional()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    m = one_step(model, [UpdateRatio(ALWAYS)])
    for name in ("fc1", "fc2", "fc3"):
        old = torch.cat([before[f"{name}.weight"].flatten(), before[f"{name}.bias"].flatten()])
        layer = getattr(model, name)
        new = torch.cat([layer.weight.detach().flatten(), layer.bias.detach().flatten()])
        expected = float((new - old).norm() / old.norm())
        assert value(m, "update_ratio", name) == pytest.approx(expected, rel=1e-5)


def test_activation_stats_with_functional_and_inplace_activations():
    torch.manual_seed(0)
    model = Functional()
    with torch.no_grad():
        model.fc1.bias[:8] = -100.0  # half of fc1's units can never be positive: dead
    x = torch.randn(32, 4)
    m = one_step(model, [ActivationStats(ALWAYS)], x=x)
    assert value(m, "dead_frac", "fc2") == pytest.approx(0.5)
    # fc3 reads sigmoid outputs: bounded in [0, 1], so saturation is measured there
    torch.manual_seed(0)
    h2 = torch.sigmoid(model.fc2(F.relu(model.fc1(x))))
    expected = float(((h2 < 0.01) | (h2 > 0.99)).float().mean())
    assert value(m, "saturated_frac", "fc3") == pytest.approx(expected, abs=0.05)
    # ReLU outputs are unbounded: no saturation, and the model's input is not an activation
    assert m.series("saturated_frac", layer="fc2").empty
    assert m.series("dead_frac", layer="fc1").empty


@pytest.mark.parametrize("case", ["functional", "conv", "nan"])
def test_activation_stats_are_the_same_from_the_c_helper_and_from_torch(case, monkeypatch):
    """On a CPU the statistics of small layers come from the C helper's one pass; they match
    torch's reductions, sigmoid saturation, conv channels and a NaN included."""
    import nnlearn.monitor.instruments.activations as activations

    if activations._native is None:
        pytest.skip("no C helper built")

    def measured():
        torch.manual_seed(0)
        if case == "conv":
            model = nn.Sequential(
                nn.Conv2d(2, 6, 3, padding=1),
                nn.ReLU(),
                nn.Conv2d(6, 4, 3),
                nn.Sigmoid(),
                nn.Flatten(),
                nn.Linear(64, 3),
            )
            x = torch.randn(32, 2, 6, 6)
        else:
            model, x = Functional(), torch.randn(32, 4)
            if case == "nan":
                with torch.no_grad():
                    model.fc1.weight[0, 0] = float("nan")
        m = one_step(model, [ActivationStats(ALWAYS)], x=x)
        return m.metrics.sort_values(["name", "layer"]).reset_index(drop=True)

    helper, answered = activations._native, []

    class Spy:  # the helper, counting the layers it answered
        def activation_stats(self, *args):
            row = helper.activation_stats(*args)
            answered.append(row is not None)
            return row

    monkeypatch.setattr(activations, "_native", Spy())
    native = measured()
    assert answered and all(answered)
    monkeypatch.setattr(activations, "_native", None)
    reference = measured()
    assert len(native) == len(reference) > 0
    assert list(native["name"]) == list(reference["name"])
    assert list(native["layer"]) == list(reference["layer"])
    assert native["value"].to_numpy() == pytest.approx(
        reference["value"].to_numpy(), rel=1e-5, abs=1e-7, nan_ok=True
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_layer_norms_and_update_ratios_are_the_same_from_the_c_helper_and_from_torch(
    dtype, monkeypatch
):
    """On a CPU the per-layer gradient norms and update ratios of a small model come from the
    C helper (one call per sum); they match torch's fused norms, with a tied weight and a
    parameter without a gradient among them."""
    import nnlearn.monitor.instruments.base as base

    if base._native is None:
        pytest.skip("no C helper built")

    def measured():
        torch.manual_seed(0)
        model = Functional().to(dtype)
        model.fc3.bias.requires_grad_(False)
        extra = nn.Linear(4, 4).to(dtype)  # never used: its gradient stays None
        model.unused = extra
        instruments = [LayerGradNorm(ALWAYS), UpdateRatio(ALWAYS)]
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
        m = one_step(model, instruments, optimizer=optimizer, x=torch.randn(32, 4, dtype=dtype))
        return m.metrics.sort_values(["name", "layer"]).reset_index(drop=True), instruments

    helper, calls = base._native, []

    class Spy:  # the helper, recording what it answered
        def __getattr__(self, name):
            def call(*args):
                out = getattr(helper, name)(*args)
                calls.append((name, out is not None))
                return out

            return call

    monkeypatch.setattr(base, "_native", Spy())
    native, instruments = measured()
    assert {name for name, _ in calls} == {"sumsq_each", "snapshot", "diffsq"}
    assert all(answered for _, answered in calls)
    monkeypatch.setattr(base, "_native", None)
    reference, _ = measured()
    assert {"layer_grad_norm", "update_ratio"} <= set(native["name"])
    assert list(native["name"]) == list(reference["name"])
    assert list(native["layer"]) == list(reference["layer"])
    assert native["value"].to_numpy() == pytest.approx(reference["value"].to_numpy(), rel=1e-5)


def test_update_ratio_skips_a_step_whose_parameter_changed_under_the_helper():
    """A parameter swapped for one the helper cannot read between its copy and the difference
    (here: moved to float16 by `.data`) gives no update ratio for that step, not a wrong one
    or a read past its memory."""
    import nnlearn.monitor.instruments.base as base

    if base._native is None:
        pytest.skip("no C helper built")
    torch.manual_seed(0)
    model = Functional()

    class Swap(torch.optim.SGD):
        def step(self, closure=None):
            model.fc1.weight.data = model.fc1.weight.data.half()

    m = one_step(model, [UpdateRatio(ALWAYS)], optimizer=Swap(model.parameters(), lr=0.1))
    assert "update_ratio" not in set(m.metrics["name"])
    assert m.series("train_loss").notna().all()


def test_saturation_is_found_where_tanh_saturates():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(4, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 3)
    )
    nn.init.normal_(model[2].weight, 0.0, 2.0)
    m = one_step(model, [ActivationStats(ALWAYS)])
    assert value(m, "saturated_frac", "4") > 0.5
    assert value(m, "saturated_frac", "2") < 0.5


def test_weight_symmetry():
    model = Functional()
    nn.init.zeros_(model.fc2.weight)
    nn.init.zeros_(model.fc2.bias)
    m = one_step(model, [WeightSymmetry()])
    assert value(m, "weight_row_spread", "fc2") == 0.0
    assert value(m, "weight_row_spread", "fc1") > 0.5


def test_hooks_exist_only_on_sampled_steps_and_are_gone_after():
    model = Functional()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    hooks = lambda: sum(len(mod._forward_pre_hooks) for mod in model.modules())  # noqa: E731
    with Monitor(
        model, optimizer, instruments=[ActivationStats(Schedule(every=5, first=1))]
    ) as mon:
        for step in range(7):
            mon.step_begin(step)
            assert hooks() == (4 if step in (0, 5) else 0)  # model input + three layers
            loss = model(torch.randn(8, 4)).square().mean()
            optimizer.zero_grad()
            loss.backward()
            mon.after_backward()
            optimizer.step()
            mon.after_update(loss)
            assert hooks() == 0
        mon.step_begin(10)  # a probe stopped mid-step still leaves no hook behind
    assert hooks() == 0
    assert sorted(set(mon.measurements.metrics["step"])) == list(range(7))


def test_every_value_leaves_torch():
    model = Functional()
    m = one_step(model, default_instruments())
    names = set(m.metrics["name"])
    assert {"grad_norm", "layer_grad_norm", "update_ratio", "act_rms", "dead_frac"} <= names
    assert all(type(v) is float for v in m.metrics["value"].tolist())
    assert not any(isinstance(v, torch.Tensor) for row in m.metrics.itertuples() for v in row)


def test_dead_channels_of_a_conv_net_with_inplace_relu():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(8, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(inplace=True),
        nn.Flatten(),
        nn.Linear(8 * 6 * 6, 3),
    )
    with torch.no_grad():
        model[0].bias[:2] = -100.0  # two of eight channels can never be positive
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    with Monitor(model, optimizer, instruments=[ActivationStats(ALWAYS)]) as mon:
        mon.step_begin(0)
        loss = F.cross_entropy(model(torch.randn(16, 3, 6, 6)), torch.randint(0, 3, (16,)))
        optimizer.zero_grad()
        loss.backward()
        mon.after_backward()
        optimizer.step()
        mon.after_update(loss)
    assert value(mon.measurements, "dead_frac", "2") == pytest.approx(2 / 8)  # per channel
    assert value(mon.measurements, "dead_frac", "3") == 0.0  # conv output, before ReLU
