"""Ground truth for the sequence examples, with a plain PyTorch loop and no nnlearn.

    python configs/examples/seq_ground_truth.py [CASE ...] [--seed N]

Each case trains the example's model on the example's data exactly as its spec does (same
optimizer, rate, batch size, steps, clipping, warmup) and prints what a user would look at:
final training loss, validation loss and accuracy, the largest gradient norm, loss spikes.
The healthy twin must learn; the fault must fail (or, for the "too good" cases, reach a loss
its data cannot allow). `tests/test_seq_examples.py` runs these loops too.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import torch
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))

import seq_datasets as D  # noqa: E402
import seq_models as M  # noqa: E402

# name -> (data fn, data kwargs, model fn, model kwargs, training settings)
CASES = {
    "gru_healthy": (D.marker_reviews, {}, M.GRUClassifier, {}, {"lr": 3e-3, "steps": 200}),
    "gru_readout_first": (
        D.marker_reviews,
        {},
        M.GRUClassifier,
        {"readout": "first"},
        {"lr": 3e-3, "steps": 200},
    ),
    "gru_frozen_embedding": (
        D.marker_reviews,
        {"vocab": 1000, "n": 4000},
        M.GRUClassifier,
        {"vocab": 1000, "hidden": 32, "pretrained": "zeros"},
        {"lr": 3e-3, "steps": 200},
    ),
    "gru_tuned_embedding": (
        D.marker_reviews,
        {"vocab": 1000, "n": 4000},
        M.GRUClassifier,
        {"vocab": 1000, "hidden": 32, "pretrained": "zeros", "freeze": False},
        {"lr": 3e-3, "steps": 200},
    ),
    "gru_noisy": (
        D.marker_reviews,
        {"label_noise": 0.25},
        M.GRUClassifier,
        {},
        {"lr": 3e-3, "steps": 200},
    ),
    "gru_label_leak": (
        D.marker_reviews,
        {"label_noise": 0.25, "leak": True},
        M.GRUClassifier,
        {},
        {"lr": 3e-3, "steps": 200},
    ),
    "lstm_lm_clip": (
        D.markov_corpus,
        {},
        M.LSTMLanguageModel,
        {},
        {"optimizer": "sgd", "lr": 20.0, "clip": 0.25, "steps": 200, "batch": 20},
    ),
    "lstm_lm_no_clip": (
        D.markov_corpus,
        {},
        M.LSTMLanguageModel,
        {},
        {"optimizer": "sgd", "lr": 20.0, "steps": 200, "batch": 20},
    ),
    "transformer_warmup": (
        D.marker_reviews,
        {},
        M.TinyTransformerClassifier,
        {},
        {"lr": 3e-2, "warmup": 100, "steps": 200},
    ),
    "transformer_no_warmup": (
        D.marker_reviews,
        {},
        M.TinyTransformerClassifier,
        {},
        {"lr": 3e-2, "steps": 200},
    ),
    "causal_lm_healthy": (
        D.markov_corpus,
        {"n": 2000},
        M.TinyCausalLM,
        {"d_model": 32},
        {"lr": 3e-3, "steps": 200},
    ),
    "causal_lm_no_shift": (
        D.markov_corpus,
        {"n": 2000, "shift": False},
        M.TinyCausalLM,
        {"d_model": 32},
        {"lr": 3e-3, "steps": 200},
    ),
    "lstm_lm_pad_ignored": (
        D.markov_corpus,
        {"pad_share": 0.4},
        M.LSTMLanguageModel,
        {},
        {"lr": 3e-3, "steps": 200},
    ),
    "lstm_lm_pad_in_loss": (
        D.markov_corpus,
        {"pad_share": 0.4, "ignore_pad": False},
        M.LSTMLanguageModel,
        {},
        {"lr": 3e-3, "steps": 200},
    ),
    "hf_bert_healthy": (D.hf_reviews, {}, M.hf_bert_classifier, {}, {"lr": 1e-3, "steps": 200}),
    "hf_bert_frozen": (
        D.hf_reviews,
        {},
        M.hf_bert_classifier,
        {"freeze_backbone": True},
        {"lr": 1e-3, "steps": 200},
    ),
    "hf_gpt2_healthy": (
        D.hf_corpus,
        {"pad_share": 0.4},
        M.hf_gpt2_lm,
        {},
        {"lr": 3e-3, "steps": 200},
    ),
    "hf_gpt2_pad_in_loss": (
        D.hf_corpus,
        {"pad_share": 0.4, "ignore_pad": False},
        M.hf_gpt2_lm,
        {},
        {"lr": 3e-3, "steps": 200},
    ),
}


def tensors(ds):
    """(inputs, targets) of a TensorDataset, or of the dict samples (inputs a dict)."""
    if isinstance(ds, D.DictSequences):
        return {"input_ids": ds.ids, "attention_mask": ds.attention}, ds.labels
    return ds.tensors


def rows(x, idx):
    return {k: v[idx] for k, v in x.items()} if isinstance(x, dict) else x[idx]


def batches(ds, batch_size: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    x, y = tensors(ds)
    while True:
        order = torch.randperm(len(x), generator=g)
        for i in range(0, len(x) - batch_size + 1, batch_size):
            idx = order[i : i + batch_size]
            yield rows(x, idx), y[idx]


def forward(model, x, y):
    if isinstance(x, dict):  # a Hugging Face model: labels in, its own loss out
        out = model(**x, labels=y)
        logits = out.logits
        if logits.dim() == 3:  # causal LM: the model shifted; judge its predictions likewise
            logits, y = logits[:, :-1], y[:, 1:]
            return out.loss, logits, y
        return out.loss, logits, y
    loss, logits = loss_of(model(x), y)
    return loss, logits, y


def loss_of(out, y):
    logits = out["logits"] if isinstance(out, dict) else out
    if logits.dim() == 3:  # (B, T, V) against (B, T)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1)), logits
    return F.cross_entropy(logits, y), logits


@torch.no_grad()
def evaluate(model, ds):
    model.eval()
    x, y = tensors(ds)
    loss, logits, y = forward(model, x, y)
    keep = y != D.IGNORE
    acc = (logits.argmax(-1)[keep] == y[keep]).float().mean()
    model.train()
    return float(loss), float(acc)


def run(name: str, seed: int = 0) -> dict:
    data_fn, data_kw, model_fn, model_kw, cfg = CASES[name]
    train, val = data_fn(**data_kw)
    torch.manual_seed(seed)
    model = model_fn(**model_kw)
    params = [p for p in model.parameters() if p.requires_grad]
    lr = cfg["lr"]
    if cfg.get("optimizer") == "sgd":
        opt = torch.optim.SGD(params, lr=lr)
    else:
        opt = torch.optim.Adam(params, lr=lr)
    warmup = cfg.get("warmup", 0)
    stream = batches(train, cfg.get("batch", 64), seed)
    losses, norms = [], []
    for step in range(cfg["steps"]):
        if warmup:
            for group in opt.param_groups:
                group["lr"] = lr * min(1.0, (step + 1) / warmup)
        x, y = next(stream)
        loss, _, _ = forward(model, x, y)
        opt.zero_grad()
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(params, cfg.get("clip") or math.inf)
        opt.step()
        losses.append(float(loss.detach()))
        norms.append(float(norm))
        if not math.isfinite(losses[-1]):
            break
    val_loss, val_acc = evaluate(model, val)
    tail = losses[-20:]
    median = sorted(norms)[len(norms) // 2]
    return {
        "case": name,
        "seed": seed,
        "first_loss": losses[0],
        "final_train_loss": sum(tail) / len(tail),
        "val_loss": val_loss,
        "val_acc": val_acc,
        "max_grad_norm": max(norms),
        "median_grad_norm": median,
        "bursts": sum(n > 10 * median for n in norms),
        "steps": len(losses),
        "losses": losses,
        "norms": norms,
    }


if __name__ == "__main__":
    args = sys.argv[1:]
    seed = 0
    if "--seed" in args:
        i = args.index("--seed")
        seed = int(args[i + 1])
        del args[i : i + 2]
    torch.set_num_threads(1)
    for case in args or list(CASES):
        r = run(case, seed)
        print(
            f"{r['case']:24s} seed {seed} loss {r['first_loss']:.3f} -> {r['final_train_loss']:.3f}"
            f"  val {r['val_loss']:.3f} acc {r['val_acc']:.3f}  grad max {r['max_grad_norm']:.3g}"
            f" median {r['median_grad_norm']:.3g} bursts {r['bursts']}  steps {r['steps']}"
        )
    print(
        "markov entropy floor",
        round(D.markov_entropy(), 3),
        "unigram",
        round(D.unigram_entropy(), 3),
    )
