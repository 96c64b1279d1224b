"""One rank of `nnlearn probe SPEC --nproc N`: join the process group, run the same probe
command as a single process would, leave. A failure is written where the launcher reads it
(`failure_file`) before the rank exits with its error's code, so that the user sees the error
of the rank that failed first, not the broken connection the other ranks saw next."""

from __future__ import annotations

import atexit
import json
import os
import sys
import time
from pathlib import Path
from typing import Any


def failure_file(folder: str, rank: int) -> Path:
    return Path(folder) / f"rank{rank}.json"


def another_failed(folder: str, rank: int) -> bool:
    """Whether a rank other than `rank` has written its failure (it does so before it exits,
    so before the launcher ends the other ranks)."""
    return any(p != failure_file(folder, rank) for p in Path(folder).glob("rank*.json"))


def _exit_now(code: int = 0) -> None:
    """The last step of a rank that succeeded. It runs once the launcher has read the rank's
    return value and every thread of the process has ended (multiprocessing's bootstrap joins
    them before the interpreter exits): what is left is the interpreter's teardown of torch,
    which took 6-7 s per rank on a loaded 2-core machine, time the user waits for nothing.
    A rank that failed leaves the same way, with its error's code, right after reporting it."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def probe_worker(folder: str, device: str, budget_s: float, args: tuple[Any, ...]) -> int:
    """`args` are `nnlearn.cli._probe`'s; returns its exit code (rank 0's is the run's)."""
    rank = int(os.environ.get("RANK", "0"))
    from nnlearn.probe import guard

    guard.ended_for_another = lambda: another_failed(folder, rank)
    try:
        from nnlearn.distributed.collect import init_group

        init_group(device, budget_s)
        from nnlearn.cli import _probe

        code = _probe(*args)
        atexit.register(_exit_now)
        return code
    except KeyboardInterrupt:
        sys.exit(130)
    except SystemExit:
        raise
    except BaseException as exc:  # the launcher reports the first rank's error, once
        from nnlearn.errors import ExitCode, NnlearnError

        if isinstance(exc, NnlearnError):
            code, message = int(exc.exit_code), exc.render()
            hint = getattr(exc, "likely_cause", "")
        else:  # a collective that broke, a bug of ours: the probe could not run
            code, message, hint = int(ExitCode.PROBE_FAILED), f"{type(exc).__name__}: {exc}", ""
        record = {"time": time.time(), "code": code, "message": message, "hint": hint}
        failure_file(folder, rank).write_text(json.dumps(record))
        _exit_now(code)  # at once: the launcher ends the other ranks when it sees this exit
    finally:
        from nnlearn.distributed.collect import leave

        leave()
