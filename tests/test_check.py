"""`nnlearn check`: training logs in the common formats, through the same rules."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from nnlearn.cli import app
from nnlearn.logs import read_log

STEPS = np.arange(300)
HEALTHY = 1.1 * np.exp(-STEPS / 60) + 0.05
RISING = 1.0 + STEPS / 50


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_plain_csv(tmp_path):
    pd.DataFrame({"step": STEPS, "loss": RISING}).to_csv(tmp_path / "log.csv", index=False)
    res = invoke("check", tmp_path / "log.csv", "--format", "json")
    assert res.exit_code == 1
    report = json.loads(res.stdout)
    assert report["verdict"] == "unhealthy" and report["columns"]["train_loss"] == "loss"
    assert {f["rule"] for f in report["findings"]} == {"L103"}


def test_healthy_jsonl_exits_0(tmp_path):
    lines = [
        json.dumps({"iteration": int(s), "train_loss": float(v)}) for s, v in zip(STEPS, HEALTHY)
    ]
    (tmp_path / "log.jsonl").write_text("\n".join(lines))
    res = invoke("check", tmp_path / "log.jsonl")
    assert res.exit_code == 0 and "HEALTHY" in res.stdout


def test_lightning_sparse_rows_are_not_nan_losses(tmp_path):
    rows = []
    for s in STEPS:
        rows.append({"epoch": s // 100, "step": s, "train_loss_step": HEALTHY[s], "val_loss": None})
        if s % 100 == 99:
            rows.append({"epoch": s // 100, "step": s, "train_loss_step": None, "val_loss": 0.2})
    pd.DataFrame(rows).to_csv(tmp_path / "metrics.csv", index=False)
    m, used = read_log(tmp_path / "metrics.csv")
    assert used["train_loss"] == "train_loss_step" and len(m.series("train_loss")) == 300
    assert m.series("val_loss").tolist() == [0.2, 0.2, 0.2]
    assert m.fact("run.stopped") == "completed"


def test_hugging_face_trainer_state_with_a_nan_loss(tmp_path):
    history = [{"loss": float(v), "step": int(s)} for s, v in zip(STEPS[:40], HEALTHY[:40])]
    history += [{"eval_loss": 0.4, "step": 39}, {"loss": float("nan"), "step": 40}]
    (tmp_path / "trainer_state.json").write_text(json.dumps({"log_history": history}))
    res = invoke("check", tmp_path / "trainer_state.json", "--format", "json")
    report = json.loads(res.stdout)
    assert res.exit_code == 1
    [f] = [f for f in report["findings"] if f["rule"] == "L101"]
    assert f["evidence"]["step"] == 40


def test_nnlearn_own_metrics_table(tmp_path):
    pytest.importorskip("pyarrow")
    rows = [("main", int(s), "train_loss", "", float(v)) for s, v in zip(STEPS, RISING)]
    pd.DataFrame(rows, columns=["run", "step", "name", "layer", "value"]).to_parquet(
        tmp_path / "metrics.parquet"
    )
    m, used = read_log(tmp_path / "metrics.parquet")
    assert len(m.series("train_loss")) == 300
    assert invoke("check", tmp_path / "metrics.parquet", "--quiet").exit_code == 1


def test_log_without_a_loss_column_exits_2(tmp_path):
    pd.DataFrame({"step": [1, 2], "lr": [0.1, 0.1]}).to_csv(tmp_path / "log.csv", index=False)
    res = invoke("check", tmp_path / "log.csv")
    assert res.exit_code == 2 and "no loss column" in res.output


def test_unknown_format_and_missing_file_exit_2(tmp_path):
    (tmp_path / "log.xyz").write_text("x")
    assert invoke("check", tmp_path / "log.xyz").exit_code == 2
    assert invoke("check", tmp_path / "nope.csv").exit_code == 2


def test_check_does_not_import_torch(tmp_path):
    import subprocess
    import sys

    pd.DataFrame({"step": STEPS, "loss": HEALTHY}).to_csv(tmp_path / "log.csv", index=False)
    code = (
        "import sys\nfrom nnlearn.cli import app\nsys.argv=['nnlearn','check',sys.argv[1]]\n"
        "try:\n    app()\nexcept SystemExit:\n    pass\nprint('torch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "log.csv")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip().endswith("False")
