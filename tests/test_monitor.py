"""The measuring layer on a user's own loop, and the builtin loop's NaN handling."""

import math

import pytest
import torch
from conftest import CONFIGS
from torch import nn

from nnlearn.monitor import Monitor, Sampler, Schedule
from nnlearn.monitor.instruments import GlobalGradNorm, LayerGradNorm
from nnlearn.monitor.monitor import CPU_READ_EVERY


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


def test_an_own_schedule_counts_again_when_the_step_numbers_go_back():
    """A loop resumed from an earlier checkpoint numbers steps it has numbered before: the
    instrument on its own schedule measures steps 20 and 40 again, as its schedule says (they
    are not among the monitor's own sampled steps)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    mon = Monitor(model, opt, instruments=[LayerGradNorm(Schedule(every=20, first=0))])
    measured = []
    original = mon.instruments[0].on_backward
    mon.instruments[0].on_backward = lambda step: (measured.append(step), original(step))
    x, y = torch.randn(16, 4), torch.randint(0, 3, (16,))
    for step in [*range(45), *range(15, 45)]:
        mon.step_begin(step)
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        mon.after_backward()
        opt.step()
        mon.after_update(0.0)
    assert measured == [0, 20, 40, 20, 40]


@pytest.mark.parametrize("every,first", [(5, 2), (1, 0), (3, 0), (7, 9)])
def test_schedule_next_due_is_the_next_step_it_picks(every, first):
    schedule = Schedule(every=every, first=first)
    for step in range(40):
        assert schedule.next_due(step) == next(
            s for s in range(step, step + every + 1) if schedule(s)
        )


def test_a_first_step_only_schedule_is_next_due_never_in_practice():
    once = Schedule(every=2**62, first=1)
    assert once.next_due(0) == 0 and once.next_due(1) == 2**62


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


class TinyLM(nn.Module):
    def __init__(self, vocab=16, width=32):
        super().__init__()
        self.emb = nn.Embedding(vocab, width)
        self.lstm = nn.LSTM(width, width, batch_first=True)
        self.head = nn.Linear(width, vocab)

    def forward(self, x):
        return self.head(self.lstm(self.emb(x))[0])


def lstm_burst_run(planned_steps=2000, steps=60, vocab=16):
    """An LSTM language model trained without clipping, loss summed over time (per-sequence
    LM training). Between steps 13 and 45 the batches are 300-token runs of one token instead
    of 10 random tokens: the gradient norm bursts ~130x there and settles after."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    model = TinyLM(vocab)
    opt = torch.optim.SGD(model.parameters(), lr=3e-4)
    mon = Monitor(model, opt, planned_steps=planned_steps)
    with mon:
        for step in range(steps):
            if 13 <= step <= 45:
                seq = torch.randint(0, vocab, (4, 1), generator=gen).repeat(1, 301)
            else:
                seq = torch.randint(0, vocab, (4, 11), generator=gen)
            x, y = seq[:, :-1], seq[:, 1:]
            mon.step_begin(step)
            logits = model(x)
            loss = nn.functional.cross_entropy(
                logits.reshape(-1, vocab), y.reshape(-1), reduction="sum"
            ) / len(x)
            opt.zero_grad()
            loss.backward()
            mon.after_backward()
            opt.step()
            mon.after_update(loss)
    return mon.measurements


def test_lstm_burst_shows_in_every_step_series_and_dense_samples_cover_it():
    m = lstm_burst_run()
    grad = m.series("grad_norm")
    assert list(grad.index) == list(range(60))
    inside, outside = grad.loc[13:45], grad.drop(range(13, 46))
    assert inside.median() > 50 * outside.median()
    # the jump is flagged where it starts, and read at most CPU_READ_EVERY steps late
    jumps = m.series("grad_norm_jump")
    assert list(jumps.index) == [13] and jumps[13] > 50  # one jump: the burst's steps extend it
    sampled = set(m.layers("layer_grad_norm").index)
    burst = set(range(13, 46))
    # the regular schedule of a 2000-step run samples step 83 next: every sample in the burst
    # was triggered, and they cover it from at most CPU_READ_EVERY steps after its start to
    # its end
    assert min(sampled & burst) <= 13 + CPU_READ_EVERY and max(sampled & burst) == 45
    assert sampled & burst == set(range(min(sampled & burst), 46))  # every step, once begun
    triggered = m.series("sample_triggered")
    assert set(triggered[triggered == 1].index) == sampled - {0, 1, 2}
    # per-layer medians are judged on the regular samples, not on the burst
    from nnlearn.rules.evidence import layer_medians

    regular = m.layers("layer_grad_norm").loc[[0, 1, 2]].median()
    assert layer_medians(m, "layer_grad_norm").to_dict() == pytest.approx(regular.to_dict())


def test_batched_reads_give_the_same_series_and_a_late_nan_stop():
    """The accelerator path (values kept as tensors, read every `read_every` steps) on CPU."""
    torch.manual_seed(1)
    a, b = nn.Linear(4, 3), nn.Linear(4, 3)
    b.load_state_dict(a.state_dict())
    ref = Monitor(a, torch.optim.SGD(a.parameters(), lr=0.1), instruments=[])
    batched = Monitor(b, torch.optim.SGD(b.parameters(), lr=0.1), instruments=[])
    batched._read_loss_now, batched.read_every = False, 8
    user_loop(ref, a, ref.optimizer, steps=20, lr_blowup_at=10)
    returned = []
    with batched:
        torch.manual_seed(0)
        x, y = torch.randn(64, 4), torch.randint(0, 3, (64,))
        for step in range(20):
            batched.step_begin(step)
            loss = nn.functional.cross_entropy(b(x), y)
            if step >= 10:
                loss = loss * float("nan")
            batched.optimizer.zero_grad()
            loss.backward()
            batched.after_backward()
            batched.optimizer.step()
            returned.append(batched.after_update(loss))
    for name in ("train_loss", "grad_norm"):
        s, r = batched.measurements.series(name), ref.measurements.series(name)
        assert list(s.index) == list(r.index)
        assert s.to_numpy() == pytest.approx(r.to_numpy(), nan_ok=True)
    assert batched.nonfinite_step == ref.nonfinite_step == 10
    first_nan = next(i for i, v in enumerate(returned) if not math.isfinite(v))
    assert 10 <= first_nan < 10 + 8  # the NaN stop comes up to read_every - 1 steps late


@pytest.mark.parametrize("planned", [50, 500, 2000, 100_000, None])
def test_regular_schedule_gives_at_least_twenty_samples(planned):
    sampler = Sampler(planned)
    length = planned or 1000  # unknown length: a 1000-step user loop
    sampled = [s for s in range(length) if sampler.due(s)]
    assert sampled[:3] == [0, 1, 2]
    assert 20 <= len(sampled) <= 40
    assert sampler.triggered == 0


def test_healthy_minibatch_noise_triggers_nothing_a_jump_does():
    gen = torch.Generator().manual_seed(0)
    noise = (torch.randn(2000, generator=gen) * 0.3).exp().tolist()  # log-normal, sd 0.3
    sampler = Sampler(2000)
    for start in range(0, 2000, 8):
        sampler.observe(list(range(start, start + 8)), noise[start : start + 8], start + 7)
    assert sampler.jumps == []
    sampler.observe([2000], [noise[0] * 20], 2000)
    assert [s for s, _ in sampler.jumps] == [2000] and sampler.dense(2001)


@pytest.mark.parametrize("planned", [300, None])
def test_steps_known_unsampled_are_the_steps_the_sampler_would_not_pick(planned):
    """`step_begin` does not ask the sampler about the steps it cannot pick until the next read
    of the signal: the steps sampled are the ones a sampler asked every step picks, fed the
    same norms at the same reads, with a jump (dense sampling) and an instrument on a
    schedule of its own in the run."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    own = LayerGradNorm(Schedule(every=7, first=1))
    own.name = "own_schedule"
    mon = Monitor(model, opt, instruments=[LayerGradNorm(), own], planned_steps=planned)
    x, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
    with mon:
        for step in range(300):
            mon.step_begin(step)
            loss = nn.functional.cross_entropy(model(x), y) * (100.0 if 150 <= step < 160 else 1)
            opt.zero_grad()
            loss.backward()
            mon.after_backward()
            opt.step()
            mon.after_update(loss)
    m = mon.measurements
    norms = m.series("grad_norm")
    reference, picked = Sampler(planned), []
    for step in range(300):
        if reference.due(step):
            picked.append(step)
        if (step + 1) % CPU_READ_EVERY == 0:
            steps = list(range(step + 1 - CPU_READ_EVERY, step + 1))
            reference.observe(steps, norms.loc[steps].tolist(), step)
    assert reference.jumps and reference.triggered > 0  # the burst sampled densely
    assert list(m.layers("layer_grad_norm").index) == picked
    assert list(m.layers("own_schedule").index) == [0, *range(7, 300, 7)]
