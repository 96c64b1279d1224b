"""Training logs written by the real frameworks, for `nnlearn check`'s tests.

Tiny runs on CPU (a few seconds each): a Lightning module with a `CSVLogger` (its
`metrics.csv`), and a Hugging Face `Trainer` over a tiny BERT built from a config (its
`trainer_state.json`, both the `output_dir` copy `save_state()` writes and the checkpoint copy).
Nothing is downloaded. Run as a script to write them into a folder and look at them:

    python tests/framework_logs.py /tmp/logs
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def spirals(n: int, seed: int = 0):
    """A 2-D, 3-class spiral (the quickstart's problem), as tensors."""
    import math

    import torch

    g = torch.Generator().manual_seed(seed)
    k = torch.arange(n) % 3
    r = torch.rand(n, generator=g)
    t = r * 4 + k * (2 * math.pi / 3) + 0.2 * torch.randn(n, generator=g)
    x = torch.stack([r * torch.sin(t), r * torch.cos(t)], 1) * 2
    return x, k


def lightning_metrics(
    folder: Path,
    *,
    lr: float = 3e-3,
    random_labels: int | None = None,
    epochs: int = 10,
    log_every_n_steps: int = 5,
    on_epoch: bool = True,
) -> Path:
    """Train a small MLP with Lightning's CSVLogger; -> the metrics.csv it wrote.

    `random_labels=N`: N training samples with random labels and a wide model, validated on
    other random samples: it memorises (the overfitting case). `on_epoch`: log `train_loss` as
    Lightning's `train_loss_step` / `train_loss_epoch` pair, else as one per-step column.
    """
    import lightning as L
    import torch
    from lightning.pytorch.loggers import CSVLogger
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    torch.manual_seed(0)
    if random_labels:
        g = torch.Generator().manual_seed(1)
        x_tr, x_va = torch.randn(random_labels, 20, generator=g), torch.randn(200, 20, generator=g)
        y_tr = torch.randint(0, 2, (random_labels,), generator=g)
        y_va = torch.randint(0, 2, (200,), generator=g)
        width, batch = 512, 8
    else:
        x_tr, y_tr = spirals(800)
        x_va, y_va = spirals(200, seed=1)
        width, batch = 64, 32

    class Net(L.LightningModule):
        def __init__(self):
            super().__init__()
            d = x_tr.shape[1]
            self.net = nn.Sequential(
                nn.Linear(d, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU()
            )
            self.head = nn.Linear(width, int(y_tr.max()) + 1)

        def forward(self, x):
            return self.head(self.net(x))

        def training_step(self, b, _):
            loss = nn.functional.cross_entropy(self(b[0]), b[1])
            if on_epoch:
                self.log("train_loss", loss, on_step=True, on_epoch=True)
            else:
                self.log("train_loss", loss)
            return loss

        def validation_step(self, b, _):
            logits = self(b[0])
            self.log("val_loss", nn.functional.cross_entropy(logits, b[1]))
            self.log("val_acc", (logits.argmax(1) == b[1]).float().mean())

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=lr)

    logger = CSVLogger(str(folder), name="lightning")
    trainer = L.Trainer(
        max_epochs=epochs,
        logger=logger,
        log_every_n_steps=log_every_n_steps,
        accelerator="cpu",
        devices=1,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
    )
    train = DataLoader(TensorDataset(x_tr, y_tr), batch_size=batch, shuffle=True)
    val = DataLoader(TensorDataset(x_va, y_va), batch_size=100)
    trainer.fit(Net(), train, val)
    return Path(logger.log_dir) / "metrics.csv"


def hf_trainer_state(folder: Path, *, lr: float = 1e-3, steps: int = 60) -> Path:
    """Train a tiny BERT (from a config, no download) with the Hugging Face Trainer on a
    learnable token task and `save_state()`; -> output_dir/trainer_state.json."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    n, length, vocab = 256, 12, 50
    labels = torch.randint(0, 2, (n,), generator=g)
    # class 1 draws its tokens from the upper half of the vocabulary: a bag-of-tokens signal
    low = 5 + labels[:, None] * (vocab - 5) // 2
    ids = low + torch.randint(0, (vocab - 5) // 2, (n, length), generator=g)

    class Tokens(torch.utils.data.Dataset):
        def __init__(self, start: int, stop: int):
            self.start, self.stop = start, stop

        def __len__(self):
            return self.stop - self.start

        def __getitem__(self, i):
            i += self.start
            mask = torch.ones(length, dtype=torch.long)
            return {"input_ids": ids[i], "attention_mask": mask, "labels": labels[i]}

    config = BertConfig(
        vocab_size=vocab,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=length,
        num_labels=2,
    )
    model = BertForSequenceClassification(config)
    out = folder / "hf"
    args = TrainingArguments(
        output_dir=str(out),
        learning_rate=lr,
        max_steps=steps,
        per_device_train_batch_size=16,
        per_device_eval_batch_size=64,
        logging_steps=5,
        eval_strategy="steps",
        eval_steps=20,
        save_strategy="steps",
        save_steps=steps,
        report_to="none",
        use_cpu=True,
        seed=0,
        disable_tqdm=True,
    )
    trainer = Trainer(
        model=model, args=args, train_dataset=Tokens(0, 192), eval_dataset=Tokens(192, n)
    )
    trainer.train()
    trainer.save_state()
    return out / "trainer_state.json"


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    where = Path(sys.argv[1] if len(sys.argv) > 1 else "logs")
    for label, path in (
        ("lightning lr 3e-3", lightning_metrics(where / "healthy", lr=3e-3)),
        ("lightning lr 50", lightning_metrics(where / "lr50", lr=50.0)),
        (
            "lightning 40 random labels",
            lightning_metrics(where / "overfit", random_labels=40, epochs=60),
        ),
        ("hf lr 1e-3", hf_trainer_state(where / "hf_ok", lr=1e-3)),
        ("hf lr 1.0", hf_trainer_state(where / "hf_lr1", lr=1.0)),
    ):
        print(label, path)
