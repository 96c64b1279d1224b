"""`nnlearn rules` and `explain` start without numpy, pandas or torch (bench/startup.py times
them); the cached rule catalogue is the one the rule classes give."""

import contextlib
import io
import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from nnlearn import knowledge
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
def test_rules_and_explain_import_neither_numpy_pandas_nor_torch(argv):
    out = subprocess.run(
        [sys.executable, "-c", PROBE_MODULES, *argv], capture_output=True, text=True
    )
    assert "HEAVY []" in out.stderr, out.stderr[-2000:]
    assert out.stdout.strip()


def test_shipped_catalogue_is_current():
    """Fails when a rule changed and `python -m nnlearn.rules.catalogue` was not run."""
    shipped = json.loads(catalogue_module.SHIPPED.read_text())
    assert shipped["fingerprint"] == catalogue_module.fingerprint(), (
        "nnlearn/rules/catalogue.json is stale: run `python -m nnlearn.rules.catalogue`"
    )
    assert shipped["rules"] == catalogue_module.build()
    assert sorted(shipped["rules"]) == sorted(registry())


def test_stale_or_damaged_catalogue_is_built_not_trusted(tmp_path, monkeypatch):
    fake = tmp_path / "catalogue.json"
    monkeypatch.setattr(catalogue_module, "SHIPPED", fake)
    for text in ("{not json", json.dumps({"fingerprint": "old", "rules": {}})):
        fake.write_text(text)
        catalogue_module.catalogue.cache_clear()
        try:
            assert catalogue_module.catalogue() == catalogue_module.build()
        finally:
            catalogue_module.catalogue.cache_clear()
    assert fake.read_text().startswith('{"fingerprint": "old"')  # nothing written


def test_shipped_knowledge_index_is_current():
    """Fails when an entry's source changed and `python -m nnlearn.rules.catalogue` was not
    run; the shipped entries and search index are the ones built from the sources."""
    shipped = json.loads(knowledge.SHIPPED.read_text())
    assert shipped["fingerprint"] == knowledge.fingerprint(), (
        "nnlearn/knowledge/index.json is stale: run `python -m nnlearn.rules.catalogue`"
    )
    assert shipped == knowledge.build_shipped()
    assert [e.id for e in knowledge.entries()] == [e.id for e in knowledge.build_entries()]
    assert knowledge.entries() == knowledge.build_entries()


def test_stale_or_damaged_knowledge_index_is_built_not_trusted(tmp_path, monkeypatch):
    from nnlearn.knowledge import search as search_module

    fake = tmp_path / "index.json"
    monkeypatch.setattr(knowledge, "SHIPPED", fake)
    good = search_module.search("val loss goes up")
    caches = (knowledge._shipped, knowledge.entries, search_module._index)
    for text in ("{not json", json.dumps({"fingerprint": "old", "entries": [], "index": {}})):
        fake.write_text(text)
        for c in caches:
            c.cache_clear()
        try:
            assert knowledge.entries() == knowledge.build_entries()
            again = search_module.search("val loss goes up")
            assert [(m.entry.id, m.score) for m in again] == [(m.entry.id, m.score) for m in good]
        finally:
            for c in caches:
                c.cache_clear()
    assert fake.read_text().startswith('{"fingerprint": "old"')  # nothing written


@pytest.mark.parametrize(
    "argv", [["rules", "--json"], ["explain", "loss", "is", "nan"], ["version"], ["--version"]]
)
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
