"""The questions practitioners ask when a network does not learn, answered in our own words.

Each topic: the question, an answer as short numbered steps, the causes it leads to, and the
phrases people type for it (`symptoms`, matched by the search).
"""

from __future__ import annotations

FAQ: dict[str, dict] = {
    "not-learning": {
        "question": "Why is my neural network not learning?",
        "answer": [
            "Rule out the data first: NaN/Inf, labels out of range, unscaled features, a "
            "dominant class, labels that do not match the inputs. Most 'the model does not "
            "learn' reports are data or pipeline problems.",
            "Check the loss at init: for C balanced classes, cross-entropy starts near ln(C). "
            "Far above means a bug or a bad init; NaN means the data or the init.",
            "Overfit one small batch: a working model and loop drive its loss near zero. If it "
            "cannot, there is a bug (loss/output mismatch, parameters without gradient) or the "
            "model is far too small.",
            "Find a learning rate: sweep it exponentially and take one where the loss falls "
            "fastest (about 10x below where it blows up).",
            "Watch gradients and updates per layer: updates near 1e-3 of the weights, gradients "
            "that neither vanish nor explode through depth, few dead or saturated units.",
            "nnlearn does all of this in one command: `nnlearn probe spec.yaml`.",
        ],
        "causes": ["invalid_data", "implementation_bug", "lr_too_high", "lr_too_low"],
        "symptoms": [
            "why is my neural network not learning",
            "my model is not learning",
            "network does not learn",
            "model does not train",
            "nothing works",
            "neural network not learning",
        ],
    },
    "check-learning": {
        "question": "How do I check that my network is learning?",
        "answer": [
            "The training loss falls clearly within the first few hundred steps; plot it on a "
            "log scale.",
            "It beats the trivial baselines: the loss at init is about the chance level, and "
            "the trained model is better than predicting the majority class or the mean.",
            "Real labels are learnt better than shuffled ones (shuffled_labels experiment).",
            "Validation loss falls with the training loss at first; if it never does, look at "
            "the data split, not the optimiser.",
            "`nnlearn probe spec.yaml` reports all of these; `nnlearn check metrics.csv` reads "
            "an existing training log.",
        ],
        "causes": ["lr_too_low", "implementation_bug", "biased_data"],
        "symptoms": [
            "how do i check that my network is learning",
            "how do i know if my model is learning",
            "is my model learning",
            "sanity checks for training",
            "how to verify training works",
            "how to debug a neural network",
        ],
    },
    "improve-learning": {
        "question": "How do I make my network learn better (faster, to a lower loss)?",
        "answer": [
            "Fix the data: standardise features, balance or weight classes, clean labels.",
            "Tune the learning rate first; it matters more than any other hyperparameter. Use "
            "Adam/AdamW with 1e-3 to 3e-4 as a starting point, or the lr_range suggestion.",
            "Use a sensible architecture: ReLU/GELU, Kaiming/Xavier init, normalisation layers, "
            "residual connections for depth.",
            "Increase capacity until the training set is fitted, then regularise for validation.",
            "Train longer only while the validation loss still improves.",
        ],
        "causes": ["unnormalized_input", "lr_too_low", "low_capacity"],
        "symptoms": [
            "how to improve learning",
            "how to make training faster",
            "improve accuracy",
            "get a lower loss",
            "training converges slowly",
            "how to improve my model",
            "batch norm or layer norm",
            "which architecture tricks help training",
        ],
    },
    "overfitting-howto": {
        "question": "How do I deal with overfitting?",
        "answer": [
            "Confirm it: training loss keeps falling while validation loss rises from its best "
            "value or stays far above (and the split has no leak or duplicates).",
            "Stop early at the best validation loss.",
            "Regularise: weight decay (AdamW 0.01-0.1), dropout (0.1-0.5), data augmentation.",
            "More data, or pre-trained weights; a smaller model if the data cannot grow.",
            "Try it: `nnlearn probe spec.yaml --set optimizer.weight_decay=0.01 --set "
            "model.dropout=0.2`.",
        ],
        "causes": ["overfitting", "insufficient_data", "inconsistent_data"],
        "symptoms": [
            "how to deal with overfitting",
            "how to prevent overfitting",
            "how to reduce overfitting",
            "regularization",
            "dropout or weight decay",
            "early stopping",
        ],
    },
    "lr-schedule": {
        "question": "Should I change the learning rate during training?",
        "answer": [
            "Usually yes: warm up over the first few hundred steps (it avoids early divergence, "
            "especially with Adam and large batches), then decay (cosine, or step decay when "
            "the validation loss plateaus).",
            "A schedule does not rescue a learning rate that is wrong by 10x: find the right "
            "peak first (lr_range), then add the schedule.",
            "If the loss plateaus early and drops after each decay, the rate was too high for "
            "that phase; if it barely moves from the start, it was too low.",
            "PyTorch: torch.optim.lr_scheduler.OneCycleLR, CosineAnnealingLR, ReduceLROnPlateau.",
        ],
        "causes": ["lr_too_high", "lr_too_low"],
        "symptoms": [
            "should i change the learning rate during training",
            "learning rate schedule",
            "learning rate decay",
            "learning rate warmup",
            "which learning rate should i use",
            "how to choose the learning rate",
            "reduce lr on plateau",
        ],
    },
    "gradients": {
        "question": "Why do gradients vanish or explode?",
        "answer": [
            "Backpropagation multiplies one factor per layer (weights times the activation's "
            "derivative). Factors below 1 shrink the gradient exponentially with depth; factors "
            "above 1 grow it.",
            "Sigmoid/tanh derivatives are at most 0.25/1 and near 0 when saturated: they "
            "vanish. Weights initialised too large, unscaled inputs or a learning rate too high "
            "make them explode.",
            "Remedies: ReLU/GELU, Kaiming/Xavier init, normalisation layers, residual "
            "connections, gradient clipping for explosions, a lower learning rate.",
            "nnlearn records per-layer gradient norms; see `nnlearn explain "
            "vanishing_gradients` and `nnlearn explain exploding_gradients`.",
        ],
        "causes": ["vanishing_gradients", "exploding_gradients", "saturated_activations"],
        "symptoms": [
            "why do gradients vanish or explode",
            "vanishing and exploding gradients",
            "gradient flow",
            "gradients through depth",
        ],
    },
    "bad-data": {
        "question": "What do I do with biased or inconsistent data?",
        "answer": [
            "Biased (imbalanced) classes: weight the loss, resample, and measure with balanced "
            "accuracy/F1 instead of accuracy. Make validation look like deployment.",
            "Inconsistent labels: find identical inputs with different labels and fix or drop "
            "them; label smoothing softens the remaining noise.",
            "Leaks: deduplicate before splitting; split by group (user, patient, session) so no "
            "entity is on both sides.",
            "Missing or infinite values: impute or drop before training; never feed NaN.",
        ],
        "causes": ["biased_data", "inconsistent_data", "invalid_data"],
        "symptoms": [
            "what to do with biased data",
            "what to do with inconsistent data",
            "dirty data",
            "data quality",
            "my dataset has problems",
        ],
    },
    "deeper-or-wider": {
        "question": "Should I make the network deeper or wider?",
        "answer": [
            "Only once the model underfits: it cannot fit the training set (overfit_batch and "
            "the training loss tell). If it overfits, more capacity makes it worse.",
            "Wider is easier to optimise and the first thing to try for an MLP.",
            "Deeper composes features (images, sequences) but needs ReLU/GELU, a scaled init, "
            "normalisation and residual connections, or gradients vanish.",
            "Try it: `nnlearn probe spec.yaml --set model.hidden=[256,256]` against "
            "`--set model.hidden=[64,64,64,64]`.",
        ],
        "causes": ["low_capacity", "vanishing_gradients", "overfitting"],
        "symptoms": [
            "should i make the network deeper or wider",
            "deeper or wider",
            "more layers or more neurons",
            "how many layers",
            "how many hidden units",
            "network size",
        ],
    },
    "transfer-learning": {
        "question": "Should I use pre-trained weights (transfer learning)?",
        "answer": [
            "Yes, whenever a model pre-trained on similar inputs exists (images, text, audio) "
            "and your dataset is small: it is the single largest gain for small data.",
            "Start by training only a new head with the backbone frozen, then unfreeze with a "
            "learning rate 10-100x smaller for the pre-trained layers.",
            "Preprocess exactly as in pre-training (same normalisation, image size, tokenizer).",
            "If fine-tuning diverges, the learning rate is too high for the pre-trained layers.",
        ],
        "causes": ["insufficient_data", "overfitting", "lr_too_high"],
        "symptoms": [
            "should i use pre-trained weights",
            "pretrained model",
            "transfer learning",
            "fine-tuning",
            "fine tune a pretrained network",
            "freeze layers",
        ],
    },
    "still-not-learning": {
        "question": "It still does not learn. What now, and how do I ask for help?",
        "answer": [
            "Shrink the problem: a subset of the data, a small model, one batch. Make that "
            "learn, then grow back one change at a time.",
            "Compare with a known-good setup: the same model on a synthetic dataset "
            "(`data.kind: synthetic`) tells whether the model or the data is at fault.",
            "Ask with evidence: `nnlearn probe spec.yaml --markdown report.md` writes a "
            "self-contained report (spec, environment, verdict, findings, curves) to paste "
            "into an issue or a forum question.",
            "A good question says what you expected, what you see (the curves), what you tried "
            "and the smallest code or spec that reproduces it.",
        ],
        "causes": ["implementation_bug", "invalid_data"],
        "symptoms": [
            "it still does not learn",
            "still not learning",
            "what to do when nothing helps",
            "what else can i try",
            "i tried everything",
            "how to ask a good question",
            "ask for help",
            "write a bug report",
            "stack overflow question",
        ],
    },
}
