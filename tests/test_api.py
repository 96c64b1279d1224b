"""`nnlearn.Probe` over hand-written loops: steps from the optimizer, the same training, the
same diagnosis and reports as `nnlearn probe`."""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys

import pytest
import torch
from rich.console import Console
from torch import nn

import nnlearn


def sigmoid_net(depth: int = 10, width: int = 32) -> nn.Sequential:
    layers, d = [], 10
    for _ in range(depth):
        layers += [nn.Linear(d, width), nn.Sigmoid()]
        d = width
    return nn.Sequential(*layers, nn.Linear(d, 2))


def relu_net() -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 2)
    )


def data(n: int = 256, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 10, generator=g)
    return x, (x[:, 0] + x[:, 1] > 0).long()


def loop(
    make_model,
    *,
    use_probe,
    lr=0.1,
    opt="sgd",
    epochs=4,
    batch=32,
    accumulate=1,
    val=True,
    audit=False,
):
    """The same loop with and without the probe; returns (losses, probe or None)."""
    torch.manual_seed(0)
    x, y = data()
    xv, yv = data(128, seed=1)
    model = make_model()
    optim = (torch.optim.SGD if opt == "sgd" else torch.optim.Adam)(model.parameters(), lr=lr)
    losses = []
    probe = nnlearn.Probe(model, optim, name="loop") if use_probe else None
    with probe or contextlib.nullcontext():
        if probe and audit:
            probe.audit((x, y), (xv, yv))  # reads the data without drawing random numbers
        for _ in range(epochs):
            order = torch.randperm(len(x))
            for i, start in enumerate(range(0, len(x), batch)):
                idx = order[start : start + batch]
                loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
                (loss / accumulate).backward()
                losses.append(loss.item())
                if (i + 1) % accumulate == 0:
                    optim.step()
                    optim.zero_grad()
                    if probe:
                        probe.log(loss=loss)
            if probe and val:
                with torch.no_grad():
                    model.eval()
                    out = model(xv)
                    model.train()
                acc = (out.argmax(1) == yv).float().mean()
                probe.log(val_loss=nn.functional.cross_entropy(out, yv), val_acc=acc)
    return losses, probe


@pytest.mark.slow
def test_ten_sigmoid_layers_same_losses_and_a_gradient_cause_first():
    plain, _ = loop(sigmoid_net, use_probe=False)
    probed, probe = loop(sigmoid_net, use_probe=True, audit=True)
    assert probed == plain  # the probe never changes the training
    result = probe.result
    assert result.verdict == "unhealthy"
    assert result.findings[0].cause.value in (
        "vanishing_gradients",
        "saturated_activations",
        "poor_initialization",
    )
    assert result.exit_code() == 1
    assert result.exit_code(fail_on="never") == 0


def test_healthy_loop_without_validation_is_judged_healthy():
    _, probe = loop(relu_net, use_probe=True, lr=3e-3, opt="adam", epochs=4, val=False)
    result = probe.result
    assert result.measurements.fact("run.steps_done") == 32
    assert result.verdict == "healthy", [f.rule for f in result.findings]
    assert result.exit_code() == 0


def test_steps_come_from_the_optimizer_across_epochs_and_accumulation():
    _, probe = loop(relu_net, use_probe=True, epochs=3, accumulate=2)
    m = probe.result.measurements
    assert probe.steps_done == 3 * 8 // 2  # 8 batches an epoch, 2 per optimizer step
    loss = m.series("train_loss")
    assert list(loss.index) == list(range(12))  # one loss per optimizer step, none overwritten
    assert list(m.series("val_loss").index) == [3, 7, 11]  # after each epoch's last step
    assert len(m.series("train_eval_loss")) == 3  # each epoch's mean training loss
    assert list(m.series("lr").index) == list(range(12))
    # the instruments sample the optimizer's steps 0-2, not the loop's batches
    assert sorted(set(m.layers("update_ratio").index)) == [0, 1, 2]
    assert not m.layers("act_rms", "init").empty  # step 0 is the model at init


def test_hooks_are_removed_on_exit_and_on_an_exception():
    model = relu_net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = data(64)
    with pytest.raises(RuntimeError, match="boom"):
        with nnlearn.Probe(model, opt) as probe:
            for step in range(3):
                loss = nn.functional.cross_entropy(model(x), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                probe.log(loss=loss)
                if step == 2:
                    raise RuntimeError("boom")
    assert not opt._optimizer_step_pre_hooks and not opt._optimizer_step_post_hooks
    assert all(not m._forward_pre_hooks and not m._forward_hooks for m in model.modules())
    result = probe.result
    assert result.measurements.fact("run.stopped") == "exception"
    assert result.verdict == "inconclusive"  # 3 steps are too few to judge
    assert any("RuntimeError" in n for n in result.notes)
    opt.step()  # the optimizer works on without the probe
    assert probe.steps_done == 3


def test_grad_scaler_gradients_are_read_unscaled_and_skipped_steps_not_counted():
    torch.manual_seed(0)
    model = relu_net()
    reference = relu_net()
    reference.load_state_dict(model.state_dict())
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
    x, y = data(64)
    loss = nn.functional.cross_entropy(reference(x), y)
    loss.backward()
    expected = torch.norm(torch.stack([p.grad.norm() for p in reference.parameters()]))
    with nnlearn.Probe(model, opt) as probe:
        for step in range(4):
            loss = nn.functional.cross_entropy(model(x), y)
            if step == 1:
                loss = loss * float("inf")  # inf gradients: GradScaler skips this step
            opt.zero_grad()
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            probe.log(loss=loss)
    assert probe.steps_done == 3
    grad_norm = probe.result.measurements.series("grad_norm")
    assert grad_norm.iloc[0] == pytest.approx(float(expected), rel=1e-4)


def test_run_table_describes_the_model_and_reports_are_written(tmp_path):
    _, probe = loop(relu_net, use_probe=True, epochs=1)
    console = Console(record=True, width=100)
    probe.print_report(console=console)
    text = console.export_text()
    n = sum(p.numel() for p in relu_net().parameters())
    assert f"Sequential, {n:,} parameters" in text
    assert "SGD" in text and re.search(r"steps\s+8/8 ", text)
    artefacts = probe.save(
        tmp_path / "run",
        junit=tmp_path / "r.xml",
        markdown=tmp_path / "r.md",
        json=tmp_path / "r.json",
    )
    assert (tmp_path / "run" / "metrics.parquet").exists()
    assert (tmp_path / "run" / "report.md").exists() and "spec" not in artefacts
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["name"] == "loop" and report["verdict"] == probe.result.verdict
    assert report["run"]["steps_done"] == 8
    assert "<testsuites" in (tmp_path / "r.xml").read_text()
    assert "# nnlearn: loop is" in (tmp_path / "r.md").read_text()


def test_audit_adds_the_data_rules():
    x, y = data(128)
    x[:5, 2] = float("nan")
    model = relu_net()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    with nnlearn.Probe(model, opt) as probe:
        facts = probe.audit((x, y), data(64, seed=1))
        for _ in range(3):
            loss = nn.functional.cross_entropy(model(torch.nan_to_num(x)), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            probe.log(loss=loss)
    assert facts["n_train"] == 128
    assert "D301" in [f.rule for f in probe.result.findings]


def test_log_takes_the_usual_spellings():
    model = relu_net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = data(32)
    with nnlearn.Probe(model, opt) as probe:
        for _ in range(2):
            loss = nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            probe.log(train_loss=loss.item())
        probe.log(val_loss=0.5, val_accuracy=0.75, train_accuracy=0.8, grad_scale=2.0)
    m = probe.result.measurements
    assert list(m.series("train_loss").index) == [0, 1]
    assert m.series("val_acc").tolist() == [0.75] and m.series("train_eval_acc").tolist() == [0.8]
    assert m.series("grad_scale").tolist() == [2.0]  # any other metric under its own name


def test_log_rejects_what_is_not_a_number():
    model = relu_net()
    with nnlearn.Probe(model, torch.optim.SGD(model.parameters(), lr=0.1)) as probe:
        with pytest.raises(ValueError, match="loss"):
            probe.log(loss=torch.ones(3))


def test_import_nnlearn_stays_torch_free_and_probe_is_lazy():
    code = "import sys, nnlearn; print('torch' in sys.modules, 'Probe' in nnlearn.__all__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]
    assert nnlearn.Probe.__module__ == "nnlearn.api"


def test_a_nan_loss_is_a_finding_not_a_crash():
    _, probe = loop(relu_net, use_probe=True, lr=1e6, epochs=3)
    result = probe.result
    assert result.measurements.fact("run.stopped") == "nonfinite"
    assert "L101" in [f.rule for f in result.findings]
    assert result.exit_code() == 1


def test_audit_without_a_validation_split():
    model = relu_net()
    with nnlearn.Probe(model, torch.optim.SGD(model.parameters(), lr=0.1)) as probe:
        facts = probe.audit(data(64))
    assert facts["n_train"] == 64 and facts["n_val"] == 0
