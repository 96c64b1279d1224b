"""The Hugging Face callback on a tiny BERT built from a config (nothing is downloaded):
`python examples/hf_trainer.py LR` (1.0: lr_too_high; 1e-3: healthy)."""

import sys

import torch
from torch.utils.data import Dataset
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

from nnlearn.integrations.transformers import NnlearnCallback


class Tokens(Dataset):
    """Random token ids; the label says whether the first one is in the upper half."""

    def __init__(self, n, seed, length=16, vocab=50):
        g = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(8, vocab, (n, length), generator=g)
        self.labels = (self.ids[:, 0] >= (8 + vocab) // 2).long()

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        ids = self.ids[i]
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": self.labels[i]}


def accuracy(p):
    return {"accuracy": float((p.predictions.argmax(-1) == p.label_ids).mean())}


if __name__ == "__main__":
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=50,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=32,
        num_labels=2,
    )
    args = TrainingArguments(
        output_dir="runs/tiny-bert-trainer",
        report_to="none",
        save_strategy="no",
        learning_rate=float(sys.argv[1]) if len(sys.argv) > 1 else 1e-3,
        num_train_epochs=4,
        per_device_train_batch_size=16,
        eval_strategy="epoch",
        disable_tqdm=True,
    )
    callback = NnlearnCallback(name="tiny-bert", save_dir="runs/tiny-bert")
    trainer = Trainer(
        model=BertForSequenceClassification(config),
        args=args,
        train_dataset=Tokens(512, 0),
        eval_dataset=Tokens(256, 1),
        compute_metrics=accuracy,
        callbacks=[callback],
    )
    trainer.train()
    sys.exit(callback.result.exit_code())
