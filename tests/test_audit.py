"""Data audits and setup checks on small tensors (no training)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from nnlearn.audit import audit_data
from nnlearn.audit.duplicates import conflicts, overlap
from nnlearn.audit.output_range import output_bounds
from nnlearn.audit.scale import input_scale, target_scale
from nnlearn.audit.setup import check_setup, describe_output, loss_kind
from nnlearn.audit.updates import parameter_updates
from nnlearn.audit.values import class_counts, labels, nonfinite, position_names
from nnlearn.data.bundle import DataBundle
from nnlearn.probe.setup import LossFn


def bundle(x, y, task="classification", xv=None, yv=None, n_classes=None, names=None):
    xv = x[:10] * 0 + 7 if xv is None else xv  # distinct validation rows by default
    yv = y[:10] if yv is None else yv
    if task == "classification" and n_classes is None:
        n_classes = int(y.max()) + 1
    b = DataBundle(
        TensorDataset(x, y),
        TensorDataset(xv, yv),
        task,
        n_classes,
        tuple(x.shape[1:]),
        tuple(y.shape[1:]),
        "test",
    )
    b.feature_names = names
    return b


def test_nonfinite_counts_rows_and_names_the_columns():
    x = torch.zeros(100, 3)
    x[:7, 1] = math.nan
    x[3, 2] = math.inf
    c = nonfinite(x, ["age", "income", "debt"])
    assert (c["nan"], c["inf"], c["rows"]) == (7, 1, 7)
    assert c["where"] == {"income": 7, "debt": 1}


def test_nonfinite_in_images_is_located_per_channel():
    x = torch.zeros(4, 3, 5, 5)
    x[0, 2, 1, 1] = math.nan
    assert nonfinite(x, position_names(x, None))["where"] == {"channel 2": 1}


def test_labels_range_kind_and_negative_values():
    d = labels(torch.tensor([1, 2, 3]), torch.tensor([-100, 2]))
    assert (d["min"], d["max"], d["integer_valued"], d["floating"]) == (-100, 3, True, False)
    assert d["negative_values"] == [-100.0]
    assert not labels(torch.tensor([0.5, 1.7]), torch.tensor([0.1]))["integer_valued"]


def test_class_counts_ignore_negative_and_continuous_labels():
    assert class_counts(torch.tensor([0, 0, 2, -1])) == [2, 0, 1]
    assert class_counts(torch.tensor([0.0, 1.0, 1.0])) == [1, 2]
    assert class_counts(torch.tensor([0.3, 1.0])) is None


def test_input_scale_per_feature_and_per_channel():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2000, 2, generator=g) * torch.tensor([1.0, 300.0]) + torch.tensor([0.0, 5000])
    s = input_scale(x, ["a", "b"])
    assert s["layout"] == "features" and s["worst"][0]["name"] == "b"
    assert s["abs_mean"][1] == pytest.approx(5000, rel=0.01)
    assert s["std"][1] == pytest.approx(300, rel=0.05)
    images = torch.rand(50, 3, 8, 8) * 255
    s = input_scale(images, position_names(images, None))
    assert s["layout"] == "channels" and s["n"] == 3
    assert s["abs_mean"][0] == pytest.approx(127, rel=0.1)


def test_input_scale_ignores_nan_and_counts_constant_features():
    x = torch.tensor([[1.0, 3.0], [math.nan, 3.0], [3.0, 3.0]])
    s = input_scale(x, ["a", "b"])
    assert s["abs_mean"][0] == pytest.approx(2.0) and s["n_constant"] == 1


def test_target_scale():
    t = target_scale(torch.tensor([1.0e5, 2.0e5, 3.0e5]))
    assert t["mean"] == pytest.approx(2e5) and t["max"] == 3e5
    assert target_scale(torch.tensor([0, 1])) == {}


def test_conflicts_find_identical_inputs_with_different_labels():
    x = torch.randn(50, 4)
    x[10] = x[3]
    x[11] = x[4]
    y = torch.zeros(50, dtype=torch.long)
    y[10] = 1  # conflicts with row 3; row 11 duplicates row 4 with the same label
    d = conflicts(x, y)
    assert d["conflicting_rows"] == 2 and d["conflicting_inputs"] == 1
    assert d["duplicated_rows"] == 4 and d["example"]["labels"] == [0, 1]


def test_negative_zero_counts_as_zero():
    x = torch.tensor([[0.0, 1.0], [-0.0, 1.0]])
    assert conflicts(x, torch.tensor([0, 1]))["conflicting_rows"] == 2


def test_overlap_counts_validation_rows_found_in_training():
    xt = torch.randn(100, 3)
    xv = torch.cat([xt[:5], torch.randn(15, 3)])
    o = overlap(xt, xv)
    assert (o["val_in_train"], o["val_rows"]) == (5, 20)
    assert o["fraction"] == pytest.approx(0.25)


def test_audit_data_collects_everything():
    x = torch.randn(200, 3)
    x[0, 0] = math.nan
    y = torch.randint(0, 3, (200,))
    facts = audit_data(bundle(x, y, names=["a", "b", "c"]))
    assert facts["nonfinite"]["train"]["inputs"]["where"] == {"a": 1}
    assert sum(facts["class_counts"]) == 200
    assert facts["inputs"]["names"] == ["a", "b", "c"]
    assert facts["overlap"]["val_in_train"] == 0
    assert "duplicates" in facts and "targets" not in facts


def test_audit_data_regression_has_target_scale():
    x, y = torch.randn(100, 2), torch.randn(100) * 1e4
    facts = audit_data(bundle(x, y, task="regression"))
    assert facts["targets"]["std"] > 1000 and "class_counts" not in facts


# -- setup checks ------------------------------------------------------------------------


class Softmaxed(nn.Module):
    def __init__(self, k=3):
        super().__init__()
        self.lin = nn.Linear(2, k)

    def forward(self, x):
        return torch.softmax(self.lin(x), 1)


def setup_facts(model, y, criterion, task="classification", x=None):
    x = torch.randn(len(y), 2) if x is None else x
    b = bundle(x, y, task=task, n_classes=3 if task == "classification" else None)
    name = type(criterion).__name__
    return check_setup(model, LossFn(criterion, task, name), b, torch.device("cpu"), audit_data(b))


def test_loss_kind_reads_the_criterion_object():
    assert loss_kind(nn.CrossEntropyLoss()) == "cross_entropy"
    assert loss_kind(nn.BCEWithLogitsLoss()) == "bce_with_logits"
    assert loss_kind(nn.functional.mse_loss) == "mse"
    assert loss_kind(lambda o, y: o.sum()) is None


def test_describe_output_tells_probabilities_from_logits():
    logits = torch.randn(64, 3)
    assert describe_output(torch.softmax(logits, 1), torch.softmax(logits * 9, 1))[
        "rows_sum_to_one"
    ]
    d = describe_output(logits, logits * 10)
    assert not d["rows_sum_to_one"] and not d["log_probabilities"]
    assert describe_output(torch.log_softmax(logits, 1), None)["log_probabilities"]


def test_linear_head_with_small_outputs_is_not_taken_for_a_sigmoid():
    small = torch.rand(64) * 0.2 + 0.1  # a linear head at init can land in [0, 1]
    assert describe_output(small, torch.randn(64) * 5)["in_unit_interval"] is False
    assert describe_output(small, torch.sigmoid(torch.randn(64) * 5))["in_unit_interval"]


def test_output_bounds_come_from_the_final_activation():
    torch.manual_seed(0)
    pre, wide = torch.randn(256, 2), torch.randn(256, 2) * 1000  # before the head
    assert output_bounds([pre], wide) is None  # a linear head takes both signs
    for head, bounds in (
        (torch.relu, (0.0, math.inf)),
        (nn.functional.softplus, (0.0, math.inf)),
        (torch.sigmoid, (0.0, 1.0)),
        (torch.tanh, (-1.0, 1.0)),
        (lambda t: -torch.relu(t), (-math.inf, 0.0)),
    ):
        assert output_bounds([head(pre)], head(wide)) == bounds
    # a linear head over bounded features (an RNN's saturated state): bounded, but by nothing
    # training cannot move, and piled at neither 0 nor +-1
    w = torch.randn(32) * 0.2
    assert (
        output_bounds(
            [torch.tanh(pre @ torch.randn(2, 32)) @ w], torch.sign(wide @ torch.randn(2, 32)) @ w
        )
        is None
    )
    # a ReLU head off for every input sits at 0 alone: never negative, not a sigmoid's [0, 1]
    zeros = torch.zeros(256, 1)
    assert output_bounds([zeros], zeros) == (0.0, math.inf)


class Bounded(nn.Module):
    def __init__(self, head, k=1):
        super().__init__()
        self.lin, self.head, self.k = nn.Linear(2, k), head, k

    def forward(self, x):
        out = self.head(self.lin(x))
        return out.squeeze(-1) if self.k == 1 else out


def test_setup_measures_how_much_of_the_loss_the_output_range_rules_out():
    x = torch.randn(256, 2)
    negative = x[:, 0]  # half of these regression targets are below 0
    f = setup_facts(Bounded(torch.relu), negative, nn.MSELoss(), "regression", x)
    reach = f["output_reach"]
    assert reach["range"] == [0.0, math.inf] and reach["free_loss"] == 0
    assert 0.3 < reach["forbidden"] < 1 and reach["bounded_loss"] < reach["chance_loss"]
    # the same head on targets it can reach, and a linear head: nothing ruled out / no bound
    assert setup_facts(Bounded(torch.relu), negative.abs(), nn.MSELoss(), "regression", x)[
        "output_reach"
    ]["forbidden"] == pytest.approx(0, abs=1e-6)
    linear = setup_facts(Bounded(lambda t: t), negative, nn.MSELoss(), "regression", x)
    assert "output_reach" not in linear
    # class scores squashed into [0, 1] before CrossEntropyLoss: the loss cannot reach 0
    y = torch.randint(0, 3, (256,))
    scores = setup_facts(Bounded(torch.sigmoid, 3), y, nn.CrossEntropyLoss(), x=x * 10)
    assert scores["output_reach"]["range"] == [0.0, 1.0]
    assert scores["output_reach"]["forbidden"] > 0.3
    # ReLU'd logits into BCEWithLogitsLoss: no probability below 0.5
    labels = (x[:, :1] > 0).float().repeat(1, 2)
    relu_logits = setup_facts(Bounded(torch.relu, 2), labels, nn.BCEWithLogitsLoss(), "binary", x)
    assert relu_logits["output_reach"]["forbidden"] > 0.3


def test_setup_finds_double_softmax_without_fatal():
    f = setup_facts(Softmaxed(), torch.randint(0, 3, (64,)), nn.CrossEntropyLoss())
    assert f["output"]["rows_sum_to_one"] and "fatal" not in f
    assert f["labels"]["out_of_range"] is False and math.isfinite(f["loss"])


def test_setup_out_of_range_labels_are_fatal_before_the_loss_runs():
    f = setup_facts(nn.Linear(2, 3), torch.randint(1, 4, (64,)), nn.CrossEntropyLoss())
    assert f["fatal"]["reason"] == "labels_out_of_range"
    assert f["labels"]["one_based"] and "loss" not in f


def test_setup_ignore_index_is_not_out_of_range():
    y = torch.randint(0, 3, (64,))
    y[:5] = -100
    f = setup_facts(nn.Linear(2, 3), y, nn.CrossEntropyLoss())
    assert "fatal" not in f and f["labels"]["out_of_range"] is False


def test_setup_broadcast_shapes_recorded_for_mse():
    f = setup_facts(nn.Linear(2, 1), torch.randn(64), nn.MSELoss(), task="regression")
    assert f["shapes"]["broadcast"] == [64, 64] and "fatal" not in f


def test_setup_logits_into_bce_is_fatal():
    model = nn.Sequential(nn.Linear(2, 1), nn.Flatten(0))
    x = torch.randn(64, 2) * 10
    f = setup_facts(model, torch.randint(0, 2, (64,)).float(), nn.BCELoss(), "binary", x)
    assert f["fatal"]["reason"] == "logits_into_bce"


def test_setup_nothing_trainable_is_fatal():
    model = nn.Linear(2, 3).requires_grad_(False)
    f = setup_facts(model, torch.randint(0, 3, (64,)), nn.CrossEntropyLoss())
    assert f["fatal"]["reason"] == "no_trainable" and f["n_trainable"] == 0


def test_setup_nan_batch_trains_on_and_loss_errors_are_caught():
    x = torch.randn(64, 2)
    x[::2, 0] = math.nan
    f = setup_facts(nn.Linear(2, 3), torch.randint(0, 3, (64,)), nn.CrossEntropyLoss(), x=x)
    # cross-entropy computes a NaN loss: training runs and stops on it, the data rule explains it
    assert "fatal" not in f and f["batch_nonfinite_rows"] == 32 and f["loss"] == "nan"
    model = nn.Sequential(nn.Linear(2, 1), nn.Flatten(0))  # (N,) into cross-entropy
    f = setup_facts(model, torch.randint(0, 3, (64,)), nn.CrossEntropyLoss())
    assert f["fatal"]["reason"] == "loss_raised" and "RuntimeError" in f["fatal"]["message"]


def test_setup_leaves_batchnorm_statistics_untouched():
    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    setup_facts(model, torch.randint(0, 3, (64,)), nn.CrossEntropyLoss(), x=torch.randn(64, 2) + 5)
    assert torch.equal(model[1].running_mean, torch.zeros(3)) and model.training


def test_parameter_updates_names_parameters_the_optimizer_misses():
    import copy

    model = nn.Sequential(nn.Linear(2, 4), nn.Linear(4, 3))
    start = copy.deepcopy(model)
    opt = torch.optim.SGD(model[0].parameters(), lr=0.1)
    loss = model(torch.randn(8, 2)).pow(2).mean()
    loss.backward()
    opt.step()
    u = parameter_updates(start, model, opt)
    assert u["not_in_optimizer"] == ["1.weight", "1.bias"]
    assert {p["name"] for p in u["unchanged"]} == {"1.weight", "1.bias"}
    assert all(p["grad_norm"] > 0 for p in u["unchanged"])
    zero = torch.optim.SGD(model.parameters(), lr=0.0)
    assert parameter_updates(start, model, zero)["zero_lr"] == [
        "0.weight",
        "0.bias",
        "1.weight",
        "1.bias",
    ]


def test_setup_unwraps_a_model_returning_a_tuple():
    """The step contract: the first element of a tuple is the prediction."""

    class Pair(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(2, 3)

        def forward(self, x):
            return self.lin(x), x

    f = setup_facts(Pair(), torch.randint(0, 3, (64,)), nn.CrossEntropyLoss())
    assert "fatal" not in f and f["output_shape"] == [64, 3] and f["labels"]["n_outputs"] == 3
    assert isinstance(f["loss"], float)


def test_setup_with_a_model_returning_no_tensor_reports_the_loss_error():
    class Words(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(2, 3)

        def forward(self, x):
            return "not a tensor"

    f = setup_facts(Words(), torch.randint(0, 3, (64,)), nn.CrossEntropyLoss())
    assert f["output"] == {"type": "str"} and f["fatal"]["reason"] == "loss_raised"


def test_setup_minus_one_labels_are_out_of_range_for_cross_entropy():
    y = torch.randint(0, 2, (64,)) * 2 - 1  # -1/+1 labels
    f = setup_facts(nn.Linear(2, 3), y, nn.CrossEntropyLoss())
    assert f["fatal"]["reason"] == "labels_out_of_range" and f["labels"]["negative"] == [-1.0]


def test_setup_bce_rejects_different_shapes_before_training():
    y = torch.randint(0, 2, (64,)).float()
    f = setup_facts(nn.Linear(2, 1), y, nn.BCEWithLogitsLoss(), "binary")
    assert f["fatal"]["reason"] == "shape_mismatch" and f["shapes"]["output"] == [64, 1]


class RowDataset(torch.utils.data.Dataset):
    """A user Dataset that is not a TensorDataset: the audit samples it through __getitem__."""

    def __init__(self, n: int):
        self.x = torch.randn(n, 3)
        self.x[::10, 2] = math.inf
        self.y = torch.arange(n) % 4

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


def test_audit_samples_a_user_dataset():
    train, val = RowDataset(300), RowDataset(50)
    val.x, val.y = train.x[:50].clone(), train.y[:50].clone()  # a leaky split
    b = DataBundle(train, val, "classification", 4, (3,), (), "user:test")
    facts = audit_data(b)
    assert facts["nonfinite"]["train"]["inputs"]["inf"] == 30
    assert facts["nonfinite"]["train"]["inputs"]["where"] == {"x[2]": 30}
    assert facts["class_counts"] == [75, 75, 75, 75]
    assert facts["overlap"]["val_in_train"] == 50


def test_nan_inputs_into_bce_are_reported_as_nan_not_as_logits():
    model = nn.Sequential(nn.Linear(2, 1), nn.Sigmoid(), nn.Flatten(0))
    x = torch.randn(64, 2)
    x[::4, 1] = math.nan
    f = setup_facts(model, torch.randint(0, 2, (64,)).float(), nn.BCELoss(), "binary", x)
    assert f["fatal"]["reason"] == "nonfinite_batch"
