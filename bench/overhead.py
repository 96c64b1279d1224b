"""What the probe's measuring costs: the bare training loop against the same loop under
`nnlearn.Monitor` at its default settings, and under Cockpit's "economy" configuration
(`pip install -e ".[bench]"`), on the same models in the same run.

    python bench/overhead.py [--quick] [--threads N] [--rounds N] [--scaling] [--routes]

Default settings: the loss and the global gradient norm on every step, per-layer instruments
on the sampler's schedule for a run of known length (`planned_steps`: the first three steps,
then about 24 over the run). The bare loop and the monitored loop are timed in one process, on
the same model, in alternating segments (so load from other processes on the machine weighs on
both alike), in CPU time of the one torch thread (the work a step does; wall time on a shared
machine adds the wait for a core). A round is one sampling period of each variant (the
monitored one holds exactly one per-layer sample), its variants alternating step by step (the
order reversed every other round: a change of the machine's speed, which on a shared machine
comes and goes within milliseconds, weighs on both alike), after a warm-up over the first
three steps; the ratio printed is the median over the rounds of monitored / bare time, beside
the middle half of the rounds' ratios (first to third quartile: how much the machine moved
while it was measured; `--rounds` takes more). Peak memory (RSS) comes from a separate process
per variant running the same steps, every one of which imports nnlearn, so it compares
what the variants allocate. Cockpit's economy configuration computes on every step, so its
timing is taken over at most `COCKPIT_STEPS` steps (per-sample gradients of the 10M model take
seconds per step on a CPU; a 50x ratio needs no second decimal).

`--routes` times, on the small MLP, the default monitor beside the same monitor on the route an
install without the C helper of the every-step norm takes (`nnlearn/monitor/signal.py`), in
the same interleaved rounds: a change measured against what it replaces in one process, where
separate runs differ by more than the change.

The scaling rows (full run only) split the cost for three model sizes: what the every-step
signal adds to each step, and what one per-layer sample adds to the step it is taken on, in ms
and in ms per million parameters: both grow linearly with the parameter count.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

MODELS = {
    # name: (input features, hidden widths, classes, batch size, steps per segment (one
    # sampling period of the monitored run), segment pairs: short steps need more tries to
    # catch the machine quiet)
    "small MLP": (2, [64, 64], 3, 64, 200, 24),
    "10M MLP": (784, [2048, 2048, 2048], 10, 32, 100, 5),
}
# the scaling rows: models of ~0.1M, ~1M and ~10M parameters
SCALING = {
    "0.1M MLP": (784, [128, 128], 10, 32, 30, 5),
    "1M MLP": (784, [640, 640], 10, 32, 30, 5),
    "10M MLP": MODELS["10M MLP"][:4] + (30, 5),
}
VARIANTS = ("bare", "nnlearn", "cockpit")
# a round (one sampling period of each variant) alternates the variants every this many steps:
# measured on the small MLP in one process, 60 rounds each, the middle half of the default
# monitor's ratios spanned 4.4 percentage points at chunks of 25 steps, 2.9 at 5 and 1.3 at 1
# (the clock read per chunk costs both variants alike)
CHUNK = 1
WARMUP = 5
COCKPIT_STEPS = 10
COCKPIT_WARMUP = 2  # its schedule has no sparse phase to reach


def build(name: str):
    import torch
    from torch import nn

    features, hidden, classes, batch, _, _ = {**SCALING, **MODELS}[name]
    torch.manual_seed(0)
    layers: list[nn.Module] = []
    width = features
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    model = nn.Sequential(*layers, nn.Linear(width, classes))
    data = [(torch.randn(batch, features), torch.randint(0, classes, (batch,))) for _ in range(16)]
    return model, data


def clock() -> float:
    """CPU seconds of this process. The workers run torch on one thread, so this is the work a
    step does; wall time on a shared machine also counts the time spent waiting for a core."""
    return time.process_time()


def planned_steps(period: int) -> int:
    """The run length whose default sampling period is `period` steps."""
    from nnlearn.monitor.schedule import FIRST, TARGET_SAMPLES

    return FIRST + TARGET_SAMPLES * period


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

    if variant == "scaling":
        return scaling_worker(name)
    model, data = build(name)
    steps = MODELS[name][4]
    loss_fn = nn.CrossEntropyLoss()
    if variant == "cockpit":
        return cockpit_worker(model, data, min(steps, COCKPIT_STEPS))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    monitor = Monitor(model, optimizer, planned_steps=planned_steps(steps)).attach()
    assert monitor.sampler.period == steps
    fns = {
        "bare": step_fn(model, optimizer, loss_fn),
        "nnlearn": step_fn(model, optimizer, loss_fn, monitor),
    }
    monitors = [monitor]
    if variant == "routes":  # the same monitor on the route an install without the C helper takes
        import nnlearn.monitor.instruments.activations as activations
        import nnlearn.monitor.instruments.base as base
        import nnlearn.monitor.signal as signal

        helper = signal._native
        # read when a monitor is built: the every-step norm, the activation statistics, the
        # per-layer norms and update ratios
        signal._native = activations._native = base._native = None
        try:
            plain = Monitor(model, optimizer, planned_steps=planned_steps(steps)).attach()
        finally:
            signal._native = activations._native = base._native = helper
        if not monitor.signal.native:
            return {"error": "the C helper is not built (or not used for this model)"}
        fns["torch route"] = step_fn(model, optimizer, loss_fn, plain)
        monitors.append(plain)
    counter = dict.fromkeys(fns, 0)

    def segment(which: str, n: int) -> float:
        start = clock()
        for _ in range(n):
            k = counter[which]
            x, y = data[k % len(data)]
            fns[which](x, y, k)
            counter[which] = k + 1
        return 1e3 * (clock() - start) / n

    # the warm-up covers the first three sampled steps, then each segment is one period
    warmup = WARMUP
    if variant == "memory-bare":
        segment("bare", warmup + steps)
        return {"peak_rss_mb": peak_rss_mb()}
    if variant == "memory-nnlearn":
        segment("nnlearn", warmup + steps)
        return {"peak_rss_mb": peak_rss_mb()}
    for which in fns:
        segment(which, warmup)
    times: dict[str, list[float]] = {which: [] for which in fns}
    for r in range(rounds):
        # one period of each, alternating every CHUNK steps (the order reversed every other
        # round), so that a change of the machine's speed during the round weighs on all alike
        spent = dict.fromkeys(fns, 0.0)
        order = list(fns) if r % 2 == 0 else list(fns)[::-1]
        for c in range(0, steps, CHUNK):
            n = min(CHUNK, steps - c)
            for which in order:
                spent[which] += segment(which, n) * n
        for which in order:
            times[which].append(spent[which] / steps)
    for m in monitors:
        m.detach()

    def against(which: str, base: str = "bare") -> list[float]:
        return [m / b for m, b in zip(times[which], times[base], strict=True)]

    ratios = against("nnlearn")
    result = {
        "bare": statistics.median(times["bare"]),
        "nnlearn": statistics.median(times["nnlearn"]),
        "ratio": statistics.median(ratios),
        "spread": quartiles(ratios),
        "rounds": len(ratios),
    }
    if variant == "routes":
        for key, which, base in (
            ("torch route", "torch route", "bare"),
            ("helper vs torch route", "nnlearn", "torch route"),
        ):
            r = against(which, base)
            result[key] = {"ratio": statistics.median(r), "spread": quartiles(r)}
    return result


def quartiles(values: list[float]) -> tuple[float, float]:
    """The first and third quartiles (the middle half of the rounds' ratios)."""
    if len(values) < 4:
        return min(values), max(values)
    q1, _, q3 = statistics.quantiles(values, n=4)
    return q1, q3


def scaling_worker(name: str) -> dict:
    """Per-step cost of the every-step signal (a monitor without per-layer instruments) and of
    a per-layer sample (a monitor sampling every step), each against the bare loop, in
    alternating segments; medians of the per-segment differences."""
    import torch
    from torch import nn

    from nnlearn.monitor import Monitor

    model, data = build(name)
    _, _, _, _, steps, rounds = SCALING[name]
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    signal = Monitor(model, optimizer, instruments=[]).attach()
    sampled = Monitor(model, optimizer, sample_all=True).attach()
    fns = {
        "bare": step_fn(model, optimizer, loss_fn),
        "signal": step_fn(model, optimizer, loss_fn, signal),
        "sampled": step_fn(model, optimizer, loss_fn, sampled),
    }
    times: dict[str, list[float]] = {k: [] for k in fns}
    for r in range(rounds + 1):
        for which, fn in fns.items():
            start = clock()
            for k in range(steps):
                x, y = data[k % len(data)]
                fn(x, y, k)
            if r:  # the first round is a warm-up
                times[which].append(1e3 * (clock() - start) / steps)
    signal.detach()
    sampled.detach()

    def extra(which: str) -> float:
        return statistics.median([t - b for t, b in zip(times[which], times["bare"], strict=True)])

    return {
        "params": sum(p.numel() for p in model.parameters()),
        "bare": statistics.median(times["bare"]),
        "signal": extra("signal"),
        "sample": extra("sampled"),
    }


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
                start = clock()
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
    elapsed = clock() - start
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
    parser.add_argument("--scaling", action="store_true", help="the scaling rows only")
    parser.add_argument(
        "--routes",
        action="store_true",
        help="small MLP only: the default monitor with the C helper of the every-step norm "
        "against the same monitor on torch's route (an install without the helper), "
        "interleaved in one process",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="timing rounds per model (default: 24 for the small MLP, 5 for the 10M; half "
        "with --quick, at least 3)",
    )
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        name, variant, threads, rounds = args.worker
        print(json.dumps(worker(name, variant, int(threads), int(rounds))))
        return
    if args.scaling:
        report_scaling({name: run_worker(name, "scaling", args.threads) for name in SCALING})
        return
    if args.routes:
        report_routes(run_worker("small MLP", "routes", args.threads, args.rounds or 24))
        return
    models = ["small MLP"] if args.quick else list(MODELS)
    rounds = 2 if args.quick else 1  # divides the segment pairs
    results: dict[tuple[str, str], dict] = {}
    for name in models:
        count = args.rounds or max(3, MODELS[name][5] // rounds)
        timing = run_worker(name, "timing", args.threads, max(1, count))
        for variant in ("bare", "nnlearn"):
            memory = run_worker(name, f"memory-{variant}", args.threads)
            if "error" in timing:
                results[(name, variant)] = timing
            else:
                results[(name, variant)] = {
                    "ms_per_step": timing[variant],
                    "ratio": timing["ratio"] if variant == "nnlearn" else 1.0,
                    "peak_rss_mb": memory.get("peak_rss_mb", float("nan")),
                }
                if variant == "nnlearn":
                    results[(name, variant)]["spread"] = timing["spread"]
                    results[(name, variant)]["rounds"] = timing["rounds"]
            print(f"{name:>9} {variant:<8} {describe(results[(name, variant)])}", flush=True)
        results[(name, "cockpit")] = run_worker(name, "cockpit", args.threads)
        print(f"{name:>9} cockpit  {describe(results[(name, 'cockpit')])}", flush=True)
    report(models, results, args.threads)
    if not args.quick:
        scaling = {name: run_worker(name, "scaling", args.threads) for name in SCALING}
        report_scaling(scaling)


def report_routes(r: dict) -> None:
    if "error" in r:
        print(f"routes: not available: {r['error']}")
        return
    print(f"small MLP, {r['rounds']} interleaved rounds in one process (median, middle half)")
    rows = [("monitor, C helper vs bare", r["ratio"], r["spread"])]
    for label, key in (
        ("monitor, torch route vs bare", "torch route"),
        ("C helper vs torch route", "helper vs torch route"),
    ):
        rows.append((label, r[key]["ratio"], r[key]["spread"]))
    for label, ratio, (lo, hi) in rows:
        print(f"  {label:<30} {ratio:.3f}x  ({lo:.3f}-{hi:.3f}x)")


def report_scaling(rows: dict[str, dict]) -> None:
    print("\nscaling: extra CPU ms per step over the bare loop (median of alternating segments)")
    print(
        f"{'model':<10} {'params':>7} {'bare ms':>8} {'every step':>11} {'per M':>7} "
        f"{'one sample':>11} {'per M':>7}"
    )
    for name, r in rows.items():
        if "error" in r:
            print(f"{name:<10} not available: {r['error']}")
            continue
        mp = r["params"] / 1e6
        print(
            f"{name:<10} {mp:>6.2f}M {r['bare']:>8.3f} {r['signal']:>11.3f} "
            f"{r['signal'] / mp:>7.3f} {r['sample']:>11.3f} {r['sample'] / mp:>7.3f}"
        )


def describe(result: dict) -> str:
    if "error" in result:
        return f"not available: {result['error']}"
    return f"{result['ms_per_step']:.3f} ms/step, peak RSS {result['peak_rss_mb']:.0f} MB"


def report(models: list[str], best: dict, threads: int) -> None:
    import torch

    print(
        f"\ntorch {torch.__version__}, CPU, {threads} thread(s); bare and nnlearn: CPU time, "
        "medians of alternating segments, ratio = median of the segment pairs' ratios"
    )
    header = f"{'model':<10} {'params':>7} {'variant':<15} {'ms/step':>9} {'vs bare':>8}"
    print(f"{header} {'peak RSS':>9} {'vs bare':>8}  {'middle half of the rounds'}")
    for name in models:
        model, _ = build(name)
        params = sum(p.numel() for p in model.parameters())
        bare = best[(name, "bare")].get("ms_per_step")
        bare_rss = best[(name, "bare")].get("peak_rss_mb")
        for variant in VARIANTS:
            result = best[(name, variant)]
            label = "cockpit economy" if variant == "cockpit" else variant
            if "error" in result:
                print(
                    f"{name:<10} {params / 1e6:>6.2f}M {label:<15} not available: {result['error']}"
                )
                continue
            ratio = result.get("ratio") or (result["ms_per_step"] / bare if bare else float("nan"))
            rss = result["peak_rss_mb"] / bare_rss if bare_rss else float("nan")
            spread = ""
            if "spread" in result:
                lo, hi = result["spread"]
                spread = f"  {lo:.3f}-{hi:.3f}x of {result['rounds']}"
            print(
                f"{name:<10} {params / 1e6:>6.2f}M {label:<15} {result['ms_per_step']:>9.3f} "
                f"{ratio:>7.3f}x {result['peak_rss_mb']:>6.0f} MB {rss:>7.3f}x{spread}"
            )
    print(
        "targets: nnlearn (default settings) at or under 1.03x the bare loop on the small MLP, "
        "1.02x on the 10M MLP; peak RSS at most 1.10x"
    )


if __name__ == "__main__":
    main()
