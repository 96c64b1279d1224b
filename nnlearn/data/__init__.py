"""Build the probe's data from the spec: synthetic, CSV/Parquet, or the user's `_target_`.

Nothing here repairs the user's data: no standardisation unless `data.standardize` asks for it,
NaNs stay NaNs (the audits report them).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset, TensorDataset

from nnlearn.data.bundle import DataBundle, batches, infinite_batches, sample, tensors_of
from nnlearn.errors import InputError, SpecError, UserCodeError
from nnlearn.spec.schema import Spec

__all__ = ["DataBundle", "batches", "build_data", "infinite_batches", "sample", "tensors_of"]

# rows read to infer the task and sizes of a dataset that is not in-memory tensors
_INFER_ROWS = 4096


def build_data(spec: Spec, file: str | None = None) -> DataBundle:
    d = spec.data
    class_names = feature_names = None
    if d.factory:
        train, val, source = _user_data(spec, file)
    elif d.kind == "synthetic":
        x, y, _ = _synthetic(spec)
        train, val = _split(x, y, d.val_fraction, spec.seed)
        source = f"synthetic:{d.name}"
    else:
        from nnlearn.data.tabular import read_table, split_table

        df = read_table(d.kind, d.path or "")
        x, y, feature_names, class_names = split_table(df, d.target or "", d.features, file)
        train, val = _split(x, y, d.val_fraction, spec.seed)
        source = f"{d.kind}:{d.path}"
    bundle = _describe(train, val, d.task, _loss_name(spec), source)
    bundle.class_names, bundle.feature_names = class_names, feature_names
    if d.standardize:
        _standardize(bundle)
    return bundle


def _synthetic(spec: Spec):
    from nnlearn.data.synthetic import generate

    d = spec.data
    return generate(d.name, d.n_samples, d.n_classes, d.noise, d.n_features, spec.seed)


def _split(x: np.ndarray, y: np.ndarray, val_fraction: float, seed: int):
    n = len(x)
    order = np.random.default_rng(seed + 1).permutation(n)
    n_val = _n_val(n, val_fraction)
    xt = torch.tensor(np.asarray(x), dtype=torch.float32)  # a copy: pandas arrays are read-only
    yt = torch.tensor(np.asarray(y))
    if yt.is_floating_point():
        yt = yt.float()
    val_idx, train_idx = torch.as_tensor(order[:n_val]), torch.as_tensor(order[n_val:])
    return TensorDataset(xt[train_idx], yt[train_idx]), TensorDataset(xt[val_idx], yt[val_idx])


def _n_val(n: int, val_fraction: float) -> int:
    """Validation rows: at least one, and at least one row left to train on."""
    if n < 2:
        raise InputError(
            f"the data has {n} sample{'s' if n != 1 else ''}; the probe needs at least 2 "
            "(one to train on, one to validate)"
        )
    return min(max(1, int(round(n * val_fraction))), n - 1)


def _check_labels(labels: torch.Tensor, source: str) -> None:
    from nnlearn.spec.limits import label_problem

    if labels.is_floating_point() or not labels.numel():
        return
    field = "data._target_" if source.startswith("user:") else "data.target"
    problem = label_problem(int(labels.max()), int(torch.unique(labels).numel()), field)
    if problem:
        raise InputError(f"{problem[0]}: {problem[1]}")


def _user_data(spec: Spec, file: str | None):
    from nnlearn.targets import call_user, check_signature, import_target

    d = spec.data
    fn = import_target(d.factory or "", "data._target_", file, spec._base_dir)
    check_signature(fn, d.kwargs, "data", file)
    out = call_user(fn, f"data._target_ {d.factory}", **d.kwargs)
    if isinstance(out, tuple) and len(out) == 2 and all(_is_data(o) for o in out):
        train, val = (_as_dataset(o, "data._target_", file) for o in out)
    elif _is_data(out):
        ds = _as_dataset(out, "data._target_", file)
        train, val = _split_dataset(ds, d.val_fraction, spec.seed)
    else:
        raise SpecError(
            file,
            [
                (
                    "data._target_",
                    f"{d.factory} must return (train, val), each a torch Dataset or "
                    f"an (X, y) tensor pair; got {type(out).__name__}",
                )
            ],
        )
    return train, val, f"user:{d.factory}"


def _is_data(obj) -> bool:
    return isinstance(obj, Dataset) or (
        isinstance(obj, (tuple, list)) and len(obj) == 2 and all(_tensorish(t) for t in obj)
    )


def _tensorish(obj) -> bool:
    return isinstance(obj, (torch.Tensor, np.ndarray))


def _as_dataset(obj, field: str, file: str | None) -> Dataset:
    if isinstance(obj, Dataset):
        return obj
    x, y = (torch.as_tensor(t) for t in obj)
    if len(x) != len(y):
        raise SpecError(file, [(field, f"X has {len(x)} rows but y has {len(y)}")])
    return TensorDataset(x.float() if not x.is_floating_point() else x, y)


def _split_dataset(ds: Dataset, val_fraction: float, seed: int):
    n = len(ds)  # type: ignore[arg-type]
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed + 1))
    n_val = _n_val(n, val_fraction)
    pair = tensors_of(ds)
    if pair is not None:
        x, y = pair
        return TensorDataset(x[order[n_val:]], y[order[n_val:]]), TensorDataset(
            x[order[:n_val]], y[order[:n_val]]
        )
    return torch.utils.data.Subset(ds, order[n_val:].tolist()), torch.utils.data.Subset(
        ds, order[:n_val].tolist()
    )


def _loss_name(spec: Spec) -> str | None:
    return spec.loss if isinstance(spec.loss, str) else None


def infer_task(y: torch.Tensor, requested: str, loss: str | None) -> str:
    """classification (integer labels), binary (0/1 floats or a BCE loss) or regression."""
    if requested != "auto":
        return requested
    if loss in ("bce", "bce_with_logits"):
        return "binary"
    if loss in ("mse", "l1", "huber"):
        return "regression"
    if loss in ("cross_entropy", "nll"):
        return "classification"
    if not y.is_floating_point() and not y.is_complex():
        return "classification"
    finite = y[torch.isfinite(y)]
    if finite.numel() and bool(((finite == 0) | (finite == 1)).all()):
        return "binary"
    return "regression"


def _describe(train: Dataset, val: Dataset, requested: str, loss: str | None, source: str):
    try:
        x, y = sample(train, _INFER_ROWS)
    except Exception as exc:
        raise UserCodeError("reading the training dataset", exc) from exc
    task = infer_task(y, requested, loss)
    n_classes = None
    if task == "classification":
        finite = y[torch.isfinite(y.float())] if y.is_floating_point() else y
        pair = tensors_of(train)
        labels = pair[1] if pair is not None else finite
        n_classes = max(int(labels.max().item()) + 1 if labels.numel() else 2, 2)
        _check_labels(labels, source)
    target_shape = tuple(y.shape[1:])
    return DataBundle(
        train=train,
        val=val,
        task=task,
        n_classes=n_classes,
        input_shape=tuple(x.shape[1:]),
        target_shape=target_shape,
        source=source,
    )


def _standardize(bundle: DataBundle) -> None:
    """z-score with the training set's statistics (per feature; per channel for images)."""
    pairs = [tensors_of(bundle.train), tensors_of(bundle.val)]
    if any(p is None for p in pairs):
        bundle.notes.append("data.standardize applies to in-memory tensors only; skipped")
        return
    x = pairs[0][0]
    dims = [0] + list(range(2, x.dim()))  # every dim but the feature/channel one
    mean = x.nanmean(dim=dims, keepdim=True) if x.dim() > 1 else x.nanmean()
    std = x.std(dim=dims, keepdim=True).clamp_min(1e-8)
    bundle.train = TensorDataset((x - mean) / std, pairs[0][1])
    bundle.val = TensorDataset((pairs[1][0] - mean) / std, pairs[1][1])
