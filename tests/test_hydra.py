"""Hydra semantics in specs (SPEC section 2): `${...}` interpolation with `vars:`, `_partial_`,
`_args_`, nested `_target_` blocks, `_recursive_`, `_convert_`; validate catches what the probe
would hit; hydra and omegaconf are imported only when a spec uses them."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from nnlearn.cli import app
from nnlearn.errors import SpecError
from nnlearn.spec import load_spec
from nnlearn.targets import call_user, check_signature
from tests.conftest import CONFIGS, write

pytest.importorskip("hydra")

TEMPLATE = CONFIGS / "hydra" / "template.yaml"


def validate(path):
    return CliRunner().invoke(app, ["validate", str(path)])


def test_interpolation_resolves_against_vars_and_the_whole_spec(tmp_path):
    spec = load_spec(
        write(
            tmp_path,
            "vars: {lr: 3.0e-3, n: 500}\nname: run-${vars.n}\n"
            "data: {n_samples: '${vars.n}', batch_size: '${data.n_samples}'}\n"
            "model: {hidden: ['${vars.n}']}\noptimizer: {lr: '${vars.lr}'}\n",
        )
    )
    assert spec.name == "run-500" and spec.optimizer.lr == 3e-3
    assert spec.data.n_samples == 500 and spec.data.batch_size == 500
    assert spec.model.hidden == [500]


def test_set_overrides_a_var_before_resolution(tmp_path):
    path = write(tmp_path, "vars: {lr: 0.1}\ndata: {}\nmodel: {}\noptimizer: {lr: '${vars.lr}'}\n")
    assert load_spec(path, [("vars.lr", 0.5)]).optimizer.lr == 0.5


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        ("optimizer: {lr: '${vars.nope}'}", "optimizer.lr", "interpolation"),
        ("vars: {name: fast}\noptimizer: {lr: '${vars.name}'}", "optimizer.lr", "number"),
        ("model: {_target_: math.pi}", "model._target_", "not callable"),
        ("model: {_target_: torch.nn.relu}", "model._target_", "did you mean 'ReLU'"),
        ("model: {_target_: torch.nn.Sequential, _args_: 3}", "model._args_", "must be a list"),
        (
            "model:\n  _target_: torch.nn.Sequential\n  _args_:\n    - {_target_: math.pi}",
            "model._args_[0]._target_",
            "not callable",
        ),
        (
            "model:\n  _target_: hydra_models.Classifier\n  width: 4\n"
            "  body: {_target_: torch.nn.ReLU, inplac: true}",
            "model.body.inplac",
            "did you mean 'inplace'",
        ),
        (
            "model:\n  _target_: hydra_models.Classifier\n  width: 4\n"
            "  body: {_target_: hydra_models.nope}",
            "model.body._target_",
            "no attribute 'nope'",
        ),
        (
            "model:\n  _target_: hydra_models.Classifier\n  width: 4\n"
            "  body: {_target_: hydra_models.mlp, width: 4}",
            "model.body.in_features",
            "required",
        ),
        (
            "model: {}\noptimizer: {_target_: torch.optim.SGD, _partial_: yes-please}",
            "_partial_",
            "",
        ),
    ],
)
def test_validate_catches_what_the_probe_would_hit(tmp_path, text, field, words):
    import shutil

    shutil.copy(CONFIGS / "hydra" / "hydra_models.py", tmp_path / "hydra_models.py")
    if not text.startswith("model") and "\nmodel" not in text:
        text += "\nmodel: {}"
    path = write(tmp_path, f"data: {{}}\n{text}\n")
    res = validate(path)
    assert res.exit_code == 2, res.output
    assert str(path) in res.output and field in res.output and words in res.output


def test_a_partial_nested_block_may_leave_arguments_for_later():
    check_signature(
        lambda body: body,
        {"body": {"_target_": "torch.optim.SGD", "_partial_": True, "lr": 0.1}},
        "model",
        "s.yaml",
    )
    with pytest.raises(SpecError, match="model.body.params"):
        check_signature(
            lambda body: body, {"body": {"_target_": "torch.optim.SGD", "lr": 0.1}}, "model", None
        )


def test_call_user_builds_like_hydra_instantiate():
    import functools

    import torch

    def build(*layers, head=None, extra=None):
        return layers, head, extra

    layers, head, extra = call_user(
        build,
        "model",
        kwargs={
            "_args_": [{"_target_": "torch.nn.ReLU"}, 3],
            "head": {"_target_": "torch.nn.Linear", "in_features": 2, "out_features": 1},
            "extra": {"opt": {"_target_": "torch.optim.SGD", "_partial_": True, "lr": 0.5}},
            "_convert_": "all",
        },
    )
    assert isinstance(layers[0], torch.nn.ReLU) and layers[1] == 3
    assert isinstance(head, torch.nn.Linear) and head.in_features == 2
    assert isinstance(extra, dict) and isinstance(extra["opt"], functools.partial)
    _, raw, _ = call_user(
        build, "m", kwargs={"head": {"_target_": "torch.nn.ReLU"}, "_recursive_": False}
    )
    assert raw["_target_"] == "torch.nn.ReLU"  # not built: _recursive_ false


def test_a_partial_optimizer_gets_the_parameters_and_positional_args_come_after():
    import torch

    params = [torch.nn.Parameter(torch.zeros(2))]
    opt = call_user(torch.optim.SGD, "optimizer", (params,), {"_partial_": True, "lr": 0.25})
    assert isinstance(opt, torch.optim.SGD) and opt.param_groups[0]["lr"] == 0.25
    opt = call_user(torch.optim.SGD, "optimizer", (params,), {"_args_": [0.5]})
    assert opt.param_groups[0]["lr"] == 0.5


def test_user_code_raising_inside_a_nested_block_keeps_its_own_frames():
    from nnlearn.errors import UserCodeError

    with pytest.raises(UserCodeError) as info:
        call_user(
            lambda body: body,
            "model._target_ m",
            kwargs={"body": {"_target_": "math.sqrt", "_args_": [-1]}},
        )
    assert isinstance(info.value.exc, ValueError) and "math domain error" in info.value.render()


def test_plain_specs_import_neither_hydra_nor_omegaconf():
    code = (
        "import sys\nfrom nnlearn.cli import app\n"
        "sys.argv=['nnlearn','validate',sys.argv[1]]\n"
        "try:\n    app()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('hydra', 'omegaconf') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(CONFIGS / "quickstart.yaml")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip().endswith("[]")


@pytest.mark.slow
def test_hydra_template_probes_healthy(run_probe_at):
    result = run_probe_at(TEMPLATE, {"probe.steps": 200})
    assert result.verdict == "healthy", [f.message for f in result.findings]
    assert result.measurements.fact("model.class") == "Classifier"
