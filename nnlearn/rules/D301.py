from __future__ import annotations

from dataclasses import dataclass

from nnlearn.rules.base import Cause, Rule, Severity


@dataclass
class D301(Rule):
    """The inputs or targets contain NaN or Inf.

    What it detects:
        NaN and Inf values in the inputs or the targets of the training or validation data,
        counted over every row of in-memory data (a seeded sample of other datasets), with the
        features, channels or positions that hold them.

    Why it matters:
        One NaN in a batch makes the loss NaN, its gradients NaN, and after one update every
        weight NaN: training is over at the first batch that contains it. A NaN only in the
        validation data makes every validation metric NaN. The usual source is a missing value
        nobody imputed, a division by zero in feature engineering, or log(0).

    Evidence:
        NaN and Inf counts per split, for inputs and targets, the rows touched and the worst
        positions. No threshold: a single non-finite value fires. When the sampled setup batch
        already holds one, training is skipped and the probe reports this finding alone.

    Example:
        `configs/examples/data_nan.yaml`: 5% of the rows miss feature x[1].

    Fix:
        Impute or drop the missing values before training (the positions are listed), check
        the feature engineering for divisions by zero and log(0), and assert torch.isfinite on
        the tensors your Dataset returns.
    """

    code = "D301"
    name = "non-finite-data"
    cause = Cause.INVALID_DATA
    severity = Severity.ERROR
    requires = ("facts:data.nonfinite",)
    fixes = (
        "impute or drop the missing values (pandas: df.fillna / df.dropna) before training",
        "look for divisions by zero and log(0) in the feature engineering",
        "assert torch.isfinite(x).all() on what the Dataset returns",
    )

    def evaluate(self, m):
        parts, evidence = [], {}
        for split, label in (("train", "training"), ("val", "validation")):
            for part in ("inputs", "targets"):
                c = m.fact(f"data.nonfinite.{split}.{part}") or {}
                if not (c.get("nan") or c.get("inf")):
                    continue
                evidence[f"{split}_{part}"] = c
                kinds = " and ".join(
                    f"{c[k]:,} {word}" for k, word in (("nan", "NaN"), ("inf", "Inf")) if c.get(k)
                )
                where = ", ".join(f"{n}: {k:,}" for n, k in list(c.get("where", {}).items())[:3])
                parts.append(
                    f"{c['rows']:,} {label} rows hold {kinds} in the {part}"
                    + (f" ({where})" if where and part == "inputs" else "")
                )
        if not parts:
            return []
        return [self.finding("; ".join(parts), evidence)]
