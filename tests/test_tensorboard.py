"""TensorBoard export, read back with tensorboard's own EventAccumulator."""

from __future__ import annotations

import math

import pytest

from nnlearn.report.tensorboard import write_tensorboard
from nnlearn.rules import Cause, Severity
from tests.conftest import EXAMPLES
from tests.test_reports import f, make_result

pytest.importorskip("tensorboard")


@pytest.fixture
def nan_result():
    return make_result(
        {
            "L101": [f("L101", Cause.POOR_INITIALIZATION, Severity.ERROR, "loss is nan", step=0)],
            "F801": [f("F801", Cause.OVERFITTING, Severity.WARNING, "val loss rises", step=50)],
        }
    )


def read_events(directory):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(directory), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    return acc


def text(acc, tag: str) -> str:
    return acc.Tensors(tag)[0].tensor_proto.string_val[0].decode()


def test_every_series_and_the_findings_come_back(nan_result, tmp_path):
    path = write_tensorboard(nan_result, tmp_path / "tb")
    assert path.parent == tmp_path / "tb" and path.name.startswith("events.out.tfevents.")
    acc = read_events(tmp_path / "tb")
    scalars = set(acc.Tags()["scalars"])
    assert {"train_loss", "val_loss", "grad_norm/net.0", "grad_norm/net.2"} <= scalars
    assert {"update_ratio/net.0", "update_ratio/net.2"} <= scalars
    loss = acc.Scalars("train_loss")
    assert [e.step for e in loss] == list(range(100))
    assert loss[0].value == pytest.approx(2.0) and loss[-1].value == pytest.approx(1.01)
    grads = acc.Scalars("grad_norm/net.2")
    assert [(e.step, round(e.value, 4)) for e in grads] == [(0, 0.2), (50, 0.2), (99, 0.2)]
    findings = text(acc, "nnlearn/findings")
    for finding in nan_result.findings:
        assert finding.rule in findings and finding.message in findings
    assert "fix: first fix" in findings
    assert text(acc, "nnlearn/verdict").startswith("**UNHEALTHY**")


def test_a_nan_loss_is_written_as_nan_and_other_runs_are_prefixed(tmp_path):
    result = make_result({})
    m = result.measurements
    m.metrics.loc[len(m.metrics)] = ["main", 100, "train_loss", "", float("nan")]
    m.metrics.loc[len(m.metrics)] = ["lr_range", 3, "smoothed_loss", "", 0.7]
    write_tensorboard(result, tmp_path)
    acc = read_events(tmp_path)
    assert math.isnan(acc.Scalars("train_loss")[-1].value)
    assert [(e.step, e.value) for e in acc.Scalars("lr_range/smoothed_loss")] == [
        (3, pytest.approx(0.7))
    ]
    assert text(acc, "nnlearn/findings") == "no findings"


@pytest.mark.slow
def test_probe_cli_writes_event_files(tmp_path):
    from typer.testing import CliRunner

    from nnlearn.cli import app

    spec = EXAMPLES / "lr_too_high.yaml"
    tb = tmp_path / "tb"
    res = CliRunner().invoke(
        app,
        [
            "probe",
            str(spec),
            "--out",
            str(tmp_path / "run"),
            "--tensorboard",
            str(tb),
            "--set",
            "probe.experiments=[init_check]",
            "--steps",
            "60",
            "--quiet",
        ],
    )
    assert res.exit_code == 1, res.output
    import pandas as pd

    metrics = pd.read_parquet(tmp_path / "run" / "metrics.parquet")
    main = metrics[metrics["run"] == "main"]
    per_layer = main[main["layer"] != ""][["name", "layer"]].drop_duplicates()
    expected = {f"{n}/{layer}" for n, layer in per_layer.itertuples(index=False)}
    assert {"layer_grad_norm/net.0", "update_ratio/net.0", "dead_frac/net.2"} <= expected
    acc = read_events(tb)
    scalars = set(acc.Tags()["scalars"])
    assert {"train_loss", "val_loss", "val_acc", "grad_norm"} | expected <= scalars
    assert "lr_too_high" in text(acc, "nnlearn/findings")


def test_check_exports_a_training_log(tmp_path):
    from typer.testing import CliRunner

    from nnlearn.cli import app
    from tests.conftest import ROOT

    log = ROOT / "tests" / "fixtures" / "logs" / "hf_lr1" / "trainer_state.json"
    res = CliRunner().invoke(app, ["check", str(log), "--tensorboard", str(tmp_path), "--quiet"])
    assert res.exit_code == 1
    acc = read_events(tmp_path)
    assert {"train_loss", "val_loss", "grad_norm", "train_eval_loss"} <= set(acc.Tags()["scalars"])
    assert [e.step for e in acc.Scalars("val_loss")] == [20, 40, 60]
    assert "L103" in text(acc, "nnlearn/findings")
    assert text(acc, "nnlearn/verdict").startswith("**UNHEALTHY** hf_lr1")
