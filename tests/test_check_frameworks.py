"""`nnlearn check` on logs the real frameworks wrote.

tests/fixtures/logs/ holds small logs of real runs (made by tests/fixtures/make_logs.py with
tests/framework_logs.py: Lightning 2.6 CSVLogger, transformers 5 Trainer + save_state on a tiny
BERT built from a config); the slow tests at the end make two of them afresh.
"""

from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner

from nnlearn.cli import app
from nnlearn.logs import read_log
from tests.conftest import ROOT

LOGS = ROOT / "tests" / "fixtures" / "logs"


def check(path, *args):
    res = CliRunner().invoke(app, ["check", str(path), "--format", "json", *map(str, args)])
    assert res.exit_code in (0, 1), res.output
    report = json.loads(res.stdout)
    assert report["exit_code"] == res.exit_code
    return report


def causes(report) -> list[str]:
    return [f["cause"] for f in report["findings"]]


def statuses(report) -> dict[str, str]:
    return {r["rule"]: r["status"] for r in report["rules"]}


@pytest.mark.parametrize("copy", ["trainer_state.json", "checkpoint-60/trainer_state.json"])
def test_hf_diverged_run_fails_the_gate(copy):
    report = check(LOGS / "hf_lr1" / copy)
    assert report["exit_code"] == 1 and report["verdict"] == "unhealthy"
    assert causes(report)[0] == "lr_too_high"
    assert report["columns"]["train_loss"] == "loss"  # the per-step rows, not the run summary
    assert report["steps"] == 60 and report["chance_loss"]["value"] == pytest.approx(0.6931, 1e-3)
    assert "config.json (2 labels)" in report["chance_loss"]["from"]


def test_hf_healthy_run_is_healthy():
    report = check(LOGS / "hf_healthy" / "trainer_state.json")
    assert report["verdict"] == "healthy" and report["exit_code"] == 0


def test_hf_summary_row_is_not_a_training_step():
    m, used = read_log(LOGS / "hf_lr1" / "trainer_state.json")
    loss = m.series("train_loss")
    assert list(loss.index) == list(range(5, 61, 5))  # 12 logged steps, no run-average row
    assert used["val_loss"] == "eval_loss" and len(m.series("val_loss")) == 3
    # the training reference for the validation loss: the mean since the previous evaluation
    ref = m.series("train_eval_loss")
    assert list(ref.index) == [20, 40, 60]
    assert ref[20] == pytest.approx(loss[loss.index <= 20].mean())


def test_lightning_overfitting_on_40_random_labels_is_found():
    report = check(LOGS / "lightning_overfit" / "metrics.csv")
    assert report["columns"]["train_eval_loss"] == "train_loss_epoch"
    assert report["columns"]["train_loss"] == "train_loss_step"
    assert causes(report) == ["overfitting"] and report["verdict"] == "unhealthy"


def test_lightning_healthy_run_is_healthy_even_logged_every_50_steps():
    for name in ("lightning_healthy", "lightning_every50"):
        report = check(LOGS / name / "metrics.csv")
        assert report["verdict"] == "healthy", name  # not inconclusive: 250 steps ran
        assert report["steps"] == 250


def test_lightning_lr_50_blow_up_in_the_first_rows_is_judged_against_chance():
    report = check(LOGS / "lightning_lr50" / "metrics.csv", "--classes", "3")
    assert report["exit_code"] == 1 and causes(report)[0] == "lr_too_high"
    [l103] = [f for f in report["findings"] if f["rule"] == "L103"]
    assert l103["evidence"]["first_logged_loss"] > 1e6
    healthy = check(LOGS / "lightning_healthy" / "metrics.csv", "--classes", "3")
    assert healthy["verdict"] == "healthy"


def test_rules_without_evidence_are_skipped_not_passed():
    report = check(LOGS / "lightning_healthy" / "metrics.csv")
    rules = statuses(report)
    assert rules["B702"] == "skipped" and rules["F804"] == "skipped"
    assert rules["L103"] == "passed" and rules["F801"] == "passed"
    sparse = statuses(check(LOGS / "lightning_every50" / "metrics.csv"))
    assert sparse["L103"] == "skipped"  # 5 logged losses cannot show a divergence


def test_map_names_other_columns(tmp_path):
    src = (LOGS / "lightning_overfit" / "metrics.csv").read_text()
    renamed = src.replace("train_loss_step", "batch_ce").replace("train_loss_epoch", "epoch_ce")
    renamed = renamed.replace("val_loss", "holdout")
    (tmp_path / "log.csv").write_text(renamed)
    bare = CliRunner().invoke(app, ["check", str(tmp_path / "log.csv")])
    assert bare.exit_code == 2 and "--map" in bare.output
    report = check(
        tmp_path / "log.csv",
        "--map",
        "batch_ce=train_loss",
        "--map",
        "epoch_ce=train_eval_loss",
        "--map",
        "holdout=val_loss",
    )
    assert causes(report) == ["overfitting"]
    bad = CliRunner().invoke(app, ["check", str(tmp_path / "log.csv"), "--map", "holdout=vall"])
    assert bad.exit_code == 2 and "unknown quantity 'vall'" in bad.output
    missing = CliRunner().invoke(app, ["check", str(tmp_path / "log.csv"), "--map", "x=val_loss"])
    assert missing.exit_code == 2 and "no column 'x'" in missing.output


def test_check_writes_junit_markdown_and_github_output(tmp_path, monkeypatch):
    import xml.etree.ElementTree as ET

    from tests.test_ci import schema_problems

    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_WORKSPACE", str(ROOT))
    log = LOGS / "hf_lr1" / "trainer_state.json"
    res = CliRunner().invoke(
        app,
        [
            "check",
            str(log),
            "--junit",
            str(tmp_path / "r.xml"),
            "--markdown",
            str(tmp_path / "r.md"),
        ],
    )
    assert res.exit_code == 1
    assert "::error file=tests/fixtures/logs/hf_lr1/trainer_state.json,title=nnlearn L103" in (
        res.stdout
    )
    xml = (tmp_path / "r.xml").read_text()
    assert schema_problems(xml) == []
    suite = ET.fromstring(xml).find("testsuite")
    cases = {c.get("name").split()[0]: c for c in suite.findall("testcase")}
    assert cases["L103"].find("failure") is not None and cases["B702"].find("skipped") is not None
    md = (tmp_path / "r.md").read_text()
    assert md.startswith("# nnlearn check: hf_lr1 is unhealthy") and "L103" in md
    assert "| train_loss | `loss` |" in md
    assert summary.read_text().strip() == md.strip()


@pytest.mark.slow
def test_a_fresh_lightning_csvlogger_log(tmp_path):
    pytest.importorskip("lightning")
    from tests.framework_logs import lightning_metrics

    path = lightning_metrics(tmp_path, random_labels=40, epochs=60)
    report = check(path)
    assert "overfitting" in causes(report)


@pytest.mark.slow
def test_a_fresh_hugging_face_trainer_state(tmp_path):
    pytest.importorskip("transformers")
    pytest.importorskip("accelerate")
    from tests.framework_logs import hf_trainer_state

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    path = hf_trainer_state(tmp_path, lr=1.0)
    assert path == tmp_path / "hf" / "trainer_state.json"
    res = CliRunner().invoke(app, ["check", str(path), "--quiet"])
    assert res.exit_code == 1 and res.stdout.startswith("UNHEALTHY")


def test_lightning_hparams_give_the_number_of_classes(tmp_path):
    import shutil

    shutil.copy(LOGS / "lightning_lr50" / "metrics.csv", tmp_path / "metrics.csv")
    (tmp_path / "hparams.yaml").write_text("model:\n  num_classes: 3\n  lr: 50.0\n")
    report = check(tmp_path / "metrics.csv")
    assert report["chance_loss"]["from"].endswith("hparams.yaml (3 classes)")
    assert report["exit_code"] == 1 and causes(report)[0] == "lr_too_high"
    (tmp_path / "hparams.yaml").write_text("{}\n")  # what CSVLogger writes without hparams
    assert check(tmp_path / "metrics.csv")["verdict"] == "healthy"
