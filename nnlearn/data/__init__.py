"""Build the probe's data from the spec: synthetic, CSV/Parquet, or the user's `_target_`.

Nothing here repairs the user's data: no standardisation unless `data.standardize` asks for it,
NaNs stay NaNs (the audits report them).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch.utils.data import Dataset, TensorDataset

from nnlearn.data.batch import (
    IGNORE_INDEX,
    TOKEN_TASKS,
    MappingDataset,
    from_batch,
    sample_view,
    slice_batch,
    whole,
)
from nnlearn.data.bundle import DataBundle, batches, infinite_batches, sample, tensors_of
from nnlearn.errors import SpecError, UserCodeError
from nnlearn.spec.schema import DataSpec, Spec

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
    bundle = _describe(train, val, d.task, _loss_name(spec), source, file)
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
    n_val = max(1, int(round(n * val_fraction)))
    xt = torch.tensor(np.asarray(x))  # a copy: pandas arrays are read-only
    if xt.is_floating_point():
        xt = xt.float()  # integer codes stay integer
    yt = torch.tensor(np.asarray(y))
    if yt.is_floating_point():
        yt = yt.float()
    val_idx, train_idx = torch.as_tensor(order[:n_val]), torch.as_tensor(order[n_val:])
    return TensorDataset(xt[train_idx], yt[train_idx]), TensorDataset(xt[val_idx], yt[val_idx])


def _user_data(spec: Spec, file: str | None):
    from nnlearn.targets import call_user, check_signature, import_target

    d = spec.data
    fn = import_target(d.factory or "", "data._target_", file, spec._base_dir)
    own = {k: getattr(d, k) for k in sorted(DataSpec.own_keys)}
    check_signature(fn, d.kwargs, "data", file, provided=tuple(own))
    # SPEC section 2: keys `data` defines are read by nnlearn and passed on when the
    # callable's signature takes them, never silently dropped
    kwargs = {**passed_through(fn, own), **d.kwargs}
    out = call_user(fn, f"data._target_ {d.factory}", kwargs=kwargs)
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
                    f"{d.factory} must return (train, val), each a torch Dataset, an (X, y) "
                    f"tensor pair or a mapping of tensors; got {type(out).__name__}",
                )
            ],
        )
    return train, val, f"user:{d.factory}"


def passed_through(fn, values: dict) -> dict:
    """The entries of `values` that `fn`'s signature names (all of them under **kwargs)."""
    import inspect

    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return {}
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return dict(values)
    return {k: v for k, v in values.items() if k in params}


def _is_data(obj) -> bool:
    if isinstance(obj, Dataset):
        return True
    if isinstance(obj, Mapping):  # a tokenizer's output: named, equally long tensors
        return bool(obj) and all(_tensorish(v) for v in obj.values())
    if isinstance(obj, (tuple, list)):
        return len(obj) == 2 and all(_tensorish(t) for t in obj)
    # map-style datasets that are not torch Datasets (Hugging Face `datasets`)
    return hasattr(obj, "__getitem__") and hasattr(obj, "__len__") and not _tensorish(obj)


def _tensorish(obj) -> bool:
    return isinstance(obj, (torch.Tensor, np.ndarray))


def _as_dataset(obj, field: str, file: str | None) -> Dataset:
    if isinstance(obj, Dataset):
        return obj
    if isinstance(obj, Mapping):
        try:
            return MappingDataset(obj)
        except ValueError as exc:
            raise SpecError(file, [(field, str(exc))]) from None
    if not isinstance(obj, (tuple, list)):
        return obj  # a map-style dataset: indexed and collated like a torch one
    x, y = (torch.as_tensor(t) for t in obj)  # dtypes kept: token ids stay integer
    if len(x) != len(y):
        raise SpecError(file, [(field, f"X has {len(x)} rows but y has {len(y)}")])
    return TensorDataset(x, y)


def _split_dataset(ds: Dataset, val_fraction: float, seed: int):
    n = len(ds)  # type: ignore[arg-type]
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed + 1))
    n_val = max(1, int(round(n * val_fraction)))
    full = whole(ds)
    if full is not None:
        return (
            from_batch(slice_batch(full, order[n_val:], n)),
            from_batch(slice_batch(full, order[:n_val], n)),
        )
    return torch.utils.data.Subset(ds, order[n_val:].tolist()), torch.utils.data.Subset(
        ds, order[:n_val].tolist()
    )


def _loss_name(spec: Spec) -> str | None:
    return spec.loss if isinstance(spec.loss, str) else None


# more than this share of the positions agreeing with the inputs (as they are, or shifted by
# one) makes integer sequence targets next-token targets rather than per-token labels
LM_MATCH = 0.5


def infer_task(
    y: torch.Tensor | None,
    requested: str,
    loss: str | None,
    x: torch.Tensor | None = None,
) -> str:
    """The task the targets imply, unless `data.task` names one:

    - integer inputs (N, T) with no targets, or integer targets that are the inputs (shifted
      by one or not, Hugging Face passes `labels=input_ids`): language_modeling;
    - integer targets of the inputs' sequence shape otherwise: token_classification;
    - 0/1 targets (N, K>1) with several 1s in some row: multilabel;
    - then classification (integer labels), binary (0/1 floats or a BCE loss), regression.
    """
    if requested != "auto":
        return requested
    ids = x is not None and not x.is_floating_point() and x.dim() == 2
    if y is None:
        return "language_modeling" if ids else "regression"
    integer_y = not y.is_floating_point() and not y.is_complex()
    if ids and integer_y and tuple(y.shape) == tuple(x.shape) and x.shape[1] > 1:
        same = (y == x).float().mean()
        shifted = (y[:, :-1] == x[:, 1:]).float().mean()
        return "language_modeling" if max(same, shifted) > LM_MATCH else "token_classification"
    if x is not None and x.dim() == 3 and integer_y and tuple(y.shape) == tuple(x.shape[:2]):
        return "token_classification"  # a label per time step of a feature sequence
    if loss in (None, "auto", "bce", "bce_with_logits") and _multi_hot(y):
        return "multilabel"
    if loss in ("bce", "bce_with_logits"):
        return "binary"
    if loss in ("mse", "l1", "huber"):
        return "regression"
    if loss in ("cross_entropy", "nll"):
        return "classification"
    if integer_y:
        return "classification"
    finite = y[torch.isfinite(y)]
    if finite.numel() and bool(((finite == 0) | (finite == 1)).all()):
        return "binary"
    return "regression"


def _multi_hot(y: torch.Tensor) -> bool:
    """(N, K>1) targets of 0s and 1s with more than one 1 in some row."""
    if y.dim() != 2 or y.shape[1] < 2 or y.is_complex():
        return False
    yf = y.float()
    if not bool(torch.isfinite(yf).all()) or not bool(((yf == 0) | (yf == 1)).all()):
        return False
    return bool((yf.sum(1) > 1).any())


def _describe(
    train: Dataset,
    val: Dataset,
    requested: str,
    loss: str | None,
    source: str,
    file: str | None = None,
):
    try:
        raw = sample_view(train, _INFER_ROWS)
    except Exception as exc:
        raise UserCodeError("reading the training dataset", exc) from exc
    task = infer_task(raw.targets, requested, loss, raw.inputs)
    view = sample_view(train, _INFER_ROWS, task=task) if task == "language_modeling" else raw
    if view.targets is None:
        field = "data.task" if requested != "auto" else "data"
        raise SpecError(
            file,
            [
                (
                    field,
                    f"the training samples hold no targets (task {task}); give (x, y) pairs "
                    "or a `labels` entry, or integer token ids for language_modeling",
                )
            ],
        )
    y = view.targets
    ignore = IGNORE_INDEX if task in TOKEN_TASKS else None
    n_classes = None
    if task == "classification":
        pair = tensors_of(train)
        labels = pair[1] if pair is not None else y
        labels = labels[torch.isfinite(labels)] if labels.is_floating_point() else labels
        n_classes = max(int(labels.max().item()) + 1 if labels.numel() else 2, 2)
    elif task in TOKEN_TASKS:
        ids = y[y != ignore] if not y.is_floating_point() else y.long()
        top = int(ids.max()) if ids.numel() else 1
        if task == "language_modeling" and not view.inputs.is_floating_point():
            top = max(top, int(view.inputs.max()))
        n_classes = max(top + 1, 2)
    return DataBundle(
        train=train,
        val=val,
        task=task,
        n_classes=n_classes,
        input_shape=tuple(view.inputs.shape[1:]),
        target_shape=tuple(y.shape[1:]),
        source=source,
        ignore_index=ignore,
    )


def _standardize(bundle: DataBundle) -> None:
    """z-score with the training set's statistics (per feature; per channel for images)."""
    pairs = [tensors_of(bundle.train), tensors_of(bundle.val)]
    if any(p is None for p in pairs):
        bundle.notes.append("data.standardize applies to in-memory tensors only; skipped")
        return
    if not pairs[0][0].is_floating_point():
        bundle.notes.append("data.standardize skipped: integer inputs are ids, not features")
        return
    x = pairs[0][0]
    dims = [0] + list(range(2, x.dim()))  # every dim but the feature/channel one
    mean = x.nanmean(dim=dims, keepdim=True) if x.dim() > 1 else x.nanmean()
    std = x.std(dim=dims, keepdim=True).clamp_min(1e-8)
    bundle.train = TensorDataset((x - mean) / std, pairs[0][1])
    bundle.val = TensorDataset((pairs[1][0] - mean) / std, pairs[1][1])
