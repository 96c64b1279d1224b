"""Audits for token ids and sequence targets: what integer inputs are, and what the loss sees.

Integer inputs are ids (token ids, category codes), not features: their mean and spread mean
nothing and standardising them would break an embedding lookup. Instead this records
(`facts["data"]["ids"]`, `["padding"]`, `["leak"]`):

- the id range of the integer inputs (checked against the model's embeddings before training,
  `nnlearn.audit.embeddings`);
- padding: the id that fills the ends (or starts) of the sequences, and its share of the
  positions (from the attention mask when the batch has one);
- a padding id counted in the loss: targets equal to the padding id at padded positions,
  not set to the loss's `ignore_index`;
- the target copied into the inputs: sequence targets equal to the inputs at the same
  positions (a language model without the next-token shift), or one input position whose
  value alone determines the class label (the label leaked into the inputs).
"""

from __future__ import annotations

from typing import Any

import torch

# a candidate padding id must fill at least this share of the positions, and this share of
# its occurrences must lie in the run at the end (or start) of a sequence: an ordinary token
# that happens to end many sequences (a full stop) is spread over the middle too
MIN_PAD_SHARE = 0.02
MIN_PAD_IN_RUNS = 0.95
# sequence targets equal to the inputs at this share of the counted positions are a copy: a
# next-token target equals the current token only where a token repeats (~1/V of the positions
# for a uniform vocabulary; 0-8% measured on the examples' corpora)
COPY_SHARE = 0.9
# one input position determines the label when the label is the same for every occurrence of
# each of its values on this share of the rows, counted over values seen at least MIN_SEEN times
LEAK_PURITY = 0.99
MIN_SEEN = 3
# positions checked for a leaked label (the first and last ones of long sequences)
MAX_POSITIONS = 64


def is_ids(x: Any) -> bool:
    return isinstance(x, torch.Tensor) and not x.is_floating_point() and not x.is_complex()


def id_range(x: torch.Tensor) -> dict[str, Any]:
    x = x.reshape(-1)
    if x.numel() == 0:
        return {}
    return {
        "min": int(x.min()),
        "max": int(x.max()),
        "n_distinct": int(torch.unique(x).numel()),
        "dtype": str(x.dtype).replace("torch.", ""),
    }


def padding(x: torch.Tensor, mask: torch.Tensor | None = None) -> dict[str, Any]:
    """The padding id and its share of the positions of (N, T) ids; {} when none is found."""
    if x.dim() != 2 or x.shape[1] < 2 or len(x) == 0:
        return {}
    if mask is not None and mask.shape == x.shape:
        pad = mask == 0
        if not bool(pad.any()):
            return {"share": 0.0, "source": "attention_mask"}
        ids, counts = torch.unique(x[pad], return_counts=True)
        return {
            "pad_id": int(ids[counts.argmax()]),
            "share": float(pad.float().mean()),
            "source": "attention_mask",
        }
    best: dict[str, Any] = {}
    for side, column in (("end", x[:, -1]), ("start", x[:, 0])):
        ids, counts = torch.unique(column, return_counts=True)
        cand = int(ids[counts.argmax()])
        run = _run_mask(x, cand, side)
        occurrences = int((x == cand).sum())
        share = float(run.float().mean())
        if (
            share >= MIN_PAD_SHARE
            and occurrences
            and int(run.sum()) / occurrences >= MIN_PAD_IN_RUNS
            and share > best.get("share", 0.0)
            # a run of the same length in every row is a BOS/EOS/CLS token, not padding
            and int(torch.unique(run.sum(1)).numel()) > 1
        ):
            best = {"pad_id": cand, "share": share, "side": side, "source": "ids"}
    return best


def _run_mask(x: torch.Tensor, value: int, side: str) -> torch.Tensor:
    """Positions in the run of `value` at the end (or start) of each row."""
    eq = x == value
    if side == "end":
        return eq.flip(1).cumprod(1).flip(1).bool()
    return eq.cumprod(1).bool()


def padded_positions(
    x: torch.Tensor, pad: dict[str, Any], mask: torch.Tensor | None
) -> torch.Tensor:
    if pad.get("source") == "attention_mask" and mask is not None:
        return mask == 0
    return _run_mask(x, pad["pad_id"], pad.get("side", "end"))


def pad_in_loss(
    x: torch.Tensor,
    y: torch.Tensor,
    pad: dict[str, Any],
    mask: torch.Tensor | None,
    ignore_index: int,
) -> dict[str, Any]:
    """Counted targets (not `ignore_index`) equal to the padding id at padded positions, as a
    share of all counted targets. Needs targets of the inputs' shape (language modelling,
    token classification)."""
    if "pad_id" not in pad or y.shape != x.shape or y.is_floating_point():
        return {}
    padded = padded_positions(x, pad, mask)
    counted = y != ignore_index
    n = int(counted.sum())
    if n == 0:
        return {}
    hits = padded & counted & (y == pad["pad_id"])
    return {
        "pad_id": pad["pad_id"],
        "targets": n,
        "pad_targets": int(hits.sum()),
        "share": int(hits.sum()) / n,
        "ignore_index": ignore_index,
    }


def target_copy(x: torch.Tensor, y: torch.Tensor, ignore_index: int) -> dict[str, Any]:
    """Share of the counted target positions equal to the input at the same position."""
    if y.shape != x.shape or y.is_floating_point() or x.dim() < 2:
        return {}
    counted = y != ignore_index
    n = int(counted.sum())
    if n == 0:
        return {}
    same = int(((y == x) & counted).sum())
    return {"share_equal": same / n, "positions": n, "copied": same / n >= COPY_SHARE}


def label_column(x: torch.Tensor, y: torch.Tensor) -> dict[str, Any]:
    """The input position whose value alone determines the class label, if any: the label is
    the same for (almost) every occurrence of each value. A position whose values are all
    distinct determines nothing measurable and is skipped (values seen MIN_SEEN times count).
    A leaked label is the label's own token: at most one (common) value per class. A position
    taking many values that the label is a function of (label = "first token in the upper half
    of the vocabulary") is an ordinary learnable task, not a leak, and is skipped."""
    if x.dim() != 2 or y.dim() != 1 or len(x) < 20 or y.is_floating_point():
        return {}
    n_classes = int(torch.unique(y).numel())
    if n_classes < 2:
        return {}
    t = x.shape[1]
    positions = list(range(t)) if t <= MAX_POSITIONS else list(range(32)) + list(range(t - 32, t))
    y = y.long() - int(y.min())
    k = int(y.max()) + 1
    best: dict[str, Any] = {}
    for j in positions:
        col = x[:, j].long()
        values, inverse = torch.unique(col, return_inverse=True)
        if len(values) < 2:
            continue  # a constant position (BOS) determines nothing
        table = torch.zeros(len(values), k, dtype=torch.long)
        table.index_put_((inverse, y), torch.ones_like(y), accumulate=True)
        seen = table.sum(1)
        keep = seen >= MIN_SEEN
        rows = int(seen[keep].sum())
        if rows < 0.9 * len(x) or int(keep.sum()) > n_classes:
            continue
        purity = float(table[keep].max(1).values.sum()) / rows
        if purity >= LEAK_PURITY and purity > best.get("purity", 0.0):
            best = {"position": j, "purity": purity, "rows": rows, "distinct_values": len(values)}
    return best


def token_facts(
    x: Any, y: torch.Tensor, ignore_index: int = -100, mask: torch.Tensor | None = None
) -> dict[str, Any]:
    """`facts["data"]` entries for integer inputs; {} when the inputs are features."""
    if not is_ids(x):
        return {}
    out: dict[str, Any] = {"ids": id_range(x)}
    pad = padding(x, mask)
    if pad:
        out["padding"] = pad
    leak: dict[str, Any] = {}
    copy = target_copy(x, y, ignore_index)
    if copy:
        out["target_copy"] = copy
        if copy["copied"]:
            leak = {"kind": "copy", **copy}
    if not leak:
        column = label_column(x, y)
        if column:
            leak = {"kind": "label_column", **column}
    if leak:
        out["leak"] = leak
    if pad.get("pad_id") is not None:
        counted = pad_in_loss(x, y, pad, mask, ignore_index)
        if counted:
            out["pad_in_loss"] = counted
    return out
