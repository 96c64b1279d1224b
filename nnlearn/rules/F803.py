from __future__ import annotations

from dataclasses import dataclass

from nnlearn.rules.base import Cause, Rule, Severity
from nnlearn.rules.fit import experiment, reference_loss


@dataclass
class F803(Rule):
    """More data would still help: validation keeps improving as the training set grows.

    What it detects:
        The data_scaling experiment's learning curve (validation loss after training on 25,
        50 and 100% of the training set, same steps) falling at every doubling, by at least
        `min_gain` of the chance-level loss and `min_relative_gain` of its value on the last
        doubling, while at 100% the model still fits its training samples far better than
        validation ones (a gap of at least `min_gap` of chance).

    Why it matters:
        A learning curve still falling steeply at the full data size, with a large train /
        validation gap, is the high-variance regime: the model has the capacity, the data
        is what limits it (Ng, Machine Learning Yearning, ch. 28-30). More data, or
        augmentation, pays off; more capacity or steps do not.

    Evidence:
        The three points (samples, validation loss, accuracy), the last doubling's gain,
        the gap at 100%, training samples per class from the data audit.
        Measured: 300 noisy 16x16 images of 10 classes (fit_small_data) gain 0.48 (21% of
        chance, 22% relative) on the last doubling with a gap of 73% of chance; the
        quickstart gains 0.0001 (0.7%), fit_healthy nothing. `min_gain` 5% of chance and
        `min_relative_gain` 10% keep noise on a near-zero loss quiet; `min_gap` 10% of chance
        as in F801.

    Example:
        `configs/examples/fit_small_data.yaml`.

    Fix:
        Collect more labelled data, augment what there is, or pretrain on related data;
        meanwhile regularise (weight decay, dropout) to use the data there is.
    """

    code = "F803"
    name = "insufficient-data"
    cause = Cause.INSUFFICIENT_DATA
    severity = Severity.WARNING
    requires = ("facts:experiments.data_scaling",)
    fixes = (
        "collect more labelled training data: the learning curve is still falling",
        "augment the training data (noise, crops, flips: whatever keeps the label)",
        "regularise meanwhile (optimizer.weight_decay, model.dropout) or start from a pretrained model",
    )

    min_gain: float = 0.05
    min_relative_gain: float = 0.1
    min_gap: float = 0.1

    def evaluate(self, m):
        result = experiment(m, "data_scaling")
        reference = reference_loss(m)
        points = (result or {}).get("points") or []
        if len(points) < 3 or not reference:
            return []
        losses = [p.get("val_loss") for p in points]
        if any(not isinstance(v, (int, float)) or v != v for v in losses):
            return []
        full = points[-1]
        gain = losses[-2] - losses[-1]
        gap = losses[-1] - (full.get("train_eval_loss") or 0.0)
        improving = all(a > b for a, b in zip(losses, losses[1:], strict=False))
        if not (
            improving
            and gain >= self.min_gain * reference
            and gain >= self.min_relative_gain * losses[-2]
            and gap >= self.min_gap * reference
        ):
            return []
        per_class = None
        n_classes = m.fact("data.n_classes")
        if isinstance(n_classes, int) and n_classes > 0:
            per_class = full["n_train"] / n_classes
        curve = ", ".join(f"{p['n_train']}: {p['val_loss']:.3g}" for p in points)
        return [
            self.finding(
                f"validation loss still falls as the training set grows ({curve}); the last "
                f"doubling gained {gain:.3g} ({gain / losses[-2]:.0%}) and training loss stays "
                f"{gap:.3g} below validation: more data would help",
                {
                    "points": [
                        {k: p.get(k) for k in ("n_train", "val_loss", "val_acc")} for p in points
                    ],
                    "last_doubling_gain": gain,
                    "gap_at_full": gap,
                    "train_samples_per_class": per_class,
                },
            )
        ]
