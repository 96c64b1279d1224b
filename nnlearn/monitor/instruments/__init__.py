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
    """Cheapest first. Gradients, updates and activations per layer on the monitor's sampled
    steps (the first three, ~24 spread over the run, and densely after a jump of the
    every-step gradient norm: `monitor.schedule.Sampler`); weight symmetry on the first step
    only. The global `grad_norm` and `train_loss` are the monitor's own, every step."""
    return [LayerGradNorm(), UpdateRatio(), ActivationStats(), WeightSymmetry()]
