"""Builtin models: an MLP for vectors, a small CNN for image tensors (N, C, H, W)."""

from __future__ import annotations

import math

import torch
from torch import nn

_ACTIVATIONS = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "elu": nn.ELU,
    "silu": nn.SiLU,
}


class MLP(nn.Module):
    """Linear layers with an activation between them; `net.0` is the first layer."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden: list[int],
        activation: str = "relu",
        dropout: float = 0.0,
        batchnorm: bool = False,
        squeeze: bool = False,
    ):
        super().__init__()
        layers: list[nn.Module] = []
        width = in_features
        for h in hidden:
            layers.append(nn.Linear(width, h))
            if batchnorm:
                layers.append(nn.BatchNorm1d(h))
            layers.append(_ACTIVATIONS[activation]())
            if dropout:
                layers.append(nn.Dropout(dropout))
            width = h
        layers.append(nn.Linear(width, out_features))
        self.net = nn.Sequential(*layers)
        self.squeeze = squeeze  # a 1-D target gets a 1-D output, not (N, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x.flatten(1))
        return out.squeeze(-1) if self.squeeze else out


class CNN(nn.Module):
    """3x3 conv blocks (conv, [batchnorm], activation, 2x2 max-pool), global average pool, linear."""

    def __init__(
        self,
        in_channels: int,
        out_features: int,
        hidden: list[int],
        activation: str = "relu",
        dropout: float = 0.0,
        batchnorm: bool = False,
        squeeze: bool = False,
    ):
        super().__init__()
        layers: list[nn.Module] = []
        width = in_channels
        for h in hidden:
            layers.append(nn.Conv2d(width, h, 3, padding=1))
            if batchnorm:
                layers.append(nn.BatchNorm2d(h))
            layers += [_ACTIVATIONS[activation](), nn.MaxPool2d(2, ceil_mode=True)]
            width = h
        self.features = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        self.head = nn.Linear(width, out_features)
        self.squeeze = squeeze

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x).mean(dim=(2, 3))
        out = self.head(self.dropout(h))
        return out.squeeze(-1) if self.squeeze else out


def initialize(model: nn.Module, scheme: str, std: float, activation: str) -> None:
    """Re-initialise every Linear/Conv weight; biases to zero (except `default`, torch's own)."""
    if scheme == "default":
        return
    gain_name = activation if activation in ("relu", "leaky_relu", "tanh", "sigmoid") else "relu"
    for module in model.modules():
        if not isinstance(module, (nn.Linear, nn.Conv2d)):
            continue
        w = module.weight
        if scheme == "xavier":
            nn.init.xavier_uniform_(w, gain=nn.init.calculate_gain(gain_name))
        elif scheme == "kaiming":
            nonlinearity = "leaky_relu" if activation == "leaky_relu" else "relu"
            nn.init.kaiming_normal_(w, nonlinearity=nonlinearity)
        elif scheme == "normal":
            nn.init.normal_(w, 0.0, std)
        elif scheme == "zeros":
            nn.init.zeros_(w)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


def fan_in(shape: tuple[int, ...]) -> int:
    return math.prod(shape) if shape else 1
