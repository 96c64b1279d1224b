"""The distributed pieces that need no second process: the DDP rules (R101-R104) on
synthetic per-rank tables (fire / stay quiet / no evidence outside a distributed run), the
merge of every rank's rows, the data sharding."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import measurements

from nnlearn.distributed.merge import merge_rows
from nnlearn.distributed.shard import shard_dataset, shard_indices
from nnlearn.rules import Cause, Severity, registry

SAMPLED = [0, 1, 2, 25, 50, 75, 100, 125, 150, 175]
WORLD = {"distributed": {"world_size": 2}}


def evaluate(code: str, rows: list[tuple], facts=WORLD):
    return registry()[code]().evaluate(measurements(rows, facts))


def per_rank(name: str, values: dict[int, list[float]], layer: str = "", steps=SAMPLED):
    return [
        (f"rank{rank}", step, name, layer, float(v))
        for rank, vs in values.items()
        for step, v in zip(steps, vs, strict=False)
    ]


def batches(same: bool) -> list[tuple]:
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(len(SAMPLED), generator=g), torch.randn(len(SAMPLED), generator=g)
    second = a if same else b
    return per_rank("ddp_batch_sum", {0: a.tolist(), 1: second.tolist()}) + per_rank(
        "ddp_batch_sq", {0: (a * a + 50).tolist(), 1: (second * second + 50).tolist()}
    )


def test_R101_fires_when_ranks_read_the_same_batches():
    (f,) = evaluate("R101", batches(same=True))
    assert f.cause == Cause.INSUFFICIENT_DATA and f.severity == Severity.ERROR
    assert f.evidence["identical_share"] == 1.0 and f.evidence["groups"] == [[0, 1]]
    assert "ranks 0, 1" in f.message


def test_R101_quiet_on_sharded_batches_and_on_a_single_process():
    assert evaluate("R101", batches(same=False)) == []
    assert registry()["R101"].requires == ("facts:distributed.world_size",)
    assert not measurements(batches(same=True), {}).has(registry()["R101"].requires[0])


def test_R101_groups_ranks_of_a_larger_world():
    from nnlearn.rules.R101 import _groups

    assert _groups({(0, 2): 1.0, (1, 3): 1.0, (2, 4): 0.9}) == [[0, 2, 4], [1, 3]]


def weights(drift: float) -> list[tuple]:
    rows = []
    for layer, norm in (("net.0", 5.7), ("net.2", 4.6)):
        grown = [norm * (1 + drift * i) for i in range(len(SAMPLED))]
        rows += per_rank("ddp_weight_norm", {0: [norm] * len(SAMPLED), 1: grown}, layer)
    return rows


def test_R102_fires_when_weights_drift_apart():
    (f,) = evaluate("R102", weights(drift=1e-3))
    assert f.cause == Cause.IMPLEMENTATION_BUG and f.evidence["rank"] == 1
    assert f.evidence["step"] == SAMPLED[-1] and f.evidence["first_step"] == 1
    assert f.evidence["max_relative_difference"] == pytest.approx(9e-3)


def test_R102_quiet_on_identical_weights_and_float_rounding():
    assert evaluate("R102", weights(drift=0.0)) == []
    assert evaluate("R102", weights(drift=1e-8)) == []


def local_grads(gated: list[float]) -> list[tuple]:
    full = {0: [1.0] * len(SAMPLED), 1: [1.0] * len(SAMPLED)}
    return per_rank("ddp_local_grad", full, "body") + per_rank(
        "ddp_local_grad", {0: [1.0] * len(SAMPLED), 1: gated}, "refine"
    )


def test_R103_fires_when_a_layer_gets_gradients_on_some_ranks_only():
    (f,) = evaluate("R103", local_grads([1, 0, 1, 0, 1, 0, 1, 1, 1, 1]))
    assert f.cause == Cause.IMPLEMENTATION_BUG and f.severity == Severity.WARNING
    assert f.evidence["layers"] == {"refine": 0.3}
    assert f.evidence["missing_on_ranks"] == {"refine": [1]}


def test_R103_quiet_when_every_rank_uses_every_layer_or_none_does():
    assert evaluate("R103", local_grads([1.0] * len(SAMPLED))) == []
    nowhere = per_rank("ddp_local_grad", {0: [0.0] * 10, 1: [0.0] * 10}, "frozen_head")
    assert evaluate("R103", nowhere) == []  # B702's case (no gradient anywhere), not R103's


def losses(offset: float, n: int = 200) -> list[tuple]:
    g = torch.Generator().manual_seed(1)
    base = [1.1 * math.exp(-i / 60) + 0.05 for i in range(n)]
    noise = (torch.randn(2, n, generator=g) * 0.05).tolist()
    steps = list(range(n))
    return per_rank(
        "train_loss",
        {
            0: [b + e for b, e in zip(base, noise[0], strict=True)],
            1: [b * (1 + offset) + e for b, e in zip(base, noise[1], strict=True)],
        },
        steps=steps,
    )


def test_R104_fires_on_a_rank_whose_loss_stays_above_the_others():
    (f,) = evaluate("R104", losses(offset=1.0))
    assert f.cause == Cause.INCONSISTENT_DATA and f.evidence["rank"] == 1
    assert f.evidence["relative_gap"] > 0.8 and f.evidence["t"] > 5
    assert "rank 1's training loss is" in f.message and "above" in f.message


def test_R104_quiet_on_shards_of_one_dataset_and_on_short_runs():
    assert evaluate("R104", losses(offset=0.0)) == []
    assert evaluate("R104", losses(offset=1.0, n=20)) == []


def test_merge_averages_the_ranks_and_keeps_each_ranks_own_rows():
    rank0 = [
        ("init", 0, "grad_norm", "", 9.0),
        ("main", 0, "train_loss", "", 1.0),
        ("main", 0, "grad_norm", "", 0.5),
        ("main", 0, "ddp_weight_norm", "net.0", 3.0),
        ("main", 25, "val_loss", "", 0.7),
    ]
    rank1 = [
        ("main", 0, "train_loss", "", 3.0),
        ("main", 0, "grad_norm", "", 0.5),
        ("main", 0, "ddp_weight_norm", "net.0", 3.5),
    ]
    m = measurements(merge_rows([rank0, rank1]))
    assert m.series("train_loss").tolist() == [2.0]  # the global batch's loss
    assert m.series("grad_norm").tolist() == [0.5]
    assert m.series("val_loss").tolist() == [0.7]  # logged on rank 0 only
    assert m.series("grad_norm", run="init").tolist() == [9.0]
    assert m.series("train_loss", run="rank1").tolist() == [3.0]
    assert m.layers("ddp_weight_norm", run="rank1")["net.0"].tolist() == [3.5]
    assert m.layers("ddp_weight_norm").empty  # per-rank only, never averaged


def test_merge_keeps_a_nonfinite_loss_of_any_rank():
    rows = [[("main", 3, "train_loss", "", 1.0)], [("main", 3, "train_loss", "", math.nan)]]
    assert math.isnan(measurements(merge_rows(rows)).series("train_loss").iloc[0])


def test_shards_split_the_data_like_a_distributed_sampler():
    parts = [set(shard_indices(101, r, 3, seed=0).tolist()) for r in range(3)]
    assert set().union(*parts) == set(range(101)) and sum(map(len, parts)) == 101
    assert max(map(len, parts)) - min(map(len, parts)) <= 1
    ds = torch.utils.data.TensorDataset(torch.arange(10.0)[:, None], torch.arange(10))
    shard = shard_dataset(ds, 1, 2, seed=0)
    assert isinstance(shard, torch.utils.data.TensorDataset) and len(shard) == 5
    assert shard.tensors[1].tolist() == shard_indices(10, 1, 2, seed=0).tolist()


def test_the_first_failing_rank_is_reported_not_the_ones_that_broke_after_it(tmp_path):
    import json

    from nnlearn.distributed.launch import first_failure
    from nnlearn.errors import ExitCode

    later = {"time": 20.0, "code": 3, "message": "RuntimeError: Connection closed by peer"}
    first = {"time": 10.0, "code": 3, "message": "training step raised ValueError: bad shape"}
    (tmp_path / "rank0.json").write_text(json.dumps(dict(later, hint="")))
    (tmp_path / "rank1.json").write_text(json.dumps(dict(first, hint="check the shapes")))
    error = first_failure(str(tmp_path), None)
    assert error.exit_code == ExitCode.PROBE_FAILED and error.rank == 1
    assert error.render() == (
        "rank 1 of the distributed probe failed: training step raised ValueError: bad shape"
    )
    assert error.likely_cause == "check the shapes"
