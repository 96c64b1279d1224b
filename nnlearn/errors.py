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


class OutputError(NnlearnError):
    """An output path (--out, --json, --markdown, --junit) that cannot be written."""


class InternalError(NnlearnError):
    """nnlearn itself failed: said so plainly, the traceback saved to a file to attach."""

    exit_code = ExitCode.PROBE_FAILED

    def __init__(self, exc: BaseException, saved: str | None):
        self.exc = exc
        self.saved = saved
        super().__init__(self.render())

    def render(self) -> str:
        where = (
            f"the traceback is in {self.saved}"
            if self.saved
            else "the traceback could not be saved"
        )
        return (
            f"internal error in nnlearn: {type(self.exc).__name__}: {self.exc}\n"
            f"This is a bug in nnlearn, not in your code; {where}.\n"
            "Please report it to the nnlearn maintainers with that file and your spec."
        )


def is_user_frame(filename: str) -> bool:
    """A frame of the user's own code: not nnlearn's, not the standard library's or an
    installed package's (torch, numpy, pandas...), not a frozen import machinery frame."""
    import os
    import sys
    import sysconfig

    if not filename or filename.startswith("<"):
        return False
    path = os.path.abspath(filename)
    if path.startswith(_PACKAGE_DIR + os.sep):
        return False
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        try:
            roots.add(sysconfig.get_path(key))
        except KeyError:
            pass
    return not any(r and path.startswith(os.path.abspath(r) + os.sep) for r in roots)


def user_frames(exc: BaseException) -> bool:
    """Did the exception pass through the user's code (raised there or in what it called)?"""
    import traceback

    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if any(is_user_frame(f.filename) for f in traceback.extract_tb(exc.__traceback__)):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def classify(exc: BaseException, crash_dir: str | None = None) -> NnlearnError:
    """Every exception that reaches the CLI edge as one of the documented outcomes: the
    user's code (a frame of it in the traceback, a SystemExit raised from it) is exit 3 with
    its frames; running out of memory is exit 3; anything else is nnlearn's own bug: exit 3,
    the traceback saved for the report."""
    if isinstance(exc, NnlearnError):
        return exc
    if isinstance(exc, SystemExit) and user_frames(exc):
        return UserCodeError("your code", exc)
    if isinstance(exc, MemoryError) or "out of memory" in str(exc).lower():
        return ProbeFailed(
            f"out of memory ({type(exc).__name__}: {exc}); lower data.batch_size, "
            "data.n_samples or the model's size"
        )
    if user_frames(exc):
        return UserCodeError("your code", exc)
    return InternalError(exc, save_traceback(exc, crash_dir))


def save_traceback(exc: BaseException, folder: str | None) -> str | None:
    """Write the full traceback to `folder`/nnlearn-error.txt (the run folder), or to a new
    file in the temporary folder when there is no run folder yet."""
    import os
    import tempfile
    import traceback

    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    try:
        if folder and os.path.isdir(folder):
            path = os.path.join(folder, "nnlearn-error.txt")
            with open(path, "w") as f:
                f.write(text)
            return path
        fd, path = tempfile.mkstemp(prefix="nnlearn-error-", suffix=".txt")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        return path
    except OSError:
        return None


def _package_dir() -> str:
    import os

    return os.path.dirname(os.path.abspath(__file__))


_PACKAGE_DIR = _package_dir()
