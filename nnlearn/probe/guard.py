"""A hard budget and Ctrl-C that keeps the work.

The budget is checked between steps; a forward pass, a data loader or a validation set that
never returns would never reach the check. The guard arms a timer for `budget_s` plus
HARD_GRACE_S: when it fires, SIGALRM's handler raises `Stopped` in the main thread, wherever
it is (inside the user's forward pass, a `time.sleep`, a lock wait). The runner catches it,
runs the rules on what was measured and returns a report marked partial, with the place it
hung (the user's frame). The first Ctrl-C (SIGINT) or SIGTERM does the same; a second one exits
at once (exit 130) without a report.

What is covered: Python code (loops, sleeps, socket and lock waits, anything that returns to
the interpreter now and then). A C extension that never returns to the interpreter (a kernel
looping inside torch, a deadlock inside a C library) cannot be interrupted from Python; for it
a watchdog thread ends the process HARD_KILL_S after the timer, exit 3, with the stack of the
main thread where it was stuck, so that a CI job never hangs.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

# seconds past the budget before a hung probe is interrupted: the between-step checks end a
# healthy probe at the budget itself; this leaves room for the step in flight to finish
HARD_GRACE_S = 3.0
# seconds after that before the watchdog ends a process stuck in code that ignores signals
HARD_KILL_S = 5.0

INTERRUPT_EXIT = 130  # 128 + SIGINT, as shells report it
TERMINATE_EXIT = 143  # 128 + SIGTERM

# Set by a rank of a distributed probe: whether a SIGTERM is the launcher ending this rank
# because another rank failed. Then the run's error is that rank's, and this rank leaves at
# once, without a partial report of its own (which would be a second, misleading answer).
ended_for_another: Callable[[], bool] | None = None


class Stopped(BaseException):
    """Raised in the main thread to stop the probe. A BaseException, so that the user's own
    `except Exception:` does not swallow it."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason  # "budget" | "interrupt" | "terminate"


@dataclass
class Partial:
    """Why a report is partial: what stopped the probe, in which phase, where."""

    reason: str  # "budget" | "interrupt" | "terminate"
    phase: str
    where: str | None  # "path/to/model.py:42 in forward", the innermost user frame
    code: str | None = None  # that frame's source line

    def message(self, budget_s: float) -> str:
        if self.reason == "budget":
            what = (
                f"the probe was still running {budget_s + HARD_GRACE_S:g}s into its "
                f"{budget_s:g}s budget and was interrupted during {self.phase}"
            )
        elif self.reason == "terminate":
            what = f"terminated (SIGTERM) during {self.phase}"
        else:
            what = f"interrupted (Ctrl-C) during {self.phase}"
        where = f"; it was at {self.where}" + (f": {self.code}" if self.code else "")
        return (
            f"partial report: {what}{where if self.where else ''}; the findings cover what "
            "was measured until then"
        )

    def to_dict(self) -> dict:
        return {
            "reason": self.reason,
            "phase": self.phase,
            "where": self.where,
            "code": self.code,
        }

    @property
    def exit_code(self) -> int | None:
        """The exit code a partial report ends with; None: the gate's own (the main run and
        the setup went through, only an experiment was cut)."""
        if self.reason == "interrupt":
            return INTERRUPT_EXIT
        if self.reason == "terminate":
            return TERMINATE_EXIT
        if self.phase.startswith("experiment"):
            return None
        return 3  # the user's code did not return within the budget: the probe could not run


class Guard:
    """`with Guard(budget_s) as guard:` around the probe's phases (main thread only; elsewhere
    it does nothing). `guard.finish()` once the user's code is done: the rules and the report
    are nnlearn's and are not interrupted by the timer."""

    def __init__(self, budget_s: float, grace_s: float = HARD_GRACE_S):
        self.budget_s = budget_s
        self.grace_s = grace_s
        self.stopping: str | None = None
        self._active = False
        self._old: dict[int, object] = {}
        self._done = threading.Event()

    def __enter__(self) -> Guard:
        if threading.current_thread() is not threading.main_thread():
            return self
        self._active = True
        self._start = time.monotonic()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM):
            self._old[sig] = signal.signal(sig, self._on_signal)
        signal.setitimer(signal.ITIMER_REAL, self.budget_s + self.grace_s)
        threading.Thread(target=self._watchdog, name="nnlearn-watchdog", daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.finish()
        if self._active:
            for sig, handler in self._old.items():
                signal.signal(sig, handler)  # type: ignore[arg-type]
            self._active = False

    def finish(self) -> None:
        """The user's code is done: no timer, no watchdog; a Ctrl-C from here on still ends
        the process at once (the report is being written)."""
        if self._active:
            signal.setitimer(signal.ITIMER_REAL, 0)
        self._done.set()

    @property
    def finished(self) -> bool:
        return self._done.is_set()

    def _on_signal(self, signum, frame) -> None:
        if signum == signal.SIGALRM:
            if self.stopping or self.finished:
                return
            self.stopping = "budget"
            raise Stopped("budget")
        reason = "terminate" if signum == signal.SIGTERM else "interrupt"
        if reason == "terminate" and ended_for_another is not None and ended_for_another():
            os._exit(TERMINATE_EXIT)
        if self.stopping or self.finished:  # the second one: out, now
            _write_stderr("\ninterrupted again: exiting without a report\n")
            os._exit(TERMINATE_EXIT if reason == "terminate" else INTERRUPT_EXIT)
        self.stopping = reason
        _write_stderr(
            "\ninterrupted: stopping, the report on what was measured follows "
            "(Ctrl-C again to exit at once)\n"
        )
        raise Stopped(reason)

    def _watchdog(self) -> None:
        hard = self.budget_s + self.grace_s + HARD_KILL_S
        if self._done.wait(hard):
            return
        main = sys._current_frames().get(threading.main_thread().ident or 0)
        stack = "".join(traceback.format_stack(main)) if main is not None else ""
        _write_stderr(
            f"error: the probe was still running {hard:g}s into its {self.budget_s:g}s budget "
            "and did not respond to the interrupt: it is stuck in code that does not return "
            "to Python (a C extension or a deadlock). Exiting (code 3) without a report. It was "
            f"here:\n{stack}"
        )
        os._exit(3)


def partial_from(stop: Stopped, phase: str) -> Partial:
    """The partial-report record for `stop`, with the innermost frame of the user's code (or
    the innermost frame, when the user's code was not on the stack)."""
    from nnlearn.errors import is_user_frame

    frames = [f for f in traceback.extract_tb(stop.__traceback__) if f.filename != __file__]
    user = [f for f in frames if is_user_frame(f.filename)]
    frame = user[-1] if user else (frames[-1] if frames and stop.reason == "budget" else None)
    where = f"{frame.filename}:{frame.lineno} in {frame.name}" if frame else None
    return Partial(stop.reason, phase, where, (frame.line or None) if frame else None)


def _write_stderr(text: str) -> None:
    try:
        sys.stderr.write(text)
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
