"""`nnlearn rules`, `nnlearn explain ...` and `nnlearn version` without going through typer.

Typer (0.29) builds a pydantic `TypeAdapter` for the parameters of every invocation: importing
pydantic costs more than typer and rich together (bench/startup.py). These two commands are
what people type to look something up, so their plain forms (words and `--json`) run the same
functions directly; anything else (`--help`, a typo'd option) goes through typer as before.
"""

from __future__ import annotations


def run_fast(argv: list[str]) -> bool:
    """Run `argv` if it is a plain `rules [--json]`, `explain [WORDS...] [--json]`, `version`
    or `--version`; True when it ran."""
    if argv in (["version"], ["--version"], ["-V"]):
        from nnlearn import __version__

        print(__version__ if argv == ["version"] else f"nnlearn {__version__}")
        return True
    if not argv or argv[0] not in ("rules", "explain"):
        return False
    command, rest = argv[0], argv[1:]
    words = [a for a in rest if a != "--json"]
    if any(a.startswith("-") for a in words) or (command == "rules" and words):
        return False
    from nnlearn.knowledge.render import explain_command, rules_command

    if command == "rules":
        rules_command("--json" in rest)
    else:
        explain_command(words or None, "--json" in rest)
    return True
