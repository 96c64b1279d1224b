"""End to end: every example in configs/examples/ for a training-dynamics cause shows that cause,
with only plausible companions; the healthy quickstart stays quiet; a bad learning rate set in
the user's code is diagnosed exactly as the same rate written in the spec."""

from __future__ import annotations

import pytest
from conftest import CONFIGS, EXAMPLES, probe

from nnlearn.rules import Severity

# cause shown -> causes a practitioner would accept beside it
PLAUSIBLE = {
    "vanishing_gradients": {"vanishing_gradients", "saturated_activations", "poor_initialization"},
    "exploding_gradients": {"exploding_gradients", "lr_too_high", "poor_initialization"},
    "dead_units": {"dead_units", "poor_initialization"},
    "saturated_activations": {
        "saturated_activations",
        "poor_initialization",
        "vanishing_gradients",
    },
    "poor_initialization": {"poor_initialization", "vanishing_gradients", "dead_units"},
    "lr_too_high": {"lr_too_high", "exploding_gradients", "dead_units"},
    "lr_too_low": {"lr_too_low"},
}


def flagged(result) -> list:
    return [f for f in result.findings if f.severity in (Severity.ERROR, Severity.WARNING)]


@pytest.mark.slow
@pytest.mark.parametrize("cause", sorted(PLAUSIBLE))
def test_example_shows_its_cause(cause):
    result = probe(EXAMPLES / f"{cause}.yaml")
    found = {f.cause.value for f in flagged(result)}
    assert cause in found, [(f.rule, f.cause.value, f.message) for f in result.findings]
    assert found <= PLAUSIBLE[cause], [(f.rule, f.cause.value) for f in flagged(result)]


@pytest.mark.slow
def test_quickstart_is_quiet():
    result = probe(CONFIGS / "quickstart.yaml", sets={"probe.experiments": ["init_check"]})
    assert flagged(result) == [], [(f.rule, f.message) for f in result.findings]


HEALTHY_VARIANTS = {
    "tanh": {"model.activation": "tanh"},
    "sigmoid": {"model.activation": "sigmoid"},
    "batchnorm-xavier": {"model.batchnorm": True, "model.init": "xavier"},
    "sgd-momentum": {"optimizer.name": "sgd", "optimizer.lr": 0.1, "optimizer.momentum": 0.9},
    "cnn-images": {"data.name": "images", "model.kind": "cnn", "model.hidden": [16, 32]},
}


@pytest.mark.slow
@pytest.mark.parametrize("variant", sorted(HEALTHY_VARIANTS))
def test_healthy_variants_are_quiet(variant):
    sets = {"probe.steps": 300, "probe.experiments": ["init_check"], **HEALTHY_VARIANTS[variant]}
    result = probe(CONFIGS / "quickstart.yaml", sets=sets)
    assert flagged(result) == [], [(f.rule, f.message) for f in result.findings]


@pytest.mark.slow
def test_symmetric_init_is_poor_initialization():
    result = probe(
        CONFIGS / "quickstart.yaml",
        sets={"model.init": "zeros", "probe.steps": 100, "probe.experiments": ["init_check"]},
    )
    by_rule = {f.rule: f.cause.value for f in flagged(result)}
    assert by_rule.get("I602") == "poor_initialization"
    assert set(by_rule.values()) == {"poor_initialization"}


@pytest.mark.slow
def test_learning_rate_in_code_is_diagnosed_like_the_same_rate_in_yaml():
    in_yaml = probe(EXAMPLES / "lr_too_high.yaml")
    in_code = probe(EXAMPLES / "lr_too_high_in_code.yaml")

    def diagnosis(result):
        return [(f.rule, f.cause.value, f.severity.value, f.message) for f in result.findings]

    assert diagnosis(in_code) == diagnosis(in_yaml)
    assert any(f.rule == "U201" for f in in_code.findings)
