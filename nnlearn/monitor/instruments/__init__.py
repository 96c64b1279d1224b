"""Instruments, and the default set the probe and `nnlearn.Monitor` attach."""

from __future__ import annotations

from nnlearn.monitor.instruments.base import Instrument, layers_with_parameters
from nnlearn.monitor.instruments.grad_norm import GlobalGradNorm

__all__ = ["GlobalGradNorm", "Instrument", "default_instruments", "layers_with_parameters"]


def default_instruments() -> list[Instrument]:
    return [GlobalGradNorm()]
