from __future__ import annotations

import math
from dataclasses import dataclass

from nnlearn.rules.base import Cause, Rule, Severity


@dataclass
class D314(Rule):
    """Validation inputs are on another scale than the training inputs.

    What it detects:
        Per feature (channel, for images), the validation split's root-mean-square
        sqrt(mean^2 + std^2) more than `max_scale_ratio` times the training split's or less
        than 1/`max_scale_ratio` of it, or its mean more than `max_shift` training standard
        deviations from the training mean. Error when the scale differs `error_ratio` times
        or more: the validation numbers then measure another problem.

    Why it matters:
        A model only knows the input distribution it was trained on. A preprocessing step
        applied to one split only (training pixels divided by 255, validation pixels not; a
        scaler fitted and applied to the training set alone) puts validation inputs hundreds
        of times outside it: validation accuracy collapses while training looks perfect, and
        the run reads as overfitting (issue 15).

    Evidence:
        The flagged features with both splits' mean and std, the scale ratio and the shift.
        Thresholds: a random split's statistics agree within a few percent (sampling error
        ~1/sqrt(n): 0.05 std for 400 validation rows; bench/accuracy.py's 17 healthy cases
        show ratios within 0.9-1.1 and shifts under 0.2 std). `max_scale_ratio` 3 and
        `max_shift` 2 standard deviations flag only what no random split produces; 255x (the
        one-split /255) is far past `error_ratio` 10.

    Example:
        `configs/examples/data_val_shift.yaml`: training pixels scaled to [0, 1], validation
        pixels left at 0-255.

    Fix:
        Apply the same preprocessing to every split: fit the scaler on the training set and
        transform both (sklearn's `fit_transform` on train, `transform` on validation), and
        use the same `transforms` pipeline for both datasets.
    """

    code = "D314"
    name = "train-val-input-shift"
    cause = Cause.UNNORMALIZED_INPUT
    severity = Severity.WARNING
    requires = ("facts:data.inputs.names", "facts:data.val_inputs.names")
    fixes = (
        "apply the same preprocessing to both splits: fit on training data, transform both",
        "use one transforms pipeline (or one scaler object) for the training and validation sets",
    )

    max_scale_ratio: float = 3.0
    max_shift: float = 2.0
    error_ratio: float = 10.0

    def evaluate(self, m):
        train, val = m.fact("data.inputs") or {}, m.fact("data.val_inputs") or {}
        if train.get("n") != val.get("n") or train.get("layout") != val.get("layout"):
            return []
        flagged = []
        for i, name in enumerate(train.get("names") or []):
            stats = [_stats(s, i) for s in (train, val)]
            if None in stats:
                continue
            (mt, st), (mv, sv) = stats
            rt, rv = math.hypot(mt, st), math.hypot(mv, sv)
            if rt <= 0 or rv <= 0:
                continue
            ratio = rv / rt
            shift = abs(mv - mt) / st if st > 0 else 0.0
            big = max(ratio, 1 / ratio)
            if big > self.max_scale_ratio or shift > self.max_shift:
                flagged.append(
                    {
                        "name": name,
                        "train_mean": mt,
                        "train_std": st,
                        "val_mean": mv,
                        "val_std": sv,
                        "scale_ratio": ratio,
                        "shift_in_train_std": shift,
                    }
                )
        if not flagged:
            return []
        flagged.sort(key=lambda f: -max(f["scale_ratio"], 1 / f["scale_ratio"]))
        worst = flagged[0]
        big = max(worst["scale_ratio"], 1 / worst["scale_ratio"])
        n = train.get("n", len(flagged))
        unit = "channels" if train.get("layout") == "channels" else "features"
        return [
            self.finding(
                f"{len(flagged)} of {n} input {unit} differ between the splits: "
                f"{worst['name']} has mean {worst['train_mean']:.3g}, std "
                f"{worst['train_std']:.3g} in training and mean {worst['val_mean']:.3g}, std "
                f"{worst['val_std']:.3g} in validation ({worst['scale_ratio']:.3g}x the scale): "
                "the splits were not preprocessed alike",
                {"flagged": flagged[:10], "n_flagged": len(flagged), "n": n},
                severity=Severity.ERROR if big >= self.error_ratio else None,
            )
        ]


def _stats(s: dict, i: int) -> tuple[float, float] | None:
    means, stds = s.get("mean") or [], s.get("std") or []
    if i >= len(means) or i >= len(stds):
        return None
    mean, std = float(means[i]), float(stds[i])
    return (mean, std) if math.isfinite(mean) and math.isfinite(std) else None
