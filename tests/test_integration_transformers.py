"""The Hugging Face Trainer callback on a tiny BERT built from a config (no download)."""

from __future__ import annotations

import importlib

import pytest
import torch
from torch.utils.data import Dataset

transformers = pytest.importorskip("transformers")
pytest.importorskip("accelerate")
# imported while the suite is collected: spec tests later put configs/examples on sys.path, whose
# datasets.py would pass for Hugging Face's `datasets` when the Trainer first looks for it
importlib.import_module("transformers.trainer")

from nnlearn.integrations.transformers import NnlearnCallback  # noqa: E402


class Tokens(Dataset):
    """Random token ids; the label is whether the first token is in the upper half of the
    vocabulary (learnable in a hundred steps), or random labels (`random_labels`)."""

    def __init__(self, n: int, seed: int, length: int = 16, vocab: int = 50, random_labels=False):
        g = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(8, vocab, (n, length), generator=g)
        if random_labels:
            self.labels = torch.randint(0, 2, (n,), generator=g)
        else:
            self.labels = (self.ids[:, 0] >= (8 + vocab) // 2).long()

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        ids = self.ids[i]
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": self.labels[i]}


def accuracy(p):
    return {"accuracy": float((p.predictions.argmax(-1) == p.label_ids).mean())}


def train(tmp_path, lr, train_set, eval_set, epochs, batch_size=16, **callback):
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=50,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=32,
        num_labels=2,
    )
    model = transformers.BertForSequenceClassification(config)
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "out"),
        report_to="none",
        use_cpu=True,
        save_strategy="no",
        learning_rate=lr,
        num_train_epochs=epochs,
        per_device_train_batch_size=batch_size,
        eval_strategy="epoch",
        logging_steps=10,
        disable_tqdm=True,
        seed=0,
    )
    cb = NnlearnCallback(name="tiny-bert", print_report=False, **callback)
    trainer = transformers.Trainer(
        model=model,
        args=args,
        train_dataset=train_set,
        eval_dataset=eval_set,
        compute_metrics=accuracy,
        callbacks=[cb],
    )
    trainer.train()
    return cb, trainer


@pytest.mark.slow
def test_tiny_bert_lr_1_is_lr_too_high_and_1e_3_is_healthy(tmp_path):
    data = Tokens(512, 0), Tokens(256, 1)
    cb, trainer = train(tmp_path, 1.0, *data, epochs=4, json=tmp_path / "bad.json")
    bad = cb.result
    first_two = list(dict.fromkeys(f.cause.value for f in bad.findings))[:2]
    assert "lr_too_high" in first_two, [(f.rule, f.cause.value) for f in bad.findings]
    assert bad.exit_code() == 1
    assert any("TrainingArguments(learning_rate" in fix for f in bad.findings for fix in f.fixes)
    assert (tmp_path / "bad.json").exists()
    cb, trainer = train(tmp_path, 1e-3, *data, epochs=4)
    good = cb.result
    assert good.verdict == "healthy", [(f.rule, f.message) for f in good.findings]
    m = good.measurements
    assert m.fact("run.steps_done") == trainer.state.global_step == 128
    assert len(m.series("train_loss")) == 128  # the model's own loss on every step
    assert len(m.series("val_loss")) == 4 and len(m.series("val_acc")) == 4
    assert not cb.probe.optimizer._optimizer_step_pre_hooks  # removed at the end of train


@pytest.mark.slow
def test_tiny_bert_memorising_random_labels_is_overfitting(tmp_path):
    cb, _ = train(
        tmp_path,
        3e-3,
        Tokens(48, 0, random_labels=True),
        Tokens(256, 1, random_labels=True),
        epochs=30,
        batch_size=8,
    )
    causes = [f.cause.value for f in cb.result.findings]
    assert "overfitting" in causes, [(f.rule, f.message) for f in cb.result.findings]
