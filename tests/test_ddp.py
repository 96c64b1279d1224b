"""Distributed probes end to end, 2 gloo ranks on the CPU: `nnlearn probe --nproc 2` (healthy,
lr_too_high first as in one process, each DDP example's rule, a failing rank ends every rank
with exit 3) and `nnlearn.Probe` in a plain DDP script under torchrun (one report, from rank 0).
Each start of the launcher costs seconds: one probe per case, short runs. Ports: torchrun's
--standalone rendezvous picks a free one, so these tests run beside any other."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import CONFIGS, EXAMPLES, ROOT

pytestmark = pytest.mark.slow


def nnlearn(*args: str, tmp_path) -> tuple[int, str, str, dict]:
    out = tmp_path / "findings.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "nnlearn",
            "probe",
            *args,
            "--json",
            str(out),
            "--out",
            str(tmp_path / "run"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    report = json.loads(out.read_text()) if out.exists() else {}
    return proc.returncode, proc.stdout, proc.stderr, report


def torchrun(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            script,
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )


def first_cause(report: dict) -> str | None:
    return report["findings"][0]["cause"] if report.get("findings") else None


def test_nproc_healthy_run_exits_0_with_one_report(tmp_path):
    code, stdout, stderr, report = nnlearn(
        str(EXAMPLES / "ddp_healthy.yaml"), "--nproc", "2", tmp_path=tmp_path
    )
    assert code == 0, stdout + stderr
    assert report["verdict"] == "healthy" and report["findings"] == []
    assert stdout.count("HEALTHY") == 1  # rank 0 reports, rank 1 does not
    assert any("distributed: 2 ranks (gloo)" in n for n in report.get("notes", [])), report
    assert "find_unused_parameters" not in stderr  # DDP's C++ warning stays out


def test_nproc_lr_50_is_lr_too_high_first_as_in_one_process(tmp_path):
    code, stdout, stderr, report = nnlearn(
        str(CONFIGS / "quickstart.yaml"),
        "--nproc",
        "2",
        "--set",
        "optimizer.lr=50",
        "--set",
        "probe.experiments=[init_check, lr_range]",
        tmp_path=tmp_path,
    )
    assert code == 1, stdout + stderr
    assert first_cause(report) == "lr_too_high"


@pytest.mark.parametrize(
    ("example", "rule", "cause"),
    [
        ("ddp_unused_branch", "R103", "implementation_bug"),
        ("ddp_corrupt_shard", "R104", "inconsistent_data"),
    ],
)
def test_nproc_examples_get_their_ddp_rule(tmp_path, example, rule, cause):
    code, stdout, stderr, report = nnlearn(
        str(EXAMPLES / f"{example}.yaml"), "--nproc", "2", tmp_path=tmp_path
    )
    assert code == 0, stdout + stderr  # warnings: the gate is at error
    found = [f for f in report["findings"] if f["rule"].startswith("R")]
    assert [(f["rule"], f["cause"]) for f in found] == [(rule, cause)], report["findings"]


def test_a_failing_rank_ends_every_rank_with_its_error(tmp_path):
    code, stdout, stderr, report = nnlearn(
        str(EXAMPLES / "ddp_fails_on_rank.yaml"), "--nproc", "2", tmp_path=tmp_path
    )
    assert code == 3, stdout + stderr
    assert "rank 1 of the distributed probe failed" in stderr
    assert "ValueError: rank 1 cannot handle this batch" in stderr
    assert "ddp_user.py" in stderr  # the user's frame
    assert "ChildFailedError" not in stderr and report == {}


# case of configs/examples/ddp_train.py -> (exit code, first finding's rule and cause)
SCRIPT_CASES = {
    "healthy": (0, None, None),
    "lr80": (1, None, "lr_too_high"),  # the first cause; its rule varies with sampling
    "no_sampler": (1, "R101", "insufficient_data"),
    "no_ddp": (1, "R102", "implementation_bug"),
}


def test_a_rank_ended_because_another_failed_leaves_without_a_report(tmp_path):
    """The launcher ends the other ranks with SIGTERM once a rank has failed. A rank caught in
    the middle of a step (not in a collective, where the broken connection would end it
    first) leaves at once with 143: no partial report, the run's error is the failed rank's."""
    from nnlearn.distributed.worker import another_failed, failure_file

    assert not another_failed(str(tmp_path), 0)
    failure_file(str(tmp_path), 0).write_text("{}")
    assert not another_failed(str(tmp_path), 0)  # its own record is not another's
    script = f"""
import os, signal, time
from nnlearn.probe import guard
from nnlearn.distributed.worker import another_failed
guard.ended_for_another = lambda: another_failed({str(tmp_path)!r}, 0)
with guard.Guard(60):
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(5)
print("went on")
"""
    alone = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert "interrupted: stopping" in alone.stderr  # no other rank failed: the usual stop
    failure_file(str(tmp_path), 1).write_text("{}")
    ended = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert ended.returncode == 143 and "went on" not in ended.stdout
    assert "interrupted" not in ended.stderr


def test_probe_in_a_ddp_script_reports_once_from_rank_0(tmp_path):
    proc = torchrun(str(ROOT / "tests" / "fixtures" / "ddp_variants.py"), str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    printed = dict(
        part.split("\n", 1) for part in proc.stdout.split("=== case ")[1:]
    )  # case -> what was printed while it ran
    assert sorted(printed) == sorted(SCRIPT_CASES)
    for case, (code, rule, cause) in SCRIPT_CASES.items():
        assert printed[case].count("HEALTHY") == 1, printed[case]  # one report, rank 0's
        report = json.loads((tmp_path / case / "findings.json").read_text())
        assert report["exit_code"] == code, (case, report["findings"])
        if cause is None:
            assert report["findings"] == [], case
        else:
            first = report["findings"][0]
            assert first["cause"] == cause, (case, report["findings"])
            assert rule is None or first["rule"] == rule, (case, report["findings"])
