from __future__ import annotations

from dataclasses import dataclass

from nnlearn.rules.audits import describe_features, scale_problems
from nnlearn.rules.base import Cause, Rule, Severity


@dataclass
class D302(Rule):
    """Input features are far from zero mean and unit scale.

    What it detects:
        Features (channels, for images) whose root-mean-square exceeds `max_rms`, or whose
        mean sits more than `offset_ratio` standard deviations away from zero (and more than 1
        in absolute terms), measured on the training data.

    Why it matters:
        Default initialisations (Kaiming, Glorot) assume inputs of about zero mean and unit
        variance (LeCun et al., "Efficient BackProp", 1998, section 4.3). A large offset makes
        every first-layer unit see nearly the same input, so ReLUs are all on or all off and
        the network behaves like a much smaller one; a large scale blows up the first
        pre-activations and the loss at init.

    Evidence:
        The flagged features with their mean and standard deviation. Thresholds measured on
        the quickstart spiral (features of std 0.41, Adam 3e-3, 500 steps, validation accuracy
        0.998 when centred): an offset of 5 standard deviations drops it to 0.855, 10 to 0.69,
        24 to 0.47; scaling alone is tolerated up to std 41 (0.998) but not 123 (0.80) or 410
        (0.56). Hence `offset_ratio` 5 and `max_rms` 50.

    Example:
        `configs/examples/data_unnormalized.yaml`: features around 5000, spread 400.

    Fix:
        Standardise each feature with the training set's mean and standard deviation
        (sklearn StandardScaler, or `data.standardize: true` to see the difference), and
        images to zero mean and unit variance per channel (torchvision Normalize).
    """

    code = "D302"
    name = "unnormalized-input"
    cause = Cause.UNNORMALIZED_INPUT
    severity = Severity.WARNING
    requires = ("facts:data.inputs.names",)
    fixes = (
        "standardise every feature with the training set's mean and std (sklearn StandardScaler)",
        "for images, normalise per channel (torchvision.transforms.Normalize(mean, std))",
        "try `data.standardize: true` to see what standardised inputs change",
    )

    max_rms: float = 50.0
    offset_ratio: float = 5.0

    def evaluate(self, m):
        stats = m.fact("data.inputs") or {}
        flagged = scale_problems(stats, self.max_rms, self.offset_ratio)
        if not flagged:
            return []
        unit = "channels" if stats.get("layout") == "channels" else "features"
        n = stats.get("n", len(flagged))
        return [
            self.finding(
                f"{len(flagged)} of {n} input {unit} are far from zero mean and unit scale: "
                + describe_features(flagged),
                {"flagged": flagged[:10], "n_flagged": len(flagged), "n": n, "layout": unit},
            )
        ]
