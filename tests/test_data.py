import numpy as np
import pandas as pd
import pytest
import torch
from conftest import write

from nnlearn.data import build_data, infer_task, sample
from nnlearn.errors import SpecError, UserCodeError
from nnlearn.spec import load_spec


def bundle_for(tmp_path, text):
    path = write(tmp_path, text)
    return build_data(load_spec(path), str(path))


@pytest.mark.parametrize(
    "name,task,shape",
    [
        ("blobs", "classification", (2,)),
        ("circles", "classification", (2,)),
        ("moons", "classification", (2,)),
        ("spirals", "classification", (2,)),
        ("xor", "classification", (2,)),
        ("linear", "regression", (10,)),
        ("sine", "regression", (1,)),
        ("images", "classification", (1, 16, 16)),
    ],
)
def test_synthetic_generators(tmp_path, name, task, shape):
    b = bundle_for(tmp_path, f"data: {{name: {name}, n_samples: 200}}\nmodel: {{}}\n")
    assert b.task == task and b.input_shape == shape
    assert len(b.train) == 160 and len(b.val) == 40
    x, y = sample(b.train, 1000)
    assert torch.isfinite(x).all()
    if task == "classification":
        assert y.dtype == torch.int64 and b.n_classes >= 2


def test_synthetic_data_is_seeded(tmp_path):
    a = bundle_for(tmp_path, "seed: 3\ndata: {name: spirals}\nmodel: {}\n")
    b = bundle_for(tmp_path, "seed: 3\ndata: {name: spirals}\nmodel: {}\n")
    c = bundle_for(tmp_path, "seed: 4\ndata: {name: spirals}\nmodel: {}\n")
    assert torch.equal(a.train.tensors[0], b.train.tensors[0])
    assert not torch.equal(a.train.tensors[0], c.train.tensors[0])


def test_nothing_is_standardized_unless_asked(tmp_path):
    raw = bundle_for(tmp_path, "data: {name: linear, n_features: 3}\nmodel: {}\n")
    std = bundle_for(
        tmp_path, "data: {name: linear, n_features: 3, standardize: true}\nmodel: {}\n"
    )
    x = std.train.tensors[0]
    assert torch.allclose(x.mean(0), torch.zeros(3), atol=1e-5)
    assert torch.allclose(x.std(0), torch.ones(3), atol=1e-3)
    assert not torch.allclose(raw.train.tensors[0], x)


def test_csv_with_string_labels_and_feature_list(tmp_path):
    df = pd.DataFrame(
        {"a": np.arange(50.0), "b": np.ones(50), "c": np.zeros(50), "label": ["cat", "dog"] * 25}
    )
    df.loc[3, "a"] = np.nan  # kept: the audits report it, nothing repairs it
    df.to_csv(tmp_path / "t.csv", index=False)
    b = bundle_for(
        tmp_path, "data: {kind: csv, path: t.csv, target: label, features: [a, b]}\nmodel: {}\n"
    )
    assert b.task == "classification" and b.n_classes == 2
    assert b.class_names == ["cat", "dog"] and b.feature_names == ["a", "b"]
    assert b.input_shape == (2,)
    x = torch.cat([b.train.tensors[0], b.val.tensors[0]])
    assert torch.isnan(x).sum() == 1


def test_csv_float_target_is_regression(tmp_path):
    pd.DataFrame({"x": np.linspace(0, 1, 40), "y": np.linspace(0, 3, 40) + 0.1}).to_csv(
        tmp_path / "r.csv", index=False
    )
    b = bundle_for(tmp_path, "data: {kind: csv, path: r.csv, target: y}\nmodel: {}\n")
    assert b.task == "regression" and b.n_classes is None


def test_parquet(tmp_path):
    pytest.importorskip("pyarrow")
    pd.DataFrame({"x1": np.arange(40.0), "x2": np.arange(40.0), "y": [0, 1, 2, 3] * 10}).to_parquet(
        tmp_path / "t.parquet"
    )
    b = bundle_for(tmp_path, "data: {kind: parquet, path: t.parquet, target: y}\nmodel: {}\n")
    assert b.task == "classification" and b.n_classes == 4 and b.input_shape == (2,)


def test_missing_column_is_named_with_a_hint(tmp_path):
    pd.DataFrame({"x": [1.0, 2.0], "label": [0, 1]}).to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(SpecError) as err:
        bundle_for(tmp_path, "data: {kind: csv, path: t.csv, target: lable}\nmodel: {}\n")
    assert "did you mean 'label'" in dict(err.value.problems)["data.target"]


def test_non_numeric_feature_is_a_spec_error(tmp_path):
    pd.DataFrame({"x": ["a", "b"], "label": [0, 1]}).to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(SpecError, match="not numeric"):
        bundle_for(tmp_path, "data: {kind: csv, path: t.csv, target: label}\nmodel: {}\n")


def test_missing_csv_file(tmp_path):
    from nnlearn.errors import InputError

    with pytest.raises(InputError, match="file not found"):
        bundle_for(tmp_path, "data: {kind: csv, path: nope.csv, target: y}\nmodel: {}\n")


def test_user_target_tensor_pairs(usercode):
    b = bundle_for(usercode, "data: {_target_: usercode.make_tensors, n: 200}\nmodel: {}\n")
    assert len(b.train) == 150 and len(b.val) == 50 and b.task == "classification"
    assert b.source == "user:usercode.make_tensors"


def test_user_target_datasets(usercode):
    b = bundle_for(usercode, "data: {_target_: 'usercode:make_datasets', n_train: 80}\nmodel: {}\n")
    assert len(b.train) == 80 and len(b.val) == 100 and b.n_classes == 2


def test_user_target_single_pair_is_split(usercode):
    b = bundle_for(
        usercode, "data: {_target_: usercode.make_single_pair, val_fraction: 0.1}\nmodel: {}\n"
    )
    assert len(b.train) == 270 and len(b.val) == 30


def test_user_target_bad_kwarg(usercode):
    with pytest.raises(SpecError) as err:
        bundle_for(usercode, "data: {_target_: usercode.make_tensors, nn: 5}\nmodel: {}\n")
    assert "did you mean 'n'" in dict(err.value.problems)["data.nn"]


def test_user_target_missing_module(usercode):
    with pytest.raises(SpecError, match="cannot import module 'nomodule'"):
        bundle_for(usercode, "data: {_target_: nomodule.make}\nmodel: {}\n")


def test_user_code_raising_is_user_code_error(usercode):
    with pytest.raises(UserCodeError) as err:
        bundle_for(usercode, "data: {_target_: usercode.broken_data}\nmodel: {}\n")
    text = err.value.render()
    assert "cannot open the user's dataset" in text and "usercode.py" in text


@pytest.mark.parametrize(
    "y,loss,task",
    [
        (torch.tensor([0, 1, 2]), None, "classification"),
        (torch.tensor([0.0, 1.0, 1.0]), None, "binary"),
        (torch.tensor([0.5, 1.5]), None, "regression"),
        (torch.tensor([0, 1]), "mse", "regression"),
        (torch.tensor([0, 1]), "bce_with_logits", "binary"),
    ],
)
def test_task_inference(y, loss, task):
    assert infer_task(y, "auto", loss) == task
