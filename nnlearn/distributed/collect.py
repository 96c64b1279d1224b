"""The collective side of a distributed probe: the process group, the DDP wrapper, the
per-step stop agreement and the gather of every rank's rows to rank 0."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from nnlearn.distributed import Rank, current

# a rank waits this long in a collective before it gives up: a backstop for a genuine hang
# (the launcher ends every rank as soon as one fails, without waiting for it); rank 0 audits
# the data and runs the init check while the others wait at the DDP wrapper, so the wait
# covers the probe's budget with room to spare
MIN_TIMEOUT_S = 60.0


def init_group(device: str, budget_s: float) -> Rank:
    """Join the launcher's process group: NCCL for CUDA, gloo for the CPU. Each rank uses the
    GPU of its local rank."""
    cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")) % torch.cuda.device_count())
    dist.init_process_group(
        "nccl" if cuda else "gloo",
        timeout=timedelta(seconds=max(MIN_TIMEOUT_S, 2 * budget_s + 30)),
    )
    rank = current()
    assert rank is not None, "the launcher started a world of one"
    return rank


def rank_device(device: torch.device) -> torch.device:
    """The device of this rank: `cuda` means this rank's own GPU."""
    if device.type == "cuda":
        return torch.device("cuda", torch.cuda.current_device())
    return device


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """The model in DistributedDataParallel. `find_unused_parameters` lets a parameter that
    gets no gradient on some rank be measured (R103) instead of stalling the gradient
    all-reduce."""
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids, find_unused_parameters=True)


def _tensor_device() -> torch.device:
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def agree(nonfinite: bool, over_deadline: bool) -> tuple[bool, bool]:
    """Every rank stops on the same step: a rank that stopped alone would leave the others
    waiting in the next gradient all-reduce. One 2-value all-reduce per step."""
    flags = torch.tensor([float(nonfinite), float(over_deadline)], device=_tensor_device())
    dist.all_reduce(flags, op=dist.ReduceOp.MAX)
    a, b = flags.tolist()
    return a > 0, b > 0


def gather(value: Any) -> list[Any] | None:
    """Any picklable value of every rank on rank 0 (None on the others)."""
    rank = dist.get_rank()
    out: list[Any] | None = [None] * dist.get_world_size() if rank == 0 else None
    dist.gather_object(value, out, dst=0)
    return out


def broadcast(value: Any) -> Any:
    """Rank 0's value on every rank."""
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def leave() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
