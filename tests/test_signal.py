"""The every-step gradient norm on a CPU. The C helper (`nnlearn/monitor/_native.c`) gives the
norms `clip_grad_norm_` reports and hands any gradient that is not a dense float block to
torch. Without it (no compiler at install), kept gradients read in batches give the same norms,
and loops that change their gradients after `after_backward` get immediate norms instead of
wrong ones."""

import shutil
import sysconfig

import pytest
import torch
from torch import nn

import nnlearn.monitor.signal as signal_module
from nnlearn.monitor import Monitor


@pytest.fixture
def torch_route(monkeypatch):
    """The signal as on an install without the C helper."""
    monkeypatch.setattr(signal_module, "_native", None)


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


def test_kept_gradients_give_clip_grad_norms_on_every_step(torch_route):
    mon, expected = run()
    assert mon.signal.defer  # the small model's gradients were kept and read in batches
    got = mon.measurements.series("grad_norm")
    assert list(got.index) == list(range(70))
    assert got.to_numpy() == pytest.approx([expected[s] for s in range(70)], rel=1e-5)


def test_a_loop_zeroing_in_place_gets_immediate_norms(torch_route):
    mon, expected = run(set_to_none=False)
    assert not mon.signal.defer and mon.signal.dropped == 0
    got = mon.measurements.series("grad_norm")
    assert got.to_numpy() == pytest.approx([expected[s] for s in range(70)], rel=1e-5)


def test_a_loop_clipping_from_the_start_keeps_the_norm_before_clipping(torch_route):
    mon, expected = run(clip_from=0)
    assert not mon.signal.defer and mon.signal.dropped == 0
    got = mon.measurements.series("grad_norm")
    assert got.to_numpy() == pytest.approx([expected[s] for s in range(70)], rel=1e-5)


def test_clipping_that_starts_later_drops_steps_rather_than_record_them_wrong(torch_route):
    mon, expected = run(clip_from=20)
    got = mon.measurements.series("grad_norm")
    assert not mon.signal.defer and mon.signal.dropped > 0
    assert len(got) == 70 - mon.signal.dropped
    for step, value in got.items():  # what is recorded is the norm before clipping
        assert value == pytest.approx(expected[step], rel=1e-5)


def test_parameters_without_gradients_and_sampled_steps_mix(torch_route):
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


def test_kept_gradients_of_layers_sharing_a_shape_are_read_together_exactly(torch_route):
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


def test_the_helper_is_built_where_a_compiler_is():
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        pytest.skip(f"no C compiler ({compiler}): the install skips the helper")
    assert signal_module._native is not None, "make install should have built _native.c"


needs_helper = pytest.mark.skipif(signal_module._native is None, reason="no C helper built")


@needs_helper
@pytest.mark.parametrize(
    "loop",
    [{}, {"set_to_none": False}, {"clip_from": 0}, {"clip_from": 20}, {"sampled_every": 5}],
    ids=["plain", "zeroed-in-place", "clipped", "clipped-later", "sampled"],
)
def test_the_helper_gives_the_norm_before_clipping_on_every_step(loop):
    mon, expected = run(**loop)
    assert mon.signal.native
    got = mon.measurements.series("grad_norm")
    assert list(got.index) == list(range(70))  # nothing dropped, whatever the loop does
    assert got.to_numpy() == pytest.approx([expected[s] for s in range(70)], rel=1e-6)


class Mixed(nn.Module):
    """A sparse embedding, a layer whose gradient is strided, and an unused layer."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(20, 8, sparse=True)
        self.head = nn.Linear(8, 3)
        self.unused = nn.Linear(3, 3)

    def forward(self, ids):
        return self.head(self.embed(ids).mean(1))


def total_norm(model: nn.Module) -> float:
    squares = 0.0
    for p in model.parameters():
        if p.grad is not None:
            g = p.grad.coalesce().values() if p.grad.is_sparse else p.grad
            squares += float(g.double().square().sum())
    return squares**0.5


def train_mixed(strided: bool = False):
    """`Mixed` trained 40 steps; the monitor and the norm of every step computed by hand."""
    torch.manual_seed(0)
    model = Mixed()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    mon = Monitor(model, opt, instruments=[])
    expected = []
    with mon:
        for step in range(40):
            mon.step_begin(step)
            opt.zero_grad()
            ids = torch.randint(0, 20, (16, 5))
            nn.functional.cross_entropy(model(ids), torch.randint(0, 3, (16,))).backward()
            if strided:  # the same values, laid out column-first
                g = model.embed.weight.grad.to_dense()
                model.embed.weight.grad = g.t().contiguous().t()
                assert not model.embed.weight.grad.is_contiguous()
            expected.append(total_norm(model))
            mon.after_backward()
            opt.step()
            mon.after_update(0.0)
    return mon, expected


@needs_helper
@pytest.mark.parametrize("strided", [False, True])
def test_gradients_that_are_not_dense_blocks_take_torch_route(strided):
    mon, expected = train_mixed(strided)
    assert mon.signal.native
    got = mon.measurements.series("grad_norm")
    assert list(got.index) == list(range(40))
    assert got.to_numpy() == pytest.approx(expected, rel=1e-5)


def test_a_sparse_embedding_without_the_helper(torch_route):
    mon, expected = train_mixed()
    assert not mon.signal.native
    assert not mon.signal.defer  # sparse gradients are not kept for a joined read
    got = mon.measurements.series("grad_norm")
    assert list(got.index) == list(range(40))
    assert got.to_numpy() == pytest.approx(expected, rel=1e-5)


class Wrapped(torch.Tensor):
    """A tensor subclass, as frameworks wrap gradients (DTensor and the like): never read raw."""


@needs_helper
def test_the_helper_leaves_tensor_subclasses_to_torch():
    param = nn.Parameter(torch.zeros(3, 4))
    param.grad = torch.ones(3, 4).as_subclass(Wrapped)
    assert signal_module._native.sumsq([param], torch.Tensor, torch.float32, torch.float64) is None
    param.grad = torch.ones(3, 4)
    assert signal_module._native.sumsq([param], torch.Tensor, torch.float32, torch.float64) == 12


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_models_of_other_dtypes_get_their_norms(dtype):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3)).to(dtype)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    mon = Monitor(model, opt, instruments=[])
    assert mon.signal.native == (dtype == torch.float64 and signal_module._native is not None)
    expected = []
    with mon:
        for step in range(40):
            mon.step_begin(step)
            opt.zero_grad()
            x = torch.randn(32, 6, dtype=dtype)
            model(x).float().pow(2).mean().backward()
            expected.append(total_norm(model))
            mon.after_backward()
            opt.step()
            mon.after_update(0.0)
    got = mon.measurements.series("grad_norm")
    assert got.to_numpy() == pytest.approx(expected, rel=1e-2 if dtype == torch.bfloat16 else 1e-9)
