"""The accuracy benchmark's cases load, and its scorer counts what it says (the benchmark itself
is slow and not part of the suite: `make bench`)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from nnlearn.spec import load_spec

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.fixture(scope="module")
def acc():
    spec = importlib.util.spec_from_file_location("bench_accuracy", BENCH / "accuracy.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_accuracy"] = module
    spec.loader.exec_module(module)
    return module


def test_every_case_is_a_valid_spec_with_known_causes(acc):
    from nnlearn.rules import Cause

    cases = acc.load_cases()
    assert len(cases) >= 40
    assert sum(c.healthy for c in cases) >= 14
    causes = {c.value for c in Cause}
    covered = set()
    for case in cases:
        load_spec(case.spec)
        assert set(case.expect) <= causes, case.name
        covered |= set(case.expect)
        assert not (case.healthy and case.must_fail), case.name
        assert case.truth in ("auto", "accuracy", "lm"), case.name
        if not case.learns:
            assert case.healthy is False, case.name
    assert causes <= covered  # the benchmark spans the whole cause vocabulary


def _run(acc, healthy, first, findings, exit_code, must_fail=False, agrees=True):
    return acc.Run(
        "c",
        0,
        healthy,
        [] if healthy else ["lr_too_low"],
        must_fail,
        exit_code=exit_code,
        first_cause=first,
        findings=findings,
        truth_agrees=agrees,
    )


def test_scorer_counts_detection_cause_gate_and_healthy_noise(acc):
    runs = [
        _run(acc, False, "lr_too_low", ["E902:warning:lr_too_low"], 0, must_fail=True),
        _run(acc, False, "low_capacity", ["F804:error:low_capacity"], 1, must_fail=True),
        _run(acc, False, None, [], 0),
        _run(acc, True, None, [], 0),
        _run(acc, True, "lr_too_high", ["L104:warning:lr_too_high"], 0),
        _run(acc, True, "dead_units", ["A501:error:dead_units"], 1),
        _run(acc, True, "dead_units", ["A501:error:dead_units"], 1, agrees=False),
    ]
    s = acc.score(runs)
    assert s["detection"] == (2, 3)
    assert s["right_cause_first"] == (1, 3)
    assert s["gate"] == (1, 2)
    assert s["false_alarms"] == (1, 3)
    assert s["healthy_warned"] == (2, 3)
    assert s["truth_disagrees"] == 1


def test_balanced_accuracy_scores_the_majority_guess_at_chance(acc):
    import torch

    target = torch.tensor([0] * 90 + [1] * 10)
    assert acc.balanced_accuracy(torch.zeros(100, dtype=torch.long), target) == 0.5
    assert acc.balanced_accuracy(target.clone(), target) == 1.0
    assert acc.learns(0.95, regression=False, n_classes=2)
    assert not acc.learns(0.6, regression=False, n_classes=2)
    assert not acc.learns(float("nan"), regression=True, n_classes=0)


def test_a_language_model_learns_the_share_of_the_way_from_unigram_to_bigram(acc):
    import torch

    g = torch.Generator().manual_seed(0)
    x = torch.randint(3, 13, (4000,), generator=g)
    y = torch.where(torch.rand(4000, generator=g) < 0.9, (x + 1) % 13, x)  # mostly x + 1
    xv, yv = x[:1000], y[:1000]
    # a loss of 0 is below the bigram floor: a model that reads what it should not
    assert acc.lm_learned_share(0.0, x, y, xv, yv) > 1
    probs = torch.bincount(y, minlength=13).double() + 0.1
    u = float(-(probs / probs.sum()).log()[yv].mean())
    assert acc.lm_learned_share(u, x, y, xv, yv) == pytest.approx(0.0, abs=1e-9)
    assert acc.learns(0.7, regression=False, n_classes=13, truth="lm")
    assert not acc.learns(0.2, regression=False, n_classes=13, truth="lm")


@pytest.mark.slow
@pytest.mark.parametrize(
    "pair",
    [("h_moons_adam", "linear_xor"), ("hs_lstm_lm_adam", "s_lstm_lm_lr_low")],
    ids=["tabular", "language-model"],
)
def test_ground_truth_separates_a_healthy_case_from_a_broken_one(acc, pair):
    sys.path.insert(0, str(BENCH / "cases"))
    cases = {c.name: c for c in acc.load_cases(list(pair))}
    for name, learns in zip(pair, (True, False)):
        run = acc.Run(name, 0, cases[name].healthy, cases[name].expect, cases[name].must_fail)
        acc.add_truth(run, cases[name])
        assert run.truth_learns is learns, (name, run.truth_metric)
