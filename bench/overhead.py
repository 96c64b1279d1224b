"""What the probe's measuring costs: the bare training loop against the same loop under
`nnlearn.Monitor` at its default sampling, and under Cockpit's "economy" configuration
(`pip install -e ".[bench]"`), on the same models in the same run.

    python bench/overhead.py [--quick] [--threads N]

The bare loop and the monitored loop are timed in one process, on the same model, in
alternating segments (so load from other processes on the machine weighs on both alike); each
keeps its best segment. Segments start after a short warm-up that covers the first three steps
every instrument samples, and span a whole number of the default schedules' periods
(every 200th step): what is printed is the
steady-state cost per step. Peak memory (RSS) comes from a separate process per variant
running the same steps, every one of which imports nnlearn, so it compares what the variants
allocate. Cockpit's economy configuration computes on every step, so
its timing is taken over at most `COCKPIT_STEPS` steps and in the first round only
(per-sample gradients of the 10M model take seconds per step on a CPU; a 50x ratio needs no
second decimal).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

MODELS = {
    # name: (input features, hidden widths, classes, batch size, steps per segment (a multiple
    # of the default sampling period, 200 steps), segments per variant: short steps need more
    # tries to catch the machine quiet)
    "small MLP": (2, [64, 64], 3, 64, 200, 20),
    "10M MLP": (784, [2048, 2048, 2048], 10, 32, 200, 3),
}
VARIANTS = ("bare", "nnlearn", "cockpit")
WARMUP = 5
COCKPIT_STEPS = 10
COCKPIT_WARMUP = 2  # its schedule has no sparse phase to reach


def build(name: str):
    import torch
    from torch import nn

    features, hidden, classes, batch, _, _ = MODELS[name]
    torch.manual_seed(0)
    layers: list[nn.Module] = []
    width = features
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    model = nn.Sequential(*layers, nn.Linear(width, classes))
    data = [(torch.randn(batch, features), torch.randint(0, classes, (batch,))) for _ in range(16)]
    return model, data


def step_fn(model, optimizer, loss_fn, monitor=None):
    """One training step, bare or under the monitor: the same code either way."""

    def step(x, y, k: int) -> None:
        if monitor:
            monitor.step_begin(k)
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        if monitor:
            monitor.after_backward()
        optimizer.step()
        if monitor:
            monitor.after_update(loss)
        else:
            loss.item()  # every loop reads its loss; the monitor does it in after_update

    return step


def worker(name: str, variant: str, threads: int, rounds: int) -> dict:
    import torch
    from torch import nn

    torch.set_num_threads(threads)
    from nnlearn.monitor import Monitor

    model, data = build(name)
    steps = MODELS[name][4]
    loss_fn = nn.CrossEntropyLoss()
    if variant == "cockpit":
        return cockpit_worker(model, data, min(steps, COCKPIT_STEPS))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    monitor = Monitor(model, optimizer).attach()
    bare = step_fn(model, optimizer, loss_fn)
    monitored = step_fn(model, optimizer, loss_fn, monitor)
    counter = {"bare": 0, "nnlearn": 0}
    fns = {"bare": bare, "nnlearn": monitored}

    def segment(which: str, n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            k = counter[which]
            x, y = data[k % len(data)]
            fns[which](x, y, k)
            counter[which] = k + 1
        return 1e3 * (time.perf_counter() - start) / n

    if variant == "memory-bare":
        segment("bare", WARMUP + steps)
        return {"peak_rss_mb": peak_rss_mb()}
    if variant == "memory-nnlearn":
        segment("nnlearn", WARMUP + steps)
        return {"peak_rss_mb": peak_rss_mb()}
    # timing: both loops in this process, on the same model, in alternating segments of a whole
    # number of sampling periods; each keeps its best segment
    segment("bare", WARMUP)
    segment("nnlearn", WARMUP)
    best = {"bare": float("inf"), "nnlearn": float("inf")}
    for _ in range(rounds):
        for which in ("bare", "nnlearn"):
            best[which] = min(best[which], segment(which, steps))
    monitor.detach()
    return best


def cockpit_worker(model, data, steps: int) -> dict:
    import torch
    from torch import nn

    try:
        from backpack import extend
        from cockpit import Cockpit
        from cockpit.utils.configuration import configuration
    except Exception as exc:  # noqa: BLE001 - any import failure means "not available"
        return {"error": f"{type(exc).__name__}: {exc}"}
    model = extend(model)
    loss_fn = extend(nn.CrossEntropyLoss())
    per_sample = nn.CrossEntropyLoss(reduction="none")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    cockpit = Cockpit(model.parameters(), quantities=configuration("economy"))
    start = 0.0
    try:
        for step in range(COCKPIT_WARMUP + steps):
            if step == COCKPIT_WARMUP:
                start = time.perf_counter()
            x, y = data[step % len(data)]
            optimizer.zero_grad(set_to_none=True)
            out = model(x)
            loss = loss_fn(out, y)
            info = {
                "batch_size": len(x),
                "individual_losses": per_sample(out, y),
                "loss": loss,
                "optimizer": optimizer,
            }
            with cockpit(step, info=info):
                loss.backward(create_graph=cockpit.create_graph(step))
            optimizer.step()
            loss.item()
    except Exception as exc:  # noqa: BLE001 - report it, keep the other ratios
        return {"error": f"{type(exc).__name__}: {exc}"}
    elapsed = time.perf_counter() - start
    return {"ms_per_step": 1e3 * elapsed / steps, "peak_rss_mb": peak_rss_mb()}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def run_worker(name: str, variant: str, threads: int, rounds: int = 1) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--worker", name, variant, str(threads), str(rounds)],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"worker failed: {tail}"}
    return json.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small MLP only, fewer segments")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads per worker (default 1: steadier timings on a shared machine)",
    )
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        name, variant, threads, rounds = args.worker
        print(json.dumps(worker(name, variant, int(threads), int(rounds))))
        return
    models = ["small MLP"] if args.quick else list(MODELS)
    rounds = 2 if args.quick else 1  # divides the segments per variant
    results: dict[tuple[str, str], dict] = {}
    for name in models:
        timing = run_worker(name, "timing", args.threads, max(1, MODELS[name][5] // rounds))
        for variant in ("bare", "nnlearn"):
            memory = run_worker(name, f"memory-{variant}", args.threads)
            if "error" in timing:
                results[(name, variant)] = timing
            else:
                results[(name, variant)] = {
                    "ms_per_step": timing[variant],
                    "peak_rss_mb": memory.get("peak_rss_mb", float("nan")),
                }
            print(f"{name:>9} {variant:<8} {describe(results[(name, variant)])}", flush=True)
        results[(name, "cockpit")] = run_worker(name, "cockpit", args.threads)
        print(f"{name:>9} cockpit  {describe(results[(name, 'cockpit')])}", flush=True)
    report(models, results, args.threads)


def describe(result: dict) -> str:
    if "error" in result:
        return f"not available: {result['error']}"
    return f"{result['ms_per_step']:.3f} ms/step, peak RSS {result['peak_rss_mb']:.0f} MB"


def report(models: list[str], best: dict, threads: int) -> None:
    import torch

    print(f"\ntorch {torch.__version__}, CPU, {threads} thread(s); bare and nnlearn: best segment")
    header = f"{'model':<10} {'params':>7} {'variant':<15} {'ms/step':>9} {'vs bare':>8}"
    print(f"{header} {'peak RSS':>9}")
    for name in models:
        model, _ = build(name)
        params = sum(p.numel() for p in model.parameters())
        bare = best[(name, "bare")].get("ms_per_step")
        for variant in VARIANTS:
            result = best[(name, variant)]
            label = "cockpit economy" if variant == "cockpit" else variant
            if "error" in result:
                print(
                    f"{name:<10} {params / 1e6:>6.2f}M {label:<15} not available: {result['error']}"
                )
                continue
            ratio = result["ms_per_step"] / bare if bare else float("nan")
            print(
                f"{name:<10} {params / 1e6:>6.2f}M {label:<15} {result['ms_per_step']:>9.3f} "
                f"{ratio:>7.3f}x {result['peak_rss_mb']:>6.0f} MB"
            )
    print("target: nnlearn (default sampling) at or under 1.03x the bare loop")


if __name__ == "__main__":
    main()
