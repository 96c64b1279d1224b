from __future__ import annotations

from dataclasses import dataclass

from nnlearn.rules.base import Cause, Rule, Severity


@dataclass
class D311(Rule):
    """Much of every batch is padding (a remark).

    What it detects:
        Integer inputs whose padding (the id filling the sequence ends in runs of varying
        length, or what the attention mask hides) is at least `min_share` of the positions.

    Why it matters:
        Padding costs compute and memory like real tokens; at a large share most of a step is
        spent on nothing. It is not a training fault when the model masks it (attention mask,
        `pack_padded_sequence`, an `ignore_index` in the loss), hence only a remark; D310
        reports padding that reaches the loss.

    Evidence:
        The padding id and share. Threshold 25%: `configs/examples/seq_lstm_lm_pad_ignored.yaml`
        is 40% padding (reported, info); the unpadded examples 0%.

    Example:
        `configs/examples/seq_lstm_lm_pad_ignored.yaml`.

    Fix:
        Bucket sequences by length (sort within a window) or pad per batch to its longest
        sequence instead of a global maximum; pack padded sequences for RNNs.
    """

    code = "D311"
    name = "padding-share"
    cause = Cause.BIASED_DATA
    severity = Severity.INFO
    requires = ("facts:data.padding.share",)
    fixes = (
        "bucket sequences by length, or pad each batch to its own longest sequence",
        "for RNNs, nn.utils.rnn.pack_padded_sequence skips the padding",
    )

    min_share: float = 0.25

    def evaluate(self, m):
        pad = m.fact("data.padding") or {}
        share = pad.get("share") or 0.0
        if share < self.min_share:
            return []
        where = "the attention mask" if pad.get("source") == "attention_mask" else "the inputs"
        return [
            self.finding(
                f"{share:.0%} of the input positions are padding (id {pad.get('pad_id')}, "
                f"found in {where})",
                {"pad_id": pad.get("pad_id"), "share": share, "source": pad.get("source")},
            )
        ]
