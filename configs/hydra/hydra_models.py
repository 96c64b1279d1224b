"""User code for configs/hydra/*.yaml: a model assembled from nested `_target_` blocks."""

from __future__ import annotations

from torch import nn


def mlp(in_features: int, width: int, depth: int = 2, activation: nn.Module | None = None):
    """A body of `depth` Linear layers, each followed by `activation` (a module built by the
    spec's nested `_target_`)."""
    layers, d = [], in_features
    for _ in range(depth):
        layers += [nn.Linear(d, width), activation if activation is not None else nn.ReLU()]
        d = width
    return nn.Sequential(*layers)


class Classifier(nn.Module):
    """A body (any module, built by the spec) and a linear head sized by nnlearn."""

    def __init__(self, body: nn.Module, width: int, out_features: int):
        super().__init__()
        self.body = body
        self.head = nn.Linear(width, out_features)

    def forward(self, x):
        return self.head(self.body(x))
