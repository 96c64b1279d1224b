import pytest
from conftest import write

from nnlearn.errors import InputError, SpecError
from nnlearn.spec import load_spec, parse_overrides

MINIMAL = "data: {kind: synthetic, name: moons}\nmodel: {kind: mlp}\n"


def problems(exc: SpecError) -> dict[str, str]:
    return dict(exc.problems)


def test_minimal_spec_gets_every_default(tmp_path):
    spec = load_spec(write(tmp_path, MINIMAL))
    assert spec.name == "spec"  # from the file name
    assert spec.optimizer.name == "adam" and spec.optimizer.lr == 0.001
    assert spec.probe.steps == 500 and spec.probe.eval_every == 25
    assert spec.probe.experiments[0] == "init_check"
    assert spec.data.batch_size == 64 and spec.data.standardize is False


def test_unknown_key_suggests_the_known_one(tmp_path):
    with pytest.raises(SpecError) as err:
        load_spec(write(tmp_path, MINIMAL + "optimiser: {lr: 0.1}\n"))
    assert problems(err.value) == {"optimiser": "unknown key; did you mean 'optimizer'?"}
    assert str(tmp_path / "spec.yaml") in err.value.render()


def test_unknown_nested_key_names_the_field_path(tmp_path):
    with pytest.raises(SpecError) as err:
        load_spec(write(tmp_path, MINIMAL + "optimizer: {lrate: 0.1}\n"))
    assert "optimizer.lrate" in problems(err.value)
    assert "did you mean 'lr'" in problems(err.value)["optimizer.lrate"]


def test_wrong_type_names_the_field(tmp_path):
    with pytest.raises(SpecError) as err:
        load_spec(write(tmp_path, MINIMAL + "optimizer: {lr: fast}\n"))
    assert "valid number" in problems(err.value)["optimizer.lr"]


def test_bad_choice_suggests_the_closest(tmp_path):
    with pytest.raises(SpecError) as err:
        load_spec(write(tmp_path, "data: {name: spiral}\nmodel: {activation: relu}\n"))
    assert "did you mean 'spirals'" in problems(err.value)["data.name"]


def test_missing_section(tmp_path):
    with pytest.raises(SpecError) as err:
        load_spec(write(tmp_path, "data: {name: moons}\n"))
    assert problems(err.value) == {"model": "required field is missing"}


def test_scientific_notation_is_a_number(tmp_path):
    spec = load_spec(write(tmp_path, MINIMAL + "optimizer: {lr: 1e-3, weight_decay: 5E-4}\n"))
    assert spec.optimizer.lr == pytest.approx(1e-3)
    assert spec.optimizer.weight_decay == pytest.approx(5e-4)


def test_set_overrides_are_yaml_typed(tmp_path):
    sets = parse_overrides(["optimizer.lr=1e-2", "model.hidden=[8, 4]", "data.standardize=true"])
    spec = load_spec(write(tmp_path, MINIMAL), sets)
    assert spec.optimizer.lr == pytest.approx(1e-2)
    assert spec.model.hidden == [8, 4]
    assert spec.data.standardize is True


def test_set_needs_key_and_value():
    with pytest.raises(InputError):
        parse_overrides(["optimizer.lr"])


def test_set_into_unknown_key_is_a_spec_error(tmp_path):
    with pytest.raises(SpecError) as err:
        load_spec(write(tmp_path, MINIMAL), parse_overrides(["optimizer.lrr=0.1"]))
    assert "optimizer.lrr" in problems(err.value)


def test_relative_data_path_resolves_against_the_spec_folder(tmp_path):
    (tmp_path / "sub").mkdir()
    spec = load_spec(
        write(tmp_path / "sub", "data: {kind: csv, path: t.csv, target: y}\nmodel: {}\n")
    )
    assert spec.data.path == str((tmp_path / "sub" / "t.csv").resolve())


def test_csv_needs_path_and_target(tmp_path):
    with pytest.raises(SpecError) as err:
        load_spec(write(tmp_path, "data: {kind: csv}\nmodel: {}\n"))
    assert "needs path and target" in err.value.render()


def test_missing_spec_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_spec(tmp_path / "nope.yaml")


def test_yaml_syntax_error_names_the_line(tmp_path):
    with pytest.raises(SpecError, match="line 3"):
        load_spec(write(tmp_path, "data: {name: moons}\nmodel: [unclosed\n"))


def test_rule_ids_and_thresholds_are_checked(tmp_path):
    text = (
        MINIMAL + "probe:\n  rules:\n    disable: [L10]\n    thresholds: {L102: {min_drop: 0.1}}\n"
    )
    with pytest.raises(SpecError) as err:
        load_spec(write(tmp_path, text))
    found = problems(err.value)
    assert "did you mean 'L10" in found["probe.rules.disable[0]"]
    assert "min_relative_drop" in found["probe.rules.thresholds.L102.min_drop"]


def test_target_sections_keep_their_kwargs(tmp_path):
    spec = load_spec(
        write(
            tmp_path,
            "data: {_target_: usercode.make_tensors, n: 100, batch_size: 16}\n"
            "model: {_target_: usercode.TwoLayer, width: 8}\n"
            "optimizer: {_target_: torch.optim.SGD, lr: 0.1, grad_clip: 1.0}\n",
        )
    )
    assert spec.data.factory == "usercode.make_tensors" and spec.data.kwargs == {"n": 100}
    assert spec.data.batch_size == 16  # nnlearn's own key, not a kwarg
    assert spec.model.kwargs == {"width": 8}
    assert spec.optimizer.kwargs == {"lr": 0.1} and spec.optimizer.grad_clip == 1.0
    again = spec.to_mapping()
    assert again["model"] == {"_target_": "usercode.TwoLayer", "width": 8}


def test_starter_spec_validates(tmp_path):
    from importlib.resources import files

    text = files("nnlearn.spec").joinpath("starter.yaml").read_text()
    spec = load_spec(write(tmp_path, text))
    assert spec.name == "my-probe"
