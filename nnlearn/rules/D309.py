from __future__ import annotations

from dataclasses import dataclass

from nnlearn.rules.base import Cause, Rule, Severity


@dataclass
class D309(Rule):
    """Token ids outside an embedding table's range.

    What it detects:
        An id, in the batch a model's `nn.Embedding` is about to look up, that is negative or
        at least the table's `num_embeddings`. Checked before training with a forward
        pre-hook on every embedding, on the training rows holding the largest and the
        smallest ids; the lookup never runs, so nothing crashes.

    Why it matters:
        On the CPU the lookup raises `IndexError: index out of range in self`; on a GPU it is
        a device-side assert that kills the CUDA context, and the traceback points at the
        forward pass, not at the data. Usual causes: a vocabulary built on the training text
        but the model sized for another (or by `len(vocab)` before special tokens were
        added), ids shifted by one for a reserved padding id, `-100` (the loss's ignore
        label) written into the inputs instead of the targets.

    Evidence:
        The table, its size, the offending id, and the data's id range over every row. No
        threshold: an id beyond the table is out of range.
        `configs/examples/seq_gru_vocab_too_small.yaml` (ids up to 39, a table of 30) is
        reported and training skipped; its twin `seq_gru_healthy.yaml` is quiet.

    Example:
        `configs/examples/seq_gru_vocab_too_small.yaml`.

    Fix:
        Size the embedding from the tokenizer (`len(tokenizer)`, or the data's largest id +
        1, special tokens included: `model.resize_token_embeddings(len(tokenizer))` for a
        Hugging Face model); map unknown words to an `<unk>` id; keep -100 out of the inputs.
    """

    code = "D309"
    name = "token-id-out-of-range"
    cause = Cause.INVALID_DATA
    severity = Severity.ERROR
    requires = ("facts:setup.embeddings.out_of_range",)
    fixes = (
        "size the embedding from the tokenizer: nn.Embedding(len(tokenizer), dim) "
        "(Hugging Face: model.resize_token_embeddings(len(tokenizer)))",
        "map words outside the vocabulary to an <unk> id; keep -100 out of the inputs",
    )

    def evaluate(self, m):
        bad = m.fact("setup.embeddings.out_of_range") or {}
        if not bad:
            return []
        n = bad.get("num_embeddings")
        data = m.fact("data.ids") or {}
        span = (
            f"; the data's ids range over {data['min']}..{data['max']}"
            if "min" in data and "max" in data
            else ""
        )
        offending = bad["min_id"] if bad.get("min_id", 0) < 0 else bad.get("max_id")
        return [
            self.finding(
                f"token id {offending} is outside embedding `{bad.get('layer')}` ({n} rows, "
                f"ids 0..{n - 1 if isinstance(n, int) else '?'}){span}: the lookup would "
                "crash (a device-side assert on a GPU); training skipped",
                {**bad, "data_ids": data},
            )
        ]
