"""Triage entries for symptoms that have several causes: how to tell the causes apart.

"Loss is NaN" or "accuracy stuck at 50%" are what people see, not a cause; the right answer
is the short list of causes that produce them and the observation that separates those.
"""

from __future__ import annotations

SYMPTOMS: dict[str, dict] = {
    "nan-loss": {
        "title": "The loss is NaN (or Inf)",
        "meaning": "a non-finite loss: something produced NaN/Inf in the forward or backward pass",
        "causes": [
            ("invalid_data", "NaN from the very first step: NaN/Inf in the inputs or targets"),
            ("poor_initialization", "NaN at init with clean data: weights scaled far too large"),
            ("lr_too_high", "finite at first, then rising or oscillating, then NaN: divergence"),
            ("exploding_gradients", "the gradient norm grows by orders of magnitude first"),
            (
                "implementation_bug",
                "log() of a probability that reached 0, sqrt/division of 0: take logits with "
                "CrossEntropyLoss / BCEWithLogitsLoss",
            ),
        ],
        "first": "Look at the step the loss became NaN: step 0 means data or init, later means "
        "the learning rate. `nnlearn probe spec.yaml` records the step and audits the data.",
        "tries": ["nnlearn probe spec.yaml --set optimizer.lr=3e-4 --set optimizer.grad_clip=1.0"],
        "symptoms": [
            "loss is nan",
            "nan loss",
            "loss becomes nan",
            "loss is inf",
            "nan values during training",
            "loss nan after some epochs",
        ],
    },
    "stuck-at-chance": {
        "title": "Accuracy stuck at chance (50% for two classes), the same prediction for all",
        "meaning": "the model ignores its input and predicts a constant",
        "causes": [
            (
                "implementation_bug",
                "softmax over a single output (always 1), labels shuffled apart from inputs, "
                "a loss that does not match the output: init_check and overfit_batch fail",
            ),
            ("lr_too_high", "units died or saturated early: the loss jumped first"),
            ("lr_too_low", "the loss at the chance level barely moves"),
            ("unnormalized_input", "huge raw features saturate the first layer"),
            (
                "biased_data",
                "stuck at the majority share (e.g. 90%) rather than 50%: class imbalance",
            ),
            ("inconsistent_data", "labels carry no signal: real and shuffled labels tie"),
        ],
        "first": "Overfit one batch: if even that fails, it is a bug in the model, loss or "
        "labels; if it works, look at the learning rate and the data.",
        "tries": ["nnlearn probe spec.yaml --set probe.experiments=[init_check,overfit_batch]"],
        "symptoms": [
            "accuracy stuck at 50%",
            "accuracy stuck at chance",
            "accuracy does not improve",
            "model predicts the same class for everything",
            "always predicts the same value",
            "constant output",
            "model outputs the same value for every input",
            "accuracy stays the same",
        ],
    },
    "loss-plateau": {
        "title": "The training loss does not go down",
        "meaning": "no progress on the training set itself",
        "causes": [
            ("lr_too_low", "updates far below ~1e-3 of the weights; a larger rate descends"),
            ("implementation_bug", "parameters without gradient or never updated"),
            ("vanishing_gradients", "the first layers' gradients are orders smaller"),
            ("dead_units", "most ReLU units output zero for every sample"),
            ("saturated_activations", "sigmoid/tanh units pinned at their extremes"),
            ("low_capacity", "it descends, then stalls far above zero even on one batch"),
            ("inconsistent_data", "labels conflict, so no model can fit them"),
        ],
        "first": "Check the loss at init against chance and overfit one batch; then sweep the "
        "learning rate.",
        "tries": ["nnlearn probe spec.yaml --set optimizer.lr=3e-3"],
        "symptoms": [
            "loss not decreasing",
            "loss is not going down",
            "loss does not decrease",
            "training loss is flat",
            "loss is stuck",
            "loss stays the same",
            "loss plateau",
            "loss does not change",
            "loss stays at the chance level",
        ],
    },
    "zero-gradients": {
        "title": "The gradients are zero (or None)",
        "meaning": "no gradient reaches some or all parameters",
        "causes": [
            (
                "implementation_bug",
                "None: the parameter is not in the graph (detach, no_grad, a module created in "
                "forward, requires_grad=False); zero: a branch that never contributes",
            ),
            ("dead_units", "zero behind ReLU units that never activate"),
            ("saturated_activations", "near zero behind saturated sigmoid/tanh units"),
            ("vanishing_gradients", "tiny, shrinking layer by layer towards the input"),
        ],
        "first": "init_check lists the parameters with no or zero gradient at init; if the "
        "list is empty, the gradients died during training (dead or saturated units).",
        "tries": ["nnlearn probe spec.yaml --set probe.experiments=[init_check]"],
        "symptoms": [
            "gradients are zero",
            "gradient is none",
            "grad is none",
            "no gradient",
            "weights do not get gradients",
            "loss.backward gives none gradients",
            "param.grad is none after backward",
        ],
    },
}
