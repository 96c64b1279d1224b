"""CLI start-up: the torch-free commands against `python -c "import typer, rich.console"`.

    python bench/startup.py [--runs N]

For each command: the median wall time and the median CPU time (user + system of the child;
steadier than wall time on a shared machine) over N runs, their ratios to the typer + rich
baseline (the target for `explain` and `rules`: 2x), and whether numpy, pandas or torch were
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


def timed(cmd: list[str], runs: int) -> tuple[float, float]:
    """Median wall and CPU seconds of `cmd`."""
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=False)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


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
    base_wall, base_cpu = timed(COMMANDS[BASELINE], args.runs)
    print(
        f'CLI start-up, median of {args.runs} runs; ratios to `python -c "{BASELINE}"` '
        f"({base_wall * 1000:.0f} ms wall, {base_cpu * 1000:.0f} ms CPU)"
    )
    print(f"{'command':<30}{'wall ms':>8}{'ratio':>7}{'CPU ms':>8}{'ratio':>7}  heavy imports")
    for name, cmd in COMMANDS.items():
        wall, cpu = timed(cmd, args.runs)
        heavy = "-" if name in ("import torch",) else (", ".join(heavy_imports(cmd)) or "none")
        print(
            f"{name:<30}{wall * 1000:>8.0f}{wall / base_wall:>7.2f}"
            f"{cpu * 1000:>8.0f}{cpu / base_cpu:>7.2f}  {heavy}"
        )
    print("target: nnlearn explain and nnlearn rules within 2x the baseline, no heavy import")


if __name__ == "__main__":
    main()
