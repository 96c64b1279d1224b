"""Diagnosis accuracy: does nnlearn name the right cause, fail the gate on runs that do not
learn, and stay quiet on healthy ones?

The cases live in `bench/cases/`: one spec per setup (`nnlearn probe bench/cases/<name>.yaml`
runs any of them), user data and models in `acc_data.py` / `acc_models.py`, and `index.yaml`
saying for each case the cause(s) it must be diagnosed with (none: a healthy setup), whether a
plain PyTorch loop learns it, and whether the default gate (`--fail-on error`) must fail.

For every case and seed the benchmark runs

- the ground truth: a plain PyTorch loop (same data, model, loss and optimizer, built from the
  spec; the loop, its batching and its metrics are this file's own) for the spec's steps, then
  the validation metric: balanced accuracy for classification (mean per-class recall, so
  predicting the majority scores 1/k), R^2 for regression. A case "learns" when that metric
  reaches `LEARNS_ACCURACY` of the way from chance to perfect, or R^2 `LEARNS_R2`. Token
  sequences (`truth: accuracy` or `lm` in the index) are judged on the targets that count (not
  -100, not padding): the balanced accuracy, or for a language model the share of the way from
  the unigram loss to the bigram loss of its corpus it got (`lm_learned_share`, learns at
  `LEARNS_ACCURACY`). A case whose ground truth disagrees with `index.yaml` is marked `truth!`
  and left out of the scores;
- the probe (`run_probe`, the whole default probe), scored as

  detection         faulty runs with at least one warning or error
  right cause first faulty runs whose first finding (the root cause) has an expected cause
  gate              runs that must fail the gate and do (exit code 1 at --fail-on error)
  false alarms      healthy runs with an error
  healthy warned    healthy runs with any warning or error

Usage: `python bench/accuracy.py [--quick] [--seeds 0 1 2] [--cases SUBSTR ...] [--json PATH]`.
`--quick` runs seed 0 only. Nothing here is a timed test; the benchmark is not in the suite.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CASES = Path(__file__).resolve().parent / "cases"
# a classifier learns when its balanced accuracy gets this far from chance towards 1
LEARNS_ACCURACY = 0.6
# a regression learns when its validation R^2 reaches this (healthy cases reach 0.98-0.99)
LEARNS_R2 = 0.9


@dataclass
class Case:
    name: str
    about: str
    expect: list[str]
    learns: bool
    must_fail: bool
    # how the ground truth judges "learns": the validation metric of the task ("auto"), the
    # balanced accuracy over the non-ignored targets of token sequences ("accuracy"), or the
    # share of the context a language model picked up ("lm", `lm_learned_share`)
    truth: str = "auto"

    @property
    def healthy(self) -> bool:
        return not self.expect

    @property
    def spec(self) -> Path:
        return CASES / f"{self.name}.yaml"


@dataclass
class Run:
    case: str
    seed: int
    healthy: bool
    expect: list[str]
    must_fail: bool
    exit_code: int | None = None
    first_cause: str | None = None
    first_rule: str | None = None
    findings: list[str] = field(default_factory=list)  # "E901:error:implementation_bug"
    truth_metric: float | None = None
    truth_learns: bool | None = None
    truth_agrees: bool = True
    error: str | None = None
    seconds: float = 0.0

    @property
    def detected(self) -> bool:
        return any(f.split(":")[1] in ("error", "warning") for f in self.findings)

    @property
    def right_first(self) -> bool:
        return self.first_cause in self.expect

    @property
    def has_error(self) -> bool:
        return any(f.split(":")[1] == "error" for f in self.findings)


def load_cases(names: list[str] | None = None) -> list[Case]:
    import yaml

    if str(CASES) not in sys.path:  # the cases' own modules (acc_data, acc_models)
        sys.path.insert(0, str(CASES))
    index = yaml.safe_load((CASES / "index.yaml").read_text())
    cases = [Case(name=k, **v) for k, v in index.items()]
    for c in cases:
        if not c.spec.exists():
            raise FileNotFoundError(f"bench case {c.name}: {c.spec} is missing")
    if names:
        cases = [c for c in cases if any(n in c.name for n in names)]
    return cases


def ground_truth(spec_path: Path, seed: int, truth: str = "auto") -> float:
    """The validation metric a plain PyTorch loop reaches on the case: balanced accuracy for
    classification, R^2 for regression (nan when the loss went non-finite). Token sequences
    (`truth` "accuracy" or "lm": ids in; a label, per-token tags or next tokens out; -100
    ignored) train with cross-entropy, as the spec's "auto" loss gives it, and are judged on
    the validation targets that count (not -100, input not padding id 0): "accuracy" by the
    balanced accuracy, "lm" by `lm_learned_share`."""
    import torch.nn.functional as F

    from nnlearn.probe.setup import build_loss

    spec, bundle, model, opt = _build(spec_path, seed)
    if truth == "auto":
        loss_fn = build_loss(spec, bundle.task, str(spec_path))
    else:

        def loss_fn(out, target):
            logits = _logits(out)
            return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1))

    x, y = _all(bundle.train)
    xv, yv = _all(bundle.val)
    out = plain_loop(spec, seed, model, opt, loss_fn, x, y, xv)
    if out is None:
        return float("nan")
    if truth != "auto":
        return _sequence_metric(truth, _logits(out), x, y, xv, yv)
    if bundle.task == "regression":
        pred = out.reshape(yv.shape).double()
        target = yv.double()
        ss_res = float(((pred - target) ** 2).sum())
        ss_tot = float(((target - target.mean()) ** 2).sum())
        return 1 - ss_res / ss_tot if ss_tot > 0 else float("nan")
    if out.dim() > 1 and out.shape[-1] > 1:
        pred = out.argmax(-1)
    else:  # one output: probabilities under BCELoss, logits otherwise
        threshold = 0.5 if loss_fn.name == "bce" else 0.0
        pred = (out.reshape(-1) > threshold).long()
    return balanced_accuracy(pred, yv.long().reshape(-1))


def _build(spec_path: Path, seed: int):
    import torch

    from nnlearn.data import build_data
    from nnlearn.models import build_model
    from nnlearn.probe.setup import build_optimizer
    from nnlearn.spec import load_spec

    spec = load_spec(spec_path, [("seed", seed)])
    torch.manual_seed(seed)
    bundle = build_data(spec, str(spec_path))
    torch.manual_seed(seed)
    model = build_model(spec, bundle, str(spec_path))
    return spec, bundle, model, build_optimizer(spec, model, str(spec_path))


def plain_loop(spec, seed: int, model, opt, loss_fn, x, y, xv):
    """The spec's steps of shuffled minibatches on one thread, clipping as the spec says; the
    model's output on the validation inputs, or None when the loss went non-finite."""
    import torch

    g = torch.Generator().manual_seed(seed)
    bs = spec.data.batch_size
    order, at = torch.randperm(len(x), generator=g), 0
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model.train()
        for _ in range(spec.probe.steps):
            if at + bs > len(x) and at > 0:
                order, at = torch.randperm(len(x), generator=g), 0
            idx = order[at : at + bs]
            at += bs
            opt.zero_grad()
            loss = loss_fn(model(x[idx]), y[idx])
            if not torch.isfinite(loss):
                return None
            loss.backward()
            if spec.optimizer.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), spec.optimizer.grad_clip)
            opt.step()
        model.eval()
        with torch.no_grad():
            return model(xv)
    finally:
        torch.set_num_threads(threads)


def _logits(out):
    """The logits of whatever a model returns: a tensor, a mapping or `ModelOutput` with
    `logits`, or a tuple whose first item they are."""
    if isinstance(out, dict) or hasattr(out, "logits"):
        return out["logits"] if isinstance(out, dict) else out.logits
    return out[0] if isinstance(out, tuple) else out


def _sequence_metric(truth: str, logits, x, y, xv, yv) -> float:
    import torch.nn.functional as F

    if y.dim() == 1:  # one label per sequence
        return balanced_accuracy(logits.argmax(-1), yv)
    counts = (yv != -100) & (xv != 0)
    if truth == "accuracy":
        return balanced_accuracy(logits.argmax(-1)[counts], yv[counts])
    keep_train = (y != -100) & (x != 0)
    val_loss = float(F.cross_entropy(logits[counts], yv[counts]))
    return lm_learned_share(val_loss, x[keep_train], y[keep_train], xv[counts], yv[counts])


def lm_learned_share(val_loss, x, y, xv, yv) -> float:
    """How much of what the context tells a language model learned: 0 at the loss of the
    training targets' unigram frequencies (no context), 1 at the loss of their bigram
    frequencies (the previous token; add-0.1 smoothing), both on the validation targets.
    The corpora are first-order Markov chains, so the bigram is their floor; a model that
    reads targets it should not see (no shift) has a bigram floor of ~0 and reaches it."""
    import torch

    vocab = int(max(x.max(), y.max(), xv.max(), yv.max())) + 1
    unigram = torch.bincount(y, minlength=vocab).double() + 0.1
    unigram_loss = float(-(unigram / unigram.sum()).log()[yv].mean())
    pairs = torch.zeros(vocab, vocab, dtype=torch.float64)
    pairs.index_put_((x, y), torch.ones(len(x), dtype=torch.float64), accumulate=True)
    pairs += 0.1
    bigram_loss = float(-(pairs / pairs.sum(1, keepdim=True)).log()[xv, yv].mean())
    if unigram_loss - bigram_loss < 1e-6:
        return float("nan")
    return (unigram_loss - val_loss) / (unigram_loss - bigram_loss)


def _all(ds):
    import torch
    from torch.utils.data import DataLoader

    batch = next(iter(DataLoader(ds, batch_size=len(ds), shuffle=False)))
    return batch[0], batch[1] if torch.is_tensor(batch[1]) else torch.as_tensor(batch[1])


def balanced_accuracy(pred, target) -> float:
    """Mean recall over the classes present in `target`."""
    recalls = [float((pred[target == c] == c).float().mean()) for c in target.unique()]
    return sum(recalls) / len(recalls) if recalls else float("nan")


def learns(metric: float, regression: bool, n_classes: int, truth: str = "auto") -> bool:
    if metric != metric:  # nan
        return False
    if truth == "lm":
        return metric >= LEARNS_ACCURACY
    if regression:
        return metric >= LEARNS_R2
    chance = 1 / max(n_classes, 2)
    return metric >= chance + LEARNS_ACCURACY * (1 - chance)


def probe(case: Case, seed: int) -> Run:
    from nnlearn.probe.runner import run_probe
    from nnlearn.spec import load_spec
    from nnlearn.verdict import exit_code_for

    run = Run(case.name, seed, case.healthy, case.expect, case.must_fail)
    began = time.perf_counter()
    try:
        spec = load_spec(case.spec, [("seed", seed)])
        result = run_probe(spec, str(case.spec))
        run.exit_code = exit_code_for(result.findings, "error")
        run.findings = [f"{f.rule}:{f.severity.value}:{f.cause.value}" for f in result.findings]
        lead = [f for f in result.findings if f.severity.value != "info"]
        if lead:
            run.first_cause, run.first_rule = lead[0].cause.value, lead[0].rule
    except Exception as exc:  # a crash is a benchmark result, not the end of the benchmark
        run.error = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
        traceback.print_exc(file=sys.stderr)
    run.seconds = time.perf_counter() - began
    return run


def add_truth(run: Run, case: Case) -> None:
    from nnlearn.data import build_data
    from nnlearn.spec import load_spec

    try:
        run.truth_metric = ground_truth(case.spec, run.seed, case.truth)
        spec = load_spec(case.spec, [("seed", run.seed)])
        bundle = build_data(spec, str(case.spec))
        run.truth_learns = learns(
            run.truth_metric, bundle.task == "regression", bundle.n_classes or 2, case.truth
        )
    except Exception as exc:  # the plain loop crashes too: the case does not learn
        run.truth_metric, run.truth_learns = float("nan"), False
        print(f"ground truth of {case.name}: {type(exc).__name__}: {exc}", file=sys.stderr)
    run.truth_agrees = run.truth_learns == case.learns


def score(runs: list[Run]) -> dict:
    scored = [r for r in runs if r.truth_agrees and r.error is None]
    faulty = [r for r in scored if not r.healthy]
    healthy = [r for r in scored if r.healthy]
    must = [r for r in scored if r.must_fail]
    return {
        "runs": len(runs),
        "scored": len(scored),
        "detection": (sum(r.detected for r in faulty), len(faulty)),
        "right_cause_first": (sum(r.right_first for r in faulty), len(faulty)),
        "gate": (sum(r.exit_code == 1 for r in must), len(must)),
        "false_alarms": (sum(r.has_error for r in healthy), len(healthy)),
        "healthy_warned": (sum(r.detected for r in healthy), len(healthy)),
        "crashed": sum(r.error is not None for r in runs),
        "truth_disagrees": sum(not r.truth_agrees for r in runs),
    }


def _pct(pair: tuple[int, int]) -> str:
    n, d = pair
    return f"{n}/{d} ({100 * n / d:.0f}%)" if d else "-"


def print_cases(runs: list[Run], seeds: list[int]) -> None:
    print(f"{'case':<26}{'expect':<34}" + "".join(f"seed {s:<33}" for s in seeds))
    for name in dict.fromkeys(r.case for r in runs):
        mine = {r.seed: r for r in runs if r.case == name}
        first = next(iter(mine.values()))
        expect = ",".join(first.expect) or "healthy"
        cells = []
        for s in seeds:
            r = mine.get(s)
            if r is None:
                cells.append("")
                continue
            if r.error:
                cell = "CRASH"
            else:
                mark = "ok" if (r.right_first if not r.healthy else not r.detected) else "MISS"
                gate = f"x{r.exit_code}"
                head = f"{r.first_rule}:{r.first_cause}" if r.first_rule else "quiet"
                cell = f"{mark} {gate} {head}"
            truth = "" if r.truth_metric is None else f" [{r.truth_metric:.2f}]"
            if not r.truth_agrees:
                truth += " truth!"
            cells.append(f"{cell}{truth}"[:38].ljust(38))
        print(f"{name:<26}{expect[:33]:<34}" + "".join(cells))


def print_table(by_seed: dict[int, dict], total: dict) -> None:
    rows = [
        ("detection", "detection"),
        ("right cause first", "right_cause_first"),
        ("gate fails when it must", "gate"),
        ("false alarms (healthy, error)", "false_alarms"),
        ("healthy runs warned", "healthy_warned"),
    ]
    seeds = list(by_seed)
    print(f"\n{'':<32}" + "".join(f"{'seed ' + str(s):<18}" for s in seeds) + "all")
    for label, key in rows:
        print(
            f"{label:<32}"
            + "".join(f"{_pct(by_seed[s][key]):<18}" for s in seeds)
            + _pct(total[key])
        )
    print(
        f"{'crashed / truth disagrees':<32}"
        + "".join(
            f"{str(by_seed[s]['crashed']) + ' / ' + str(by_seed[s]['truth_disagrees']):<18}"
            for s in seeds
        )
        + f"{total['crashed']} / {total['truth_disagrees']}"
    )


def report(runs: list[Run], seeds: list[int]) -> tuple[dict, dict]:
    print_cases(runs, seeds)
    by_seed = {s: score([r for r in runs if r.seed == s]) for s in seeds}
    total = score(runs)
    print_table(by_seed, total)
    return by_seed, total


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--quick", action="store_true", help="seed 0 only")
    ap.add_argument("--cases", nargs="+", help="only the cases whose name contains one of these")
    ap.add_argument("--no-truth", action="store_true", help="skip the plain-loop ground truth")
    ap.add_argument("--json", type=Path, help="write every run's result here")
    ap.add_argument(
        "--from-json",
        type=Path,
        nargs="+",
        help="print the tables of earlier --json results (one process per seed, a rerun of a "
        "case after a fix: later files replace earlier ones' runs) instead",
    )
    args = ap.parse_args(argv)
    if args.from_json:
        order = {c.name: i for i, c in enumerate(load_cases())}
        # a later file's (case, seed) replaces an earlier one's: a rerun after a fix
        latest = {
            (r["case"], r["seed"]): Run(**r)
            for p in args.from_json
            for r in json.loads(p.read_text())["runs"]
        }
        runs = sorted(latest.values(), key=lambda r: (order.get(r.case, 0), r.seed))
        seeds = sorted({r.seed for r in runs})
        report(runs, seeds)
        return 0
    seeds = [0] if args.quick else args.seeds
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    cases = load_cases(args.cases)
    runs: list[Run] = []
    began = time.perf_counter()
    for case in cases:
        for seed in seeds:
            run = probe(case, seed)
            if not args.no_truth:
                add_truth(run, case)
            runs.append(run)
            print(
                f"  {case.name} seed {seed}: exit {run.exit_code}, first "
                f"{run.first_rule}:{run.first_cause}, truth {run.truth_metric}, "
                f"{run.seconds:.1f}s",
                file=sys.stderr,
                flush=True,
            )
    print(
        f"Diagnosis accuracy: {len(cases)} cases ({sum(c.healthy for c in cases)} healthy), "
        f"seeds {seeds}, {time.perf_counter() - began:.0f}s\n"
    )
    by_seed, total = report(runs, seeds)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {"seeds": seeds, "by_seed": by_seed, "total": total}
        payload["runs"] = [asdict(r) for r in runs]
        args.json.write_text(json.dumps(payload, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
