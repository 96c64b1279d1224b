"""Token ids against the model's embedding tables, before anything trains.

An id at or beyond an `nn.Embedding`'s `num_embeddings` (a vocabulary larger than the model
was built for, ids shifted by one for a reserved token, a negative id) raises
`IndexError: index out of range in self` on the CPU and, on a GPU, a device-side assert that
kills the CUDA context: the probe would die in the user's forward pass with a message that
names neither the layer nor the id. Here every embedding gets a forward pre-hook that checks
the ids it is about to look up, and one forward pass (no gradient, eval mode, the model
untouched) runs on the training rows holding the largest and the smallest ids. The hook stops
the pass before the lookup, so the failing table, its size and the offending id are known
and reported as a finding (rule D309) instead of a crash.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

# rows fed to the checking pass: those with the largest and the smallest ids
ROWS = 8


class _OutOfRange(Exception):
    def __init__(self, info: dict[str, Any]):
        super().__init__(info)
        self.info = info


def embeddings(model: nn.Module) -> list[tuple[str, nn.Embedding]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Embedding)]


def extreme_rows(x: torch.Tensor, rows: int = ROWS) -> torch.Tensor:
    """Indices of the rows holding the largest and the smallest ids of (N, ...) ids."""
    flat = x.reshape(len(x), -1)
    hi = torch.topk(flat.max(1).values, min(rows, len(x))).indices
    lo = torch.topk(-flat.min(1).values, min(rows, len(x))).indices
    return torch.unique(torch.cat([hi, lo]))


def check_embeddings(model: nn.Module, call) -> dict[str, Any] | None:
    """Run `call()` (one forward pass of `model` on chosen rows) with every embedding checking
    its ids first. -> None when the model has no embedding; else {"embeddings": [...]} and,
    when an id was out of range, "out_of_range": {layer, num_embeddings, max_id, min_id}.
    Other exceptions of the forward pass are left to the setup check (it reports them)."""
    tables = embeddings(model)
    if not tables:
        return None
    seen: dict[str, dict[str, Any]] = {}

    def hook_for(name: str, module: nn.Embedding):
        def hook(_module, args):
            if not args or not isinstance(args[0], torch.Tensor) or args[0].numel() == 0:
                return None
            ids = args[0]
            lo, hi = int(ids.min()), int(ids.max())
            info = {
                "layer": name,
                "num_embeddings": module.num_embeddings,
                "max_id": hi,
                "min_id": lo,
            }
            seen[name] = info
            if lo < 0 or hi >= module.num_embeddings:
                raise _OutOfRange(info)
            return None

        return hook

    handles = [m.register_forward_pre_hook(hook_for(n, m)) for n, m in tables]
    was_training = model.training
    out: dict[str, Any] = {
        "embeddings": [{"layer": n, "num_embeddings": m.num_embeddings} for n, m in tables]
    }
    try:
        model.eval()
        with torch.no_grad():
            call()
    except _OutOfRange as exc:
        out["out_of_range"] = exc.info
    except Exception:  # noqa: BLE001 - the setup check runs the forward again and reports it
        pass
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    out["seen"] = list(seen.values())
    return out


def embedding_check(model: nn.Module, bundle, device: torch.device, seed: int = 0):
    """`check_embeddings` on the training rows holding the largest and the smallest ids (of a
    sample of at most 4096 rows, the whole dataset when in memory); None without embeddings
    or without integer inputs."""
    from nnlearn.data.batch import (
        call_model,
        inputs_and_target,
        sample_batch,
        slice_batch,
        to_device,
        view_of,
    )

    if not embeddings(model):
        return None
    n = len(bundle.train)
    batch = sample_batch(bundle.train, max(4096, n if n <= 200_000 else 4096), seed)
    x = view_of(batch).inputs
    if x.is_floating_point() or x.dim() == 0 or len(x) == 0:
        return None
    rows = slice_batch(batch, extreme_rows(x))
    inputs, _ = inputs_and_target(to_device(rows, device))
    return check_embeddings(model, lambda: call_model(model, inputs))


def out_of_range_setup(model: nn.Module, emb: dict[str, Any]) -> dict[str, Any]:
    """The setup facts when an id is out of range: the setup check's forward pass would crash,
    so it does not run; training is skipped and rule D309 reports it."""
    params = list(model.named_parameters())
    bad = emb["out_of_range"]
    return {
        "loss_kind": None,
        "n_parameters": sum(p.numel() for _, p in params),
        "n_trainable": sum(p.numel() for _, p in params if p.requires_grad),
        "frozen": [n for n, p in params if not p.requires_grad],
        "embeddings": emb,
        "fatal": {
            "reason": "id_out_of_range",
            "message": f"token id {bad['max_id'] if bad['min_id'] >= 0 else bad['min_id']} "
            f"is outside embedding {bad['layer']} ({bad['num_embeddings']} rows)",
        },
    }
