"""The Lightning callback on tiny CPU fits: healthy, a far too high learning rate, overfitting."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

L = pytest.importorskip("lightning.pytorch")

from nnlearn.integrations.lightning import NnlearnCallback  # noqa: E402


class Classifier(L.LightningModule):
    def __init__(self, lr: float, width: int = 32, n_in: int = 2, n_out: int = 3):
        super().__init__()
        self.lr = lr
        self.net = nn.Sequential(
            nn.Linear(n_in, width),
            nn.ReLU(),
            nn.Linear(width, width),
            nn.ReLU(),
            nn.Linear(width, n_out),
        )

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = nn.functional.cross_entropy(self(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        out = self(x)
        self.log("val_loss", nn.functional.cross_entropy(out, y))
        self.log("val_acc", (out.argmax(1) == y).float().mean())

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.lr)


def blobs(n: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    centres = torch.tensor([[0.0, 2.0], [2.0, -1.0], [-2.0, -1.0]])
    return TensorDataset(centres[y] + 0.5 * torch.randn(n, 2, generator=g), y)


def fit(module, train, val, epochs: int, tmp_path, batch_size: int = 32, **callback):
    torch.manual_seed(0)
    cb = NnlearnCallback(print_report=False, **callback)
    trainer = L.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        devices=1,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        logger=False,
        default_root_dir=tmp_path,
        num_sanity_val_steps=0,
        callbacks=[cb],
    )
    trainer.fit(
        module,
        DataLoader(train, batch_size=batch_size, shuffle=True),
        DataLoader(val, batch_size=256),
    )
    return cb.result


@pytest.mark.slow
def test_lr_50_is_lr_too_high_first_and_3e_3_is_healthy(tmp_path):
    train, val = blobs(640, 0), blobs(256, 1)
    bad = fit(Classifier(lr=50.0), train, val, epochs=10, tmp_path=tmp_path)
    assert bad.verdict == "unhealthy"
    assert bad.findings[0].cause.value == "lr_too_high", [(f.rule, f.cause) for f in bad.findings]
    assert bad.exit_code() == 1
    assert any("configure_optimizers" in fix for fix in bad.findings[0].fixes)
    good = fit(
        Classifier(lr=3e-3), train, val, epochs=10, tmp_path=tmp_path, junit=tmp_path / "r.xml"
    )
    assert good.verdict == "healthy", [(f.rule, f.message) for f in good.findings]
    assert good.exit_code() == 0
    m = good.measurements
    assert m.fact("run.steps_done") == 200  # 20 batches x 10 epochs, from the optimizer
    assert len(m.series("train_loss")) == 200 and len(m.series("val_loss")) == 10
    assert m.fact("data.n_train") == 640  # audited from the dataloaders
    assert (tmp_path / "r.xml").exists()


@pytest.mark.slow
def test_memorising_random_labels_is_overfitting(tmp_path):
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(40, 20, generator=g), torch.randint(0, 2, (40,), generator=g)
    xv, yv = torch.randn(200, 20, generator=g), torch.randint(0, 2, (200,), generator=g)
    module = Classifier(lr=3e-3, width=256, n_in=20, n_out=2)
    result = fit(
        module,
        TensorDataset(x, y),
        TensorDataset(xv, yv),
        epochs=40,
        tmp_path=tmp_path,
        batch_size=8,
    )
    causes = [f.cause.value for f in result.findings]
    assert "overfitting" in causes, [(f.rule, f.message) for f in result.findings]
    assert result.verdict == "unhealthy"


def test_gradient_accumulation_counts_optimizer_steps(tmp_path):
    train, val = blobs(128, 0), blobs(64, 1)
    torch.manual_seed(0)
    cb = NnlearnCallback(print_report=False, audit=False)
    trainer = L.Trainer(
        max_epochs=2,
        accelerator="cpu",
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        logger=False,
        default_root_dir=tmp_path,
        accumulate_grad_batches=2,
        num_sanity_val_steps=0,
        callbacks=[cb],
    )
    trainer.fit(
        Classifier(lr=1e-3), DataLoader(train, batch_size=16), DataLoader(val, batch_size=64)
    )
    m = cb.result.measurements
    assert m.fact("run.steps_done") == trainer.global_step == 8
    assert list(m.series("train_loss").index) == list(range(8))
    # gradients were read inside Lightning's closure, not before it
    assert (m.series("grad_norm") > 0).all() and len(m.series("grad_norm")) >= 3
    assert cb.probe.optimizer._optimizer_step_pre_hooks == {}  # removed at the end of fit


def test_the_older_pytorch_lightning_package_gets_the_same_callback(tmp_path):
    pl = pytest.importorskip("pytorch_lightning")
    from nnlearn.integrations.lightning import PLNnlearnCallback

    class Tiny(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = nn.Linear(2, 3)

        def training_step(self, batch, batch_idx):
            x, y = batch
            return nn.functional.cross_entropy(self.net(x), y)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    cb = PLNnlearnCallback(print_report=False)
    trainer = pl.Trainer(
        max_epochs=1,
        accelerator="cpu",
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        logger=False,
        default_root_dir=tmp_path,
        callbacks=[cb],
    )
    trainer.fit(Tiny(), DataLoader(blobs(64, 0), batch_size=16))
    assert cb.result.measurements.fact("run.steps_done") == 4
    assert len(cb.result.measurements.series("train_loss")) == 4
