"""End to end: every data/bug example gets its rule and cause; healthy data stays quiet;
fatal setups end in a report with exit 1, never a traceback; a 100k-row CSV audits in seconds."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest
from conftest import EXAMPLES, causes, codes, probe

from nnlearn.rules import Severity
from nnlearn.verdict import exit_code_for

pytestmark = pytest.mark.slow

# example -> (rule, cause, exit code with --fail-on error, trained?)
EXPECTED = {
    "data_nan": ("D301", "invalid_data", 1, True),
    "data_unnormalized": ("D302", "unnormalized_input", 1, True),  # F804: losses 11x chance
    "data_regression_targets": ("D303", "unnormalized_input", 1, True),  # still far off at 60
    "data_imbalanced": ("D304", "biased_data", 1, True),  # F804: it predicts the majority
    "data_conflicting": ("D305", "inconsistent_data", 0, True),
    "data_leaky": ("D306", "inconsistent_data", 0, True),
    "data_one_based_labels": ("D307", "invalid_data", 1, False),
    "data_tiny": ("D308", "insufficient_data", 1, True),  # F804: no better than the prior
    "bug_frozen": ("B701", "implementation_bug", 1, False),
    "bug_detached": ("B702", "implementation_bug", 1, True),
    "bug_optimizer_misses_head": ("B703", "implementation_bug", 1, True),
    "bug_double_softmax": ("B704", "implementation_bug", 1, True),
    "bug_logits_into_bce": ("B704", "implementation_bug", 1, False),
    "bug_broadcast": ("B705", "implementation_bug", 1, True),
    "bug_mse_on_labels": ("B706", "implementation_bug", 0, True),
    "bug_ce_on_continuous": ("B706", "implementation_bug", 1, False),
    "bug_loud_head": ("B707", "implementation_bug", 0, True),
    "bug_loss_fails": ("B708", "implementation_bug", 1, False),
    "bug_bounded_head": ("B711", "implementation_bug", 1, True),
}
# short runs: the findings come from the data and the first steps
FAST = {"probe.steps": 60, "probe.budget_s": 20, "probe.eval_every": 20}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_gets_its_rule_and_cause(name):
    rule, cause, exit_code, trained = EXPECTED[name]
    result = probe(EXAMPLES / f"{name}.yaml", None, FAST)
    assert rule in codes(result), [f.message for f in result.findings]
    assert cause in causes(result)
    mine = [f for f in result.findings if f.rule == rule]
    assert all(f.cause.value == cause for f in mine)
    assert exit_code_for(result.findings, "error") == exit_code
    assert (result.measurements.fact("run.steps_done") > 0) == trained
    if not trained:
        assert any("training skipped" in n for n in result.notes)


@pytest.mark.parametrize("name", ["data_mild_imbalance", "../quickstart"])
def test_healthy_data_gives_no_warning(name):
    result = probe(EXAMPLES / f"{name}.yaml", None, {"probe.steps": 300, "probe.budget_s": 30})
    loud = [f for f in result.findings if f.severity.rank >= Severity.WARNING.rank]
    assert loud == [], [f.message for f in loud]
    assert result.measurements.fact("data.class_counts")
    assert result.measurements.fact("setup.fatal") is None


def test_bounded_head_whose_range_holds_the_targets_stays_quiet():
    result = probe(EXAMPLES / "bounded_head_fits.yaml", None, {"probe.steps": 300})
    loud = [f for f in result.findings if f.severity.rank >= Severity.WARNING.rank]
    assert loud == [], [f.message for f in loud]
    reach = result.measurements.fact("setup.output_reach")
    assert reach["range"] == [0.0, 1.0] and reach["forbidden"] < 0.01  # measured, and fits


@pytest.mark.parametrize("name", ["data_nan", "data_one_based_labels"])
def test_fatal_setup_is_a_report_with_exit_1_not_a_traceback(name, tmp_path):
    from typer.testing import CliRunner

    from nnlearn.cli import app

    out = tmp_path / "report.json"
    res = CliRunner().invoke(
        app, ["probe", str(EXAMPLES / f"{name}.yaml"), "--json", str(out), "--out", str(tmp_path)]
    )
    assert res.exit_code == 1, res.output
    assert "Traceback" not in res.output
    report = json.loads(out.read_text())
    assert report["exit_code"] == 1
    assert report["findings"][0]["rule"] == EXPECTED[name][0]


def _csv(path, n: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.normal(size=(n, 10)), columns=[f"f{i}" for i in range(10)])
    df["income"] = rng.normal(50_000, 15_000, n)
    df.loc[rng.random(n) < 0.01, "f3"] = np.nan
    df["label"] = rng.integers(1, 4, n)  # 1-based
    df.to_csv(path, index=False)


def test_csv_audit_names_columns_and_takes_seconds(tmp_path):
    from nnlearn.audit import audit_data
    from nnlearn.data import build_data
    from nnlearn.spec import load_spec

    path = tmp_path / "big.csv"
    _csv(path, 100_000)
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(
        "data: {kind: csv, path: big.csv, target: label}\nmodel: {kind: mlp, hidden: [16]}\n"
        "probe: {steps: 20, experiments: [init_check]}\n"
    )
    spec = load_spec(spec_path, [])
    start = time.perf_counter()
    facts = audit_data(build_data(spec, str(spec_path)), seed=0)
    elapsed = time.perf_counter() - start
    assert elapsed < 10, f"loading and auditing 100k rows took {elapsed:.1f}s"
    assert list(facts["nonfinite"]["train"]["inputs"]["where"]) == ["f3"]
    assert facts["inputs"]["worst"][0]["name"] == "income"
    result = probe(spec_path)
    assert {"D301", "D302"} <= codes(result)
