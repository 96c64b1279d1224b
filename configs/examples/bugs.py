"""Models and optimizers with the classic implementation bugs, for the B7xx examples
(`_target_: bugs.<name>`). Each is the quickstart's MLP with one thing wrong."""

from __future__ import annotations

import torch
from torch import nn


def mlp(in_features: int, out_features: int, width: int = 64) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(in_features, width),
        nn.ReLU(),
        nn.Linear(width, width),
        nn.ReLU(),
        nn.Linear(width, out_features),
    )


class DoubleSoftmax(nn.Module):
    """Ends in a softmax, then trained with CrossEntropyLoss, which applies its own."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.net = mlp(in_features, out_features)

    def forward(self, x):
        return torch.softmax(self.net(x), dim=1)


class DoubleSigmoid(nn.Module):
    """Ends in a sigmoid, then trained with BCEWithLogitsLoss, which applies its own."""

    def __init__(self, in_features: int):
        super().__init__()
        self.net = mlp(in_features, 1)

    def forward(self, x):
        return torch.sigmoid(self.net(x)).squeeze(-1)


class Logits(nn.Module):
    """Returns raw logits, trained with BCELoss, which expects probabilities."""

    def __init__(self, in_features: int):
        super().__init__()
        self.net = mlp(in_features, 1)

    def forward(self, x):
        return self.net(x).squeeze(-1)


class ColumnOutput(nn.Module):
    """A regression head returning (N, 1) against (N,) targets: MSE broadcasts to (N, N)."""

    def __init__(self, in_features: int):
        super().__init__()
        self.net = mlp(in_features, 1)

    def forward(self, x):
        return self.net(x)


class DetachedEncoder(nn.Module):
    """The encoder's output is detached (left over from a frozen-feature experiment): the
    encoder never receives a gradient, only the head trains."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(in_features, 64), nn.ReLU())
        self.head = nn.Linear(64, out_features)

    def forward(self, x):
        return self.head(self.encoder(x).detach())


class Frozen(nn.Module):
    """Every parameter frozen (requires_grad=False), e.g. a backbone frozen with no head left
    trainable."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.net = mlp(in_features, out_features)
        for p in self.parameters():
            p.requires_grad_(False)

    def forward(self, x):
        return self.net(x)


class FixedClasses(nn.Module):
    """A classifier with a hard-coded number of outputs (3), whatever the labels are."""

    def __init__(self, in_features: int, classes: int = 3):
        super().__init__()
        self.net = mlp(in_features, classes)

    def forward(self, x):
        return self.net(x)


class LoudHead(nn.Module):
    """The output layer initialised `gain` times too large (a custom init gone wrong): the
    logits at init are large, so the loss starts far above chance."""

    def __init__(self, in_features: int, out_features: int, gain: float = 30.0):
        super().__init__()
        self.net = mlp(in_features, out_features)
        with torch.no_grad():
            self.net[-1].weight.mul_(gain)
            self.net[-1].bias.mul_(gain)

    def forward(self, x):
        return self.net(x)


def without_head(params, lr: float = 3e-3):
    """An optimizer factory that builds Adam over all but the last layer (the head was added
    after the optimizer was written): the head gets gradients and never moves."""
    params = list(params)
    return torch.optim.Adam(params[:-2], lr=lr)


class BoundedHead(nn.Module):
    """The quickstart's MLP with an activation after its last layer (`head`: relu, sigmoid,
    tanh): its outputs cannot leave that activation's range."""

    def __init__(self, in_features: int, out_features: int, head: str = "relu"):
        super().__init__()
        self.net = mlp(in_features, out_features)
        self.head = {"relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh}[head]
        self.squeeze = out_features == 1  # one regression output against (N,) targets

    def forward(self, x):
        out = self.head(self.net(x))
        return out.squeeze(-1) if self.squeeze else out
