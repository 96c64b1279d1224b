"""Renderers on a composed probe result: terminal, Markdown, JUnit, GitHub, plots, JSON."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
from rich.console import Console

from nnlearn.probe.runner import ProbeResult
from nnlearn.report import github
from nnlearn.report.artifacts import write_reports
from nnlearn.report.json_report import report_dict
from nnlearn.report.junit import error_xml, junit_xml
from nnlearn.report.markdown import render_markdown
from nnlearn.report.terminal import render
from nnlearn.rules import Cause, Finding, RuleOutcome, Severity
from nnlearn.spec import load_spec
from nnlearn.verdict import diagnose, exit_code_for
from tests.conftest import CONFIGS, measurements, series


def make_result(findings_by_rule: dict[str, list[Finding]], skipped=("G401",)) -> ProbeResult:
    rows = series("train_loss", [2.0 - i / 100 for i in range(100)])
    rows += series("val_loss", [1.9, 1.5, 1.2, 1.1], start=0)
    rows += [
        ("main", s, "grad_norm", layer, 0.1 * (i + 1))
        for s in (0, 50, 99)
        for i, layer in enumerate(["net.0", "net.2"])
    ]
    rows += [
        ("main", s, "update_ratio", layer, 1e-3 * (i + 1) * (1 + s / 100))
        for s in range(0, 100, 10)
        for i, layer in enumerate(["net.0", "net.2"])
    ]
    facts = {
        "run": {"steps_planned": 100, "steps_done": 100, "stopped": "completed"},
        "data": {"source": "synthetic:spirals", "task": "classification", "n_train": 1600},
        "model": {"class": "MLP", "n_parameters": 4547},
    }
    m = measurements(rows, facts)
    outcomes = [
        RuleOutcome(code, code.lower(), "failed" if fs else "passed", fs)
        for code, fs in findings_by_rule.items()
    ]
    outcomes += [
        RuleOutcome(c, "skipped-rule", "skipped", reason="not enough evidence: no x")
        for c in skipped
    ]
    outcomes.append(RuleOutcome("Z999", "off", "disabled", reason="disabled in the spec"))
    verdict, findings = diagnose(outcomes, m)
    return ProbeResult(
        spec=load_spec(CONFIGS / "quickstart.yaml", []),
        spec_path="configs/quickstart.yaml",
        device="cpu",
        duration_s=3.2,
        measurements=m,
        outcomes=outcomes,
        findings=findings,
        verdict=verdict,
        experiments={"lr_range": {"suggested_lr": 0.003}},
    )


def f(rule, cause, severity, message="something is off", **evidence):
    return Finding(rule, rule.lower(), severity, cause, message, evidence, ["first fix", "second"])


@pytest.fixture
def nan_result():
    return make_result(
        {
            "L101": [f("L101", Cause.POOR_INITIALIZATION, Severity.ERROR, "loss is nan", step=0)],
            "D301": [
                f("D301", Cause.INVALID_DATA, Severity.ERROR, "column x3 has 40 NaN", column="x3")
            ],
            "L102": [],
            "F801": [f("F801", Cause.OVERFITTING, Severity.WARNING, "val loss | rises", step=50)],
            "D303": [f("D303", Cause.BIASED_DATA, Severity.INFO, "classes 60/40")],
        }
    )


def plain(result, **kw) -> str:
    console = Console(width=100, force_terminal=False, color_system=None, markup=False)
    with console.capture() as cap:
        render(result, console, **kw)
    return cap.get()


def test_terminal_puts_the_root_cause_first(nan_result):
    out = plain(nan_result, exit_code=1)
    assert out.startswith("UNHEALTHY  spirals-mlp: invalid_data (D301 d301)")
    assert "also explains L101" in out.splitlines()[1]
    body = out[out.index("Findings") :]
    assert body.index("1. invalid_data") < body.index("also explains:") < body.index("L101 l101")
    assert body.index("L101 l101") < body.index("2. overfitting") < body.index("3. biased_data")
    assert "evidence: column x3" in out and "fix 1: first fix" in out
    assert "suggested lr  0.003" in out and "\x1b[" not in out


def test_quiet_prints_only_the_verdict_line(nan_result):
    out = plain(nan_result, quiet=True, exit_code=1).strip()
    assert "\n" not in out
    assert out.startswith("UNHEALTHY spirals-mlp: invalid_data (D301") and "exit 1" in out


def test_healthy_terminal():
    out = plain(make_result({"L101": [], "L102": []}))
    assert out.startswith("HEALTHY") and "no problem found in 100 steps" in out
    assert "Findings" not in out


def test_json_findings_are_in_diagnosis_order(nan_result):
    data = report_dict(nan_result, "error", 1)
    assert [x["rule"] for x in data["findings"]] == ["D301", "L101", "F801", "D303"]
    first = data["findings"][0]
    assert first["explains"] == ["L101"] and data["findings"][1]["explained_by"] == "D301"
    for key in ("rule", "name", "severity", "cause", "message", "evidence", "fixes"):
        assert key in first
    assert data["verdict"] == "unhealthy"
    json.dumps(data)


def test_markdown_is_self_contained(nan_result):
    md = render_markdown(nan_result, "error", 1)
    assert md.startswith("# nnlearn: spirals-mlp is unhealthy")
    for part in (
        "## Findings",
        "**Also explains:**",
        "## Curves",
        "## Spec",
        "```yaml",
        "## Environment",
        "| python |",
        "`invalid_data`",
    ):
        assert part in md, part
    assert "val loss | rises" in md
    assert "Most likely cause: invalid_data (D301 d301)" in md
    assert md.index("**ERROR D301") < md.index("**ERROR L101")


def test_junit_one_case_per_rule_failures_per_gate(nan_result):
    root = ET.fromstring(junit_xml(nan_result, "error"))
    suite = root.find("testsuite")
    cases = {c.get("name").split()[0]: c for c in suite.findall("testcase")}
    assert set(cases) == {"L101", "D301", "L102", "F801", "D303", "G401"}  # not the disabled one
    failed = {k for k, c in cases.items() if c.find("failure") is not None}
    assert failed == {"D301", "L101"}
    assert cases["G401"].find("skipped") is not None
    assert "val loss | rises" in cases["F801"].find("system-out").text
    assert (
        suite.get("tests") == "6" and suite.get("failures") == "2" and suite.get("skipped") == "1"
    )
    assert cases["L101"].find("failure").get("message") == "error: loss is nan"
    assert "explained by D301" in cases["L101"].find("failure").text

    warn = ET.fromstring(junit_xml(nan_result, "warning"))
    assert warn.get("failures") == "3"
    never = ET.fromstring(junit_xml(nan_result, "never"))
    assert never.get("failures") == "0"
    for gate in ("error", "warning", "never"):
        n_fail = int(ET.fromstring(junit_xml(nan_result, gate)).get("failures"))
        assert (n_fail > 0) == (exit_code_for(nan_result.findings, gate) == 1)


def test_junit_survives_characters_xml_cannot_carry():
    r = make_result({"L101": [f("L101", Cause.LR_TOO_HIGH, Severity.ERROR, 'bad \x00 <&> "q"')]})
    root = ET.fromstring(junit_xml(r, "error"))
    assert "<&>" in root.find(".//failure").get("message")
    err = ET.fromstring(error_xml("spec", "s.yaml", "training step raised ValueError: x\ntrace"))
    assert err.get("errors") == "1" and err.find(".//error").get("message").startswith("training")


def test_github_annotations_are_escaped():
    r = make_result(
        {"L101": [f("L101", Cause.LR_TOO_HIGH, Severity.ERROR, "100% bad\r\nnext", step=3)]},
        skipped=(),
    )
    (line,) = github.annotations(r.findings, "dir:a,b/spec.yaml")
    assert line.startswith(
        "::error file=dir%3Aa%2Cb/spec.yaml,title=nnlearn L101 l101 (lr_too_high)::"
    )
    message = line.split("::", 2)[2]
    assert "100%25 bad%0D%0Anext" in message and "\n" not in line and "\r" not in line
    assert github.escape_property("a:b,c%") == "a%3Ab%2Cc%25"


def test_github_annotation_limits():
    many = [f(f"L1{i:02d}", Cause.LR_TOO_HIGH, Severity.WARNING, "x" * 5000) for i in range(15)]
    lines = github.annotations(many, None)
    assert sum(x.startswith("::warning") for x in lines) == github.MAX_PER_LEVEL
    assert lines[-1].startswith("::notice") and "5 more" in lines[-1]
    assert all(len(x) < github.MAX_MESSAGE + 200 for x in lines)


def test_step_summary_is_appended_within_the_limit(tmp_path, monkeypatch):
    target = tmp_path / "summary.md"
    target.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(target))
    github.append_step_summary("# report\n")
    github.append_step_summary("y" * (github.SUMMARY_LIMIT + 10))
    text = target.read_text()
    assert text.startswith("earlier step\n# report\n")
    assert len(text.encode()) < 2 * github.SUMMARY_LIMIT and "cut to fit" in text


def test_write_reports_makes_every_artefact(nan_result, tmp_path):
    nan_result.run_dir = tmp_path / "run"
    nan_result.run_dir.mkdir()
    nan_result.artifacts["findings"] = str(nan_result.run_dir / "findings.json")
    data, md = write_reports(
        nan_result,
        "error",
        1,
        markdown_path=tmp_path / "out" / "r.md",
        junit_path=tmp_path / "j.xml",
    )
    assert (tmp_path / "out" / "r.md").read_text().startswith("# nnlearn")
    ET.parse(tmp_path / "j.xml")
    saved = json.loads((nan_result.run_dir / "findings.json").read_text())
    assert saved["artifacts"]["junit"] == str(tmp_path / "j.xml")
    assert (nan_result.run_dir / "report.md").exists() and "![" not in md
    pytest.importorskip("matplotlib")
    assert (nan_result.run_dir / "loss.png").exists()
    assert (nan_result.run_dir / "grad_norms.png").exists()
    assert (nan_result.run_dir / "update_ratios.png").exists()
    assert saved["artifacts"]["plot_update_ratios"].endswith("update_ratios.png")
    assert "![loss](../run/loss.png)" in (tmp_path / "out" / "r.md").read_text()
