"""A user's optimizer factory that sets its learning rate in code, not in the spec: nnlearn
must diagnose it from what it measures, exactly as it does `optimizer.lr` in YAML."""

from __future__ import annotations

import torch


def adam_half(params):
    """Adam at 0.5, the same bad rate as `lr_too_high.yaml` writes in its spec."""
    return torch.optim.Adam(params, lr=0.5)
