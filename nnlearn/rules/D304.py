from __future__ import annotations

from dataclasses import dataclass

from nnlearn.rules.base import Cause, Rule, Severity


@dataclass
class D304(Rule):
    """The classes are strongly imbalanced.

    What it detects:
        A training set whose largest class has `max_ratio` times as many samples as its
        smallest (classes with no sample at all are listed, not counted in the ratio).

    Why it matters:
        With a 20:1 imbalance a network that always predicts the majority class is 95%
        accurate: the loss rewards ignoring the minority, accuracy hides it, and the minority
        gets too few gradient steps to be learnt.

    Evidence:
        Samples per class and the ratio. Threshold 10:1 is SageMaker Debugger's ClassImbalance
        default (`threshold_imbalance`); Google's Vertex AI notes models work best below 100:1.
        A 70:30 set (2.3:1, `configs/examples/data_mild_imbalance.yaml`) stays quiet.

    Example:
        `configs/examples/data_imbalanced.yaml`: two classes at 20:1.

    Fix:
        Weight the loss by inverse class frequency (CrossEntropyLoss(weight=...),
        BCEWithLogitsLoss(pos_weight=...)), or resample with WeightedRandomSampler; judge the
        model by per-class recall or balanced accuracy, not accuracy.
    """

    code = "D304"
    name = "class-imbalance"
    cause = Cause.BIASED_DATA
    severity = Severity.WARNING
    requires = ("facts:data.class_counts",)
    fixes = (
        "weight the loss by inverse class frequency (CrossEntropyLoss(weight=...) / BCEWithLogitsLoss(pos_weight=...))",
        "oversample the minority with torch.utils.data.WeightedRandomSampler",
        "report balanced accuracy or per-class recall instead of accuracy",
    )

    max_ratio: float = 10.0

    def evaluate(self, m):
        counts = m.fact("data.class_counts") or []
        present = {i: c for i, c in enumerate(counts) if c > 0}
        if len(present) < 2:
            return []
        big = max(present, key=present.get)
        small = min(present, key=present.get)
        ratio = present[big] / present[small]
        if ratio < self.max_ratio:
            return []
        names = m.fact("data.class_names") or []

        def label(i: int) -> str:
            return repr(names[i]) if i < len(names) else str(i)

        return [
            self.finding(
                f"class {label(big)} has {present[big]:,} training samples, class "
                f"{label(small)} {present[small]:,} ({ratio:.1f}:1; warning from "
                f"{self.max_ratio:g}:1)",
                {
                    "class_counts": counts,
                    "ratio": ratio,
                    "largest": big,
                    "smallest": small,
                    "absent_classes": [i for i, c in enumerate(counts) if c == 0],
                },
            )
        ]
