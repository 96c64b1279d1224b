"""nnlearn.Probe over a hand-written loop: ten sigmoid layers, three epochs.

python examples/own_loop.py            # the report; exit code 1 (vanishing gradients)
"""

import sys

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import nnlearn

torch.manual_seed(0)
x = torch.randn(1200, 20)
y = (x[:, 0] + x[:, 1] > 0).long()
train = TensorDataset(x[:1000], y[:1000])
val_x, val_y = x[1000:], y[1000:]

layers, width = [], 20
for _ in range(10):
    layers += [nn.Linear(width, 64), nn.Sigmoid()]
    width = 64
model = nn.Sequential(*layers, nn.Linear(width, 2))
optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
loader = DataLoader(train, batch_size=32, shuffle=True)

with nnlearn.Probe(model, optimizer, name="sigmoid-10") as probe:
    probe.audit(train, (val_x, val_y))
    for _epoch in range(3):
        for xb, yb in loader:
            loss = nn.functional.cross_entropy(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            probe.log(loss=loss)
        with torch.no_grad():
            out = model(val_x)
        probe.log(
            val_loss=nn.functional.cross_entropy(out, val_y),
            val_acc=(out.argmax(1) == val_y).float().mean(),
        )

probe.print_report()
probe.save("runs/sigmoid-10", junit="runs/sigmoid-10/junit.xml")
sys.exit(probe.result.exit_code())
