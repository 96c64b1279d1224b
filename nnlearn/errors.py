"""Exit codes and the domain exceptions the CLI turns into them (caught once, at the edge)."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Documented exit codes, stable forever (SPEC.md section 1)."""

    OK = 0  # ran; no finding at or above --fail-on
    FINDINGS = 1  # ran; at least one finding at or above --fail-on
    USAGE = 2  # usage error, invalid spec or unreadable input: nothing was trained
    PROBE_FAILED = 3  # the user's code raised, out of memory, CUDA asked for but absent


class NnlearnError(Exception):
    """Base of every error the CLI reports as one clear message."""

    exit_code: ExitCode = ExitCode.USAGE

    def render(self) -> str:
        return str(self)


class SpecError(NnlearnError):
    """An invalid spec: each problem names the field path; the whole names the file."""

    def __init__(self, file: str | None, problems: list[tuple[str, str]]):
        self.file = file
        self.problems = problems
        super().__init__(self.render())

    def render(self) -> str:
        head = f"invalid spec {self.file}" if self.file else "invalid spec"
        lines = [f"{head}:"]
        for path, msg in self.problems:
            lines.append(f"  {path}: {msg}" if path else f"  {msg}")
        return "\n".join(lines)


class InputError(NnlearnError):
    """A file that cannot be read, a column that does not exist, a malformed option."""


class ProbeFailed(NnlearnError):
    """The probe could not run: no CUDA, out of memory."""

    exit_code = ExitCode.PROBE_FAILED


class UserCodeError(ProbeFailed):
    """The user's code raised; carries the essential part of its traceback."""

    def __init__(self, what: str, exc: BaseException):
        self.what = what
        self.exc = exc
        super().__init__(self.render())

    def render(self) -> str:
        from nnlearn.targets import essential_traceback

        return f"{self.what} raised {type(self.exc).__name__}: {self.exc}\n" + essential_traceback(
            self.exc
        )
