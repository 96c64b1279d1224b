"""Models for the accuracy benchmark's cases (`_target_: acc_models.<Class>`), written the way
the forum posts they come from write them: activations called in `forward`, a softmax left at
the end of a classifier, layers frozen while "fine-tuning", a custom bias initialisation.

Every class takes `in_features` and `n_classes` from nnlearn (the builtin models' convention)
plus its own keyword arguments.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _mlp(sizes: list[int]) -> nn.ModuleList:
    return nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))


class SigmoidClassifier(nn.Module):
    """A binary classifier ending in `torch.sigmoid`, trained with BCELoss (probabilities in,
    the textbook pairing: DeepFD's and many Keras ports' `Dense(1, activation='sigmoid')`)."""

    def __init__(self, in_features: int, n_classes: int = 1, width: int = 32):
        super().__init__()
        self.layers = _mlp([in_features, width, width])
        self.out = nn.Linear(width, 1)

    def forward(self, x):
        for layer in self.layers:
            x = F.relu(layer(x))
        return torch.sigmoid(self.out(x)).squeeze(-1)


class SoftmaxHead(nn.Module):
    """A classifier whose forward ends in softmax, fed to CrossEntropyLoss (which applies
    log-softmax itself): the double softmax of countless "loss stuck at 1.3" threads."""

    def __init__(self, in_features: int, n_classes: int, width: int = 64):
        super().__init__()
        self.layers = _mlp([in_features, width, width])
        self.out = nn.Linear(width, n_classes)

    def forward(self, x):
        for layer in self.layers:
            x = F.relu(layer(x))
        return F.softmax(self.out(x), dim=1)


class RawLogits(nn.Module):
    """A classifier returning raw logits, trained with NLLLoss (which expects log-probabilities):
    the missing log_softmax; NLL of raw scores falls without bound."""

    def __init__(self, in_features: int, n_classes: int, width: int = 64):
        super().__init__()
        self.layers = _mlp([in_features, width, width])
        self.out = nn.Linear(width, n_classes)

    def forward(self, x):
        for layer in self.layers:
            x = F.relu(layer(x))
        return self.out(x)


class FrozenBody(nn.Module):
    """ "Fine-tuning" a randomly initialised body: the user froze every layer but a new head,
    as the transfer-learning recipe says, but the body was never pretrained."""

    def __init__(self, in_features: int, n_classes: int, width: int = 8):
        super().__init__()
        self.layers = _mlp([in_features, width, width])
        for p in self.layers.parameters():
            p.requires_grad_(False)
        self.out = nn.Linear(width, n_classes)

    def forward(self, x):
        for layer in self.layers:
            x = F.relu(layer(x))
        return self.out(x)


class DetachedFeatures(nn.Module):
    """Features detached before the head (`.detach()` or `.numpy()` round-trip for logging):
    only the head ever gets a gradient."""

    def __init__(self, in_features: int, n_classes: int, width: int = 8):
        super().__init__()
        self.layers = _mlp([in_features, width, width])
        self.out = nn.Linear(width, n_classes)

    def forward(self, x):
        for layer in self.layers:
            x = F.relu(layer(x))
        return self.out(x.detach())


class BiasedReLU(nn.Module):
    """A ReLU MLP whose hidden biases were initialised to `bias` (a "small negative bias keeps
    activations sparse" tip taken too far): with unit-scale inputs every unit starts dead."""

    def __init__(self, in_features: int, n_classes: int, width: int = 64, bias: float = -4.0):
        super().__init__()
        self.layers = _mlp([in_features, width, width, width])
        for layer in self.layers:
            nn.init.constant_(layer.bias, bias)
        self.out = nn.Linear(width, n_classes)

    def forward(self, x):
        for layer in self.layers:
            x = F.relu(layer(x))
        return self.out(x)


class WideInitTanh(nn.Module):
    """A tanh MLP initialised with N(0, `std`) weights (Keras' old `RandomNormal(stddev=1)`
    habit): pre-activations of tens, every unit at +-1."""

    def __init__(
        self, in_features: int, n_classes: int, width: int = 128, depth: int = 4, std: float = 1.0
    ):
        super().__init__()
        self.layers = _mlp([in_features] + [width] * depth)
        for layer in self.layers:
            nn.init.normal_(layer.weight, 0.0, std)
        self.out = nn.Linear(width, n_classes)

    def forward(self, x):
        for layer in self.layers:
            x = torch.tanh(layer(x))
        return self.out(x)


class ActivatedOutput(nn.Module):
    """An MLP with an activation applied to its output layer too (`head`: relu, sigmoid,
    tanh), as in Keras ports that give every `Dense` an activation: the outputs cannot leave
    that activation's range, whatever the targets are."""

    def __init__(self, in_features: int, out_features: int, head: str = "relu", width: int = 64):
        super().__init__()
        self.layers = _mlp([in_features, width, width])
        self.out = nn.Linear(width, out_features)
        self.head = {"relu": F.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh}[head]

    def forward(self, x):
        for layer in self.layers:
            x = F.relu(layer(x))
        out = self.head(self.out(x))
        return out.squeeze(-1) if out.shape[-1] == 1 else out
