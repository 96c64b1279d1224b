"""The probe end to end in-process: reproducible, its run folder complete."""

import pandas as pd
import pytest
from conftest import CONFIGS, probe

SHORT = {"probe.steps": 60, "probe.eval_every": 20, "probe.experiments": ["init_check"]}


@pytest.mark.slow
def test_same_seed_same_run(tmp_path):
    a = probe(CONFIGS / "quickstart.yaml", tmp_path / "a", SHORT)
    b = probe(CONFIGS / "quickstart.yaml", tmp_path / "b", SHORT)
    c = probe(CONFIGS / "quickstart.yaml", tmp_path / "c", {**SHORT, "seed": 1})
    la, lb, lc = (r.measurements.series("train_loss") for r in (a, b, c))
    pd.testing.assert_series_equal(la, lb)
    assert not la.equals(lc)


@pytest.mark.slow
def test_metrics_table_and_facts(tmp_path):
    r = probe(CONFIGS / "quickstart.yaml", tmp_path, SHORT)
    m = r.measurements
    assert list(m.metrics.columns) == ["run", "step", "name", "layer", "value"]
    assert len(m.series("train_loss")) == 60
    assert list(m.series("val_loss").index) == [19, 39, 59]
    assert m.series("val_acc").between(0, 1).all()
    assert m.fact("init.chance_loss") == pytest.approx(1.0986, abs=0.02)  # ln 3, balanced
    assert m.fact("init.loss") == pytest.approx(1.0986, abs=0.15)
    assert m.fact("run.steps_done") == 60 and m.fact("run.stopped") == "completed"
    assert m.fact("data.n_train") == 1600 and m.fact("model.n_parameters") == 4547
    saved = r.artifacts["metrics"]
    table = pd.read_parquet(saved) if saved.endswith(".parquet") else pd.read_csv(saved)
    assert len(table) == len(m.metrics)


@pytest.mark.slow
def test_budget_stops_the_main_run(tmp_path):
    r = probe(
        CONFIGS / "quickstart.yaml",
        tmp_path,
        {"probe.steps": 100000, "probe.budget_s": 1.0, "probe.experiments": []},
    )
    assert r.measurements.fact("run.stopped") == "budget"
    assert any("budget" in n for n in r.notes)
    assert r.duration_s < 10


@pytest.mark.slow
def test_warnings_of_the_training_code_become_notes(tmp_path):
    import warnings

    from conftest import EXAMPLES

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing may escape to the terminal
        r = probe(EXAMPLES / "bug_broadcast.yaml", tmp_path, {"probe.steps": 40})
    notes = [n for n in r.notes if "while probing" in n]
    assert len(notes) == 1 and "broadcasting" in notes[0] and "loss.py" in notes[0]
