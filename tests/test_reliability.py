"""Issue 11: bad input is exit 2 naming the file and field, failing user code is exit 3 with the
user's frames, a hang or a Ctrl-C ends in a partial report, files stay where they belong."""

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import ROOT, write
from typer.testing import CliRunner

from nnlearn.cli import app
from nnlearn.errors import ExitCode, InputError, NnlearnError, SpecError
from nnlearn.spec import load_spec

runner = CliRunner()
FIXTURES = ROOT / "tests" / "fixtures"
NNLEARN = [sys.executable, "-m", "nnlearn"]

QUICK = """\
name: quick
data: {kind: synthetic, name: blobs, n_samples: 200, n_classes: 2}
model: {kind: mlp, hidden: [8]}
probe: {steps: 20, eval_every: 10, budget_s: 30, experiments: [init_check]}
"""

FAULTS = """\
name: faults
data: {_target_: faults.flaky_data, fail_at: 100000}
model: {_target_: faults.Net}
probe: {steps: 20, eval_every: 10, budget_s: 30, experiments: [init_check]}
"""


_FILES = ("faults.py", "exits_at_import.py", "raises_at_import.py")


@pytest.fixture
def faults(tmp_path, monkeypatch):
    """tmp_path as the working folder, holding the failing user code and a spec using it."""
    for name in _FILES:
        shutil.copy(FIXTURES / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    for module in ("faults", "exits_at_import", "raises_at_import"):
        sys.modules.pop(module, None)
    write(tmp_path, FAULTS)
    write(tmp_path, QUICK, "quick.yaml")
    return tmp_path


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def assert_clean(result, code: int):
    assert result.exit_code == code, result.output
    assert "Traceback (most recent call last)" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


# --- YAML and spec hazards -------------------------------------------------------------------


def test_duplicate_keys_name_both_lines(tmp_path):
    spec = write(tmp_path, QUICK + "optimizer:\n  lr: 0.001\n  lr: 50\n")
    with pytest.raises(SpecError) as err:
        load_spec(spec)
    assert err.value.problems[0][0] == "optimizer.lr"
    assert "lines 6 and 7" in err.value.render()


def test_merge_keys_may_still_override(tmp_path):
    spec = write(tmp_path, QUICK + "anchors: &o {name: sgd, lr: 0.1}\noptimizer:\n  <<: *o\n")
    with pytest.raises(SpecError) as err:  # `anchors` is unknown here; the merge itself is fine
        load_spec(spec)
    assert "duplicate" not in err.value.render()


def test_alias_bomb_is_refused_at_once(tmp_path):
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    spec = write(tmp_path, QUICK + "\n".join(lines) + "\n")
    result = invoke("validate", spec)
    assert_clean(result, 2)
    assert "alias" in result.output and "spec.yaml" in result.output


def test_recursive_aliases_are_refused(tmp_path):
    for i, text in enumerate(("x: &a [*a]\n", "x: &a {b: *a}\n")):
        result = invoke("validate", write(tmp_path, QUICK + text, f"r{i}.yaml"))
        assert_clean(result, 2)
        assert "recursive" in result.output
    result = invoke("validate", write(tmp_path, QUICK), "--set", "vars=&a [*a]")
    assert_clean(result, 2)


def test_deep_nesting_is_exit_2_not_recursion_error(tmp_path):
    mapping = "x: " + "{a: " * 5000 + "1" + "}" * 5000 + "\n"
    block = "".join(" " * i + f"k{i}:\n" for i in range(1200)) + " " * 1200 + "v: 1\n"
    listed = "x: " + "[" * 5000 + "]" * 5000 + "\n"
    for i, text in enumerate((mapping, block, listed)):
        result = invoke("validate", write(tmp_path, QUICK + text, f"deep{i}.yaml"))
        assert_clean(result, 2)
        assert "nested more than 50 levels" in result.output


@pytest.mark.parametrize("path", ["/dev/zero", "/dev/null"])
def test_devices_are_not_read(path):
    result = invoke("validate", path)
    assert_clean(result, 2)
    assert "not a regular file" in result.output


def test_folder_fifo_and_huge_files_are_refused(tmp_path):
    assert "is a folder" in invoke("validate", tmp_path).output
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    assert_clean(invoke("validate", fifo), 2)  # opening a FIFO would wait for a writer forever
    big = write(tmp_path, QUICK + "#" * (2 << 20) + "\n", "big.yaml")
    result = invoke("validate", big)
    assert_clean(result, 2)
    assert "at most" in result.output


@pytest.mark.parametrize(
    "override, field",
    [
        ("seed=-1", "seed"),
        ("seed=10000000000000000000000000000000000000000", "seed"),
        ("data.n_samples=1000000000000", "data.n_samples"),
        ("data.n_classes=1000000000000", "data.n_classes"),
        ("model.hidden=[100000000]", "model.hidden[0]"),
        ("optimizer.lr=.inf", "optimizer.lr"),
        ("optimizer.momentum=.inf", "optimizer.momentum"),
        ("optimizer.weight_decay=.inf", "optimizer.weight_decay"),
        ("optimizer.grad_clip=.inf", "optimizer.grad_clip"),
        ("data.noise=.inf", "data.noise"),
        ("model.init_std=.inf", "model.init_std"),
        ("probe.budget_s=.inf", "probe.budget_s"),
        ("optimizer.lr=.nan", "optimizer.lr"),
        ("data.features=[]", "data.features"),
        ("probe.steps=100000000000", "probe.steps"),
        ('name="a\\0b"', "name"),
        ('name="tab\\there"', "name"),
        ("probe.rules.thresholds={G401: {ratio: .inf}}", "probe.rules.thresholds.G401.ratio"),
    ],
)
def test_values_that_used_to_crash_are_exit_2_with_the_field(tmp_path, override, field):
    spec = write(tmp_path, QUICK)
    result = invoke("validate", spec, "--set", override)
    assert_clean(result, 2)
    assert f"  {field}: " in result.output, result.output
    assert str(spec) in result.output


def test_memory_message_gives_the_number_that_fits(tmp_path):
    spec = write(tmp_path, QUICK)
    with pytest.raises(SpecError) as err:
        load_spec(spec, [("data.n_samples", 10**12)])
    path, msg = err.value.problems[0]
    fits = int(msg.rsplit("at most ", 1)[1].split(" fit")[0].replace(",", ""))
    assert load_spec(spec, [("data.n_samples", fits)]).data.n_samples == fits
    with pytest.raises(SpecError):
        load_spec(spec, [("data.n_samples", fits * 2)])


def test_seed_limits_are_numpys(tmp_path):
    spec = write(tmp_path, QUICK)
    assert load_spec(spec, [("seed", 2**32 - 1)]).seed == 2**32 - 1
    with pytest.raises(SpecError):
        load_spec(spec, [("seed", 2**32)])


def test_set_keys_with_empty_parts_are_refused():
    from nnlearn.spec import parse_overrides

    with pytest.raises(InputError):
        parse_overrides(["a..b=1"])


# --- data files ------------------------------------------------------------------------------


def _csv_spec(tmp_path, rows: str, name: str = "d") -> Path:
    (tmp_path / f"{name}.csv").write_text(rows)
    return write(
        tmp_path,
        f"data: {{kind: csv, path: {name}.csv, target: label}}\nmodel: {{kind: mlp}}\n",
        f"{name}.yaml",
    )


def test_one_row_csv_is_exit_2(tmp_path):
    from nnlearn.data import build_data

    spec = load_spec(_csv_spec(tmp_path, "a,b,label\n1,2,0\n"))
    with pytest.raises(InputError, match="1 data row"):
        build_data(spec)


def test_a_huge_label_does_not_size_the_output_layer(tmp_path):
    from nnlearn.data import build_data

    rows = "a,label\n" + "".join(f"{i / 10},{0 if i % 2 else 10**9}\n" for i in range(40))
    spec = load_spec(_csv_spec(tmp_path, rows))
    with pytest.raises(InputError, match="largest class label is 1,000,000,000"):
        build_data(spec)


def test_a_wide_csv_loads(tmp_path):
    from nnlearn.data import build_data

    cols = 20_000
    header = ",".join(f"c{i}" for i in range(cols)) + ",label\n"
    body = "".join(",".join(["0.5"] * cols) + f",{i % 2}\n" for i in range(6))
    bundle = build_data(load_spec(_csv_spec(tmp_path, header + body)))
    assert bundle.input_shape == (cols,)


def test_a_two_sample_dataset_still_keeps_one_to_train():
    from nnlearn.data import _n_val

    assert _n_val(2, 0.9) == 1
    with pytest.raises(InputError):
        _n_val(1, 0.2)


# --- the user's code failing, at each phase: exit 3 with the user's frames -------------------


@pytest.mark.parametrize(
    "override, frame",
    [
        ("data._target_=faults.broken_data", "cannot open the shards"),
        ("data.fail_at=300", "faults.py"),  # __getitem__ raising mid-run, after the audit
        ("model.mode=raise", "faults.py"),
        ("model._target_=faults.meta_model", "meta device"),
        ("model._target_=raises_at_import.Net", "raises_at_import.py"),
        ("model._target_=exits_at_import.Net", "exits_at_import.py"),
    ],
)
def test_user_code_failing_is_exit_3_with_its_frames(faults, override, frame):
    result = invoke("probe", faults / "spec.yaml", "--set", override, "--quiet")
    assert_clean(result, 3)
    assert frame in result.output
    assert "nnlearn/probe" not in result.output  # nnlearn's own frames are not shown


def test_a_validation_set_that_raises_is_exit_3(faults):
    result = invoke(
        "probe", faults / "spec.yaml", "--set", "data.where=val", "--set", "data.fail_at=50"
    )
    assert_clean(result, 3)
    assert "corrupt record" in result.output


def test_an_internal_error_says_so_and_saves_the_traceback(faults, monkeypatch):
    import nnlearn.audit

    # a builtin (no Python frame of the test's): the audit call fails inside nnlearn alone
    monkeypatch.setattr(nnlearn.audit, "audit_data", dict.fromkeys)
    result = invoke("probe", faults / "quick.yaml", "--out", faults / "run")
    assert_clean(result, 3)
    assert "internal error in nnlearn" in result.output and "report it" in result.output
    saved = (faults / "run" / "nnlearn-error.txt").read_text()
    assert "TypeError" in saved and "Traceback" in saved and "runner.py" in saved


# --- output paths, run folders ---------------------------------------------------------------


@pytest.mark.parametrize(
    "option, path",
    [
        ("--json", "."),
        ("--json", "/proc/nnlearn/x.json"),
        ("--markdown", "/proc/x.md"),
        ("--junit", "quick.yaml/r.xml"),
        ("--out", "quick.yaml"),
    ],
)
def test_unwritable_outputs_are_exit_2_before_training(faults, option, path):
    result = invoke("probe", "quick.yaml", option, path)
    assert_clean(result, 2)
    assert option in result.output
    assert not (faults / "runs").exists() or not any((faults / "runs").iterdir())


def test_a_full_disk_after_training_is_a_clean_error(faults):
    result = invoke("probe", "quick.yaml", "--junit", "/dev/full", "--quiet")
    assert_clean(result, 2)
    assert "No space left" in result.output


def test_out_never_overwrites_the_users_folder(faults):
    mine = faults / "mine"
    mine.mkdir()
    (mine / "report.md").write_text("my notes")
    (mine / "spec.yaml").write_text("my spec")
    result = invoke("probe", "quick.yaml", "--out", mine, "--quiet")
    assert_clean(result, 2)
    assert "--force" in result.output
    assert (mine / "report.md").read_text() == "my notes"
    # nnlearn's own run folder (it has the marker) is reused without --force
    run = faults / "run"
    assert_clean(invoke("probe", "quick.yaml", "--out", run, "--quiet"), 0)
    assert_clean(invoke("probe", "quick.yaml", "--out", run, "--quiet"), 0)
    assert_clean(invoke("probe", "quick.yaml", "--out", mine, "--quiet", "--force"), 0)


@pytest.mark.parametrize(
    "name", ["../../escape", "/abs/olute", "..", "a/b\\c", "x" * 300, "ünï cødé", "-", "..."]
)
def test_run_folder_names_stay_inside_runs(tmp_path, name):
    from nnlearn.report.artifacts import MAX_NAME, create_run_dir

    path = create_run_dir(name, tmp_path / "runs", stamp="S")
    assert path.parent == tmp_path / "runs"
    assert path.is_dir() and len(path.name) <= MAX_NAME + 2
    assert "/" not in path.name and "\\" not in path.name and ".." not in path.name


def test_hostile_name_end_to_end(faults):
    result = invoke("probe", "quick.yaml", "--set", "name=../../../x", "--quiet")
    assert_clean(result, 0)
    (folder,) = (faults / "runs").iterdir()
    assert folder.name.startswith("x-")
    assert not list(faults.parent.glob("x*")) and not list(faults.parent.parent.glob("x-*"))
    created = {p.name for p in faults.iterdir()} - {"__pycache__"}
    assert created == {*_FILES, "quick.yaml", "spec.yaml", "runs"}


def test_run_folders_are_unique_under_concurrency(tmp_path):
    from nnlearn.report.artifacts import create_run_dir

    made: list[Path] = []
    threads = [
        threading.Thread(target=lambda: made.append(create_run_dir("same", tmp_path, "S")))
        for _ in range(16)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(made)) == 16


# --- hangs and Ctrl-C: partial reports -------------------------------------------------------


def _run_faults(faults, **sets):
    from nnlearn.probe.runner import run_probe

    spec = load_spec(faults / "spec.yaml", list(sets.items()))
    return run_probe(spec, str(faults / "spec.yaml"), out_dir=faults / "run")


@pytest.mark.slow
def test_a_hang_under_a_short_budget_ends_in_a_partial_report(faults):
    from nnlearn.probe.guard import HARD_GRACE_S

    began = time.monotonic()
    result = _run_faults(faults, **{"model.mode": "hang", "model.after": 4, "probe.budget_s": 5})
    took = time.monotonic() - began
    assert took < 5 + HARD_GRACE_S + 15  # not the 90 s of a killed CI job
    assert result.partial.reason == "budget" and result.partial.exit_code == 3
    assert "faults.py" in result.partial.where and "hang_forever" in result.partial.where
    assert result.verdict != "healthy"
    assert (faults / "run" / "spec.yaml").exists()


@pytest.mark.slow
def test_a_pure_python_busy_loop_is_interrupted_too(faults):
    result = _run_faults(faults, **{"model.mode": "spin", "model.after": 4, "probe.budget_s": 5})
    assert result.partial.reason == "budget"
    assert "forward" in result.partial.where


@pytest.mark.parametrize(
    "sets, phase",
    [
        ({"data._target_": "faults.interrupting_data"}, "loading the data"),
        ({"model.mode": "sigint", "model.after": 12}, "the main run"),
        (
            {
                "model.mode": "sigint",
                "model.after": 60,
                "probe.experiments": ["overfit_batch"],
            },
            "experiment overfit_batch",
        ),
    ],
)
def test_ctrl_c_at_each_phase_keeps_what_was_measured(faults, sets, phase):
    previous = signal.getsignal(signal.SIGINT)
    result = _run_faults(faults, **sets)
    assert signal.getsignal(signal.SIGINT) is previous  # handlers restored
    assert result.partial.reason == "interrupt" and result.partial.phase == phase
    assert result.partial.exit_code == 130
    assert result.notes[0].startswith("partial report: interrupted (Ctrl-C)")
    if phase != "loading the data":
        assert len(result.measurements.series("train_loss")) > 0


def _spawn(faults, *args, env=None):
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.Popen(
        [*NNLEARN, "probe", *args],
        cwd=faults,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(path: Path, proc, limit: float = 120) -> None:
    end = time.monotonic() + limit
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < end, "the user code never started hanging"
        time.sleep(0.1)


@pytest.mark.slow
def test_sigint_subprocess_partial_report_then_second_interrupt_exits_at_once(faults):
    marker = faults / "hanging"
    env = {"FAULTS_HANGING": str(marker)}
    polite = _spawn(
        faults, "spec.yaml", "--set", "model.mode=hang", "--set", "model.after=12", env=env
    )
    stubborn_marker = faults / "stubborn"
    stubborn = _spawn(
        faults,
        "spec.yaml",
        "--set",
        "model.mode=stubborn",
        "--set",
        "model.after=12",
        "--out",
        "stubborn-run",
        env={"FAULTS_HANGING": str(stubborn_marker)},
    )
    _wait_for(marker, polite)
    polite.send_signal(signal.SIGINT)
    out, err = polite.communicate(timeout=60)
    assert polite.returncode == 130, err
    assert "PARTIAL" in out and "interrupted (Ctrl-C) during the main run" in out
    (run,) = (faults / "runs").iterdir()
    assert (run / "report.md").exists() and "Partial report" in (run / "report.md").read_text()

    _wait_for(stubborn_marker, stubborn)
    stubborn_marker.unlink()
    stubborn.send_signal(signal.SIGINT)  # swallowed by the user's `except BaseException`
    _wait_for(stubborn_marker, stubborn)
    stubborn.send_signal(signal.SIGINT)
    out, err = stubborn.communicate(timeout=30)
    assert stubborn.returncode == 130
    assert "interrupted again" in err and "Traceback" not in err


@pytest.mark.slow
def test_concurrent_probes_piped_into_head_exit_0_in_their_own_folders(faults):
    """Two probes of one spec started in the same second, each `| head -1` under pipefail: a
    closed stdout keeps the gate's exit code (0), and the runs do not share a folder."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = f"set -o pipefail; {sys.executable} -m nnlearn probe quick.yaml | head -1"
    procs = [
        subprocess.Popen(
            ["bash", "-c", cmd],
            cwd=faults,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for p in procs:
        out, err = p.communicate(timeout=180)
        assert p.returncode == 0, err
        assert out.startswith("HEALTHY") and "Traceback" not in err
    folders = list((faults / "runs").iterdir())
    assert len(folders) == 2
    assert all((f / "findings.json").exists() for f in folders)


# --- determinism -----------------------------------------------------------------------------


@pytest.mark.slow
def test_five_runs_give_the_same_findings(tmp_path):
    from nnlearn.probe.runner import run_probe

    spec_path = write(tmp_path, QUICK.replace("hidden: [8]", "hidden: [8], init: zeros"))
    seen = set()
    for _ in range(5):
        result = run_probe(load_spec(spec_path), str(spec_path))
        seen.add(tuple((f.rule, f.severity.value, f.message) for f in result.findings))
    assert len(seen) == 1 and next(iter(seen))  # the same, and not trivially empty


def test_exit_codes_are_documented():
    assert [int(c) for c in ExitCode] == [0, 1, 2, 3]
    assert issubclass(SpecError, NnlearnError)
