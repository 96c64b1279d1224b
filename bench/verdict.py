"""Time to verdict: the whole default probe (data, audits, init check, instrumented main run,
experiments, rules, report) against a bare PyTorch loop over the same steps, in the same run.

Prints both times and their ratio for each config; no thresholds are asserted here.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = [ROOT / "configs" / "quickstart.yaml"]


def bare_loop(spec_path: Path) -> float:
    """The user's own training loop with nothing attached: same data, model, optimizer, steps."""
    from nnlearn.data import build_data, infinite_batches
    from nnlearn.models import build_model
    from nnlearn.probe.setup import build_loss, build_optimizer, seed_everything
    from nnlearn.spec import load_spec

    spec = load_spec(spec_path)
    seed_everything(spec.seed)
    bundle = build_data(spec, str(spec_path))
    model = build_model(spec, bundle)
    import torch

    from nnlearn.probe.runner import SMALL_MODEL_PARAMETERS

    if sum(p.numel() for p in model.parameters()) < SMALL_MODEL_PARAMETERS:
        torch.set_num_threads(1)  # the same thread count the probe uses, for a fair ratio
    loss_fn = build_loss(spec, bundle.task)
    opt = build_optimizer(spec, model)
    stream = infinite_batches(bundle.train, spec.data.batch_size, seed=spec.seed)
    start = time.perf_counter()
    for _ in range(spec.probe.steps):
        x, y = next(stream)
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
    float(loss.detach())
    return time.perf_counter() - start


def full_probe(spec_path: Path, out: Path) -> tuple[float, str]:
    from nnlearn.probe.runner import run_probe
    from nnlearn.spec import load_spec

    start = time.perf_counter()
    result = run_probe(load_spec(spec_path), str(spec_path), out_dir=out)
    return time.perf_counter() - start, result.verdict


def main() -> None:
    import tempfile

    print("Time to verdict (whole default probe vs a bare loop over the same main-run steps)")
    print(f"{'config':<28}{'bare s':>8}{'probe s':>9}{'ratio':>7}  verdict")
    for path in CONFIGS:
        bare_loop(path)  # warm-up: first-call costs of torch belong to neither side
        bare = bare_loop(path)
        with tempfile.TemporaryDirectory() as tmp:
            probe, verdict = full_probe(path, Path(tmp))
        print(f"{path.name:<28}{bare:>8.2f}{probe:>9.2f}{probe / bare:>7.1f}  {verdict}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
