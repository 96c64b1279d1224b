"""What the probe's measuring costs: the bare training loop against the same loop under
`nnlearn.Monitor` at its default sampling, and under Cockpit's "economy" configuration
(`pip install -e ".[bench]"`), on the same models in the same run.

    python bench/overhead.py [--rounds 3] [--quick]

Each (model, variant) runs in its own process, so its peak memory is its own; rounds are
interleaved and each variant keeps its best round, so load from other processes on the
machine weighs on all variants alike. Steps are timed after a short warm-up that also covers
the first three steps every instrument samples, over a whole number of the default schedules'
periods (gradients every 50th step, updates and activations every 100th): what is printed is
the steady-state cost per step. Cockpit's economy configuration computes on every step, so
its timing is taken over at most `COCKPIT_STEPS` steps (per-sample gradients of the 10M model
take seconds per step on a CPU).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

MODELS = {
    # name: (input features, hidden widths, classes, batch size, timed steps: multiples of 100)
    "small MLP": (2, [64, 64], 3, 64, 500),
    "10M MLP": (784, [2048, 2048, 2048], 10, 32, 100),
}
VARIANTS = ("bare", "nnlearn", "cockpit")
WARMUP = 5
COCKPIT_STEPS = 20


def build(name: str):
    import torch
    from torch import nn

    features, hidden, classes, batch, _ = MODELS[name]
    torch.manual_seed(0)
    layers: list[nn.Module] = []
    width = features
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    model = nn.Sequential(*layers, nn.Linear(width, classes))
    data = [(torch.randn(batch, features), torch.randint(0, classes, (batch,))) for _ in range(16)]
    return model, data


def worker(name: str, variant: str, threads: int) -> dict:
    import torch
    from torch import nn

    torch.set_num_threads(threads)
    import nnlearn.monitor  # noqa: F401 - every variant pays the imports: RSS compares allocations

    model, data = build(name)
    steps = MODELS[name][4]
    loss_fn = nn.CrossEntropyLoss()
    if variant == "cockpit":
        return cockpit_worker(model, data, min(steps, COCKPIT_STEPS))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    monitor = None
    if variant == "nnlearn":
        from nnlearn.monitor import Monitor

        monitor = Monitor(model, optimizer).attach()
    start = 0.0
    for step in range(WARMUP + steps):
        if step == WARMUP:
            start = time.perf_counter()
        x, y = data[step % len(data)]
        if monitor:
            monitor.step_begin(step)
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
    elapsed = time.perf_counter() - start
    if monitor:
        monitor.detach()
    return {"ms_per_step": 1e3 * elapsed / steps, "peak_rss_mb": peak_rss_mb()}


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
        for step in range(WARMUP + steps):
            if step == WARMUP:
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


def run_worker(name: str, variant: str, threads: int) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--worker", name, variant, str(threads)],
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
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one round, small MLP only")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads per worker (default 1: steadier timings on a shared machine)",
    )
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        name, variant, threads = args.worker
        print(json.dumps(worker(name, variant, int(threads))))
        return
    models = ["small MLP"] if args.quick else list(MODELS)
    rounds = 1 if args.quick else args.rounds
    best: dict[tuple[str, str], dict] = {}
    for r in range(rounds):
        for name in models:
            for variant in VARIANTS:
                if "error" in best.get((name, variant), {}):
                    continue  # it failed once; it will fail again
                result = run_worker(name, variant, args.threads)
                print(
                    f"round {r + 1}/{rounds} {name:>9} {variant:<8} {describe(result)}", flush=True
                )
                key = (name, variant)
                if "error" in result or key not in best:
                    best[key] = result
                elif result["ms_per_step"] < best[key]["ms_per_step"]:
                    best[key] = dict(
                        result, peak_rss_mb=max(result["peak_rss_mb"], best[key]["peak_rss_mb"])
                    )
    report(models, best, args.threads)


def describe(result: dict) -> str:
    if "error" in result:
        return f"not available: {result['error']}"
    return f"{result['ms_per_step']:.3f} ms/step, peak RSS {result['peak_rss_mb']:.0f} MB"


def report(models: list[str], best: dict, threads: int) -> None:
    import torch

    print(f"\ntorch {torch.__version__}, CPU, {threads} thread(s) per run; best of rounds")
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
