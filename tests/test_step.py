"""The batch/step contract (SPEC section 2, STYLE "one batch, one step"): batches of any shape,
outputs of any shape, the user's train_step, schedulers, the new tasks."""

from __future__ import annotations

import math
import shutil
import sys

import pytest
import torch
from conftest import ROOT, probe, write
from torch import nn

from nnlearn.data import build_data, infer_task
from nnlearn.data.batch import (
    MappingDataset,
    batch_size,
    from_batch,
    inputs_and_target,
    sample_batch,
    slice_batch,
    to_device,
    view_of,
    with_target,
)
from nnlearn.probe.experiments.init_check import chance_loss
from nnlearn.probe.setup import LossFn, build_scheduler
from nnlearn.probe.step import Step, StepOutput, unwrap
from nnlearn.spec import load_spec
from nnlearn.targets import call_user


@pytest.fixture
def stepcode(tmp_path):
    shutil.copy(ROOT / "tests" / "fixtures" / "stepcode.py", tmp_path / "stepcode.py")
    yield tmp_path
    sys.modules.pop("stepcode", None)


def ce(task="classification"):
    return LossFn(nn.CrossEntropyLoss(), task, "cross_entropy")


# -- batches ---------------------------------------------------------------------------------
def test_mapping_batches_slice_count_move_and_view():
    cols = {
        "input_ids": torch.arange(20).reshape(5, 4),
        "attention_mask": torch.ones(5, 4, dtype=torch.long),
        "labels": torch.tensor([0, 1, 0, 1, 1]),
    }
    ds = MappingDataset(cols)
    full = sample_batch(ds, 100)
    assert batch_size(full) == 5
    part = slice_batch(full, torch.tensor([1, 3]))
    assert part["input_ids"].tolist() == [[4, 5, 6, 7], [12, 13, 14, 15]]
    assert part["labels"].tolist() == [1, 1]
    inputs, target = inputs_and_target(part)
    assert set(inputs) == {"input_ids", "attention_mask"} and target.tolist() == [1, 1]
    moved = to_device(part, torch.device("cpu"))
    assert moved["input_ids"].dtype == torch.int64  # ids stay integer
    v = view_of(full)
    assert v.inputs.dtype == torch.int64 and v.mapping and v.target_key == "labels"
    assert v.attention_mask is not None
    assert with_target(full, torch.zeros(5))["labels"].sum() == 0
    assert len(from_batch(part)) == 2


def test_language_model_view_shifts_inputs_when_there_are_no_labels():
    v = view_of({"input_ids": torch.arange(10).reshape(2, 5)}, "language_modeling")
    assert v.targets.tolist() == [[1, 2, 3, 4], [6, 7, 8, 9]] and v.ignore_index == -100


def test_map_style_dataset_of_mappings_is_collated(stepcode):
    sys.path.insert(0, str(stepcode))
    import stepcode as sc

    batch = sample_batch(sc.ItemDataset(40), 16, seed=1)
    assert isinstance(batch, dict) and batch["input_ids"].shape == (16, 8)


def test_integer_ids_from_a_user_pair_stay_int64(stepcode):
    spec = write(
        stepcode,
        "data: {_target_: stepcode.token_pairs}\nmodel: {_target_: stepcode.Bag}\n",
    )
    b = build_data(load_spec(spec), str(spec))
    assert b.train.tensors[0].dtype == torch.int64 and b.task == "classification"


def test_a_data_kwarg_named_fn_reaches_the_user_callable(stepcode):
    spec = write(
        stepcode,
        "data: {_target_: stepcode.with_fn_kwarg, fn: custom, what: 3, batch_size: 32}\n"
        "model: {_target_: stepcode.Bag}\n",
    )
    b = build_data(load_spec(spec), str(spec))  # batch_size is nnlearn's and passed on too
    assert len(b.train) == 160


def test_call_user_keeps_its_own_names_apart():
    def f(fn, what, args=None, kwargs=None):
        return fn, what, args, kwargs

    assert call_user(f, "x", kwargs={"fn": 1, "what": 2, "args": 3, "kwargs": 4}) == (1, 2, 3, 4)


# -- tasks -----------------------------------------------------------------------------------
def test_task_inference_for_the_new_tasks():
    ids = torch.randint(0, 30, (64, 10))
    assert infer_task(None, "auto", None, ids) == "language_modeling"
    assert infer_task(ids.clone(), "auto", None, ids) == "language_modeling"  # labels=input_ids
    shifted = torch.roll(ids, -1, 1)
    assert infer_task(shifted, "auto", None, ids) == "language_modeling"
    tags = torch.randint(0, 4, (64, 10))
    assert infer_task(tags, "auto", None, ids) == "token_classification"
    multi = torch.tensor([[1.0, 1, 0], [0, 1, 0], [1, 0, 1]])
    assert infer_task(multi, "auto", None, torch.randn(3, 4)) == "multilabel"
    one_hot = torch.eye(3)
    assert infer_task(one_hot, "auto", None, torch.randn(3, 4)) == "binary"
    assert infer_task(torch.tensor([0, 1, 2]), "auto", None, torch.randn(3, 4)) == "classification"
    assert infer_task(tags, "token_classification", None, ids) == "token_classification"


def test_multilabel_accuracy_is_a_fraction():
    step = Step(LossFn(nn.BCEWithLogitsLoss(), "multilabel", "bce_with_logits"))
    y = torch.tensor([[1.0, 1, 0, 0], [0, 1, 1, 1]])
    logits = torch.tensor([[3.0, 2, -1, 1], [-2, 1, 1, 1]])  # 7 of 8 labels right
    hits, n = step.hits(StepOutput(torch.zeros(()), logits, y))
    assert (hits, n) == (7, 8) and hits / n == 0.875


def test_sigmoid_outputs_under_bce_get_their_real_accuracy():
    y = torch.tensor([1.0, 0, 1, 0])
    probs = torch.tensor([0.9, 0.2, 0.6, 0.4])  # all right at 0.5, all "positive" at 0
    bce = Step(LossFn(nn.BCELoss(), "binary", "bce"))
    assert bce.hits(StepOutput(torch.zeros(()), probs, y)) == (4, 4)
    # a sigmoid model under BCEWithLogits: the setup check measured probabilities
    logits_loss = Step(
        LossFn(nn.BCEWithLogitsLoss(), "binary", "bce_with_logits"), probabilities=True
    )
    assert logits_loss.hits(StepOutput(torch.zeros(()), probs, y)) == (4, 4)
    assert Step(LossFn(nn.BCEWithLogitsLoss(), "binary", "bce_with_logits")).hits(
        StepOutput(torch.zeros(()), probs, y)
    ) == (2, 4)


def test_token_accuracy_skips_the_ignore_index():
    step = Step(ce("token_classification"))
    logits = torch.zeros(1, 3, 4)
    logits[0, :, 2] = 1.0  # predicts class 2 everywhere
    target = torch.tensor([[2, -100, 1]])
    pred, tgt = step.align(logits, target, torch.zeros(1, 3, dtype=torch.long))
    assert pred.shape == (3, 4) and step.hits(StepOutput(torch.zeros(()), pred, tgt)) == (1, 2)


def test_chance_levels_per_task():
    lm = ce("language_modeling")
    y = torch.tensor([[0, 0, 1, 1], [2, 2, 3, -100]])  # 7 counted tokens
    p = torch.tensor([2, 2, 2, 1]) / 7
    assert math.isclose(chance_loss(lm, y), float(-(p * p.log()).sum()), rel_tol=1e-6)
    ml = LossFn(nn.BCEWithLogitsLoss(), "multilabel", "bce_with_logits")
    y = torch.tensor([[1.0, 0], [1, 0], [0, 0], [1, 1]])  # rates 0.75 and 0.25: same entropy
    h = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert math.isclose(chance_loss(ml, y), h, rel_tol=1e-5)


# -- outputs ---------------------------------------------------------------------------------
def test_unwrap_every_output_shape():
    t = torch.ones(2, 3)
    assert unwrap(t)[0] is t
    assert unwrap((t, torch.zeros(1)))[0] is t
    assert unwrap([t])[0] is t
    pred, loss = unwrap({"logits": t, "loss": torch.tensor(2.0)})
    assert pred is t and float(loss) == 2.0
    from transformers.modeling_outputs import SequenceClassifierOutput

    pred, loss = unwrap(SequenceClassifierOutput(logits=t))
    assert pred is t and loss is None


@pytest.mark.parametrize("output", ["tensor", "dict", "tuple"])
def test_step_on_mapping_batches_and_every_output(stepcode, output):
    sys.path.insert(0, str(stepcode))
    import stepcode as sc

    model = sc.Bag(output=output)
    batch = {k: v[:8] for k, v in sc.token_mapping().items()}
    out = Step(ce())(model, batch)
    assert out.loss.requires_grad and out.prediction.shape == (8, 2)
    assert out.target.tolist() == batch["labels"].tolist()


def test_hugging_face_models_use_their_own_loss_under_loss_auto(stepcode):
    sys.path.insert(0, str(stepcode))
    import stepcode as sc

    torch.manual_seed(0)
    bert = sc.tiny_bert()
    batch = {k: v[:8] for k, v in sc.token_mapping().items()}
    auto = LossFn(nn.CrossEntropyLoss(), "classification", "cross_entropy", auto=True)
    step = Step(auto)
    out = step(bert, batch)
    assert step.used_model_loss and out.prediction.shape == (8, 2)
    bert.eval()
    with torch.no_grad():
        expected = bert(**batch).loss
        assert torch.allclose(step(bert, batch).loss, expected)
    gpt = sc.tiny_gpt2()
    lm = Step(LossFn(nn.CrossEntropyLoss(), "language_modeling", "cross_entropy", auto=True))
    ids = sc.lm_tokens(4)["input_ids"]
    out = lm(gpt, {"input_ids": ids, "labels": ids})
    # Hugging Face shifts inside the model; nnlearn aligns its accuracy the same way
    assert (
        out.prediction.shape == (4 * 11, 20)
        and out.target.tolist() == ids[:, 1:].reshape(-1).tolist()
    )


# -- schedulers ------------------------------------------------------------------------------
def _spec(tmp_path, extra: str):
    return load_spec(write(tmp_path, f"data: {{}}\nmodel: {{}}\n{extra}"))


def _lrs(spec, steps: int) -> list[float]:
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = build_scheduler(spec, opt)
    lrs = []
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def test_builtin_schedulers(tmp_path):
    warm = _lrs(_spec(tmp_path, "scheduler: {name: linear_warmup, warmup_steps: 4}"), 6)
    assert warm == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0, 1.0])
    cos = _lrs(_spec(tmp_path, "scheduler: {name: cosine, total_steps: 10}"), 11)
    assert cos[0] == 1.0 and cos[5] == pytest.approx(0.5) and cos[10] == pytest.approx(0.0)
    step = _lrs(_spec(tmp_path, "scheduler: {name: step, step_size: 2, gamma: 0.5}"), 5)
    assert step == pytest.approx([1, 1, 0.5, 0.5, 0.25])
    assert build_scheduler(_spec(tmp_path, "scheduler: {name: constant}"), None) is None


def test_a_transformers_scheduler_target(tmp_path):
    spec = _spec(
        tmp_path,
        "scheduler: {_target_: transformers.get_linear_schedule_with_warmup,"
        " num_warmup_steps: 2, num_training_steps: 4}",
    )
    assert _lrs(spec, 5) == pytest.approx([0.0, 0.5, 1.0, 0.5, 0.0])


def test_scheduler_typo_is_a_spec_error(tmp_path):
    from nnlearn.errors import SpecError

    with pytest.raises(SpecError, match="scheduler.warmup_step"):
        _spec(tmp_path, "scheduler: {name: cosine, warmup_step: 3}")


# -- end to end ------------------------------------------------------------------------------
FAST = "probe: {steps: 40, eval_every: 20, budget_s: 30, experiments: [%s]}\n"
ALL = "init_check, overfit_batch, lr_range, shuffled_labels, data_scaling, baseline"


@pytest.mark.slow
def test_train_step_is_used_by_the_main_run_and_every_experiment(stepcode):
    sys.path.insert(0, str(stepcode))
    import stepcode as sc

    sc.STEP_CALLS.clear()
    spec = write(
        stepcode,
        "data: {name: blobs, n_samples: 300}\nmodel: {hidden: [8]}\n"
        "train_step: {_target_: stepcode.counting_step, scale: 1.0}\n"
        "scheduler: {name: linear_warmup, warmup_steps: 10}\n" + FAST % ALL,
    )
    result = probe(spec, stepcode / "run")
    models = {id(m) for m, _ in sc.STEP_CALLS}
    # setup/main model, init_check, overfit_batch, lr_range, shuffled_labels, 2 data_scaling
    assert len(models) >= 7
    assert any(not training for _, training in sc.STEP_CALLS)  # evaluation too
    facts = result.measurements.facts
    assert facts["model"]["loss"] == "train_step stepcode.counting_step"
    assert facts["run"]["steps_done"] == 40 and facts["run"]["lr"] == pytest.approx(0.001)
    for name in ("overfit_batch", "lr_range", "shuffled_labels", "data_scaling", "baseline"):
        assert "skipped" not in result.experiments[name], (name, result.experiments[name])
    assert len(result.measurements.series("val_acc"))


@pytest.mark.slow
def test_mapping_batches_and_dict_outputs_probe_end_to_end(stepcode):
    spec = write(
        stepcode,
        "data: {_target_: stepcode.item_datasets, batch_size: 16}\n"
        "model: {_target_: stepcode.Bag, output: dict}\n" + FAST % ALL,
    )
    result = probe(spec, stepcode / "run")
    assert result.measurements.facts["run"]["steps_done"] == 40
    assert all("skipped" not in v for v in result.experiments.values()), result.experiments


@pytest.mark.slow
def test_language_model_without_labels_probes_with_unigram_chance(stepcode):
    spec = write(
        stepcode,
        "data: {_target_: stepcode.lm_tokens, batch_size: 16}\n"
        "model: {_target_: stepcode.TinyLM}\noptimizer: {lr: 0.01}\n"
        + FAST
        % "init_check, overfit_batch, baseline",
    )
    result = probe(spec, stepcode / "run")
    facts = result.measurements.facts
    assert facts["data"]["task"] == "language_modeling"
    init = facts["init"]
    assert init["uniform_loss"] == pytest.approx(math.log(20))
    assert init["chance_loss"] == pytest.approx(math.log(20), rel=0.02)  # tokens near uniform
    acc = result.measurements.series("val_acc")
    assert len(acc) and 0 <= float(acc.iloc[-1]) <= 1


@pytest.mark.slow
def test_multilabel_probe_reports_a_fraction(stepcode):
    spec = write(
        stepcode,
        "data: {_target_: stepcode.multilabel}\nmodel: {hidden: [16]}\n"
        + FAST % "init_check, baseline",
    )
    result = probe(spec, stepcode / "run")
    assert result.measurements.facts["data"]["task"] == "multilabel"
    acc = result.measurements.series("val_acc")
    assert 0.5 < float(acc.iloc[-1]) <= 1.0


# -- lr_range: a suggestion the probe stands by ----------------------------------------------
def _sweep_ctx(main_losses):
    from types import SimpleNamespace

    from nnlearn.measurements import MetricsRecorder

    rec = MetricsRecorder()
    for i, v in enumerate(main_losses):
        rec.add("main", i, "train_loss", v)
    return SimpleNamespace(recorder=rec, facts={"run": {"lr": 1e-3}})


def test_lr_range_does_not_stand_by_an_early_noise_pick():
    """Issue 9's 6.4e-07: one noisy first batch makes the exponential average fall at the very
    start of the sweep, and torch-lr-finder's steepest-descent pick lands there."""
    from nnlearn.probe.experiments import lr_range as L

    g = torch.Generator().manual_seed(0)
    n = 60
    lrs = [L.schedule(i) for i in range(n)]
    losses = [1.4] + (0.70 + 0.01 * torch.randn(n - 1, generator=g)).tolist()
    smoothed = []
    for v in losses:
        smoothed.append(v if not smoothed else L.SMOOTH_F * v + (1 - L.SMOOTH_F) * smoothed[-1])
    assert L.steepest(lrs, smoothed) == pytest.approx(6.43e-07, rel=0.01)
    result = {**L.good_range(lrs, losses)}
    result["candidate_lr"] = L.suggestion(lrs, smoothed, losses, result["good_range"])
    result["lr_in_use"] = 1e-3
    # the main run learnt at 1e-3 (loss 0.7 -> 0.1): a pick 1,000x below it is contradicted
    reason = L.unreliable(result, losses, _sweep_ctx([0.7 - 0.006 * i for i in range(100)]))
    assert reason and "learnt at 0.001" in reason


def test_lr_range_calls_a_flat_sweep_unreliable():
    from nnlearn.probe.experiments import lr_range as L

    lrs = [L.schedule(i) for i in range(60)]
    flat = [0.69 + 0.001 * ((-1) ** i) for i in range(60)]
    result = {**L.good_range(lrs, flat), "candidate_lr": 1e-4, "lr_in_use": 1e-3}
    assert "flat" in L.unreliable(result, flat, _sweep_ctx([]))


def test_rules_never_contradict_the_sweep():
    from conftest import measurements, series

    from nnlearn.rules import registry

    flat = series("train_loss", [1.0] * 100)
    below = {"run": {"lr": 1e-3}, "experiments": {"lr_range": {"suggested_lr": 6.4e-7}}}
    [f] = registry()["L102"]().evaluate(measurements(flat, below))
    assert f.cause.value == "lr_too_high" and not any("raise" in x for x in f.fixes)
    assert "lower the learning rate to about 6.4e-07" in f.fixes[0]
    above = {"run": {"lr": 1e-6}, "experiments": {"lr_range": {"suggested_lr": 1e-3}}}
    [f] = registry()["L102"]().evaluate(measurements(flat, above))
    assert "raise the learning rate to about 0.001" in f.fixes[0]
    unsure = {
        "run": {"lr": 1e-3},
        "experiments": {
            "lr_range": {"suggested_lr": None, "unreliable": "flat", "good_range": [1e-7, 1e-6]}
        },
    }
    [f] = registry()["L102"]().evaluate(measurements(flat, unsure))
    assert "no rate to stand by" in f.message and not any("suggest" in x for x in f.fixes)
    assert registry()["E902"]().evaluate(measurements([], unsure)) == []


@pytest.mark.slow
def test_lr_range_on_a_tiny_adam_transformer_suggests_a_rate_it_confirmed(stepcode):
    spec = write(
        stepcode,
        "data: {_target_: stepcode.token_mapping, n: 512}\n"
        "model: {_target_: stepcode.TinyTransformer}\noptimizer: {name: adam, lr: 0.001}\n"
        "probe: {steps: 100, eval_every: 50, budget_s: 60, experiments: [lr_range]}\n",
    )
    result = probe(spec, stepcode / "run")
    sweep = result.experiments["lr_range"]
    lr = sweep["suggested_lr"]
    if lr is None:  # allowed: then it says why, and no rule quotes a number
        assert sweep["unreliable"]
    else:
        assert 1e-5 <= lr <= 0.1 and sweep["confirmation"]["confirmed"] is True
    assert "E902" not in {f.rule for f in result.findings}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["step_train_step", "step_hf_own_loss"])
def test_contract_examples_are_healthy(tmp_path, name):
    """The README's examples: a user train_step with a cosine schedule on mapping batches, and
    a Hugging Face model on its own loss with transformers' schedule (which ends at lr 0: not
    'parameters never updated')."""
    from conftest import EXAMPLES

    cheap = {"probe.experiments": ["init_check", "overfit_batch", "lr_range"]}
    result = probe(EXAMPLES / f"{name}.yaml", tmp_path, cheap if "hf" in name else None)
    assert result.verdict == "healthy", [(f.rule, f.message) for f in result.findings]
    assert result.measurements.facts["run"]["stopped"] == "completed"
    assert float(result.measurements.series("val_acc").iloc[-1]) > 0.9


def test_samples_without_targets_are_a_spec_error(stepcode):
    from nnlearn.errors import SpecError

    spec = write(stepcode, "data: {_target_: stepcode.features_only}\nmodel: {}\n")
    with pytest.raises(SpecError, match="hold no targets"):
        build_data(load_spec(spec), str(spec))


def test_validate_checks_train_step_and_scheduler_keys(stepcode):
    from nnlearn.errors import SpecError
    from nnlearn.spec.check import check_spec

    spec = write(
        stepcode,
        "data: {}\nmodel: {}\ntrain_step: {_target_: stepcode.counting_step, scal: 2}\n",
    )
    with pytest.raises(SpecError, match="did you mean 'scale'"):
        check_spec(load_spec(spec), str(spec))


@pytest.mark.slow
def test_token_classification_probe_is_scored_per_token(stepcode):
    spec = write(
        stepcode,
        "data: {_target_: stepcode.token_tags}\nmodel: {_target_: stepcode.Tagger}\n"
        "optimizer: {lr: 0.03}\n" + FAST % "init_check, baseline",
    )
    result = probe(spec, stepcode / "run")
    facts = result.measurements.facts
    assert facts["data"]["task"] == "token_classification" and facts["data"]["n_classes"] == 13
    # three tags in equal shares over the counted positions: ln 3, the -100 padding left out
    assert facts["init"]["chance_loss"] == pytest.approx(math.log(3), rel=0.05)
    assert float(result.measurements.series("val_acc").iloc[-1]) > 0.9
    assert result.experiments["baseline"]["val_acc"] == pytest.approx(1 / 3, abs=0.1)
