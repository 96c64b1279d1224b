"""`nnlearn probe SPEC --nproc N`: N ranks on this machine through torch's elastic launcher,
the API behind `torchrun --standalone` (a c10d rendezvous on a free port, so concurrent runs
never collide). Rank 0's exit code is the run's. When any rank fails, the launcher ends the
others at once (`max_restarts=0`) and the error shown is the first failing rank's."""

from __future__ import annotations

import json
import logging
import os
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from nnlearn.errors import ExitCode, ProbeFailed


class RankFailed(ProbeFailed):
    """A rank of a distributed probe failed; carries that rank's own error."""

    def __init__(self, rank: int | None, message: str, code: int, hint: str = ""):
        self.rank, self.message, self.likely_cause = rank, message, hint
        self.exit_code = ExitCode(code) if code in ExitCode._value2member_map_ else ExitCode(3)
        super().__init__(self.render())

    def render(self) -> str:
        where = f"rank {self.rank}" if self.rank is not None else "a rank"
        return f"{where} of the distributed probe failed: {self.message}"


def launch_probe(nproc: int, device: str, budget_s: float, args: tuple[Any, ...]) -> int:
    """Run `nnlearn.cli._probe(*args)` on `nproc` ranks; returns rank 0's exit code."""
    from torch.distributed.elastic.multiprocessing import DefaultLogsSpecs
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    from nnlearn.distributed.worker import probe_worker

    check_devices(device, nproc)
    with tempfile.TemporaryDirectory(prefix="nnlearn-ddp-") as folder:
        config = LaunchConfig(
            min_nodes=1,
            max_nodes=1,
            nproc_per_node=nproc,
            run_id=str(uuid.uuid4()),
            rdzv_backend="c10d",  # torchrun --standalone
            rdzv_endpoint="localhost:0",
            max_restarts=0,
            monitor_interval=0.1,
            start_method="spawn",
            logs_specs=DefaultLogsSpecs(log_dir=str(Path(folder) / "logs")),
        )
        try:
            with _quiet_launcher(), _worker_env():
                codes = elastic_launch(config, probe_worker)(folder, device, budget_s, args)
                code = codes[0] if isinstance(codes, dict) else codes  # {rank: return value}
        except ChildFailedError as exc:
            raise first_failure(folder, exc) from None
        except SignalException:  # Ctrl-C or a kill reached the launcher: the ranks are ended
            raise KeyboardInterrupt from None
    return int(code if isinstance(code, int) else ExitCode.PROBE_FAILED)


def check_devices(device: str, nproc: int) -> None:
    """A CUDA run needs one GPU per rank; said before any rank starts (exit 3)."""
    import torch

    from nnlearn.probe.setup import resolve_device

    if resolve_device(device).type == "cuda" and torch.cuda.device_count() < nproc:
        raise ProbeFailed(
            f"--nproc {nproc} on CUDA needs one GPU per rank, this machine has "
            f"{torch.cuda.device_count()}; use --device cpu (gloo) or fewer processes"
        )


def first_failure(folder: str, exc) -> RankFailed:
    """The error of the rank that failed first (the others fail after it, on a broken
    connection, or are ended by the launcher)."""
    records = []
    for path in Path(folder).glob("rank*.json"):
        record = json.loads(path.read_text())
        record["rank"] = int(path.stem[len("rank") :])
        records.append(record)
    if records:
        first = min(records, key=lambda r: r["time"])
        return RankFailed(first["rank"], first["message"], first["code"], first["hint"])
    rank, failure = exc.get_first_failure()  # died without a word: a signal, out of memory
    return RankFailed(rank, f"exit code {failure.exitcode} ({failure.signal_name()})", 3)


@contextmanager
def _worker_env():
    """The ranks inherit this process's environment. Torch's C++ warnings are limited to
    errors unless the user chose a level: DDP warns once per rank that
    `find_unused_parameters` found nothing unused, and nnlearn sets it on purpose (R103)."""
    saved = os.environ.get("TORCH_CPP_LOG_LEVEL")
    os.environ.setdefault("TORCH_CPP_LOG_LEVEL", "ERROR")
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("TORCH_CPP_LOG_LEVEL", None)


@contextmanager
def _quiet_launcher():
    """The launcher logs every start and failure; nnlearn reports them itself, once."""
    loggers = [logging.getLogger(n) for n in ("torch.distributed.elastic", "torch.multiprocessing")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
