"""Shared fixtures: run a probe in-process, and build measurements by hand for rule tests."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from nnlearn.measurements import COLUMNS, Measurements

ROOT = Path(__file__).resolve().parent.parent


def pytest_configure(config):
    # the probes in the tests train models of a few thousand parameters: on a 2-core CI machine
    # one intra-op thread is several times faster than two fighting over the cores
    import torch

    torch.set_num_threads(1)


CONFIGS = ROOT / "configs"
EXAMPLES = CONFIGS / "examples"


def probe(spec_path, tmp_path=None, sets: dict | None = None, **kw):
    """Load a spec (with `sets` as --set overrides) and run the probe in-process."""
    from nnlearn.probe.runner import run_probe
    from nnlearn.spec import load_spec

    spec = load_spec(spec_path, list((sets or {}).items()))
    result = run_probe(spec, str(spec_path), out_dir=tmp_path, **kw)
    broken = [(o.code, o.reason) for o in result.outcomes if o.status == "error"]
    assert not broken, f"rules raised instead of reporting: {broken}"
    return result


def measurements(rows: list[tuple] = (), facts: dict | None = None) -> Measurements:
    """Rows as (run, step, name, layer, value); `series(name, values)` builds common ones."""
    return Measurements(pd.DataFrame(list(rows), columns=COLUMNS), facts or {})


def series(name: str, values, run: str = "main", layer: str = "", start: int = 0) -> list[tuple]:
    return [(run, start + i, name, layer, float(v)) for i, v in enumerate(values)]


def codes(result_or_findings) -> set[str]:
    findings = getattr(result_or_findings, "findings", result_or_findings)
    return {f.rule for f in findings}


def causes(result_or_findings) -> set[str]:
    findings = getattr(result_or_findings, "findings", result_or_findings)
    return {f.cause.value for f in findings}


@pytest.fixture
def run_probe_at(tmp_path):
    def _run(spec_path, sets: dict | None = None, **kw):
        return probe(spec_path, tmp_path / "run", sets, **kw)

    return _run


def write(folder: Path, text: str, name: str = "spec.yaml") -> Path:
    """Write a spec file (or any text) into `folder` and return its path."""
    p = folder / name
    p.write_text(text)
    return p


@pytest.fixture
def usercode(tmp_path):
    """tmp_path holding a copy of tests/fixtures/usercode.py, importable from specs there."""
    import shutil

    shutil.copy(ROOT / "tests" / "fixtures" / "usercode.py", tmp_path / "usercode.py")
    return tmp_path
