"""What the active experiments cost: the default quickstart probe against its bare main run.

    .venv/bin/python bench/experiments_cost.py [SPEC] [--repeats N]

Both probes run in this process on the same machine, alternating, `--repeats` times each; the
fastest of each and their ratio are printed (issue 5 asks for under ~4x): on a shared machine
the fastest run is the one least disturbed by others, as `timeit` reasons. Wall-clock time of the whole
`run_probe` call: data, model, init check, main run, experiments, rules.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(spec_path: Path, sets: list[tuple[str, object]]) -> tuple[float, dict]:
    from nnlearn.probe.runner import run_probe
    from nnlearn.spec import load_spec

    spec = load_spec(spec_path, sets)
    start = time.perf_counter()
    result = run_probe(spec, str(spec_path))
    took = time.perf_counter() - start
    return took, {k: v.get("duration_s") for k, v in result.experiments.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", nargs="?", default=str(ROOT / "configs" / "quickstart.yaml"))
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    spec = Path(args.spec)
    timed(spec, [("probe.experiments", [])])  # warm-up: imports, first-call costs
    bare, full, parts = [], [], []
    for _ in range(args.repeats):
        bare.append(timed(spec, [("probe.experiments", [])])[0])
        took, split = timed(spec, [])
        full.append(took)
        parts.append(split)
    b, f = min(bare), min(full)
    print(f"spec: {spec}")
    print(
        f"bare main run (probe.experiments: []): fastest {b:.2f}s, median {statistics.median(bare):.2f}s"
    )
    print(
        f"default probe, experiments included:  fastest {f:.2f}s, median {statistics.median(full):.2f}s"
    )
    for name in parts[0]:
        print(f"  {name:16s} fastest {min(p[name] or 0.0 for p in parts):.2f}s")
    print(f"ratio of the fastest: {f / b:.2f}x")


if __name__ == "__main__":
    main()
