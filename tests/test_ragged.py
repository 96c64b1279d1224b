"""Variable-length sequences (the data layer's padding default, the user's DataLoaders and
`data.collate_fn`), user modules that do not stay on sys.path, and `Probe.audit` on Hugging
Face-style mapping items."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys

import pytest
import torch
from conftest import ROOT, probe, write
from torch import nn

from nnlearn.data import build_data
from nnlearn.data.batch import PadCollate, sample_batch, view_of
from nnlearn.errors import SpecError
from nnlearn.spec import load_spec


@pytest.fixture
def ragged(tmp_path):
    shutil.copy(ROOT / "tests" / "fixtures" / "raggedcode.py", tmp_path / "raggedcode.py")
    return tmp_path


def _items(ragged):
    spec = importlib.util.spec_from_file_location("_raggedcode_items", ragged / "raggedcode.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- the padding default ---------------------------------------------------------------------
def test_pad_collate_pads_ids_labels_and_builds_the_mask():
    items = [
        {"input_ids": [5, 6, 7], "labels": [1, 0, 1]},
        {"input_ids": torch.tensor([8, 9]), "labels": torch.tensor([1, 1])},
    ]
    batch = PadCollate(pad_token_id=2)(items)
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 9, 2]]
    assert batch["labels"].tolist() == [[1, 0, 1], [1, 1, -100]]  # the loss's ignore_index
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    no_mask = PadCollate(build_mask=False)(items)
    assert "attention_mask" not in no_mask and no_mask["input_ids"][1, 2] == 0


def test_pad_collate_keeps_a_given_mask_and_equal_items_as_torch_does():
    items = [
        {"input_ids": [5, 6, 7], "attention_mask": [1, 1, 1], "labels": 1},
        {"input_ids": [8], "attention_mask": [1], "labels": 0},
    ]
    batch = PadCollate()(items)
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["labels"].tolist() == [1, 0]
    same = PadCollate()([(torch.ones(2), 1), (torch.zeros(2), 0)])
    assert same[0].shape == (2, 2) and same[1].tolist() == [1, 0]


def test_pad_collate_pads_tuples_inputs_with_the_pad_token_targets_with_ignore_index():
    x, y = PadCollate(pad_token_id=3)(
        [(torch.tensor([4, 5, 6]), torch.tensor([1, 2, 3])), (torch.tensor([4]), torch.tensor([1]))]
    )
    assert x.tolist() == [[4, 5, 6], [4, 3, 3]] and y.tolist() == [[1, 2, 3], [1, -100, -100]]


def test_unequal_float_sequences_are_a_spec_error_naming_collate_fn(ragged):
    spec = write(ragged, "data: {_target_: raggedcode.ragged_floats}\nmodel: {}\n")
    with pytest.raises(SpecError) as err:
        build_data(load_spec(spec), str(spec))
    assert "data.collate_fn" in str(err.value) and "unequal shapes" in str(err.value)


def test_language_modelling_targets_skip_the_padding():
    batch = PadCollate()([{"input_ids": [5, 6, 7]}, {"input_ids": [8, 9]}])
    view = view_of(batch, "language_modeling")
    assert view.targets.tolist() == [[6, 7], [9, -100]]


def test_a_list_of_ragged_mappings_is_a_dataset_and_padded_in_every_draw(ragged):
    spec = write(ragged, "data: {_target_: raggedcode.ragged_mappings}\nmodel: {}\n")
    b = build_data(load_spec(spec), str(spec))
    assert b.task == "classification" and b.n_classes == 2
    batch = sample_batch(b.train, 16, seed=1)
    lengths = batch["attention_mask"].sum(1)
    assert batch["input_ids"].shape[1] == int(lengths.max()) and int(lengths.min()) >= 3


def test_the_pad_token_the_dataset_states_is_used(ragged):
    m = _items(ragged)
    x, _ = sample_batch(m.TupleTokens(), 40)
    row = next(i for i in range(40) if len(m.TupleTokens().items[i][0]) < x.shape[1])
    assert x[row, -1] == m.PAD


# -- the user's DataLoaders and data.collate_fn ----------------------------------------------
def test_user_dataloaders_bring_their_collate_fn_and_batch_size(ragged):
    spec = write(ragged, "data: {_target_: raggedcode.loaders, batch: 8}\nmodel: {}\n")
    s = load_spec(spec)
    b = build_data(s, str(spec))
    calls = b.collate.__globals__["COLLATE_CALLS"]
    assert s.data.batch_size == 8 and calls and calls[0][0] == "count"
    calls.clear()
    sample_batch(b.val, 10)
    assert calls == [("count", 10)]


def test_an_explicit_data_batch_size_wins_over_the_loaders(ragged):
    spec = write(
        ragged, "data: {_target_: raggedcode.loaders, batch: 8, batch_size: 16}\nmodel: {}\n"
    )
    s = load_spec(spec)
    build_data(s, str(spec))
    assert s.data.batch_size == 16


def test_data_collate_fn_builds_every_batch(ragged):
    spec = write(
        ragged,
        "data:\n  _target_: raggedcode.TupleTokens\n"
        "  collate_fn: {_target_: raggedcode.count_collate, pad_value: 1, name: spec}\n"
        "model: {}\n",
    )
    s = load_spec(spec)
    b = build_data(s, str(spec))
    calls = b.collate.func.__globals__["COLLATE_CALLS"]
    assert ("spec", len(b.train)) in calls  # the task inference read the training split
    calls.clear()
    x, _ = sample_batch(b.val, 5)
    assert calls == [("spec", 5)] and x.dtype == torch.int64
    assert s.to_mapping()["data"]["collate_fn"] == {
        "_target_": "raggedcode.count_collate",
        "pad_value": 1,
        "name": "spec",
    }


def test_data_collate_fn_keys_are_checked_against_its_signature(ragged):
    from nnlearn.spec.check import check_spec

    spec = write(
        ragged,
        "data:\n  _target_: raggedcode.TupleTokens\n"
        "  collate_fn: {_target_: raggedcode.count_collate, pad: 1}\n"
        "model: {}\n",
    )
    with pytest.raises(SpecError) as err:
        check_spec(load_spec(spec), str(spec))
    assert "data.collate_fn.pad" in str(err.value)


@pytest.mark.slow
@pytest.mark.parametrize(
    "data, model",
    [
        ("raggedcode.ragged_mappings", "raggedcode.MaskedBag"),
        ("raggedcode.loaders", "raggedcode.Bag"),
    ],
)
def test_ragged_sequences_probe_end_to_end(ragged, tmp_path, data, model):
    spec = write(
        ragged,
        f"data: {{_target_: {data}}}\nmodel: {{_target_: {model}}}\n"
        "optimizer: {lr: 0.01}\n"
        "probe: {steps: 30, eval_every: 10, budget_s: 20, experiments: [init_check, overfit_batch]}\n",
    )
    result = probe(spec, tmp_path / "run")
    assert result.measurements.fact("run.steps_done") == 30
    assert "overfit_batch" in result.experiments


# -- user modules and sys.path ---------------------------------------------------------------
def test_a_spec_folder_does_not_stay_on_sys_path_nor_shadow_packages(tmp_path):
    from nnlearn.targets import import_target

    (tmp_path / "datasets.py").write_text("def make():\n    return 1\n")
    fn = import_target("datasets.make", "data._target_", None, tmp_path)
    assert fn() == 1
    assert str(tmp_path) not in sys.path
    found = importlib.util.find_spec("datasets") if "datasets" not in sys.modules else None
    assert found is None or not str(found.origin).startswith(str(tmp_path))
    assert not str(getattr(sys.modules.get("datasets"), "__file__", "")).startswith(str(tmp_path))
    again = import_target("datasets.make", "data._target_", None, tmp_path)
    assert again is fn  # the same module: a second target of one file does not re-run it


def test_two_spec_folders_with_the_same_module_name_stay_apart(tmp_path):
    from nnlearn.targets import import_target

    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "models.py").write_text(f"def which():\n    return {name!r}\n")
    a = import_target("models.which", "model._target_", None, tmp_path / "a")
    b = import_target("models.which", "model._target_", None, tmp_path / "b")
    assert (a(), b()) == ("a", "b")


def test_a_user_module_named_like_an_installed_package_leaves_it_importable(tmp_path):
    (tmp_path / "rich.py").write_text("def make():\n    return 'mine'\n")
    code = (
        "import pathlib, sys\n"
        "from nnlearn.targets import import_target\n"
        f"fn = import_target('rich.make', 'data._target_', None, pathlib.Path({str(tmp_path)!r}))\n"
        "assert fn() == 'mine'\n"
        "from rich.console import Console\n"  # nnlearn's own report imports it next
        "print(Console.__module__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "rich.console"


# -- Probe.audit on mapping items ------------------------------------------------------------
def _probe():
    import nnlearn

    model = nn.Linear(2, 2)
    return nnlearn.Probe(model, torch.optim.SGD(model.parameters(), lr=0.1))


def test_probe_audit_reads_hugging_face_style_mapping_items(ragged):
    m = _items(ragged)
    train, val = m.mapping_items(80, 0, lists=True), m.mapping_items(24, 1)
    with _probe() as p:
        facts = p.audit(train, val)
    assert facts["n_train"] == 80 and facts["n_val"] == 24 and facts["task"] == "classification"
    assert sum(facts["class_counts"]) == 80
    assert "not audited" not in " ".join(p.result.notes)


def test_probe_audit_of_mapping_items_finds_validation_rows_in_training(ragged):
    m = _items(ragged)
    train = m.mapping_items(80, 0)
    with _probe() as p:
        p.audit(train, train[:40])  # every validation row is a training row
    assert "D306" in {f.rule for f in p.result.findings}
    with _probe() as p:
        facts = p.audit(train)  # no validation split: an empty one of the same shapes
    assert facts["n_val"] == 0


@pytest.mark.slow
@pytest.mark.parametrize("name", ["step_ragged", "step_loaders"])
def test_the_variable_length_examples_are_healthy(tmp_path, name):
    result = probe(
        ROOT / "configs" / "examples" / f"{name}.yaml",
        tmp_path,
        {"probe.experiments": ["init_check", "overfit_batch"]},
    )
    assert result.verdict == "healthy", [f.rule for f in result.findings]
    if name == "step_loaders":
        assert any("DataLoader's" in n for n in result.notes)


@pytest.mark.slow
def test_the_examples_datasets_py_does_not_pass_for_hugging_face_datasets():
    """The full suite's failure: configs/examples/datasets.py imported for a spec, then the
    Trainer's `is_datasets_available()` found it and imported it as Hugging Face's."""
    pytest.importorskip("transformers")
    examples = ROOT / "configs" / "examples"
    code = (
        "import importlib.util, pathlib\n"
        "from nnlearn.targets import import_target\n"
        f"import_target('datasets.spirals', 'data._target_', None, pathlib.Path({str(examples)!r}))\n"
        "spec = importlib.util.find_spec('datasets')\n"
        "print(spec.origin if spec else None)\n"
        "import transformers.trainer\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert str(examples) not in out.stdout


def test_a_collate_fn_that_raises_is_the_users_error_exit_3(ragged):
    from nnlearn.errors import UserCodeError

    spec = write(
        ragged,
        "data:\n  _target_: raggedcode.TupleTokens\n"
        "  collate_fn: {_target_: raggedcode.failing_collate}\nmodel: {}\n",
    )
    with pytest.raises(UserCodeError) as err:
        build_data(load_spec(spec), str(spec))
    assert "cannot stack" in str(err.value.__cause__ or err.value)
