"""CLI start-up: wall time of the torch-free commands against a bare `python -c pass`.

Prints the median of several runs and the ratio to the bare interpreter, and whether each
command imported torch (it must not: `--help`, `explain`, `rules`, `check` start instantly).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

RUNS = 5
COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "nnlearn --help": [sys.executable, "-m", "nnlearn", "--help"],
    "nnlearn version": [sys.executable, "-m", "nnlearn", "version"],
    "nnlearn explain": [sys.executable, "-m", "nnlearn", "explain", "loss is nan"],
    "nnlearn rules": [sys.executable, "-m", "nnlearn", "rules"],
    "import torch": [sys.executable, "-c", "import torch"],
}


def median_time(cmd: list[str]) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def imports_torch(cmd: list[str]) -> bool:
    out = subprocess.run(
        [cmd[0], "-X", "importtime", *cmd[1:]], capture_output=True, text=True, check=False
    )
    return any(line.rstrip().endswith("| torch") for line in out.stderr.splitlines())


def main() -> None:
    base = median_time(COMMANDS["python -c pass"])
    print(f"CLI start-up (median of {RUNS} runs; ratio to `python -c pass` = {base * 1000:.0f} ms)")
    print(f"{'command':<20}{'ms':>8}{'ratio':>8}  imports torch")
    for name, cmd in COMMANDS.items():
        t = median_time(cmd)
        torch_flag = "-" if name in ("python -c pass", "import torch") else str(imports_torch(cmd))
        print(f"{name:<20}{t * 1000:>8.0f}{t / base:>8.1f}  {torch_flag}")


if __name__ == "__main__":
    main()
