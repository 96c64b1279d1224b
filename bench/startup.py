"""CLI start-up: the torch-free commands against `python -c "import typer, rich.console"`.

    python bench/startup.py [--runs N]

For each command: the median wall time and the median CPU time (user + system of the child;
steadier than wall time on a shared machine) over N rounds (each round runs every command
once), and the median over the rounds of their ratios to the typer + rich baseline of the same
round (the target for `explain` and `rules`: 2x), and whether numpy, pandas or torch were
imported (`-X importtime`; none of them may be). The rule catalogue is read from its cache
(`nnlearn.rules.catalogue`): one untimed warm-up run builds it first, as a first use does.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time

BASELINE = "import typer, rich.console"
COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    BASELINE: [sys.executable, "-c", BASELINE],
    "nnlearn --help": [sys.executable, "-m", "nnlearn", "--help"],
    "nnlearn version": [sys.executable, "-m", "nnlearn", "version"],
    "nnlearn explain": [sys.executable, "-m", "nnlearn", "explain", "loss is nan"],
    "nnlearn explain G401": [sys.executable, "-m", "nnlearn", "explain", "G401"],
    "nnlearn rules": [sys.executable, "-m", "nnlearn", "rules"],
    "import torch": [sys.executable, "-c", "import torch"],
}
HEAVY = ("numpy", "pandas", "torch")


def timed(cmd: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of one run of `cmd`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, capture_output=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def heavy_imports(cmd: list[str]) -> list[str]:
    out = subprocess.run(
        [cmd[0], "-X", "importtime", *cmd[1:]], capture_output=True, text=True, check=False
    )
    found = {line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines()}
    return [m for m in HEAVY if m in found]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    subprocess.run(COMMANDS["nnlearn rules"], capture_output=True, check=False)  # the cache
    # every round runs each command once, so the machine's load weighs on the baseline and
    # the command alike; a ratio is the median over the rounds of the command / the baseline
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in COMMANDS}
    for _ in range(args.runs):
        for name, cmd in COMMANDS.items():
            runs[name].append(timed(cmd))
    base = runs[BASELINE]
    print(
        f'CLI start-up, median of {args.runs} rounds; ratios to `python -c "{BASELINE}"` '
        f"in the same round ({statistics.median(w for w, _ in base) * 1000:.0f} ms wall, "
        f"{statistics.median(c for _, c in base) * 1000:.0f} ms CPU)"
    )
    print(f"{'command':<30}{'wall ms':>8}{'ratio':>7}{'CPU ms':>8}{'ratio':>7}  heavy imports")
    for name, cmd in COMMANDS.items():
        got = runs[name]
        wall = statistics.median(w for w, _ in got)
        cpu = statistics.median(c for _, c in got)
        wall_ratio = statistics.median(w / b for (w, _), (b, _) in zip(got, base, strict=True))
        cpu_ratio = statistics.median(c / b for (_, c), (_, b) in zip(got, base, strict=True))
        heavy = "-" if name in ("import torch",) else (", ".join(heavy_imports(cmd)) or "none")
        print(
            f"{name:<30}{wall * 1000:>8.0f}{wall_ratio:>7.2f}"
            f"{cpu * 1000:>8.0f}{cpu_ratio:>7.2f}  {heavy}"
        )
    print("target: nnlearn explain and nnlearn rules within 2x the baseline, no heavy import")


if __name__ == "__main__":
    main()
