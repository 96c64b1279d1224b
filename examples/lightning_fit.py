"""The Lightning callback on a small MLP: `python examples/lightning_fit.py LR` (50: lr_too_high)."""

import sys

import lightning.pytorch as L
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from nnlearn.integrations.lightning import NnlearnCallback


class Classifier(L.LightningModule):
    def __init__(self, lr):
        super().__init__()
        self.lr = lr
        self.net = nn.Sequential(
            nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 3)
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


def blobs(n, seed):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    centres = torch.tensor([[0.0, 2.0], [2.0, -1.0], [-2.0, -1.0]])
    return TensorDataset(centres[y] + 0.5 * torch.randn(n, 2, generator=g), y)


if __name__ == "__main__":
    torch.manual_seed(0)
    callback = NnlearnCallback(name="blobs-mlp", save_dir="runs/blobs-mlp", junit="report.xml")
    trainer = L.Trainer(
        max_epochs=10,
        callbacks=[callback],
        enable_progress_bar=False,
        logger=False,
        enable_model_summary=False,
    )
    trainer.fit(
        Classifier(lr=float(sys.argv[1]) if len(sys.argv) > 1 else 3e-3),
        DataLoader(blobs(640, 0), batch_size=32, shuffle=True),
        DataLoader(blobs(256, 1), batch_size=256),
    )
    sys.exit(callback.result.exit_code())
