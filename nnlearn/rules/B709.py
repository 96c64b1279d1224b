from __future__ import annotations

from dataclasses import dataclass

from nnlearn.rules.audits import names
from nnlearn.rules.base import Cause, Rule, Severity
from nnlearn.rules.curves import finite
from nnlearn.rules.fit import reference_loss


def frozen_share(m) -> float | None:
    """Share of the model's parameters with requires_grad=False, from the setup check."""
    total = m.fact("setup.n_parameters")
    trainable = m.fact("setup.n_trainable")
    if not isinstance(total, int) or not isinstance(trainable, int) or total <= 0:
        return None
    return 1.0 - trainable / total


@dataclass
class B709(Rule):
    """Most of the model is frozen and the loss stalls.

    What it detects:
        At least `min_frozen_share` of the parameters have requires_grad=False (but not all:
        that is B701) while the main run's training loss stays within `max_gain` of the
        chance-level loss: the part that trains cannot learn the task on its own.

    Why it matters:
        Freezing is a fine-tuning recipe: a pretrained embedding or backbone kept fixed while
        a head learns on top. It only works when the frozen part already computes useful
        features. `nn.Embedding.from_pretrained` freezes by default (`freeze=True`), so a
        table of placeholder vectors (words missing from the pretrained vocabulary left at
        zero), or a backbone built from a config instead of `from_pretrained` (random
        weights), stays useless for the whole run, and nothing in the loss says why.

    Evidence:
        The frozen share, the frozen tensors, the training loss against chance. Measured:
        `configs/examples/seq_gru_frozen_embedding.yaml` (a zero placeholder table of 1000 x 32
        from `from_pretrained`, 83% of the parameters) ends at 100% of chance; its twin with
        `freeze=False` at 0% (val accuracy 100%, plain PyTorch loop). `seq_hf_bert_frozen.yaml`
        (a BERT backbone built from a config, frozen, head trained) stays at chance. A share of
        50% and a gain of 10% below chance separate them widely; a frozen backbone that works
        (the loss falls) stays quiet.

    Example:
        `configs/examples/seq_gru_frozen_embedding.yaml`.

    Fix:
        Unfreeze what must learn (`nn.Embedding.from_pretrained(vectors, freeze=False)`,
        `p.requires_grad_(True)`), or load real pretrained weights (`from_pretrained`) before
        freezing them; check the vector table is not a placeholder.
    """

    code = "B709"
    name = "frozen-majority-stalls"
    cause = Cause.IMPLEMENTATION_BUG
    severity = Severity.ERROR
    requires = ("facts:setup.n_trainable", "facts:setup.n_parameters", "train_loss")
    fixes = (
        "unfreeze the frozen layers: nn.Embedding.from_pretrained(vectors, freeze=False) or "
        "p.requires_grad_(True)",
        "freeze only weights that were really pretrained (from_pretrained), not a placeholder "
        "table or a backbone built from a config",
        "if freezing is intended, train a larger head on top",
    )

    min_frozen_share: float = 0.5
    max_gain: float = 0.1
    min_steps: int = 20

    def evaluate(self, m):
        share = frozen_share(m)
        if share is None or share < self.min_frozen_share or m.fact("setup.n_trainable") == 0:
            return []
        loss = finite(m.series("train_loss"))
        reference = reference_loss(m)
        if len(loss) < self.min_steps or not reference:
            return []
        w = max(5, len(loss) // 10)
        end = float(loss.iloc[-w:].mean())
        gain = (reference - end) / reference
        if gain > self.max_gain:
            return []
        frozen = m.fact("setup.frozen") or []
        n, trainable = m.fact("setup.n_parameters"), m.fact("setup.n_trainable")
        return [
            self.finding(
                f"{share:.0%} of the parameters are frozen ({n - trainable:,} of {n:,}: "
                f"{names(frozen)}) and the training loss ends at {end:.4g}, "
                f"{end / reference:.0%} of chance ({reference:.4g}): what still trains cannot "
                "learn the task on top of the frozen part",
                {
                    "frozen_share": share,
                    "n_parameters": n,
                    "n_trainable": trainable,
                    "frozen": frozen[:20],
                    "final_loss": end,
                    "chance_loss": reference,
                },
            )
        ]
