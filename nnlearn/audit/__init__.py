"""Data audits, before training: what the data is, and what is wrong with it.

Returns `facts["data"]`, a JSON-able dict the rules read (`facts:data.*`). It works on a bounded
seeded sample of each split, so an audit of 10M rows costs what one of 10k does.
"""

from __future__ import annotations

from typing import Any

import torch

from nnlearn.data.bundle import DataBundle, sample

# rows sampled per split for the audits
AUDIT_ROWS = 20_000


def audit_data(bundle: DataBundle, seed: int = 0) -> dict[str, Any]:
    x, y = sample(bundle.train, AUDIT_ROWS, seed=seed)
    facts: dict[str, Any] = {
        "source": bundle.source,
        "task": bundle.task,
        "n_train": len(bundle.train),  # type: ignore[arg-type]
        "n_val": len(bundle.val),  # type: ignore[arg-type]
        "input_shape": list(bundle.input_shape),
        "target_shape": list(bundle.target_shape),
        "n_classes": bundle.n_classes,
        "class_names": bundle.class_names,
        "sampled_rows": len(x),
    }
    if bundle.task == "classification" and not y.is_floating_point():
        facts["class_counts"] = torch.bincount(y.clamp_min(0).long()).tolist()
    return facts
