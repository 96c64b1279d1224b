import pytest
import torch
from conftest import write

from nnlearn.data import build_data, sample
from nnlearn.errors import SpecError
from nnlearn.models import CNN, MLP, build_model
from nnlearn.probe.setup import build_loss, build_optimizer
from nnlearn.spec import load_spec


def built(tmp_path, text):
    path = write(tmp_path, text)
    spec = load_spec(path)
    bundle = build_data(spec, str(path))
    return spec, bundle, build_model(spec, bundle, str(path))


@pytest.mark.parametrize(
    "activation", ["relu", "leaky_relu", "gelu", "tanh", "sigmoid", "elu", "silu"]
)
def test_mlp_sizes_come_from_the_data(tmp_path, activation):
    spec, bundle, model = built(
        tmp_path,
        f"data: {{name: spirals, n_classes: 4, n_samples: 100}}\n"
        f"model: {{hidden: [8, 6], activation: {activation}, dropout: 0.1, batchnorm: true}}\n",
    )
    assert isinstance(model, MLP)
    x, y = sample(bundle.train, 16)
    assert model(x).shape == (16, 4)
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in linears] == [8, 6, 4]


def test_regression_output_matches_a_1d_target(tmp_path):
    spec, bundle, model = built(
        tmp_path, "data: {name: sine, n_samples: 100}\nmodel: {hidden: [8]}\n"
    )
    x, y = sample(bundle.train, 10)
    assert model(x).shape == y.shape == (10,)
    loss = build_loss(spec, bundle.task)
    assert loss.name == "mse" and torch.isfinite(loss(model(x), y))


def test_cnn_on_images(tmp_path):
    spec, bundle, model = built(
        tmp_path,
        "data: {name: images, n_classes: 5, n_samples: 64}\nmodel: {kind: cnn, hidden: [4, 8]}\n",
    )
    assert isinstance(model, CNN)
    x, _ = sample(bundle.train, 4)
    assert model(x).shape == (4, 5)


def test_cnn_needs_images(tmp_path):
    with pytest.raises(SpecError, match="cnn needs image inputs"):
        built(tmp_path, "data: {name: moons}\nmodel: {kind: cnn}\n")


@pytest.mark.parametrize("scheme", ["xavier", "kaiming", "normal", "zeros"])
def test_init_schemes(tmp_path, scheme):
    _, _, model = built(
        tmp_path,
        f"data: {{name: moons, n_samples: 50}}\nmodel: {{init: {scheme}, init_std: 0.5}}\n",
    )
    w = model.net[0].weight
    if scheme == "zeros":
        assert not w.any()
    elif scheme == "normal":
        assert 0.3 < float(w.detach().std()) < 0.7
    assert not model.net[0].bias.any()


def test_user_model_gets_inferred_sizes(usercode):
    spec, bundle, model = built(
        usercode,
        "data: {name: spirals, n_classes: 5, n_samples: 100}\nmodel: {_target_: usercode.TwoLayer, width: 7}\n",
    )
    assert (
        model.fc1.in_features == 2 and model.fc1.out_features == 7 and model.fc2.out_features == 5
    )


def test_user_factory_and_missing_argument(usercode):
    _, _, model = built(
        usercode, "data: {name: xor}\nmodel: {_target_: usercode.make_model, width: 3}\n"
    )
    assert isinstance(model, torch.nn.Sequential)
    with pytest.raises(SpecError) as err:
        built(usercode, "data: {name: xor}\nmodel: {_target_: usercode.XorDataset}\n")
    assert "model.n" in dict(err.value.problems)


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw", "rmsprop", "adagrad"])
def test_optimizers_by_name(tmp_path, name):
    spec, _, model = built(
        tmp_path,
        f"data: {{name: moons, n_samples: 50}}\nmodel: {{}}\noptimizer: {{name: {name}, lr: 0.05}}\n",
    )
    opt = build_optimizer(spec, model)
    assert opt.param_groups[0]["lr"] == 0.05


def test_optimizer_and_loss_targets(usercode):
    spec, bundle, model = built(
        usercode,
        "data: {name: moons, n_samples: 50}\nmodel: {}\n"
        "loss: {_target_: torch.nn.CrossEntropyLoss, label_smoothing: 0.1}\n"
        "optimizer: {_target_: usercode.sgd_with_lr_in_code, momentum: 0.5}\n",
    )
    opt = build_optimizer(spec, model)
    assert isinstance(opt, torch.optim.SGD) and opt.param_groups[0]["lr"] == 10.0
    loss = build_loss(spec, bundle.task)
    assert loss.criterion.label_smoothing == 0.1


@pytest.mark.parametrize("name", ["cross_entropy", "nll", "bce_with_logits", "mse", "l1", "huber"])
def test_losses_by_name(tmp_path, name):
    spec, bundle, model = built(
        tmp_path, f"data: {{name: moons, n_samples: 50}}\nmodel: {{}}\nloss: {name}\n"
    )
    x, y = sample(bundle.train, 8)
    assert torch.isfinite(build_loss(spec, bundle.task)(model(x), y))
