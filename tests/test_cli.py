"""The command line end to end, through typer's CliRunner: output, artefacts, exit codes."""

import json

import pytest
import torch
from conftest import CONFIGS, write
from typer.testing import CliRunner

from nnlearn.cli import app

runner = CliRunner()
QUICK = str(CONFIGS / "quickstart.yaml")
# the quickstart, shortened: these tests check plumbing, not diagnoses
FAST = ["--steps", "120", "--set", "probe.experiments=[init_check]"]

SPEC_FIELDS = {
    "nnlearn",
    "spec",
    "name",
    "verdict",
    "fail_on",
    "exit_code",
    "device",
    "seed",
    "duration_s",
    "summary",
    "findings",
    "experiments",
    "artifacts",
}


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.mark.slow
def test_quickstart_is_healthy(tmp_path):
    out = tmp_path / "run"
    res = invoke("probe", QUICK, "--out", out, "--json", tmp_path / "r.json")
    assert res.exit_code == 0, res.output
    assert "HEALTHY" in res.stdout and "spirals-mlp" in res.stdout
    report = json.loads((tmp_path / "r.json").read_text())
    assert SPEC_FIELDS <= set(report)
    assert report["verdict"] == "healthy" and report["exit_code"] == 0
    assert report["summary"] == {"error": 0, "warning": 0, "info": 0}
    assert (out / "spec.yaml").exists() and (out / "findings.json").exists()
    metrics = report["artifacts"]["metrics"]
    assert metrics.endswith((".parquet", ".csv")) and (out / metrics.split("/")[-1]).exists()
    assert json.loads((out / "findings.json").read_text())["verdict"] == "healthy"


@pytest.mark.slow
def test_huge_learning_rate_fails_the_gate(tmp_path):
    res = invoke(
        "probe", QUICK, *FAST, "--set", "optimizer.lr=50", "--out", tmp_path, "--format", "json"
    )
    assert res.exit_code == 1, res.output
    report = json.loads(res.stdout)
    assert report["verdict"] == "unhealthy" and report["exit_code"] == 1
    rules = {f["rule"] for f in report["findings"]}
    assert rules & {"L101", "L103"}
    finding = next(f for f in report["findings"] if f["rule"] in ("L101", "L103"))
    assert {"rule", "name", "severity", "cause", "message", "evidence", "fixes"} <= set(finding)
    assert finding["severity"] == "error" and finding["cause"] == "lr_too_high"


@pytest.mark.slow
def test_fail_on_levels(tmp_path):
    # a flat loss (L102) and no-better-than-baseline (F804) are errors (issue 12): without them
    # a rate of 1e-7 leaves U202's warning, which does not fail the default gate
    quiet_errors = "probe.rules.disable=[L102,F804]"
    args = ("probe", QUICK, *FAST, "--set", "optimizer.lr=1e-7", "--set", quiet_errors)
    args += ("--out", tmp_path, "--quiet")
    assert invoke(*args).exit_code == 0
    res = invoke(*args, "--fail-on", "warning")
    assert res.exit_code == 1 and "lr_too_low" in res.stdout
    assert (
        invoke(
            "probe",
            QUICK,
            *FAST,
            "--set",
            "optimizer.lr=50",
            "--out",
            tmp_path,
            "--fail-on",
            "never",
            "--quiet",
        ).exit_code
        == 0
    )


def test_typo_in_section_name_exits_2(tmp_path):
    spec = write(
        tmp_path, (CONFIGS / "quickstart.yaml").read_text().replace("optimizer:", "optimiser:")
    )
    res = invoke("probe", spec)
    assert res.exit_code == 2
    assert "optimiser: unknown key; did you mean 'optimizer'?" in res.output
    assert "Traceback" not in res.output
    assert not (tmp_path / "runs").exists()


def test_missing_spec_exits_2(tmp_path):
    res = invoke("probe", tmp_path / "nope.yaml")
    assert res.exit_code == 2 and "spec file not found" in res.output


def test_malformed_set_exits_2():
    res = invoke("probe", QUICK, "--set", "optimizer.lr")
    assert res.exit_code == 2 and "dotted.key=value" in res.output


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_gpu_exits_3(tmp_path):
    res = invoke("probe", QUICK, "--device", "cuda", "--out", tmp_path)
    assert res.exit_code == 3 and "CUDA is not available" in res.output


def test_user_code_error_exits_3_with_its_traceback(usercode):
    spec = write(
        usercode, "data: {name: xor, n_samples: 100}\nmodel: {_target_: usercode.BrokenModel}\n"
    )
    res = invoke("probe", spec, "--out", usercode / "run")
    assert res.exit_code == 3, res.output
    assert "RuntimeError" in res.output and "usercode.py" in res.output
    assert "return self.fc(x)" in res.output


@pytest.mark.slow
def test_user_model_and_data_probe(usercode):
    spec = write(
        usercode,
        "name: user\ndata: {_target_: usercode.make_datasets, batch_size: 32}\n"
        "model: {_target_: usercode.TwoLayer, width: 16}\n"
        "optimizer: {lr: 0.01}\nprobe: {steps: 100, experiments: [init_check]}\n",
    )
    res = invoke("probe", spec, "--out", usercode / "run", "--format", "json")
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["name"] == "user" and report["run"]["steps_done"] == 100


def test_validate(usercode):
    ok = write(
        usercode,
        "data: {_target_: usercode.make_tensors, n: 40}\nmodel: {_target_: usercode.TwoLayer}\n",
    )
    res = invoke("validate", ok)
    assert res.exit_code == 0 and "valid" in res.stdout and "usercode.TwoLayer" in res.stdout
    bad = write(
        usercode, "data: {name: xor}\nmodel: {_target_: usercode.TwoLayer, widht: 3}\n", "bad.yaml"
    )
    res = invoke("validate", bad)
    assert (
        res.exit_code == 2 and "model.widht" in res.output and "did you mean 'width'" in res.output
    )


def test_init_writes_a_spec_that_validates(tmp_path):
    path = tmp_path / "nnlearn.yaml"
    assert invoke("init", path).exit_code == 0
    assert invoke("validate", path).exit_code == 0
    again = invoke("init", path)
    assert again.exit_code == 2 and "--force" in again.output
    assert invoke("init", path, "--force").exit_code == 0


def test_help_lists_the_commands():
    res = invoke("--help")
    assert res.exit_code == 0
    for command in ("probe", "validate", "init"):
        assert command in res.stdout


def test_help_does_not_import_torch():
    import subprocess
    import sys

    code = (
        "import sys; from nnlearn.cli import app; sys.argv=['nnlearn','--help'];\n"
        "try:\n    app()\nexcept SystemExit:\n    pass\nprint('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("False")
