"""End to end: the CI gate (exit codes per --fail-on, JUnit, GitHub), the Markdown report, and
a NaN input column diagnosed as a data problem first. Small probes (tens of steps)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
from typer.testing import CliRunner

from nnlearn.cli import app
from nnlearn.rules import Cause, Finding, RuleOutcome, Severity, registry
from tests.conftest import CONFIGS, probe

runner = CliRunner()
SMALL = ["--steps", "60", "--set", "probe.experiments=[init_check]", "--set", "probe.budget_s=30"]
DIVERGING = [*SMALL, "--set", "optimizer.lr=50"]


def invoke(args, env=None):
    # not GitHub unless a test says so, even when the suite itself runs in GitHub Actions
    env = {"GITHUB_ACTIONS": "false", **(env or {})}
    return runner.invoke(app, ["probe", str(CONFIGS / "quickstart.yaml"), *args], env=env)


@pytest.mark.slow
def test_gate_fails_on_a_diverging_run_with_junit_markdown_and_github(tmp_path):
    summary = tmp_path / "summary.md"
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary), "NO_COLOR": "1"}
    args = [*DIVERGING, "--out", str(tmp_path / "run"), "--junit", str(tmp_path / "j.xml")]
    args += ["--markdown", str(tmp_path / "report.md"), "--json", str(tmp_path / "f.json")]
    r = invoke(args, env)
    assert r.exit_code == 1, r.output
    assert "::error file=" in r.output and "title=nnlearn L103 diverging-loss" in r.output
    assert r.output.splitlines()[0].startswith("::error")  # annotations before the report
    root = ET.parse(tmp_path / "j.xml").getroot()
    failed = [c.get("name") for c in root.iter("testcase") if c.find("failure") is not None]
    assert "L103 diverging-loss" in failed
    assert int(root.get("tests")) == len(registry())
    md = (tmp_path / "report.md").read_text()
    assert "is unhealthy" in md and "lr_too_high" in md and "## Curves" in md
    step_summary = summary.read_text()
    assert step_summary.startswith("# nnlearn: spirals-mlp is unhealthy")
    assert "![" not in step_summary  # run-folder images do not exist on github.com
    data = json.loads((tmp_path / "f.json").read_text())
    assert data["exit_code"] == 1 and data["findings"][0]["cause"] == "lr_too_high"
    assert data["artifacts"]["junit"] == str(tmp_path / "j.xml")


@pytest.mark.slow
def test_fail_on_never_and_formats(tmp_path):
    r = invoke([*DIVERGING, "--out", str(tmp_path / "a"), "--fail-on", "never", "--quiet"])
    assert r.exit_code == 0
    assert r.output.startswith("UNHEALTHY spirals-mlp: lr_too_high") and r.output.count("\n") == 1
    r = invoke([*DIVERGING, "--out", str(tmp_path / "b"), "--format", "markdown"])
    assert r.exit_code == 1 and r.output.startswith("# nnlearn: spirals-mlp is unhealthy")


@pytest.mark.slow
def test_healthy_run_passes_the_strictest_gate(tmp_path):
    r = invoke(
        [*SMALL, "--steps", "200", "--out", str(tmp_path / "run"), "--fail-on", "warning"],
        {"NO_COLOR": "1"},
    )
    assert r.exit_code == 0, r.output
    assert r.output.startswith("HEALTHY")
    assert "\x1b[" not in r.output


@pytest.mark.slow
def test_user_code_that_raises_gives_exit_3_and_an_errored_junit(tmp_path, monkeypatch):
    # a data rule (issue 4's kind) that sees out-of-range labels: composed here, so the test
    # shows how a crash gets its likely cause whatever rules are installed
    import nnlearn.rules

    def data_rules(m, disable=(), thresholds=None):
        assert m.fact("data.n_train") > 0 and m.metrics.empty  # the audit only, no training
        bad = Finding(
            "D399",
            "labels-out-of-range",
            Severity.ERROR,
            Cause.INVALID_DATA,
            "label 3 is out of range for 3 outputs",
            {"max_label": 3},
            ["remap labels"],
        )
        return [RuleOutcome("D399", "labels-out-of-range", "failed", [bad])]

    monkeypatch.setattr(nnlearn.rules, "evaluate_rules", data_rules)
    (tmp_path / "broken.py").write_text(
        "import torch\n"
        "class Net(torch.nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.lin = torch.nn.Linear(2, 3)\n"
        "    def forward(self, x):\n"
        "        raise ValueError('shapes do not match')\n"
    )
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "name: broken\ndata: {kind: synthetic, name: spirals, n_samples: 200}\n"
        "model: {_target_: broken.Net}\nprobe: {steps: 5, experiments: [init_check]}\n"
    )
    junit = tmp_path / "j.xml"
    r = runner.invoke(
        app, ["probe", str(spec), "--out", str(tmp_path / "run"), "--junit", str(junit)]
    )
    assert r.exit_code == 3, r.output
    assert "ValueError: shapes do not match" in r.output
    assert "likely cause" in r.output and "D399 labels-out-of-range" in r.output
    err = ET.parse(junit).getroot().find(".//error")
    assert err is not None and "ValueError" in err.text and "D399" in err.text


NAN_CSV_ROWS = 400


def _nan_csv(tmp_path):
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=(NAN_CSV_ROWS, 3))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    x[rng.choice(NAN_CSV_ROWS, 40, replace=False), 2] = np.nan
    lines = ["a,b,c,label"] + [f"{a},{b},{c},{t}" for (a, b, c), t in zip(x, y, strict=True)]
    (tmp_path / "nan.csv").write_text("\n".join(lines).replace("nan", "") + "\n")
    spec = tmp_path / "nan.yaml"
    spec.write_text(
        "name: nan-column\ndata: {kind: csv, path: nan.csv, target: label, batch_size: 32}\n"
        "model: {kind: mlp, hidden: [16]}\n"
        "probe: {steps: 40, budget_s: 30, experiments: [init_check]}\n"
    )
    return spec


@pytest.mark.slow
def test_a_nan_input_column_is_diagnosed_as_data_first(tmp_path):
    result = probe(_nan_csv(tmp_path), tmp_path / "run")
    assert result.verdict == "unhealthy"
    l101 = next(f for f in result.findings if f.rule == "L101")
    assert l101.evidence["step"] == 0
    if not any(cls.cause == Cause.INVALID_DATA for cls in registry().values()):
        pytest.skip("no data-audit rule installed: the NaN loss is the only finding")
    top = result.findings[0]
    assert top.cause == Cause.INVALID_DATA, [(f.rule, f.cause) for f in result.findings]
    assert l101.explained_by == top.rule and "L101" in top.explains
