"""`nnlearn rules` and `explain` start without numpy, pandas or torch (bench/startup.py times
them); the cached rule catalogue is the one the rule classes give."""

import contextlib
import io
import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from nnlearn.cli import app
from nnlearn.knowledge.fastpath import run_fast
from nnlearn.rules import catalogue as catalogue_module
from nnlearn.rules import registry

PROBE_MODULES = (
    "import sys\n"
    "from nnlearn.cli import main\n"
    "sys.argv = ['nnlearn', *sys.argv[1:]]\n"
    "try:\n    main()\nexcept SystemExit:\n    pass\n"
    "heavy = [m for m in ('numpy', 'pandas', 'torch') if m in sys.modules]\n"
    "print('HEAVY', heavy, file=sys.stderr)\n"
)


@pytest.mark.parametrize(
    "argv", [["rules"], ["rules", "--json"], ["explain", "loss is nan"], ["explain", "G401"]]
)
def test_rules_and_explain_import_neither_numpy_pandas_nor_torch(argv, tmp_path):
    env = {**os.environ, "NNLEARN_CACHE_DIR": str(tmp_path)}
    # the first use builds the catalogue (that one imports the rules, numpy included)
    subprocess.run([sys.executable, "-m", "nnlearn", "rules"], env=env, capture_output=True)
    out = subprocess.run(
        [sys.executable, "-c", PROBE_MODULES, *argv], env=env, capture_output=True, text=True
    )
    assert "HEAVY []" in out.stderr, out.stderr[-2000:]
    assert out.stdout.strip()


def test_cached_catalogue_is_the_rule_classes_own(tmp_path, monkeypatch):
    monkeypatch.setenv("NNLEARN_CACHE_DIR", str(tmp_path))
    catalogue_module.catalogue.cache_clear()
    try:
        built = catalogue_module.catalogue()  # builds and writes
        [written] = list(tmp_path.glob("rules-*.json"))
        catalogue_module.catalogue.cache_clear()
        assert catalogue_module.catalogue() == built == catalogue_module.build()
        assert sorted(built) == sorted(registry())
        written.write_text("{not json")  # a damaged cache is rebuilt, not trusted
        catalogue_module.catalogue.cache_clear()
        assert catalogue_module.catalogue() == built
        assert json.loads(written.read_text())["rules"] == built
    finally:
        catalogue_module.catalogue.cache_clear()


@pytest.mark.parametrize("argv", [["rules", "--json"], ["explain", "loss", "is", "nan"]])
def test_fast_path_prints_what_the_typer_command_prints(argv):
    typer_out = CliRunner().invoke(app, argv)
    assert typer_out.exit_code == 0
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert run_fast(argv)
    assert buffer.getvalue() == typer_out.output


@pytest.mark.parametrize("argv", [["rules", "--help"], ["explain", "-h"], ["rules", "x"], []])
def test_anything_but_the_plain_forms_goes_through_typer(argv):
    assert not run_fast(argv)
