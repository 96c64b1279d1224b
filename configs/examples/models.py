"""User model code for the examples whose fault a builtin model cannot express.

Each one is what a user might write: activations called in `forward` (`torch.tanh`,
`F.relu`) rather than held as modules, in-place ReLU, a custom initialisation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class TanhNet(nn.Module):
    """A tanh MLP whose hidden weights are drawn with std `hidden_std` (1.0: about 8x
    LeCun/Xavier for 64 units), so the pre-activations are ~8 wide and tanh saturates."""

    def __init__(
        self,
        in_features: int,
        n_classes: int,
        width: int = 64,
        depth: int = 3,
        hidden_std: float = 1.0,
    ):
        super().__init__()
        sizes = [in_features] + [width] * depth
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))
        for layer in self.hidden[1:]:
            nn.init.normal_(layer.weight, 0.0, hidden_std)
        self.head = nn.Linear(width, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.hidden:
            x = torch.tanh(layer(x))
        return self.head(x)


class NegativeBiasReLU(nn.Module):
    """A ReLU MLP whose hidden biases start at `bias` (-1.0): with inputs of unit scale most
    pre-activations are negative for every sample, so those units output 0 and get no
    gradient. Uses in-place ReLU modules and F.relu, as user code often does."""

    def __init__(self, in_features: int, n_classes: int, width: int = 64, bias: float = -1.0):
        super().__init__()
        self.fc1 = nn.Linear(in_features, width)
        self.fc2 = nn.Linear(width, width)
        self.fc3 = nn.Linear(width, width)
        self.act = nn.ReLU(inplace=True)
        self.out = nn.Linear(width, n_classes)
        for layer in (self.fc1, self.fc2, self.fc3):
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            nn.init.constant_(layer.bias, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.fc1(x))
        x = F.relu(self.fc2(x))
        x = self.act(self.fc3(x))
        return self.out(x)


class RecurrentNet(nn.Module):
    """A vanilla tanh RNN that reads the feature vector `seq_len` times, then classifies its
    last hidden state. The recurrent weights have std `gain`/sqrt(width); above 1 the network
    is in the chaotic regime where the backward pass through time multiplies the gradient at
    every step, however bounded tanh keeps the forward pass."""

    def __init__(
        self,
        in_features: int,
        n_classes: int,
        width: int = 64,
        seq_len: int = 50,
        gain: float = 2.0,
    ):
        super().__init__()
        self.seq_len = seq_len
        self.rnn = nn.RNN(in_features, width, batch_first=True)
        nn.init.normal_(self.rnn.weight_hh_l0, 0.0, gain / width**0.5)
        self.head = nn.Linear(width, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sequence = x.unsqueeze(1).expand(-1, self.seq_len, -1)
        _, last = self.rnn(sequence)
        return self.head(last[0])
