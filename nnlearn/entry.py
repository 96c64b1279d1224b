"""The `nnlearn` command's entry point. `rules` and `explain` in their plain forms are answered
here without importing typer (`nnlearn.knowledge.fastpath`); everything else goes to the typer
app in `nnlearn.cli`. Every way the command ends is mapped to its exit code once, here.
"""

from __future__ import annotations

import sys


def main() -> None:
    from nnlearn.knowledge.fastpath import run_fast

    code: int | str | None = 0
    try:
        if not run_fast(sys.argv[1:]):  # `rules` and `explain` start without typer
            from nnlearn.cli import app

            app()
    except SystemExit as exc:
        code = exc.code
    except BrokenPipeError:  # the fast path's reader went away (`nnlearn rules | head -1`)
        silence_stdout()
    except KeyboardInterrupt:  # before the probe's own handler was installed, or after it
        try:
            sys.stderr.write("interrupted\n")
        except OSError:
            pass
        code = 130
    try:
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):
        silence_stdout()
    sys.exit(code)


def silence_stdout() -> None:
    """stdout's reader went away (`| head -1`): further writes, and the interpreter's final
    flush, go to /dev/null instead of raising BrokenPipeError again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
