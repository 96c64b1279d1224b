"""A plain DDP training script measured by `nnlearn.Probe`, with the two classic DDP mistakes
as switches. Run it under torch's launcher:

    python -m torch.distributed.run --standalone --nproc_per_node 2 \
        configs/examples/ddp_train.py [--lr 80] [--no-sampler] [--no-ddp]

- healthy (no switch): DistributedSampler, the model in DistributedDataParallel; exit 0.
- `--no-sampler`: every rank builds the same shuffled DataLoader over the whole dataset, so
  every rank reads the same batches (R101 ranks-see-identical-batches).
- `--no-ddp`: the model is not wrapped, each rank trains its own copy on its own shard and
  the weights drift apart (R102 weights-diverge-across-ranks).
- `--lr 80`: SGD at 80 diverges (lr_too_high).

Every rank runs the same code; only rank 0 prints the report. The exit code is the report's.
"""

from __future__ import annotations

import argparse
import math
import sys

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

import nnlearn


def spirals(n: int = 2000, classes: int = 3, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, classes, (n,), generator=g)
    r = torch.rand(n, generator=g) * 0.95 + 0.05
    t = y * (2 * math.pi / classes) + r * 4.0 + torch.randn(n, generator=g) * 0.2
    return torch.stack([r * torch.sin(t), r * torch.cos(t)], 1), y


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--no-sampler", action="store_true")
    parser.add_argument("--no-ddp", action="store_true")
    parser.add_argument("--save", help="run folder for the metrics table and reports")
    return parser.parse_args(argv)


def train(args: argparse.Namespace) -> nnlearn.Probe:
    """One training run under the probe, in the current process group."""
    torch.manual_seed(0)  # the same initial weights on every rank
    x, y = spirals()
    data = TensorDataset(x, y)
    if args.no_sampler:
        # the same seed on every rank: the same shuffled order, the same batches
        order = torch.Generator().manual_seed(0)
        loader = DataLoader(data, batch_size=64, shuffle=True, generator=order)
        sampler = None
    else:
        sampler = DistributedSampler(data, shuffle=True, seed=0)
        loader = DataLoader(data, batch_size=64, sampler=sampler)
    net = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 3))
    model = net if args.no_ddp else nn.parallel.DistributedDataParallel(net)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()

    with nnlearn.Probe(model, optimizer, name="ddp-spirals") as probe:
        for epoch in range(args.epochs):
            if sampler is not None:
                sampler.set_epoch(epoch)
            for xb, yb in loader:
                loss = loss_fn(model(xb), yb)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                probe.log(loss=loss)
    probe.print_report()  # prints on rank 0 only
    if args.save:
        probe.save(args.save)  # writes on rank 0 only
    return probe


def main() -> int:
    args = parse()
    dist.init_process_group("gloo")
    probe = train(args)
    code = probe.result.exit_code()  # the same result on every rank
    rank = dist.get_rank()
    dist.destroy_process_group()
    return code if rank == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
