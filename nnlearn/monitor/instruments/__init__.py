"""Instruments, and the default set the probe and `nnlearn.Monitor` attach."""

from __future__ import annotations

from nnlearn.monitor.instruments.activations import ActivationStats
from nnlearn.monitor.instruments.base import Instrument, LayerParameters, layers_with_parameters
from nnlearn.monitor.instruments.grad_norm import GlobalGradNorm
from nnlearn.monitor.instruments.layer_grads import LayerGradNorm
from nnlearn.monitor.instruments.update_ratio import UpdateRatio
from nnlearn.monitor.instruments.weights import WeightSymmetry

__all__ = [
    "ActivationStats",
    "GlobalGradNorm",
    "Instrument",
    "LayerGradNorm",
    "LayerParameters",
    "UpdateRatio",
    "WeightSymmetry",
    "default_instruments",
    "layers_with_parameters",
]


def default_instruments() -> list[Instrument]:
    """Cheapest first. Gradients, updates and activations on the first three steps, then on
    every 200th (`bench/overhead.py` measures the total against a bare loop, target 1.03x: a
    sampled step of a tiny MLP costs ~0.5 ms of Python and kernel launches, so sampling is
    sparse); weight symmetry on the first step only. `LayerGradNorm` also logs the global
    `grad_norm`, so `GlobalGradNorm` is not needed beside it."""
    return [LayerGradNorm(), UpdateRatio(), ActivationStats(), WeightSymmetry()]
