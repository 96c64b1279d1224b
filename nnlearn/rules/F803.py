from __future__ import annotations

import math
from dataclasses import dataclass

from nnlearn.rules.base import Cause, Rule, Severity
from nnlearn.rules.fit import experiment, last, reference_loss


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
        Without data_scaling, the data audit gives a weaker hint, at info severity: fewer
        training samples per class than `per_feature` times the number of input features
        (the one-in-ten rule of thumb for regression models, Peduzzi et al. 1996), with a
        train / validation gap of `min_gap` of chance; fit_overfit (15 per class, 2
        features, gap 4.8x chance) without its data_scaling gets it, the quickstart (533 per
        class) does not.

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
    requires = ("facts:data.n_train",)
    fixes = (
        "collect more labelled training data: the learning curve is still falling",
        "augment the training data (noise, crops, flips: whatever keeps the label)",
        "regularise meanwhile (optimizer.weight_decay, model.dropout) or start from a pretrained model",
    )

    min_gain: float = 0.05
    min_relative_gain: float = 0.1
    min_gap: float = 0.1
    per_feature: float = 10.0

    def evaluate(self, m):
        result = experiment(m, "data_scaling")
        reference = reference_loss(m)
        points = (result or {}).get("points") or []
        if not reference:
            return []
        if result is None:
            return self._from_audit(m, reference)
        if len(points) < 3:
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
        per_class = _per_class(m, full["n_train"])
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

    def _from_audit(self, m, reference: float) -> list:
        """Without data_scaling: few samples for the input size (the one-in-ten rule) and a
        model that overfits them; a hint to run the experiment, at info severity."""
        n_train, shape = m.fact("data.n_train"), m.fact("data.input_shape") or []
        per_class = _per_class(m, n_train)
        features = math.prod(int(d) for d in shape) if shape else 0
        val, train = last(m, "val_loss"), last(m, "train_eval_loss")
        if per_class is None or not features or val is None or train is None:
            return []
        if per_class >= self.per_feature * features or val - train < self.min_gap * reference:
            return []
        return [
            self.finding(
                f"{per_class:.0f} training samples per class for {features} input features "
                f"(the one-in-ten rule asks for {self.per_feature * features:.0f}), and "
                f"validation loss {val:.3g} ends far above training loss {train:.3g}: more data "
                "would likely help; add data_scaling to probe.experiments to measure it",
                {
                    "n_train": n_train,
                    "train_samples_per_class": per_class,
                    "features": features,
                    "val_loss": val,
                    "train_loss": train,
                },
                severity=Severity.INFO,
            )
        ]


def _per_class(m, n_train) -> float | None:
    n_classes = m.fact("data.n_classes")
    if not isinstance(n_train, (int, float)):
        return None
    if m.fact("data.task") == "classification" and isinstance(n_classes, int) and n_classes > 0:
        return n_train / n_classes
    return float(n_train)
