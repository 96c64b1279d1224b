from __future__ import annotations

from dataclasses import dataclass

from nnlearn.rules.base import Cause, Rule, Severity


@dataclass
class D310(Rule):
    """The padding id is counted in the loss.

    What it detects:
        Sequence targets (language modelling, token classification) of which at least
        `min_share` are the padding id at padded positions, not the loss's `ignore_index`.
        Padding is found in the inputs: the id filling the ends (or starts) of the sequences
        in runs of varying length, or the positions the attention mask hides.

    Why it matters:
        Pad targets are the easiest tokens there are: after the first pad, every next one is a
        pad. Counted in the loss they pull it down (the model learns to predict padding),
        dilute the gradient of the real tokens by their share, and make the reported loss,
        perplexity and accuracy meaningless: a model can look better while it learns less.
        CrossEntropyLoss skips targets equal to `ignore_index` (-100 by default), which is
        what Hugging Face's data collators write into `labels` at padded positions.

    Evidence:
        The padding id, the share of counted targets that are padding. Threshold 5%:
        measured, `configs/examples/seq_lstm_lm_pad_in_loss.yaml` counts 41% of its targets
        as padding (plain PyTorch loop: loss 0.51 reported against 0.84 on real tokens only,
        the metric flatters the model); its twin with -100 at the pads 0%, and unpadded corpora
        0%.

    Example:
        `configs/examples/seq_lstm_lm_pad_in_loss.yaml`, `configs/examples/seq_hf_gpt2_pad_in_loss.yaml`.

    Fix:
        Set the padded targets to -100 (`labels[attention_mask == 0] = -100`, or
        `DataCollatorForLanguageModeling`), or pass `ignore_index=PAD` to the loss.
    """

    code = "D310"
    name = "padding-counted-in-loss"
    cause = Cause.IMPLEMENTATION_BUG
    severity = Severity.ERROR
    requires = ("facts:data.pad_in_loss",)
    fixes = (
        "set the targets at padded positions to -100: labels[attention_mask == 0] = -100",
        "or give the loss the padding id: CrossEntropyLoss(ignore_index=PAD_ID)",
    )

    min_share: float = 0.05

    def evaluate(self, m):
        facts = m.fact("data.pad_in_loss") or {}
        share = facts.get("share") or 0.0
        if share < self.min_share:
            return []
        pad = facts.get("pad_id")
        return [
            self.finding(
                f"{share:.0%} of the targets the loss counts are padding (id {pad}, "
                f"{facts.get('pad_targets', 0):,} of {facts.get('targets', 0):,}): they are "
                f"not the loss's ignore_index ({facts.get('ignore_index')}), so the loss and "
                "accuracy reward predicting padding",
                {
                    k: facts.get(k)
                    for k in ("pad_id", "share", "pad_targets", "targets", "ignore_index")
                },
            )
        ]
