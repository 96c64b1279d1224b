from __future__ import annotations

from dataclasses import dataclass

from nnlearn.rules.base import Cause, Rule, Severity


@dataclass
class D308(Rule):
    """Too little training data for the task or the model.

    What it detects:
        A class with fewer than `min_per_class` training samples, or a model with more than
        `max_params_per_sample` trainable parameters per training sample.

    Why it matters:
        With a handful of samples per class the network memorises them and validation
        metrics are noise (a class with 5 samples contributes 1 or 2 to a 20% validation
        split). More data helps more than any setting; the data_scaling experiment confirms
        it by training on 25/50/100% of the data.

    Evidence:
        Smallest class count, training samples, trainable parameters. `min_per_class` 10 is
        Google Vertex AI's minimum per label (it recommends ~1,000). `max_params_per_sample`
        1,000 sits well above what is known to generalise (ResNet-18 on CIFAR-10: 11M
        parameters, 50k images, 220 per sample); over-parameterised networks are normal, so
        only an extreme ratio is flagged. Measured caution: the 3-arm spiral still reaches
        validation accuracy 1.0 with 16 training samples per class, so this is a warning,
        not an error.

    Example:
        `configs/examples/data_tiny.yaml`: about 8 training samples per class (6 in the smallest).

    Fix:
        Collect more data, augment it, use a smaller model or a pretrained one, and check
        with `probe.experiments: [data_scaling]` whether more data still helps.
    """

    code = "D308"
    name = "too-few-samples"
    cause = Cause.INSUFFICIENT_DATA
    severity = Severity.WARNING
    requires = ("facts:data.n_train",)
    fixes = (
        "collect more labelled data, or augment what there is",
        "use a smaller or a pretrained model",
        "run the data_scaling experiment to see whether more data would still help",
    )

    min_per_class: int = 10
    max_params_per_sample: float = 1000.0

    def evaluate(self, m):
        n_train = m.fact("data.n_train") or 0
        if not n_train:
            return []
        counts = [c for c in (m.fact("data.class_counts") or []) if c > 0]
        params = m.fact("setup.n_trainable") or m.fact("model.n_trainable")
        problems, evidence = [], {"n_train": n_train, "n_trainable": params}
        if counts and min(counts) < self.min_per_class:
            evidence["smallest_class"] = min(counts)
            problems.append(
                f"the smallest class has {min(counts)} training samples "
                f"(fewer than {self.min_per_class})"
            )
        if params and params / n_train > self.max_params_per_sample:
            evidence["params_per_sample"] = params / n_train
            problems.append(
                f"{params:,} trainable parameters for {n_train:,} training samples "
                f"({params / n_train:,.0f} per sample)"
            )
        if not problems:
            return []
        return [self.finding("; ".join(problems), evidence)]
